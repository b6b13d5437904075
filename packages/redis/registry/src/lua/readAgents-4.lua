--[[
  Reads agents consistently: record, first registration, last heartbeat and load together.

  KEYS[1]  agents        hash  agentId -> record JSON
  KEYS[2]  registeredAt  hash  agentId -> epoch ms
  KEYS[3]  heartbeats    zset  agentId scored by last heartbeat
  KEYS[4]  load          hash  agentId -> load JSON
  ARGV     agent ids to read; none reads every agent

  Reply: flat list of {record JSON, registeredAt, lastHeartbeat, load JSON or false} per
  existing agent.
]]
local agents, registeredAt, heartbeats, load = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ids = ARGV
if #ids == 0 then ids = redis.call('HKEYS', agents) end
local out = {}
for _, id in ipairs(ids) do
  local record = redis.call('HGET', agents, id)
  if record then
    out[#out + 1] = record
    out[#out + 1] = redis.call('HGET', registeredAt, id) or '0'
    out[#out + 1] = redis.call('ZSCORE', heartbeats, id) or '0'
    out[#out + 1] = redis.call('HGET', load, id) or false
  end
end
return out
