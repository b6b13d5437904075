-- The body of a report: records the outcome of a leased task (see completeAndLease-17.lua).
-- Uses the queue prologue. Returns nil, the task's state line and, when known, its note flags
-- and its result: true when it is the one this report carried (the reply does not send it
-- back), false when there is none; or an error reply.

-- The common case, a success of a task with no error kept from an earlier attempt (progress
-- is fine), rewrites the state line without parsing it; returns nil when the general path
-- has to decide (refusals included).
local function completeFast(id, agentId, token, hasResult, result)
  local raw = redis.call('HGET', K.state, id)
  if not raw then return { E_NOT_FOUND } end
  -- The line ends with the lease token and the agent: a random token cannot be forged.
  local suffix = '|' .. token .. '|' .. agentId
  if string.sub(raw, -#suffix) ~= suffix then return nil end
  local head, available, deadlineAt, timeoutMs, notes = string.match(raw, LEASED_LINE)
  if not head or (notes ~= '' and notes ~= '0' and notes ~= '2') then return nil end
  redis.call('ZREM', K.leases, id)
  redis.call('ZREM', K.held, heldMember(agentId, id))
  -- Only a success stores a result, and a task succeeds once: there is none to remove.
  if hasResult == '1' then redis.call('HSET', K.results, id, result) end
  if deadlineAt ~= '' then redis.call('ZREM', K.deadlines, id) end
  redis.call('RPUSH', K.terminal, id)
  signalTerminal({ id = id, state = 'succeeded', agentId = agentId })
  local line = 'succeeded|' .. head .. '|' .. NOW_S .. '|' .. available .. '||' .. NOW_S .. '|' .. deadlineAt
    .. '|' .. timeoutMs .. '|' .. notes .. '||' .. agentId
  redis.call('HSET', K.state, id, line)
  return nil, line, tonumber(notes) or 0, hasResult == '1'
end

local function completeTask(id, agentId, token, status, hasResult, result, errorJson, retryable, eb1, eb2, eb3)
  if status == 'succeeded' then
    local refused, line, flags, stored = completeFast(id, agentId, token, hasResult, result)
    if refused or line then return refused, line, flags, stored end
  end
  local sl = useSlow()
  local t = sl.loadTask(id)
  if not t then return { E_NOT_FOUND } end
  if t.state ~= 'leased' or t.leaseToken ~= token or t.agentId ~= agentId then
    return { E_STALE_LEASE, t.state, t.agentId or '' }
  end
  local retry = status == 'failed' and retryable == '1' and t.errorRetries < t.maxRetries
  if retry then needCap(t.capability) end
  if missing then return needKeysReply() end

  sl.unindex(t)
  if status == 'succeeded' then
    if hasResult == '1' then
      redis.call('HSET', K.results, id, result)
    else
      redis.call('HDEL', K.results, id)
    end
    t.error = nil
    return nil, sl.finish(t, 'succeeded')
  elseif retry then
    t.errorRetries = t.errorRetries + 1
    t.error = errorJson
    return nil, sl.requeue(t, sl.backoff(t.errorRetries, tonumber(eb1), tonumber(eb2), tonumber(eb3)))
  end
  t.error = errorJson
  return nil, sl.finish(t, 'failed')
end
