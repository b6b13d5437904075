--[[
  Submits one task: stores it, indexes it as queued or delayed, and wakes waiting agents.
  A known idempotency key returns the existing task unchanged.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare the task's capability.
  ARGV[A..A+12]   the task (includes/create.lua)

  Reply: {0, signals, 1, record JSON}                         when created
         {0, signals, 0, record JSON, payload, result|false}  for a known idempotency key
         {E_NEED_KEYS, ...}                                   when the capability was not declared
]]
--@include "queue"
--@include "create"
needCap(ARGV[A + 1])
if missing then return needKeysReply() end
local t, created = submitOne(A)
if created then return { 0, publishSignals(), 1, cjson.encode(t) } end
return { 0, '', 0, cjson.encode(t), redis.call('HGET', K.payloads, t.id), redis.call('HGET', K.results, t.id) }
