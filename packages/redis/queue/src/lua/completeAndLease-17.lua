--[[
  Records the outcome of a leased task (a report) and, in the same step, leases the agent's
  next tasks (what BullMQ's worker does when it moves a job to completed): one round trip per
  task instead of two; with 0 to lease it is a plain report. Success and final failure are
  terminal; a retryable error with error retries left goes back to the queue after the error
  backoff. Only the holder of the current lease token may report, so a late or duplicate
  report changes nothing; when it is refused, nothing is leased.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare the
                   capabilities to lease from (and the task's capability when known).
  ARGV[A..A+10]   taskId, agentId, lease token, "succeeded" or "failed", has result (1|0),
                  result JSON, error JSON, retryable (1|0), error backoff (baseMs, maxMs, jitter)
  ARGV[A+11]      most tasks to lease next (0 leases nothing)
  ARGV[A+12]      token nonce of the new leases ("<nonce>.<n>")
  ARGV[A+13]      number of capabilities to lease from c, then ARGV[A+14..A+13+c] their
                  names (each declared)

  Reply: {0, signals, task (6 entries, includes/store.lua; its result 1 when it is the one
          reported), count, then record and state line of each leased task}
         {E_NOT_FOUND} | {E_STALE_LEASE, state, agentId|""} | {E_NEED_KEYS, ...}
]]
--@include "queue"
--@include "complete"
local id, agentId = ARGV[A], ARGV[A + 1]
local refused, raw, flags, result = completeTask(id, agentId, ARGV[A + 2], ARGV[A + 3], ARGV[A + 4], ARGV[A + 5],
  ARGV[A + 6], ARGV[A + 7], ARGV[A + 8], ARGV[A + 9], ARGV[A + 10])
if refused then return refused end
local out = { 0, '' }
pushTask(out, id, raw, flags, result)
local countAt = #out + 1
out[countAt] = 0
local max = tonumber(ARGV[A + 11])
if max > 0 then
  local caps = {}
  for c = 1, tonumber(ARGV[A + 13]) do caps[c] = ARGV[A + 13 + c] end
  promoteDue(1000)
  out[countAt] = leaseTasks(agentId, max, ARGV[A + 12], out, caps)
end
out[2] = publishSignals()
return out
