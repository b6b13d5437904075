-- The body of completeTask: records the outcome of a leased task (see completeTask-14.lua).
-- Uses the queue prologue. Returns nil and the task when done, or an error reply table.
local function completeTask(id, agentId, token, status, hasResult, result, errorJson, retryable, eb1, eb2, eb3)
  local t = loadTask(id)
  if not t then return { E_NOT_FOUND } end
  if t.state ~= 'leased' or t.leaseToken ~= token or t.agentId ~= agentId then
    return { E_STALE_LEASE, t.state, t.agentId or '' }
  end
  needAgent(agentId)
  local retry = status == 'failed' and retryable == '1' and t.errorRetries < t.maxRetries
  if retry then needCap(t.capability) end
  if missing then return needKeysReply() end

  unindex(t)
  if status == 'succeeded' then
    if hasResult == '1' then
      redis.call('HSET', K.results, id, result)
    else
      redis.call('HDEL', K.results, id)
    end
    t.error = nil
    finish(t, 'succeeded')
  elseif retry then
    t.errorRetries = t.errorRetries + 1
    t.error = errorJson
    requeue(t, backoff(t.errorRetries, tonumber(eb1), tonumber(eb2), tonumber(eb3)))
  else
    t.error = errorJson
    finish(t, 'failed')
  end
  return nil, t
end
