-- Task storage. A task is kept in four hashes, all fields named by task id:
--   tasks     the record, immutable, written once at submit (built by the client): the spec
--             JSON {id, capability, priority, maxAttempts, maxRetries, timeoutMs, metadata
--             (a JSON string), idempotencyKey?, traceparent?, batchId?}, a newline, the
--             payload JSON (JSON text holds no raw newline, so the first one splits them)
--   state     the hot state, one '|'-separated line a script parses and rewrites without
--             JSON (see HOT below); the agent id is last, so it may hold any character
--   results   result JSON
--   notes     "<id>|e" error JSON, "<id>|p" progress JSON, "<id>|c" cancel reason, present
--             as flagged in the state line (1, 2, 4)
-- Scripts that only move a task along (lease, report) touch the state line alone; only the
-- rare paths (crash requeue, retry, cancel) decode the spec.
-- Needs a table S = {tasks, state, results, notes} of KEYS entries.

-- Fields of the state line, in order.
local HOT = { 'state', 'attempts', 'errorRetries', 'seq', 'createdAt', 'updatedAt', 'availableAt',
  'leaseDeadline', 'completedAt', 'deadlineAt', 'timeoutMs', 'notes', 'leaseToken', 'agentId' }
local HOT_NUMBERS = { attempts = true, errorRetries = true, seq = true, createdAt = true,
  updatedAt = true, availableAt = true, leaseDeadline = true, completedAt = true, deadlineAt = true,
  timeoutMs = true, notes = true }
local HOT_PATTERN = '^' .. string.rep('([^|]*)|', #HOT - 1) .. '(.*)$'
-- Note flag, task field, notes field suffix.
-- A state line of a task in one state, up to its notes; captures: the fields attempts to
-- createdAt (as one), availableAt, deadlineAt, timeoutMs, notes. The fast paths of lease and
-- report rewrite a line from these without parsing it whole.
local QUEUED_LINE = '^queued|([^|]*|[^|]*|[^|]*|[^|]*)|[^|]*|([^|]*)|[^|]*|[^|]*|([^|]*)|([^|]*)|([^|]*)|'
local LEASED_LINE = '^leased|([^|]*|[^|]*|[^|]*|[^|]*)|[^|]*|([^|]*)|[^|]*|[^|]*|([^|]*)|([^|]*)|([^|]*)|'
local NOTES = { { 1, 'error', '|e' }, { 2, 'progress', '|p' }, { 4, 'cancelReason', '|c' } }

-- Integers as digits. Every number written is an integer: '%d' formats it exactly (tostring
-- would switch to exponent notation past 14 digits) and costs half of '%.0f'. Scripts hand
-- Redis and the state line digits, never Lua numbers, whose conversion goes through the
-- slow floating-point formatting of printf.
local function int(n) if n == nil then return '' end return string.format('%d', n) end

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

-- Appends a task to a reply as 6 entries: record (spec, newline, payload), state line,
-- result|false, error|false, progress|false, cancel reason|false. `raw` is its state line, `flags` its
-- note flags and `result` its result (JSON or false), when at hand — or true for "the result
-- this call carried", which the reply gives as the integer 1 instead of sending it back.
local function pushTask(out, id, raw, flags, result)
  raw = raw or redis.call('HGET', S.state, id)
  local n = #out
  out[n + 1] = redis.call('HGET', S.tasks, id)
  out[n + 2] = raw
  if result == nil then result = redis.call('HGET', S.results, id) or false end
  out[n + 3] = result
  flags = flags or tonumber(string.match(raw, '^[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|([^|]*)')) or 0
  if flags == 0 then
    out[n + 4], out[n + 5], out[n + 6] = false, false, false
  else
    local notes = redis.call('HMGET', S.notes, id .. '|e', id .. '|p', id .. '|c')
    out[n + 4], out[n + 5], out[n + 6] = notes[1] or false, notes[2] or false, notes[3] or false
  end
end

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
