--[[
  Reads tasks consistently: spec and payload, state, result and notes together.

  KEYS[1..4]  tasks, state, results, notes (includes/store.lua)
  ARGV        task ids

  Reply: 6 entries per existing task (pushTask in includes/store.lua).
]]
local S = { tasks = KEYS[1], state = KEYS[2], results = KEYS[3], notes = KEYS[4] }
--@include "store"
local out = {}
for _, id in ipairs(ARGV) do
  local raw = redis.call('HGET', S.state, id)
  if raw then pushTask(out, id, raw) end
end
return out
