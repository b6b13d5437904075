--[[
  Submits one task: stores it, indexes it as queued or delayed, and wakes waiting agents.
  A known idempotency key returns the existing task unchanged.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare the task's capability.
  ARGV[A..A+9]    the task (includes/create.lua)

  Reply: {0, signals, 1, state line}               when created (the caller has the rest)
         {0, "", 0, task (6 entries, store.lua)}   for a known idempotency key or task id
         {E_NEED_KEYS, ...}                                   when the capability was not declared
]]
--@include "queue"
--@include "create"
needCap(ARGV[A + 1])
if missing then return needKeysReply() end
local id, created, raw = submitOne(A)
if created then return { 0, publishSignals(), 1, raw } end
local out = { 0, '', 0 }
pushTask(out, id)
return out
