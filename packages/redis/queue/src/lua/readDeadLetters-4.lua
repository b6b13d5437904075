--[[
  The oldest dead-lettered tasks.

  KEYS[1]  dead      zset  taskId scored by completion order
  KEYS[2]  tasks     hash  taskId -> record JSON
  KEYS[3]  payloads  hash  taskId -> payload JSON
  KEYS[4]  results   hash  taskId -> result JSON
  ARGV[1]  limit

  Reply: flat list of {record JSON, payload, result|false}, oldest first.
]]
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do
  local record = redis.call('HGET', KEYS[2], id)
  if record then
    out[#out + 1] = record
    out[#out + 1] = redis.call('HGET', KEYS[3], id) or 'null'
    out[#out + 1] = redis.call('HGET', KEYS[4], id) or false
  end
end
return out
