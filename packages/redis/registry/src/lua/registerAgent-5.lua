--[[
  Adds or refreshes an agent and appends `agent.registered` to the outbox in the same step.
  A refresh keeps the first registration time and clears the last reported load.

  KEYS[1]  agents        hash  agentId -> record JSON {id, name, skills, metadata, protocol?}
  KEYS[2]  registeredAt  hash  agentId -> epoch ms of the first registration
  KEYS[3]  heartbeats    zset  agentId scored by last heartbeat (epoch ms)
  KEYS[4]  load          hash  agentId -> load JSON {running, capacity}
  KEYS[5]  events        stream, the event outbox
  ARGV[1]  agentId
  ARGV[2]  record JSON
  ARGV[3]  event data JSON without `refreshed`, ending in "}" (built by the caller)
  ARGV[4]  maxEvents     approximate stream length cap; 0 writes no event

  Reply: {registeredAt, lastHeartbeat}
]]
--@include "time"
local agents, registeredAt, heartbeats, load, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, record, data, maxEvents = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = nowMs()

local first = tonumber(redis.call('HGET', registeredAt, id))
local refreshed = first ~= nil and redis.call('HEXISTS', agents, id) == 1
if not refreshed then
  first = now
  redis.call('HSET', registeredAt, id, now)
end
redis.call('HSET', agents, id, record)
redis.call('ZADD', heartbeats, now, id)
redis.call('HDEL', load, id)
if maxEvents > 0 then
  data = string.sub(data, 1, -2) .. ',"refreshed":' .. (refreshed and 'true' or 'false') .. '}'
  redis.call('XADD', events, 'MAXLEN', '~', maxEvents, '*', 'type', 'agent.registered', 'at', now, 'data', data)
end
return {first, now}
