--[[
  Reads tasks consistently: spec, state, payload, result and notes together.

  KEYS[1..5]  tasks, state, payloads, results, notes (includes/store.lua)
  ARGV        task ids

  Reply: 7 entries per existing task (pushTask in includes/store.lua).
]]
local S = { tasks = KEYS[1], state = KEYS[2], payloads = KEYS[3], results = KEYS[4], notes = KEYS[5] }
--@include "store"
local out = {}
for _, id in ipairs(ARGV) do
  local raw = redis.call('HGET', S.state, id)
  if raw then pushTask(out, id, raw) end
end
return out
