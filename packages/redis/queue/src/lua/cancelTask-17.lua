--[[
  Cancels a queued, delayed or leased task. A leased task's later report is refused because
  its lease token is cleared.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare the task's capability
                   when known (needed when it is queued or delayed).
  ARGV[A]         taskId
  ARGV[A+1]       1 when a reason is given, else 0
  ARGV[A+2]       reason

  Reply: {0, signals, task (6 entries, includes/store.lua)}
         {E_NOT_FOUND} | {E_TERMINAL, state} | {E_NEED_KEYS, ...}
]]
--@include "queue"
local sl = useSlow()
local TERMINAL, loadTask, needIndexKeys, unindex, finish =
  sl.TERMINAL, sl.loadTask, sl.needIndexKeys, sl.unindex, sl.finish
local id = ARGV[A]
local t = loadTask(id)
if not t then return { E_NOT_FOUND } end
if TERMINAL[t.state] then return { E_TERMINAL, t.state } end
needIndexKeys(t)
if missing then return needKeysReply() end
unindex(t)
if ARGV[A + 1] == '1' then t.cancelReason = ARGV[A + 2] end
local raw = finish(t, 'cancelled')
local out = { 0, publishSignals() }
pushTask(out, id, raw)
return out
