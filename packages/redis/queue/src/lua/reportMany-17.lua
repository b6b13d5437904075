--[[
  Several reports at once, each exactly as completeAndLease-17.lua (a plain report leases
  nothing): the queue groups the reports that arrive together into one call. Each report is
  applied, or refused with its own error, independently of the others.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare every
                   capability to lease from and the tasks' capabilities when known.
  ARGV[A]         number of reports n, then per report:
                    taskId, agentId, lease token, status, has result, result JSON, error JSON,
                    retryable, error backoff (baseMs, maxMs, jitter), most tasks to lease
                    next, token nonce, number of capabilities c, c capability names

  Reply: {0, signals, n, then per report its length and its reply}
         a report's reply: {0, task (6 entries, includes/store.lua), count, then record and
         state line of each leased task} | {E_NOT_FOUND} |
         {E_STALE_LEASE, state, agentId|""} | {E_NEED_KEYS, ...} (that report changed nothing)
]]
--@include "queue"
--@include "complete"
local n = tonumber(ARGV[A])
local out = { 0, '', n }
local p = A + 1
local promoted = false
for _ = 1, n do
  local id, agentId = ARGV[p], ARGV[p + 1]
  local max, nonce, nCaps = tonumber(ARGV[p + 11]), ARGV[p + 12], tonumber(ARGV[p + 13])
  if missing then missing, missingCaps = false, {} end
  -- This report's reply goes straight into `out`, after a slot for its length.
  local at = #out + 1
  out[at] = 0
  local refused, raw, flags, result = completeTask(id, agentId, ARGV[p + 2], ARGV[p + 3], ARGV[p + 4], ARGV[p + 5],
    ARGV[p + 6], ARGV[p + 7], ARGV[p + 8], ARGV[p + 9], ARGV[p + 10])
  if refused then
    for i = 1, #refused do out[at + i] = refused[i] end
  else
    out[at + 1] = 0
    pushTask(out, id, raw, flags, result)
    local countAt = #out + 1
    out[countAt] = 0
    if max > 0 then
      local caps = {}
      for c = 1, nCaps do caps[c] = ARGV[p + 13 + c] end
      if not promoted then
        promoteDue(1000)
        promoted = true
      end
      out[countAt] = leaseTasks(agentId, max, nonce, out, caps)
    end
  end
  out[at] = #out - at
  p = p + 14 + nCaps
end
out[2] = publishSignals()
return out
