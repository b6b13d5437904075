-- Appends a leased task to a reply: its record (spec, newline, payload) and state line.
local function pushLeased(out, id, line)
  local n = #out
  out[n + 1] = redis.call('HGET', K.tasks, id)
  out[n + 2] = line
end

-- The leased state line of task `id` (state line `raw`) as lease number `count` of this
-- call: only state, updatedAt, lease deadline, token and agent change. Returns the line and
-- the lease deadline (digits); nil when the task is not queued (a stale ready entry), after moving it
-- to timed_out when its total deadline has passed.
local function leasedLine(id, raw, agentId, nonce, count)
  local head, available, deadlineAt, timeoutMs, notes
  if raw then head, available, deadlineAt, timeoutMs, notes = string.match(raw, QUEUED_LINE) end
  if not head then return nil end
  if deadlineAt ~= '' and tonumber(deadlineAt) <= NOW then
    local sl = useSlow()
    sl.finish(sl.loadTask(id), 'timed_out')
    return nil
  end
  local leaseDeadline = ms(NOW + tonumber(timeoutMs))
  return 'leased|' .. head .. '|' .. NOW_S .. '|' .. available .. '|' .. leaseDeadline .. '||' .. deadlineAt .. '|'
    .. timeoutMs .. '|' .. notes .. '|' .. nonce .. '.' .. count .. '|' .. agentId, leaseDeadline
end

-- Most tasks one round of leaseForGroup pops (bounds the arguments each bulk command takes).
local LEASE_ROUND = 500

-- Leases from one capability (ready set `key`) for each lessee of `group` in order: entries
-- {reply, agentId, max, nonce, count = 0[, countAt]}. Each round pops the most urgent tasks
-- for all of them at once and writes their state lines, lease deadlines and holder entries
-- with one command each (not one command per task for each); the lessees take them in order,
-- each up to its `max`, records and state lines appended to its `reply`. Sets `count`, and
-- `reply[countAt]` when given. reportMany leases for a group of reports this way.
local function leaseForGroup(group, key)
  local wanted = 0
  for _, g in ipairs(group) do wanted = wanted + g.max end
  local at = 1
  while wanted > 0 do
    local popped = redis.call('ZPOPMIN', key, math.min(wanted, LEASE_ROUND))
    if #popped == 0 then break end
    local ids = {}
    for j = 1, #popped, 2 do ids[#ids + 1] = popped[j] end
    local raws = redis.call('HMGET', K.state, unpack(ids))
    local leased, lines, owners, states, deadlines, holders = {}, {}, {}, {}, {}, {}
    for j, id in ipairs(ids) do
      -- At most `wanted` were popped and each lease lowers it by one: a lessee wants this one.
      while group[at].count >= group[at].max do at = at + 1 end
      local g = group[at]
      local line, leaseDeadline = leasedLine(id, raws[j], g.agentId, g.nonce, g.count + 1)
      if line then
        g.count = g.count + 1
        wanted = wanted - 1
        local n = #leased
        leased[n + 1], lines[n + 1], owners[n + 1] = id, line, g
        states[2 * n + 1], states[2 * n + 2] = id, line
        deadlines[2 * n + 1], deadlines[2 * n + 2] = leaseDeadline, id
        holders[2 * n + 1], holders[2 * n + 2] = '0', heldMember(g.agentId, id)
      end
    end
    if #leased > 0 then
      redis.call('HSET', K.state, unpack(states))
      redis.call('ZADD', K.leases, unpack(deadlines))
      redis.call('ZADD', K.held, unpack(holders))
      local records = redis.call('HMGET', K.tasks, unpack(leased))
      for j = 1, #leased do
        local reply = owners[j].reply
        reply[#reply + 1] = records[j]
        reply[#reply + 1] = lines[j]
      end
    end
  end
  for _, g in ipairs(group) do
    if g.countAt then g.reply[g.countAt] = g.count end
  end
end

-- leaseTasks from one capability, when more than one task is asked for (see leaseForGroup).
local function leaseMany(agentId, max, nonce, out, key)
  local lessee = { reply = out, agentId = agentId, max = max, nonce = nonce, count = 0 }
  leaseForGroup({ lessee }, key)
  return lessee.count
end

-- The body of leaseTasks: leases up to `max` of the most urgent runnable tasks of the
-- capabilities `caps` (declared) to `agentId`, appending each to `out` as record and state
-- line (pushLeased; leaseMany reads the records of a round at once). Uses the queue prologue;
-- callers promote due delayed tasks first (promoteDue). Returns how many were leased.
local function leaseTasks(agentId, max, nonce, out, caps)
  if #caps == 1 and max > 1 then return leaseMany(agentId, max, nonce, out, readyKey[caps[1]]) end
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
    local line, leaseDeadline = leasedLine(id, redis.call('HGET', K.state, id), agentId, nonce, count + 1)
    if line then
      count = count + 1
      redis.call('HSET', K.state, id, line)
      redis.call('ZADD', K.leases, leaseDeadline, id)
      redis.call('ZADD', K.held, '0', heldMember(agentId, id))
      pushLeased(out, id, line)
    end
  end
  return count
end
