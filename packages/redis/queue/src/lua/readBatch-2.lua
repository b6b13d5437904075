--[[
  A batch with the current state of each of its tasks that still exists.

  KEYS[1]  batches  hash  batchId -> {createdAt, taskIds}
  KEYS[2]  state    hash  taskId -> state line (includes/store.lua)
  ARGV[1]  batchId

  Reply: {} for an unknown batch, else {createdAt, total, taskId, state, taskId, state, ...}
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {} end
local batch = cjson.decode(raw)
local out = { batch.createdAt, #(batch.taskIds or {}) }
for _, id in ipairs(batch.taskIds or {}) do
  local line = redis.call('HGET', KEYS[2], id)
  if line then
    out[#out + 1] = id
    out[#out + 1] = string.match(line, '^[^|]*')
  end
end
return out
