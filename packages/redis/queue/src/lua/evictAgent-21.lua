--[[
  Leader only: evicts a stale agent in one step — the registry's staleness check, the
  requeue (or dead-lettering) of every task the agent holds, the end of its waits, the removal
  of the agent and its `agent.evicted` event — so a hub crash can never leave a requeue without its event or
  an event without its requeue. An agent that heart-beated since it was found stale, or that
  is gone, is left alone and nothing changes.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare the
                   capabilities of the agent's tasks when known. After the declared keys come the
                   four registry keys (@mcpmas/redis-registry), always the last four:
  KEYS[#KEYS-3]   agents        hash  agentId -> record JSON
  KEYS[#KEYS-2]   registeredAt  hash  agentId -> epoch ms
  KEYS[#KEYS-1]   heartbeats    zset  agentId scored by last heartbeat
  KEYS[#KEYS]     load          hash  agentId -> load JSON
  ARGV[A]         agentId
  ARGV[A+1]       olderThanMs   evict only if the last heartbeat is at least this old
  ARGV[A+2..A+4]  crash backoff: baseMs, maxMs, jitter

  Reply: {0, signals, evicted (1|0), #requeued, requeued ids..., dead ids...}
         {E_STALE_FENCE} | {E_NEED_KEYS, ...}
]]
--@include "queue"
local sl = useSlow()
local fenceHolds, appendEvent, releaseHeld, dropWaits = sl.fenceHolds, sl.appendEvent, sl.releaseHeld, sl.dropWaits
local agentId, olderThan = ARGV[A], tonumber(ARGV[A + 1])
local n = #KEYS
local agents, registeredAt, heartbeats, load = KEYS[n - 3], KEYS[n - 2], KEYS[n - 1], KEYS[n]
if not fenceHolds() then return { E_STALE_FENCE } end

local last = tonumber(redis.call('ZSCORE', heartbeats, agentId))
local record = redis.call('HGET', agents, agentId)
if not record or not last or last > NOW - olderThan then return { 0, '', 0, 0 } end

local released, refused = releaseHeld(agentId, nil, 'evicted', A + 2)
if refused then return refused end
-- Before publishSignals serves waiters: the requeued tasks must not go back to the evicted agent.
dropWaits(agentId)

redis.call('HDEL', agents, agentId)
redis.call('HDEL', registeredAt, agentId)
redis.call('ZREM', heartbeats, agentId)
redis.call('HDEL', load, agentId)
-- cjson would encode an empty list as {}, so the id lists are written by hand.
local function idList(ids)
  local parts = {}
  for i, id in ipairs(ids) do parts[i] = cjson.encode(id) end
  return '[' .. table.concat(parts, ',') .. ']'
end
appendEvent('agent.evicted', '{"agentId":' .. cjson.encode(agentId)
  .. ',"name":' .. cjson.encode(cjson.decode(record).name)
  .. ',"lastHeartbeat":' .. ms(last)
  .. ',"requeued":' .. idList(released.requeued) .. ',"dead":' .. idList(released.dead) .. '}')

local out = { 0, publishSignals(), 1, #released.requeued }
for _, id in ipairs(released.requeued) do out[#out + 1] = id end
for _, id in ipairs(released.dead) do out[#out + 1] = id end
return out
