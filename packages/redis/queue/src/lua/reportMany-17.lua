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
         a report's reply: {0, task (6 entries, includes/store.lua), count, then record and
         state line of each leased task} | {E_NOT_FOUND} |
         {E_STALE_LEASE, state, agentId|""} | {E_NEED_KEYS, ...} (that report changed nothing)
]]
--@include "queue"
--@include "complete"

-- Leases for the reports of `group` (all from the capability whose ready set is `key`) at
-- once: one ZPOPMIN for all of them, then one HMGET, HSET, two ZADDs and one HMGET for each
-- round, instead of those six commands for every report. The most urgent tasks go to the
-- reports in their order, each getting up to its `max`; every report's count slot is set.
local function leaseForReports(group, key)
  local wanted = 0
  for _, g in ipairs(group) do wanted = wanted + g.max end
  local at = 1
  while wanted > 0 do
    local popped = redis.call('ZPOPMIN', key, math.min(wanted, LEASE_ROUND))
    if #popped == 0 then break end
    local ids = {}
    for j = 1, #popped, 2 do ids[#ids + 1] = popped[j] end
    local raws = redis.call('HMGET', K.state, unpack(ids))
    local leased, lines, owners, states, deadlines, holders = {}, {}, {}, {}, {}, {}
    for j, id in ipairs(ids) do
      -- At most `wanted` were popped and each lease lowers it by one: a report wants this one.
      while group[at].count >= group[at].max do at = at + 1 end
      local g = group[at]
      local line, leaseDeadline = leasedLine(id, raws[j], g.agentId, g.nonce, g.count + 1)
      if line then
        g.count = g.count + 1
        wanted = wanted - 1
        local n = #leased
        leased[n + 1], lines[n + 1], owners[n + 1] = id, line, g
        states[2 * n + 1], states[2 * n + 2] = id, line
        deadlines[2 * n + 1], deadlines[2 * n + 2] = leaseDeadline, id
        holders[2 * n + 1], holders[2 * n + 2] = '0', heldMember(g.agentId, id)
      end
    end
    if #leased > 0 then
      redis.call('HSET', K.state, unpack(states))
      redis.call('ZADD', K.leases, unpack(deadlines))
      redis.call('ZADD', K.held, unpack(holders))
      local records = redis.call('HMGET', K.tasks, unpack(leased))
      for j = 1, #leased do
        local reply = owners[j].reply
        reply[#reply + 1] = records[j]
        reply[#reply + 1] = lines[j]
      end
    end
  end
  for _, g in ipairs(group) do g.reply[g.countAt] = g.count end
end

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
for _, cap in ipairs(groupOrder) do leaseForReports(groups[cap], readyKey[cap]) end

local out = { 0, '', n }
for r = 1, n do
  local reply = replies[r]
  local at = #out + 1
  out[at] = #reply
  for i = 1, #reply do out[at + i] = reply[i] end
end
out[2] = publishSignals()
return out
