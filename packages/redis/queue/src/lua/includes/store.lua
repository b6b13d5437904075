-- Task storage. A task is kept in four hashes, all fields named by task id:
--   tasks     the record, immutable, written once at submit (built by the client): the spec
--             JSON {id, capability, priority, maxAttempts, maxRetries, timeoutMs, metadata
--             (a JSON string), idempotencyKey?, traceparent?, batchId?}, a newline, the
--             payload JSON (JSON text holds no raw newline, so the first one splits them)
--   state     the hot state, one '|'-separated line a script parses and rewrites without
--             JSON (HOT in includes/slow.lua); the agent id is last, so it may hold any character
--   results   result JSON
--   notes     "<id>|e" error JSON, "<id>|p" progress JSON, "<id>|c" cancel reason, present
--             as flagged in the state line (1, 2, 4)
-- Scripts that only move a task along (lease, report) touch the state line alone; only the
-- rare paths (crash requeue, retry, cancel) decode the spec.
-- Needs a table S = {tasks, state, results, notes} of KEYS entries.

-- A state line of a task in one state, up to its notes; captures: the fields attempts to
-- createdAt (as one), availableAt, deadlineAt, timeoutMs, notes. The fast paths of lease and
-- report rewrite a line from these without parsing it whole.
local QUEUED_LINE = '^queued|([^|]*|[^|]*|[^|]*|[^|]*)|[^|]*|([^|]*)|[^|]*|[^|]*|([^|]*)|([^|]*)|([^|]*)|'
local LEASED_LINE = '^leased|([^|]*|[^|]*|[^|]*|[^|]*)|[^|]*|([^|]*)|[^|]*|[^|]*|([^|]*)|([^|]*)|([^|]*)|'

-- Integers as digits. Every number written is an integer: '%d' formats it exactly (tostring
-- would switch to exponent notation past 14 digits) and costs half of '%.0f'. Scripts hand
-- Redis and the state line digits, never Lua numbers, whose conversion goes through the
-- slow floating-point formatting of printf.
local function int(n) if n == nil then return '' end return string.format('%d', n) end

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
