--[[
  Leases up to `max` of the most urgent runnable tasks across the declared capabilities to one
  agent, atomically: no two agents ever get the same task. Due delayed tasks of those
  capabilities are promoted first; tasks past their total deadline become timed_out.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare the capabilities to lease
                   from and the agent.
  ARGV[A]         agentId
  ARGV[A+1]       max
  ARGV[A+2]       token nonce; lease tokens are "<nonce>.<n>"

  Reply: {0, signals, count, record JSON, payload, record JSON, payload, ...}
]]
--@include "queue"
local agentId, max, nonce = ARGV[A], tonumber(ARGV[A + 1]), ARGV[A + 2]
needAgent(agentId)
if missing then return needKeysReply() end

promoteDue(1000)

local out = { 0, '', 0 }
local count = 0
while count < max do
  local bestKey, bestScore
  for _, cap in ipairs(declaredCaps) do
    local top = redis.call('ZRANGE', readyKey[cap], 0, 0, 'WITHSCORES')
    if top[1] then
      local score = tonumber(top[2])
      if not bestScore or score < bestScore then
        bestScore = score
        bestKey = readyKey[cap]
      end
    end
  end
  if not bestKey then break end
  local id = redis.call('ZPOPMIN', bestKey)[1]
  local t = loadTask(id)
  if t and t.state == 'queued' then
    if t.deadlineAt and t.deadlineAt <= NOW then
      finish(t, 'timed_out')
    else
      count = count + 1
      t.state = 'leased'
      t.agentId = agentId
      t.leaseToken = nonce .. '.' .. count
      t.leaseDeadline = NOW + t.timeoutMs
      t.updatedAt = NOW
      redis.call('ZADD', K.leases, ms(t.leaseDeadline), id)
      redis.call('ZADD', agentKey[agentId], nextSeq(), id)
      out[#out + 1] = saveTask(t)
      out[#out + 1] = redis.call('HGET', K.payloads, id)
    end
  end
end
out[2] = publishSignals()
out[3] = count
return out
