-- The helpers of the slow paths (crash, retry, expiry, cancel, eviction, progress, trim),
-- included in the body of useSlow (includes/queue.lua), which makes them on first use and
-- returns them as a table: Lua makes a new closure of every function a script defines each
-- time the script runs, and these are most of the prologue's functions.

-- Fields of the state line, in order.
local HOT = { 'state', 'attempts', 'errorRetries', 'seq', 'createdAt', 'updatedAt', 'availableAt',
  'leaseDeadline', 'completedAt', 'deadlineAt', 'timeoutMs', 'notes', 'leaseToken', 'agentId' }
local HOT_NUMBERS = { attempts = true, errorRetries = true, seq = true, createdAt = true,
  updatedAt = true, availableAt = true, leaseDeadline = true, completedAt = true, deadlineAt = true,
  timeoutMs = true, notes = true }
local HOT_PATTERN = '^' .. string.rep('([^|]*)|', #HOT - 1) .. '(.*)$'
-- Note flag, task field, notes field suffix.
local NOTES = { { 1, 'error', '|e' }, { 2, 'progress', '|p' }, { 4, 'cancelReason', '|c' } }

-- Parses a state line into a table (empty fields become nil, numbers numbers).
local function parseHot(raw)
  local v = { string.match(raw, HOT_PATTERN) }
  local h = {}
  for i, name in ipairs(HOT) do
    local s = v[i]
    if s ~= '' then
      if HOT_NUMBERS[name] then h[name] = tonumber(s) else h[name] = s end
    end
  end
  return h
end

local function packHot(h)
  return table.concat({ h.state, int(h.attempts), int(h.errorRetries), int(h.seq), int(h.createdAt),
    int(h.updatedAt), int(h.availableAt), int(h.leaseDeadline), int(h.completedAt), int(h.deadlineAt),
    int(h.timeoutMs), int(h.notes), h.leaseToken or '', h.agentId or '' }, '|')
end

local function hasNote(flags, bit) return flags ~= nil and flags % (2 * bit) >= bit end

-- The whole task as one table: spec, state and notes (error, progress, cancelReason strings).
local function loadTask(id)
  local raw = redis.call('HGET', S.state, id)
  if not raw then return nil end
  local record = redis.call('HGET', S.tasks, id)
  local t = cjson.decode(string.sub(record, 1, string.find(record, '\n', 1, true) - 1))
  for k, v in pairs(parseHot(raw)) do t[k] = v end
  local flags = t.notes or 0
  if flags > 0 then
    local notes = redis.call('HMGET', S.notes, id .. '|e', id .. '|p', id .. '|c')
    if notes[1] then t.error = notes[1] end
    if notes[2] then t.progress = notes[2] end
    if notes[3] then t.cancelReason = notes[3] end
  end
  t.notesBefore = flags
  return t
end

-- Writes the state line and notes of a task loaded by loadTask (the spec never changes).
-- Returns the state line.
local function saveTask(t)
  local before = t.notesBefore or 0
  local flags = 0
  for _, note in ipairs(NOTES) do
    local value = t[note[2]]
    if value then
      flags = flags + note[1]
      redis.call('HSET', S.notes, t.id .. note[3], value)
    elseif hasNote(before, note[1]) then
      redis.call('HDEL', S.notes, t.id .. note[3])
    end
  end
  t.notes = flags
  t.notesBefore = flags
  local raw = packHot(t)
  redis.call('HSET', S.state, t.id, raw)
  return raw
end

-- Removes every trace of a task's record.
local function dropTask(id)
  redis.call('HDEL', S.tasks, id)
  redis.call('HDEL', S.state, id)
  redis.call('HDEL', S.results, id)
  redis.call('HDEL', S.notes, id .. '|e', id .. '|p', id .. '|c')
end

-- Fencing: see @mcpmas/leader-election. An empty epoch means "not leader-only".
local function fenceHolds()
  if FENCE_EPOCH == '' then return true end
  local holder = redis.call('GET', K.leader)
  if not holder then return false end
  local space = string.find(holder, ' ', 1, true)
  if not space or string.sub(holder, space + 1) ~= FENCE_HUB then return false end
  return redis.call('GET', K.epoch) == FENCE_EPOCH
end

local TERMINAL = { succeeded = true, failed = true, cancelled = true, timed_out = true, dead = true }
-- The keys needed to take a task out of the index of its current state.
local function needIndexKeys(t)
  if t.state == 'queued' or t.state == 'delayed' then needCap(t.capability) end
end

local function appendEvent(eventType, data)
  if MAX_EVENTS > 0 then
    redis.call('XADD', K.events, 'MAXLEN', '~', MAX_EVENTS, '*', 'type', eventType, 'at', ms(NOW), 'data', data)
  end
end

-- Exponential backoff: base * 2^(n-1), capped, plus up to `jitter` x delay.
local function backoff(n, base, cap, jitter)
  if base <= 0 then return 0 end
  local delay = math.min(cap, base * 2 ^ math.max(0, n - 1))
  return math.floor(delay + delay * jitter * math.random() + 0.5)
end

-- Puts a queued or delayed task where `lease` finds it, with a new sequence number.
local function enqueue(t)
  t.seq = nextSeq()
  if t.state == 'delayed' then
    indexDelayed(t.capability, t.availableAt, t.id)
  else
    redis.call('ZADD', readyKey[t.capability], readyScore(t), t.id)
    signalAvailable(t.capability)
  end
end

-- Takes a task out of the index of its current state (keys declared via needIndexKeys).
local function unindex(t)
  if t.state == 'queued' then
    redis.call('ZREM', readyKey[t.capability], t.id)
  elseif t.state == 'delayed' then
    redis.call('ZREM', delayedKey[t.capability], t.id)
  elseif t.state == 'leased' then
    redis.call('ZREM', K.leases, t.id)
    if t.agentId then redis.call('ZREM', K.held, heldMember(t.agentId, t.id)) end
  end
end

-- Moves an unindexed task to a terminal state.
local function finish(t, state)
  t.state = state
  t.updatedAt = NOW
  t.completedAt = NOW
  t.leaseToken = nil
  t.leaseDeadline = nil
  redis.call('ZREM', K.deadlines, t.id)
  redis.call('RPUSH', K.terminal, t.id)
  if state == 'dead' then redis.call('ZADD', K.dead, nextSeq(), t.id) end
  if state == 'timed_out' then
    appendEvent('task.timed_out', cjson.encode({ taskId = t.id, capability = t.capability, agentId = t.agentId }))
  end
  signalTerminal(t)
  return saveTask(t)
end

-- Returns an unindexed task to the queue after `delay` ms.
local function requeue(t, delay)
  t.leaseToken = nil
  t.leaseDeadline = nil
  t.state = delay > 0 and 'delayed' or 'queued'
  t.availableAt = NOW + delay
  t.updatedAt = NOW
  enqueue(t)
  return saveTask(t)
end

-- A lost run (unregister, eviction, lease expiry): attempts + 1, then back to the queue after
-- `delay` (nil: the crash backoff) or, once the crash budget is spent, dead-lettered.
local function crash(t, delay, reason, released, crashBackoff)
  unindex(t)
  t.attempts = t.attempts + 1
  if t.attempts >= t.maxAttempts then
    finish(t, 'dead')
    appendEvent('task.dead', cjson.encode({
      taskId = t.id, capability = t.capability, attempts = t.attempts, agentId = t.agentId, reason = reason,
    }))
    released.dead[#released.dead + 1] = t.id
  else
    if delay == nil then
      delay = backoff(t.attempts, crashBackoff[1], crashBackoff[2], crashBackoff[3])
    end
    requeue(t, delay)
    released.requeued[#released.requeued + 1] = t.id
  end
end

-- Releases every task `agentId` holds as a crash (see crash) and forgets its K.held members.
-- The crash backoff is at ARGV[backoffAt..backoffAt+2]. Returns the released ids, or nil and
-- a need-keys reply (nothing changed) when keys are missing.
local function releaseHeld(agentId, delay, reason, backoffAt)
  local held, stray = {}, {}
  for _, id in ipairs(heldIds(agentId)) do
    local t = loadTask(id)
    if t and t.state == 'leased' and t.agentId == agentId then
      needCap(t.capability)
      held[#held + 1] = t
    else
      stray[#stray + 1] = heldMember(agentId, id)
    end
  end
  if missing then return nil, needKeysReply() end
  local released = { requeued = {}, dead = {} }
  local crashBackoff = { tonumber(ARGV[backoffAt]), tonumber(ARGV[backoffAt + 1]), tonumber(ARGV[backoffAt + 2]) }
  for _, t in ipairs(held) do crash(t, delay, reason, released, crashBackoff) end
  for _, member in ipairs(stray) do redis.call('ZREM', K.held, member) end
  return released
end

-- Ends the waits of an agent that is leaving (evicted or unregistered): each registration
-- becomes "left|<expiresAt>", which no script leases to (popWaiter) and which the waiting
-- queue instance finds when it renews or ends the wait (withdraw), ending it. Marks whose
-- instance never came back (it died meanwhile) are dropped once past their time.
-- O(waiters), on the rare path of an agent leaving.
local function dropWaits(agentId)
  local all = redis.call('HGETALL', K.waiters)
  for i = 1, #all, 2 do
    local record = all[i + 1]
    local left = string.match(record, '^left|(.*)$')
    if left then
      if tonumber(left) <= NOW then redis.call('HDEL', K.waiters, all[i]) end
    else
      local expiresAt, waiting = string.match(record, '^[^|]*|([^|]*)|[^|]*|[^|]*|(.*)$')
      if waiting == agentId then redis.call('HSET', K.waiters, all[i], 'left|' .. expiresAt) end
    end
  end
end

local function releasedReply(released)
  local out = { 0, publishSignals(), #released.requeued }
  for _, id in ipairs(released.requeued) do out[#out + 1] = id end
  for _, id in ipairs(released.dead) do out[#out + 1] = id end
  return out
end

slow = {
  HOT = HOT, HOT_NUMBERS = HOT_NUMBERS, HOT_PATTERN = HOT_PATTERN, NOTES = NOTES,
  TERMINAL = TERMINAL, parseHot = parseHot, packHot = packHot, hasNote = hasNote,
  loadTask = loadTask, saveTask = saveTask, dropTask = dropTask, fenceHolds = fenceHolds,
  needIndexKeys = needIndexKeys, appendEvent = appendEvent, backoff = backoff, enqueue = enqueue,
  unindex = unindex, finish = finish, requeue = requeue, crash = crash, releaseHeld = releaseHeld,
  dropWaits = dropWaits, releasedReply = releasedReply,
}
