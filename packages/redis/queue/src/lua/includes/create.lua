-- Creates one task from the 13 arguments at ARGV[i..i+12]:
--   id, capability, priority, maxAttempts, maxRetries, timeoutMs, delayMs, deadlineMs or "",
--   idempotencyKey or "", traceparent or "", batchId or "", metadata JSON, payload JSON
-- A known idempotency key (or task id) returns the existing task instead. Returns (task, created).
local TASK_ARGS = 13
local function submitOne(i)
  local id, cap, idem = ARGV[i], ARGV[i + 1], ARGV[i + 8]
  -- The same call run twice (ioredis resends a command whose reply a dropped connection
  -- lost) must not reset the task it created the first time.
  local again = loadTask(id)
  if again then return again, false end
  if idem ~= '' then
    local existing = redis.call('HGET', K.idempotency, idem)
    if existing then
      local t = loadTask(existing)
      if t then return t, false end
    end
  end
  local delay = tonumber(ARGV[i + 6])
  local t = {
    id = id,
    capability = cap,
    state = delay > 0 and 'delayed' or 'queued',
    priority = tonumber(ARGV[i + 2]),
    attempts = 0,
    errorRetries = 0,
    maxAttempts = tonumber(ARGV[i + 3]),
    maxRetries = tonumber(ARGV[i + 4]),
    timeoutMs = tonumber(ARGV[i + 5]),
    metadata = ARGV[i + 11],
    createdAt = NOW,
    updatedAt = NOW,
    availableAt = NOW + delay,
  }
  if ARGV[i + 7] ~= '' then
    t.deadlineAt = NOW + tonumber(ARGV[i + 7])
    redis.call('ZADD', K.deadlines, ms(t.deadlineAt), id)
  end
  if idem ~= '' then
    t.idempotencyKey = idem
    redis.call('HSET', K.idempotency, idem, id)
  end
  if ARGV[i + 9] ~= '' then t.traceparent = ARGV[i + 9] end
  if ARGV[i + 10] ~= '' then t.batchId = ARGV[i + 10] end
  redis.call('HSET', K.payloads, id, ARGV[i + 12])
  redis.call('SADD', K.capabilities, cap)
  enqueue(t)
  saveTask(t)
  return t, true
end
