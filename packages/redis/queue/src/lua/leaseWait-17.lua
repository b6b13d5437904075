--[[
  An agent's long-poll step (RedisTaskQueue.leaseWait): ends the agent's previous wait, leases
  what is runnable, and when nothing is, registers the agent as a waiter, so that the next
  task of its capabilities is leased to it by the script that makes it available and pushed
  to this queue instance (includes/queue.lua: serveWaiters) — one hop fewer than a wake-up
  followed by a lease.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare the capabilities waited for.
  ARGV[A]         agentId
  ARGV[A+1]       max: most tasks to lease (0: only end the previous wait)
  ARGV[A+2]       token nonce of this call's leases ("<nonce>.<n>")
  ARGV[A+3]       waiter id to register under
  ARGV[A+4]       ms the registration lasts (0: do not register)
  ARGV[A+5]       the previous wait's waiter id, or "" (see withdraw in includes/queue.lua)
  ARGV[A+6]       the previous wait's nonce
  ARGV[A+7]       1: give what was pushed to the previous wait back to the queue; 0: take it

  Reply: {0, signals, count, then record and state line of each task} — the tasks leased
         to the previous wait (unless given back) or, when there were none, leased now; count
         0 means nothing was leased (and the agent is waiting when ARGV[A+4] > 0).
         {E_NEED_KEYS, ...}
]]
--@include "queue"
local agentId, max, nonce, wid, ttl = ARGV[A], tonumber(ARGV[A + 1]), ARGV[A + 2], ARGV[A + 3], tonumber(ARGV[A + 4])
local out = { 0, '', 0 }
if ARGV[A + 5] ~= '' then
  out[3] = withdraw(ARGV[A + 5], agentId, ARGV[A + 6], ARGV[A + 7] == '1', out)
  if missing then return needKeysReply() end
end
if out[3] == 0 and max > 0 then
  promoteDue(1000)
  out[3] = leaseTasks(agentId, max, nonce, out, declaredCaps)
end
if out[3] == 0 and max > 0 and ttl > 0 then
  local expiresAt = NOW + ttl
  for _, cap in ipairs(declaredCaps) do
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
return out
