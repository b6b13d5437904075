-- Creates one task from the 10 arguments at ARGV[i..i+9]:
--   id, capability, priority, maxAttempts, maxRetries, timeoutMs, delayMs, deadlineMs or "",
--   idempotencyKey or "", record (spec JSON, newline, payload JSON: includes/store.lua)
-- A known idempotency key (or task id) leaves everything as it is.
-- Returns (task id, created, state line when created).
local TASK_ARGS = 10
-- Whether a task may go straight to a waiting agent. Only when a call creates one task: with
-- several, the waiters are served after all are stored (publishSignals), most urgent first.
local handOff = true
local function submitOne(i)
  local id, cap, idem = ARGV[i], ARGV[i + 1], ARGV[i + 8]
  if idem ~= '' then
    local existing = redis.call('HGET', K.idempotency, idem)
    if existing and redis.call('HEXISTS', K.state, existing) == 1 then return existing, false end
  end
  local delay = tonumber(ARGV[i + 6])
  local t = {
    id = id,
    capability = cap,
    state = delay > 0 and 'delayed' or 'queued',
    priority = tonumber(ARGV[i + 2]),
    availableAt = NOW + delay,
    seq = nextSeq(),
  }
  if ARGV[i + 7] ~= '' then t.deadlineAt = NOW + tonumber(ARGV[i + 7]) end
  -- An agent waiting for this capability gets the task at once: it is created leased and
  -- pushed, never entering the ready set (which is empty while anyone waits).
  local waiter = handOff and t.state == 'queued' and popWaiter(cap)
  -- The line is built from digits (NOW_S, ms): see int in store.lua.
  local head = '|0|0|' .. ms(t.seq) .. '|' .. NOW_S .. '|' .. NOW_S .. '|' .. (delay > 0 and ms(t.availableAt) or NOW_S)
  local deadlineAt = t.deadlineAt and ms(t.deadlineAt) or ''
  local line, leaseDeadline
  if waiter then
    t.leaseDeadline = NOW + tonumber(ARGV[i + 5])
    leaseDeadline = ms(t.leaseDeadline)
    line = 'leased' .. head .. '|' .. leaseDeadline .. '||' .. deadlineAt .. '|' .. ARGV[i + 5] .. '|0|'
      .. waiter.nonce .. '.1|' .. waiter.agentId
  else
    line = t.state .. head .. '|||' .. deadlineAt .. '|' .. ARGV[i + 5] .. '|0||'
  end
  -- The same call run twice (ioredis resends a command whose reply a dropped connection
  -- lost) must not reset the task it created the first time: the state line is written
  -- only if there is none, before anything else.
  if redis.call('HSETNX', K.state, id, line) == 0 then
    if waiter then redis.call('ZADD', waitingKey[cap], waiter.score, waiter.id) end
    return id, false
  end
  if t.deadlineAt then redis.call('ZADD', K.deadlines, deadlineAt, id) end
  if idem ~= '' then redis.call('HSET', K.idempotency, idem, id) end
  redis.call('HSET', K.tasks, id, ARGV[i + 9])
  if waiter then
    redis.call('ZADD', K.leases, leaseDeadline, id)
    redis.call('ZADD', K.held, '0', heldMember(waiter.agentId, id))
    redis.call('HDEL', K.waiters, waiter.id)
    pushTo(waiter.origin, waiter.id, waiter.agentId, { ARGV[i + 9], line }, 1)
  elseif t.state == 'delayed' then
    indexDelayed(cap, t.availableAt, id)
  else
    redis.call('ZADD', readyKey[cap], readyScore(t), id)
    signalAvailable(cap)
  end
  return id, true, line
end
