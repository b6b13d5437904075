--[[
  Several independent submissions at once, each exactly as submitTask-17.lua: the queue
  groups the submissions that arrive together into one call.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare every task's capability.
  ARGV[A]         number of tasks n
  ARGV[A+1..]     n tasks of 10 arguments each (includes/create.lua)

  Reply: {0, signals, n, then per task: 1, state line (created) |
                                         0, task (6 entries, includes/store.lua) (known)}
         {E_NEED_KEYS, ...} when a capability was not declared (nothing changed)
]]
--@include "queue"
--@include "create"
local n = tonumber(ARGV[A])
for j = 0, n - 1 do needCap(ARGV[A + 1 + j * TASK_ARGS + 1]) end
if missing then return needKeysReply() end
reserveSeq(n)
handOff = n == 1
local out = { 0, '', n }
for j = 0, n - 1 do
  local id, created, raw = submitOne(A + 1 + j * TASK_ARGS)
  if created then
    out[#out + 1] = 1
    out[#out + 1] = raw
  else
    out[#out + 1] = 0
    pushTask(out, id)
  end
end
out[2] = publishSignals()
return out
