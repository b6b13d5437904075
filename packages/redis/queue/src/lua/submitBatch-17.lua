--[[
  Submits a batch atomically: every task is stored, or none. A known batch id returns the
  existing batch; tasks with known idempotency keys join the batch as the existing tasks.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare every task's capability.
  ARGV[A]         batch id
  ARGV[A+1]       number of tasks n
  ARGV[A+2..]     n tasks of 10 arguments each (includes/create.lua)

  Reply: {0, signals, created (1|0), taskId, state, taskId, state, ...}
         {E_NEED_KEYS, ...} when a capability was not declared
]]
--@include "queue"
--@include "create"
local batchId, n = ARGV[A], tonumber(ARGV[A + 1])
local first = A + 2

local known = redis.call('HGET', K.batches, batchId)
local ids
local created = 1
if known then
  ids = cjson.decode(known).taskIds or {}
  created = 0
else
  for j = 0, n - 1 do needCap(ARGV[first + j * TASK_ARGS + 1]) end
  if missing then return needKeysReply() end
  ids = {}
  reserveSeq(n)
  handOff = n == 1
  for j = 0, n - 1 do
    ids[#ids + 1] = submitOne(first + j * TASK_ARGS)
  end
  redis.call('HSET', K.batches, batchId, cjson.encode({ createdAt = NOW, taskIds = ids }))
end

local out = { 0, publishSignals(), created }
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', K.state, id)
  if raw then
    out[#out + 1] = id
    out[#out + 1] = string.match(raw, '^[^|]*')
  end
end
return out
