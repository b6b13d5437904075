--[[
  An agent's long-poll step (RedisTaskQueue.leaseWait): ends the agent's previous wait, leases
  what is runnable, and when nothing is, registers the agent as a waiter, so that the next
  task of its capabilities is leased to it by the script that makes it available and pushed
  to this queue instance (includes/queue.lua: serveWaiters) — one hop fewer than a wake-up
  followed by a lease.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare the capabilities waited for
                   (and the reported task's, when known).
  ARGV[A]         agentId
  ARGV[A+1]       max: most tasks to lease (0: only end the previous wait)
  ARGV[A+2]       token nonce of this call's leases ("<nonce>.<n>")
  ARGV[A+3]       waiter id to register under
  ARGV[A+4]       ms the registration lasts (0: do not register)
  ARGV[A+5]       the previous wait's waiter id, or "" (see withdraw in includes/queue.lua)
  ARGV[A+6]       the previous wait's nonce
  ARGV[A+7]       1: give what was pushed to the previous wait back to the queue; 0: take it
  ARGV[A+8]       number of capabilities to lease from and wait for c, then ARGV[A+9..A+8+c]
                  their names (each declared)
  ARGV[A+9+c]     1: first record the outcome of one of the agent's tasks, as
                  completeAndLease-17.lua does (the next 11 arguments: its report); 0: no
                  report. A refused report changes nothing and the reply is its error.

  Reply: {0, signals, count, then record and state line of each task, then the reported task
         (6 entries, includes/store.lua; its result 1 when it is the one reported) when there
         was a report} — the tasks leased to the previous wait (unless given back) or, when
         there were none, leased now; count 0 means nothing was leased (and the agent is
         waiting when ARGV[A+4] > 0); count -1 means the agent left (was evicted or
         unregistered) while the previous wait waited: nothing was leased or registered, and
         the wait ends.
         {E_NOT_FOUND} | {E_STALE_LEASE, state, agentId|""} (a refused report)
         {E_NEED_KEYS, ...}
]]
--@include "queue"
--@include "complete"
local agentId, max, nonce, wid, ttl = ARGV[A], tonumber(ARGV[A + 1]), ARGV[A + 2], ARGV[A + 3], tonumber(ARGV[A + 4])
local caps = {}
for c = 1, tonumber(ARGV[A + 8]) do caps[c] = ARGV[A + 8 + c] end
local r = A + 9 + #caps
local reported
if ARGV[r] == '1' then
  local id = ARGV[r + 1]
  local refused, raw, flags, result = completeTask(id, ARGV[r + 2], ARGV[r + 3], ARGV[r + 4], ARGV[r + 5],
    ARGV[r + 6], ARGV[r + 7], ARGV[r + 8], ARGV[r + 9], ARGV[r + 10], ARGV[r + 11])
  if refused then return refused end
  reported = {}
  pushTask(reported, id, raw, flags, result)
end
local out = { 0, '', 0 }
if ARGV[A + 5] ~= '' then
  local dropped
  out[3], dropped = withdraw(ARGV[A + 5], agentId, ARGV[A + 6], ARGV[A + 7] == '1', out)
  if missing then return needKeysReply() end
  -- The agent left while it waited (dropWaits): the wait ends, with nothing leased or
  -- registered again.
  if dropped then out[3] = -1 end
end
if out[3] == 0 and max > 0 then
  promoteDue(1000)
  out[3] = leaseTasks(agentId, max, nonce, out, caps)
end
if out[3] == 0 and max > 0 and ttl > 0 then
  local expiresAt = NOW + ttl
  for _, cap in ipairs(caps) do
    local key = waitingKey[cap]
    -- Waiters past their time (of a queue instance that stopped, or served through another
    -- capability) go first, so a waiting set only holds the waits of the last moments.
    local stale = redis.call('ZRANGEBYSCORE', key, '-inf', NOW)
    if #stale > 0 then
      for _, old in ipairs(stale) do redis.call('HDEL', K.waiters, old) end
      redis.call('ZREMRANGEBYSCORE', key, '-inf', NOW)
    end
    redis.call('ZADD', key, expiresAt, wid)
  end
  redis.call('HSET', K.waiters, wid, ORIGIN .. '|' .. expiresAt .. '|' .. max .. '|' .. nonce .. '|' .. agentId)
end
out[2] = publishSignals()
if reported then
  for _, entry in ipairs(reported) do out[#out + 1] = entry end
end
return out
