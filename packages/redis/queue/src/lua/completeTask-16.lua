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

  Reply: {0, signals, task (7 entries, includes/store.lua)}
         {E_NOT_FOUND} | {E_STALE_LEASE, state, agentId|""} | {E_NEED_KEYS, ...}
]]
--@include "queue"
--@include "complete"
local id = ARGV[A]
local refused, raw, flags, result = completeTask(id, ARGV[A + 1], ARGV[A + 2], ARGV[A + 3], ARGV[A + 4], ARGV[A + 5],
  ARGV[A + 6], ARGV[A + 7], ARGV[A + 8], ARGV[A + 9], ARGV[A + 10])
if refused then return refused end
local out = { 0, publishSignals() }
pushTask(out, id, raw, flags, result)
return out
