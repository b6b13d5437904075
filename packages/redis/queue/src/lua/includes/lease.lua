-- Appends a leased task to a reply: its record (spec, newline, payload) and state line.
local function pushLeased(out, id, line)
  local n = #out
  out[n + 1] = redis.call('HGET', K.tasks, id)
  out[n + 2] = line
end

-- The body of leaseTasks: leases up to `max` of the most urgent runnable tasks of the
-- capabilities `caps` (declared) to `agentId`, appending each to `out` (pushLeased). Uses the
-- queue prologue; callers promote due delayed tasks first (promoteDue). Returns how many were
-- leased.

local function leaseTasks(agentId, max, nonce, out, caps)
  local count = 0
  while count < max do
    local bestKey, bestScore
    if #caps == 1 then
      bestKey = readyKey[caps[1]]
    else
      for _, cap in ipairs(caps) do
        local top = redis.call('ZRANGE', readyKey[cap], 0, 0, 'WITHSCORES')
        if top[1] then
          local score = tonumber(top[2])
          if not bestScore or score < bestScore then
            bestScore = score
            bestKey = readyKey[cap]
          end
        end
      end
    end
    if not bestKey then break end
    local id = redis.call('ZPOPMIN', bestKey)[1]
    if not id then break end
    local raw = redis.call('HGET', K.state, id)
    -- Only the line is rewritten: state, updatedAt, lease deadline, token, agent.
    local head, available, deadlineAt, timeoutMs, notes
    if raw then head, available, deadlineAt, timeoutMs, notes = string.match(raw, QUEUED_LINE) end
    if head then
      if deadlineAt ~= '' and tonumber(deadlineAt) <= NOW then
        finish(loadTask(id), 'timed_out')
      else
        count = count + 1
        local leaseDeadline = NOW + tonumber(timeoutMs)
        local line = 'leased|' .. head .. '|' .. NOW .. '|' .. available .. '|' .. leaseDeadline .. '||'
          .. deadlineAt .. '|' .. timeoutMs .. '|' .. notes .. '|' .. nonce .. '.' .. count .. '|' .. agentId
        redis.call('HSET', K.state, id, line)
        redis.call('ZADD', K.leases, leaseDeadline, id)
        redis.call('ZADD', K.held, 0, heldMember(agentId, id))
        pushLeased(out, id, line)
      end
    end
  end
  return count
end
