--[[
  Leader only: removes an agent that is still stale and appends `agent.evicted` in the same
  step, so an eviction is never recorded without its event or the other way round.
  Staleness is checked again here: an agent that heart-beated since it was found stale stays.

  KEYS[1]  agents        hash  agentId -> record JSON
  KEYS[2]  registeredAt  hash  agentId -> epoch ms
  KEYS[3]  heartbeats    zset  agentId scored by last heartbeat
  KEYS[4]  load          hash  agentId -> load JSON
  KEYS[5]  events        stream, the event outbox
  KEYS[6]  leader        string "<token> <hubId>" (leader election)
  KEYS[7]  epoch         leadership counter (leader election)
  ARGV[1]  agentId
  ARGV[2]  olderThanMs   evict only if the last heartbeat is at least this old
  ARGV[3]  JSON array of task ids requeued from the agent
  ARGV[4]  JSON array of task ids dead-lettered from the agent
  ARGV[5]  fence hub id
  ARGV[6]  fence epoch, or "" when the call is not fenced
  ARGV[7]  maxEvents     approximate stream length cap; 0 writes no event

  Reply: 1 evicted, 0 gone or not stale; {E_STALE_FENCE} when the fence is not the leadership.
]]
--@include "codes"
--@include "time"
--@include "fence"
local agents, registeredAt, heartbeats, load, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, olderThan, requeued, dead = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local maxEvents = tonumber(ARGV[7])
if not fenceHolds(KEYS[6], KEYS[7], ARGV[5], ARGV[6]) then return {E_STALE_FENCE} end

local now = nowMs()
local last = tonumber(redis.call('ZSCORE', heartbeats, id))
local record = redis.call('HGET', agents, id)
if not record or not last or last > now - olderThan then return 0 end

redis.call('HDEL', agents, id)
redis.call('HDEL', registeredAt, id)
redis.call('ZREM', heartbeats, id)
redis.call('HDEL', load, id)
if maxEvents > 0 then
  local name = cjson.decode(record).name
  local data = '{"agentId":' .. cjson.encode(id) .. ',"name":' .. cjson.encode(name)
    .. ',"lastHeartbeat":' .. string.format('%d', last)
    .. ',"requeued":' .. requeued .. ',"dead":' .. dead .. '}'
  redis.call('XADD', events, 'MAXLEN', '~', maxEvents, '*', 'type', 'agent.evicted', 'at', now, 'data', data)
end
return 1
