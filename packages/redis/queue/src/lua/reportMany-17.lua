--[[
  Several reports at once, each as completeAndLease-17.lua (a plain report leases nothing):
  the queue groups the reports that arrive together into one call. Each report is applied, or
  refused with its own error, independently of the others. The leases come after all reports
  are applied; those of reports leasing from one capability are made together (one pop of the
  most urgent tasks, handed to the reports in order), the rest one report at a time.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare every
                   capability to lease from and the tasks' capabilities when known.
  ARGV[A]         number of reports n, then per report:
                    taskId, agentId, lease token, status, has result, result JSON, error JSON,
                    retryable, error backoff (baseMs, maxMs, jitter), most tasks to lease
                    next, token nonce, number of capabilities c, c capability names

  Reply: {0, signals, n, then per report its length and its reply}
         a report's reply: {0, task (6 entries, includes/store.lua; its result 1 when it
         is the one reported), count, then record and state line of each leased task} |
         {E_NOT_FOUND} |
         {E_STALE_LEASE, state, agentId|""} | {E_NEED_KEYS, ...} (that report changed nothing)
]]
--@include "queue"
--@include "complete"

local n = tonumber(ARGV[A])
local p = A + 1
local promoted = false
-- Each report's reply is built on its own first: the leases of reports from one capability
-- are made together after all reports are applied, and land in each report's own reply.
local replies = {}
local groups, groupOrder = {}, {}
for r = 1, n do
  local id, agentId = ARGV[p], ARGV[p + 1]
  local max, nonce, nCaps = tonumber(ARGV[p + 11]), ARGV[p + 12], tonumber(ARGV[p + 13])
  if missing then missing, missingCaps = false, {} end
  local refused, raw, flags, result = completeTask(id, agentId, ARGV[p + 2], ARGV[p + 3], ARGV[p + 4], ARGV[p + 5],
    ARGV[p + 6], ARGV[p + 7], ARGV[p + 8], ARGV[p + 9], ARGV[p + 10])
  local reply
  if refused then
    reply = refused
  else
    reply = { 0 }
    pushTask(reply, id, raw, flags, result)
    local countAt = #reply + 1
    reply[countAt] = 0
    if max > 0 then
      if not promoted then
        promoteDue(1000)
        promoted = true
      end
      if nCaps == 1 then
        local cap = ARGV[p + 14]
        local group = groups[cap]
        if not group then
          group = {}
          groups[cap] = group
          groupOrder[#groupOrder + 1] = cap
        end
        group[#group + 1] = { reply = reply, countAt = countAt, agentId = agentId, max = max, nonce = nonce, count = 0 }
      else
        local caps = {}
        for c = 1, nCaps do caps[c] = ARGV[p + 13 + c] end
        reply[countAt] = leaseTasks(agentId, max, nonce, reply, caps)
      end
    end
  end
  replies[r] = reply
  p = p + 14 + nCaps
end
for _, cap in ipairs(groupOrder) do leaseForGroup(groups[cap], readyKey[cap]) end

local out = { 0, '', n }
for r = 1, n do
  local reply = replies[r]
  local at = #out + 1
  out[at] = #reply
  for i = 1, #reply do out[at + i] = reply[i] end
end
out[2] = publishSignals()
return out
