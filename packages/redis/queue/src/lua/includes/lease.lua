-- The body of leaseTasks: leases up to `max` of the most urgent runnable tasks of the
-- declared capabilities to `agentId` (declared too), appending record JSON and payload of
-- each to `out`. Uses the queue prologue. Returns how many were leased.
local function leaseTasks(agentId, max, nonce, out)
  promoteDue(1000)
  local count = 0
  while count < max do
    local bestKey, bestScore
    for _, cap in ipairs(declaredCaps) do
      local top = redis.call('ZRANGE', readyKey[cap], 0, 0, 'WITHSCORES')
      if top[1] then
        local score = tonumber(top[2])
        if not bestScore or score < bestScore then
          bestScore = score
          bestKey = readyKey[cap]
        end
      end
    end
    if not bestKey then break end
    local id = redis.call('ZPOPMIN', bestKey)[1]
    local t = loadTask(id)
    if t and t.state == 'queued' then
      if t.deadlineAt and t.deadlineAt <= NOW then
        finish(t, 'timed_out')
      else
        count = count + 1
        t.state = 'leased'
        t.agentId = agentId
        t.leaseToken = nonce .. '.' .. count
        t.leaseDeadline = NOW + t.timeoutMs
        t.updatedAt = NOW
        redis.call('ZADD', K.leases, ms(t.leaseDeadline), id)
        redis.call('ZADD', agentKey[agentId], nextSeq(), id)
        out[#out + 1] = saveTask(t)
        out[#out + 1] = redis.call('HGET', K.payloads, id)
      end
    end
  end
  return count
end
