--[[
  Leader only: tasks past their total deadline become timed_out (with a `task.timed_out`
  event), wherever they are: queued, delayed or leased.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); the script asks for the keys of
                   the tasks it times out (E_NEED_KEYS).
  ARGV[A]         most tasks to time out in this call

  Reply: {0, signals, timed-out ids...} | {E_STALE_FENCE} | {E_NEED_KEYS, ...}
]]
--@include "queue"
local sl = useSlow()
local TERMINAL, loadTask, fenceHolds, needIndexKeys, unindex, finish =
  sl.TERMINAL, sl.loadTask, sl.fenceHolds, sl.needIndexKeys, sl.unindex, sl.finish
if not fenceHolds() then return { E_STALE_FENCE } end
local due, orphans = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.deadlines, '-inf', ms(NOW), 'LIMIT', 0, tonumber(ARGV[A]))) do
  local t = loadTask(id)
  if t and not TERMINAL[t.state] and t.deadlineAt and t.deadlineAt <= NOW then
    needIndexKeys(t)
    due[#due + 1] = t
  else
    orphans[#orphans + 1] = id
  end
end
if missing then return needKeysReply() end

for _, id in ipairs(orphans) do redis.call('ZREM', K.deadlines, id) end
local out = { 0, '' }
for _, t in ipairs(due) do
  unindex(t)
  finish(t, 'timed_out')
  out[#out + 1] = t.id
end
out[2] = publishSignals()
return out
