--[[
  The oldest dead-lettered tasks.

  KEYS[1]     dead  zset  taskId scored by completion order
  KEYS[2..5]  tasks, state, results, notes (includes/store.lua)
  ARGV[1]     limit

  Reply: 6 entries per task (pushTask in includes/store.lua), oldest first.
]]
local S = { tasks = KEYS[2], state = KEYS[3], results = KEYS[4], notes = KEYS[5] }
--@include "store"
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do
  local raw = redis.call('HGET', S.state, id)
  if raw then pushTask(out, id, raw) end
end
return out
