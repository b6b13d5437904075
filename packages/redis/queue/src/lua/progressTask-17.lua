--[[
  Records progress for a leased task and extends its lease by the task's timeout.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); nothing to declare.
  ARGV[A]         taskId
  ARGV[A+1]       agentId
  ARGV[A+2]       lease token
  ARGV[A+3]       progress JSON, or "" to only extend the lease

  Reply: {0, "", leaseDeadline}
         {E_NOT_FOUND}
         {E_STALE_LEASE, state, agentId|""} unless the caller holds the current lease
]]
--@include "queue"
local id, agentId, token, progress = ARGV[A], ARGV[A + 1], ARGV[A + 2], ARGV[A + 3]
-- The common case, the holder of the lease reporting: the state line is rewritten without
-- parsing it whole (as a report's fast path does, includes/complete.lua); the rest, refusals
-- included, takes the general path below.
do
  local raw = redis.call('HGET', K.state, id)
  if not raw then return { E_NOT_FOUND } end
  local suffix = '|' .. token .. '|' .. agentId
  local head, available, deadlineAt, timeoutMs, notes
  if string.sub(raw, -#suffix) == suffix then
    head, available, deadlineAt, timeoutMs, notes = string.match(raw, LEASED_LINE)
  end
  if head then
    local flags = tonumber(notes) or 0
    if progress ~= '' then
      redis.call('HSET', K.notes, id .. '|p', progress)
      -- Note flag 2: progress (includes/slow.lua, NOTES).
      if flags % 4 < 2 then flags = flags + 2 end
    end
    local leaseDeadline = NOW + tonumber(timeoutMs)
    local deadlineDigits = ms(leaseDeadline)
    redis.call('HSET', K.state, id, 'leased|' .. head .. '|' .. NOW_S .. '|' .. available .. '|' .. deadlineDigits
      .. '||' .. deadlineAt .. '|' .. timeoutMs .. '|' .. ms(flags) .. suffix)
    redis.call('ZADD', K.leases, deadlineDigits, id)
    return { 0, '', leaseDeadline }
  end
end
local sl = useSlow()
local loadTask, saveTask = sl.loadTask, sl.saveTask
local t = loadTask(id)
if not t then return { E_NOT_FOUND } end
if t.state ~= 'leased' or t.leaseToken ~= token or t.agentId ~= agentId then
  return { E_STALE_LEASE, t.state, t.agentId or '' }
end
if progress ~= '' then t.progress = progress end
t.leaseDeadline = NOW + t.timeoutMs
t.updatedAt = NOW
redis.call('ZADD', K.leases, ms(t.leaseDeadline), id)
saveTask(t)
return { 0, '', t.leaseDeadline }
