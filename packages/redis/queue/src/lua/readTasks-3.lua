--[[
  Reads tasks consistently: record, payload and result together.

  KEYS[1]  tasks     hash  taskId -> record JSON
  KEYS[2]  payloads  hash  taskId -> payload JSON
  KEYS[3]  results   hash  taskId -> result JSON
  ARGV     task ids

  Reply: flat list of {record JSON, payload, result|false} per existing task.
]]
local out = {}
for _, id in ipairs(ARGV) do
  local record = redis.call('HGET', KEYS[1], id)
  if record then
    out[#out + 1] = record
    out[#out + 1] = redis.call('HGET', KEYS[2], id) or 'null'
    out[#out + 1] = redis.call('HGET', KEYS[3], id) or false
  end
end
return out
