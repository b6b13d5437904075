--[[
  Removes an agent and appends `agent.unregistered` in the same step.

  KEYS[1]  agents        hash  agentId -> record JSON
  KEYS[2]  registeredAt  hash  agentId -> epoch ms
  KEYS[3]  heartbeats    zset  agentId scored by last heartbeat
  KEYS[4]  load          hash  agentId -> load JSON
  KEYS[5]  events        stream, the event outbox
  ARGV[1]  agentId
  ARGV[2]  event data JSON
  ARGV[3]  maxEvents     approximate stream length cap; 0 writes no event

  Reply: 1 when the agent existed, 0 otherwise.
]]
--@include "time"
local agents, registeredAt, heartbeats, load, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, data, maxEvents = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HDEL', agents, id) == 0 then return 0 end
redis.call('HDEL', registeredAt, id)
redis.call('ZREM', heartbeats, id)
redis.call('HDEL', load, id)
if maxEvents > 0 then
  redis.call('XADD', events, 'MAXLEN', '~', maxEvents, '*', 'type', 'agent.unregistered', 'at', nowMs(), 'data', data)
end
return 1
