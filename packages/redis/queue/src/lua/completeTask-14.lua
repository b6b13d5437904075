--[[
  Records the outcome of a leased task. Success and final failure are terminal; a retryable
  error with error retries left goes back to the queue after the error backoff. Only the
  holder of the current lease token may report, so a late or duplicate report changes nothing.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare the agent, and the task's
                   capability when known (asked for only when the task is retried).
  ARGV[A]         taskId
  ARGV[A+1]       agentId
  ARGV[A+2]       lease token
  ARGV[A+3]       "succeeded" or "failed"
  ARGV[A+4]       1 when a result is given, else 0
  ARGV[A+5]       result JSON (succeeded)
  ARGV[A+6]       error JSON (failed)
  ARGV[A+7]       1 when the error is retryable, else 0
  ARGV[A+8..A+10] error backoff: baseMs, maxMs, jitter

  Reply: {0, signals, record JSON, payload, result|false}
         {E_NOT_FOUND} | {E_STALE_LEASE, state, agentId|""} | {E_NEED_KEYS, ...}
]]
--@include "queue"
local id, agentId, token, status = ARGV[A], ARGV[A + 1], ARGV[A + 2], ARGV[A + 3]
local t = loadTask(id)
if not t then return { E_NOT_FOUND } end
if t.state ~= 'leased' or t.leaseToken ~= token or t.agentId ~= agentId then
  return { E_STALE_LEASE, t.state, t.agentId or '' }
end
needAgent(agentId)
local retry = status == 'failed' and ARGV[A + 7] == '1' and t.errorRetries < t.maxRetries
if retry then needCap(t.capability) end
if missing then return needKeysReply() end

unindex(t)
if status == 'succeeded' then
  if ARGV[A + 4] == '1' then
    redis.call('HSET', K.results, id, ARGV[A + 5])
  else
    redis.call('HDEL', K.results, id)
  end
  t.error = nil
  finish(t, 'succeeded')
elseif retry then
  t.errorRetries = t.errorRetries + 1
  t.error = ARGV[A + 6]
  requeue(t, backoff(t.errorRetries, tonumber(ARGV[A + 8]), tonumber(ARGV[A + 9]), tonumber(ARGV[A + 10])))
else
  t.error = ARGV[A + 6]
  finish(t, 'failed')
end
return { 0, publishSignals(), cjson.encode(t), redis.call('HGET', K.payloads, id), redis.call('HGET', K.results, id) }
