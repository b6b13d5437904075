--[[
  Leader only: removes terminal tasks, oldest completion first, while they are past the
  retention time or more than `maxTerminal` are kept. Their idempotency keys are released
  and a batch is forgotten once all its tasks are gone.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); nothing to declare.
  ARGV[A]         resultTtlMs
  ARGV[A+1]       maxTerminalTasks
  ARGV[A+2]       most tasks to look at in this call

  Reply: {0, "", removed, more (1 when the call stopped at its limit)} | {E_STALE_FENCE}
]]
--@include "queue"
local sl = useSlow()
local loadTask, dropTask, fenceHolds = sl.loadTask, sl.dropTask, sl.fenceHolds
if not fenceHolds() then return { E_STALE_FENCE } end
local ttl, keep, limit = tonumber(ARGV[A]), tonumber(ARGV[A + 1]), tonumber(ARGV[A + 2])
local total = redis.call('LLEN', K.terminal)
local entries = redis.call('LRANGE', K.terminal, 0, limit - 1)
local removed, looked = 0, 0
local batches, batchSeen = {}, {}
for i, id in ipairs(entries) do
  local t = loadTask(id)
  local live = total - (i - 1)
  if t and t.completedAt + ttl > NOW and live <= keep then break end
  looked = i
  redis.call('ZREM', K.dead, id)
  if t then
    dropTask(id)
    if t.idempotencyKey and redis.call('HGET', K.idempotency, t.idempotencyKey) == id then
      redis.call('HDEL', K.idempotency, t.idempotencyKey)
    end
    if t.batchId and not batchSeen[t.batchId] then
      batchSeen[t.batchId] = true
      batches[#batches + 1] = t.batchId
    end
    removed = removed + 1
  end
end
if looked > 0 then redis.call('LTRIM', K.terminal, looked, -1) end
-- A batch is forgotten once none of its tasks is left: each batch this call trimmed from is
-- looked at once, after the loop (per task, a batch of n tasks cost n decodes and up to n^2/2
-- lookups: a third of a second of Redis for 1,000), from its newest task back, as the oldest go
-- first.
for _, batchId in ipairs(batches) do
  local batch = redis.call('HGET', K.batches, batchId)
  if batch then
    local ids = cjson.decode(batch).taskIds or {}
    local empty = true
    for j = #ids, 1, -1 do
      if redis.call('HEXISTS', K.state, ids[j]) == 1 then
        empty = false
        break
      end
    end
    if empty then redis.call('HDEL', K.batches, batchId) end
  end
end
local more = 0
if looked == limit then more = 1 end
return { 0, '', removed, more }
