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
local sl = useSlow()
local loadTask, saveTask = sl.loadTask, sl.saveTask
local id, agentId, token, progress = ARGV[A], ARGV[A + 1], ARGV[A + 2], ARGV[A + 3]
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
