--[[
  Records liveness (and optionally load) of a registered agent.

  KEYS[1]  agents        hash  agentId -> record JSON
  KEYS[2]  registeredAt  hash  agentId -> epoch ms
  KEYS[3]  heartbeats    zset  agentId scored by last heartbeat
  KEYS[4]  load          hash  agentId -> load JSON
  ARGV[1]  agentId
  ARGV[2]  load JSON, or "" to keep the last one

  Reply: {0, record JSON, registeredAt, lastHeartbeat, load JSON or false}
         {E_NOT_FOUND} for an unknown (or evicted) agent
]]
--@include "codes"
--@include "time"
local agents, registeredAt, heartbeats, load = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, loadJson = ARGV[1], ARGV[2]
local record = redis.call('HGET', agents, id)
if not record then return {E_NOT_FOUND} end
local now = nowMs()
redis.call('ZADD', heartbeats, now, id)
if loadJson ~= '' then redis.call('HSET', load, id, loadJson) end
return {0, record, redis.call('HGET', registeredAt, id), now, redis.call('HGET', load, id)}
