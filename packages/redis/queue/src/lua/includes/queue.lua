--[[
  Prologue of every state-changing queue script: the shared KEYS and ARGV layout, declared
  per-capability keys, and the task helpers.

  KEYS[1]   tasks         hash   taskId -> record: spec JSON, newline, payload JSON (store.lua)
  KEYS[2]   results       hash   taskId -> result JSON
  KEYS[3]   seq           counter for FIFO order and dead-letter order
  KEYS[4]   leases        zset   leased taskId scored by lease deadline
  KEYS[5]   deadlines     zset   non-terminal taskId scored by total deadline
  KEYS[6]   terminal      list   terminal taskIds in completion order (retention)
  KEYS[7]   dead          zset   dead-lettered taskId scored by completion order
  KEYS[8]   idempotency   hash   idempotency key -> taskId
  KEYS[9]   batches       hash   batchId -> {createdAt, taskIds}
  KEYS[10]  events        stream the event outbox
  KEYS[11]  leader        string "<token> <hubId>" (leader election)
  KEYS[12]  epoch         leadership counter (leader election)
  KEYS[13]  capabilities  set    every capability that ever had a delayed task
  KEYS[14]  state         hash   taskId -> state line (includes/store.lua)
  KEYS[15]  notes         hash   "<taskId>|e|p|c" -> error, progress, cancel reason
  KEYS[16]  held          zset   every score 0, "<#agentId>:<agentId>|<taskId>" per leased task
                                 (an agent's tasks are one ZRANGEBYLEX range: heldIds)
  KEYS[17]  waiters       hash   waiterId -> "origin|expiresAt|max|nonce|agentId" (leaseWait)
  KEYS[18..]              declared keys: ready(c), delayed(c), waiting(c) for each declared
                          capability c, in ARGV order

  ARGV[1]   signal channel (pub/sub) for wake-ups
  ARGV[2]   origin: the publishing queue instance, so it can skip its own messages
  ARGV[3]   fence hub id
  ARGV[4]   fence epoch, or "" when the call is not leader-only
  ARGV[5]   maxEvents: approximate outbox stream cap
  ARGV[6]   random seed (backoff jitter)
  ARGV[7]   number of declared capabilities n, then ARGV[8..7+n] their names;
            the script's own arguments start right after (index A).

  Keys of a capability are never built here (Redis Cluster needs every key in KEYS). A script
  that finds it needs keys the caller did not declare changes nothing and replies
  {E_NEED_KEYS, #caps, caps...}; the caller declares them and runs it again.
]]
local E_NOT_FOUND, E_STALE_LEASE, E_TERMINAL, E_STALE_FENCE, E_NEED_KEYS = -1, -2, -3, -4, -5

local K = {
  tasks = KEYS[1], results = KEYS[2], seq = KEYS[3], leases = KEYS[4], deadlines = KEYS[5],
  terminal = KEYS[6], dead = KEYS[7], idempotency = KEYS[8], batches = KEYS[9], events = KEYS[10],
  leader = KEYS[11], epoch = KEYS[12], capabilities = KEYS[13], state = KEYS[14], notes = KEYS[15],
  held = KEYS[16], waiters = KEYS[17],
}
local S = K
--@include "store"
local CHANNEL, ORIGIN, FENCE_HUB, FENCE_EPOCH = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local MAX_EVENTS = tonumber(ARGV[5])
math.randomseed(tonumber(ARGV[6]))

--@include "time"
local NOW, NOW_S = nowMs()

local readyKey, delayedKey, waitingKey, declaredCaps = {}, {}, {}, {}
local A
do
  local nCaps = tonumber(ARGV[7])
  for i = 1, nCaps do
    local cap = ARGV[7 + i]
    declaredCaps[i] = cap
    readyKey[cap] = KEYS[15 + 3 * i]
    delayedKey[cap] = KEYS[16 + 3 * i]
    waitingKey[cap] = KEYS[17 + 3 * i]
  end
  A = 8 + nCaps
end

local ms = int

-- Keys the caller has to declare before the script may proceed.
local missingCaps, missing = {}, false
local function needCap(cap)
  if not readyKey[cap] then missingCaps[cap] = true; missing = true end
end

-- The member of K.held for a task an agent holds, and the ZRANGEBYLEX bounds of an agent's.
local function heldMember(agentId, id) return #agentId .. ':' .. agentId .. '|' .. id end
local function heldIds(agentId)
  local prefix = #agentId .. ':' .. agentId .. '|'
  local ids = redis.call('ZRANGEBYLEX', K.held, '[' .. prefix, '(' .. prefix .. '\255')
  for i, member in ipairs(ids) do ids[i] = string.sub(member, #prefix + 1) end
  return ids
end
local function needKeysReply()
  local out = { E_NEED_KEYS, 0 }
  for cap in pairs(missingCaps) do out[#out + 1] = cap end
  out[2] = #out - 2
  return out
end

-- Sequence numbers (FIFO order, dead-letter order). reserveSeq(n) takes n at once for a call
-- that knows how many it needs; nextSeq uses those first.
local seqNext, seqLast = 0, -1
local function reserveSeq(n)
  if n < 1 then return end
  seqLast = redis.call('INCRBY', K.seq, n)
  seqNext = seqLast - n + 1
end
local function nextSeq()
  if seqNext <= seqLast then
    seqNext = seqNext + 1
    return seqNext - 1
  end
  return redis.call('INCR', K.seq)
end

-- Ready score: priority first (higher runs first), then sequence (FIFO). (1000 - priority)
-- is 0..2000 (11 bits) and the sequence stays below 2^42, so the score is an exact integer
-- below 2^53 and the lowest score is the most urgent task.
local SEQ_SPAN = 4398046511104
local function readyScore(t) return ms((1000 - t.priority) * SEQ_SPAN + t.seq) end

-- Wake-ups, published once per script (publishSignals) and returned so the calling process
-- can deliver them to its own listeners at once. availableSeen: capability -> its index in
-- signalParts.
local signalParts, availableSeen = {}, {}
-- Defined at the end: it serves waiting agents (leaseTasks) first.
local publishSignals
local function signalAvailable(cap)
  if availableSeen[cap] then return end
  signalParts[#signalParts + 1] = '{"type":"available","capability":' .. cjson.encode(cap) .. '}'
  availableSeen[cap] = #signalParts
end
local function signalTerminal(t)
  local s = '{"type":"terminal","taskId":' .. cjson.encode(t.id) .. ',"state":"' .. t.state .. '"'
  if t.agentId then s = s .. ',"agentId":' .. cjson.encode(t.agentId) end
  signalParts[#signalParts + 1] = s .. '}'
end

-- Capabilities this script added to K.capabilities, the set the leader's sweep of delayed
-- tasks walks (only a capability with delayed tasks needs to be in it).
local capabilityAdded = {}
-- Indexes a delayed task by the time it becomes due.
local function indexDelayed(cap, at, id)
  redis.call('ZADD', delayedKey[cap], ms(at), id)
  if not capabilityAdded[cap] then
    redis.call('SADD', K.capabilities, cap)
    capabilityAdded[cap] = true
  end
end

-- The helpers of the slow paths (includes/slow.lua): useSlow() makes them on first use and
-- returns them as a table. Defining them on every call cost about a fifth of a script call's
-- fixed cost; code that may need one asks for it.
local slow
local function useSlow()
  if not slow then
--@include "slow"
  end
  return slow
end

-- Delayed tasks of the declared capabilities that are due become queued, oldest due first.
local function promoteDue(limit)
  local due = {}
  for _, cap in ipairs(declaredCaps) do
    local ids = redis.call('ZRANGEBYSCORE', delayedKey[cap], '-inf', ms(NOW), 'LIMIT', 0, limit)
    for _, id in ipairs(ids) do
      redis.call('ZREM', delayedKey[cap], id)
      local t = useSlow().loadTask(id)
      if t and t.state == 'delayed' then due[#due + 1] = t end
    end
  end
  table.sort(due, function(a, b)
    if a.availableAt ~= b.availableAt then return a.availableAt < b.availableAt end
    return a.seq < b.seq
  end)
  local promoted = {}
  for _, t in ipairs(due) do
    t.state = 'queued'
    t.updatedAt = NOW
    slow.enqueue(t)
    slow.saveTask(t)
    promoted[#promoted + 1] = t.id
  end
  return promoted
end

--@include "lease"

--[[
  Agents waiting for work (leaseWait-17.lua). A waiter is a record in K.waiters,
  "origin|expiresAt|max|nonce|agentId", and its id in waiting(c), a sorted set by expiry, for
  each capability it waits for. The scripts that make tasks of a capability available serve
  its waiters before they finish (publishSignals): the tasks are leased to the waiting agent
  in the same step, with lease tokens "<nonce>.<n>", and pushed to the queue instance it waits
  in, on channel "<signals>:push:<origin>" (or returned with the reply when that is the
  caller). A push message: waiterId, count, then the record (spec, newline, payload) and the
  state line up to its agent id for each task, then the agent id, all joined by newlines (only
  the agent id may hold one besides the records' own). A waiter whose instance has no
  subscriber on that channel (it died) is dropped unserved. A push that pub/sub loses all the
  same is not lost: the waiter withdraws when its wait ends (withdraw) and gets what was
  leased to it. (On Redis Cluster a node only counts its own subscribers, so the queue does
  not register waiters there: it waits for wake-ups and leases.)
]]
local PUSH_SEPARATOR = '\30'
local ownPushes = {}

local function pushTo(origin, wid, agentId, leased, count)
  local parts = { wid, count }
  for i = 1, 2 * count, 2 do
    local line = leased[i + 1]
    parts[#parts + 1] = leased[i]
    parts[#parts + 1] = string.sub(line, 1, #line - #agentId)
  end
  parts[#parts + 1] = agentId
  local message = table.concat(parts, '\n')
  if origin == ORIGIN then
    ownPushes[#ownPushes + 1] = message
  else
    redis.call('PUBLISH', CHANNEL .. ':push:' .. origin, message)
  end
end

-- Capabilities found with no live waiter in this script (nobody registers mid-script).
local noWaiters = {}

-- Pops the oldest live waiter for `cap` (declared), dropping on the way those past their time
-- or whose queue instance no longer listens (it stopped or lost its connection: it would
-- never get its push). Returns nil, or {id, score, origin, max, nonce, agentId}.
local function popWaiter(cap)
  local key = waitingKey[cap]
  if not key or noWaiters[cap] then return nil end
  while true do
    local top = redis.call('ZPOPMIN', key)
    local wid = top[1]
    if not wid then
      noWaiters[cap] = true
      return nil
    end
    local record = redis.call('HGET', K.waiters, wid)
    if record then
      local origin, expiresAt, max, nonce, agentId = string.match(record, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
      -- No match: "left|<expiresAt>", a wait whose agent left (dropWaits), for its instance to
      -- withdraw and end.
      if origin then
        if tonumber(expiresAt) > NOW
          and (origin == ORIGIN or redis.call('PUBSUB', 'NUMSUB', CHANNEL .. ':push:' .. origin)[2] > 0) then
          return { id = wid, score = top[2], origin = origin, max = tonumber(max), nonce = nonce, agentId = agentId }
        end
        redis.call('HDEL', K.waiters, wid)
      end
    end
  end
end

-- Serves the waiters of each capability that became available in this script, oldest first,
-- while it has runnable tasks. Returns the capabilities whose waiters took tasks or found none
-- left: those may have no runnable task left to signal.
local function serveWaiters()
  local touched = {}
  for cap in pairs(availableSeen) do
    while true do
      local w = popWaiter(cap)
      if not w then break end
      local leased = {}
      local count = leaseTasks(w.agentId, w.max, w.nonce, leased, { cap })
      touched[cap] = true
      if count == 0 then
        redis.call('ZADD', waitingKey[cap], w.score, w.id)
        break
      end
      redis.call('HDEL', K.waiters, w.id)
      pushTo(w.origin, w.id, w.agentId, leased, count)
    end
  end
  return touched
end

-- Ends a wait: removes waiter `wid` of `agentId` (nonce `nonce`). When it was served already,
-- the tasks leased to it are appended to `out` as record and state line — or, with
-- `giveBack`, returned to the queue (no attempt counted). Returns how many were appended,
-- and true when the agent left while it waited (dropWaits marked the registration).
-- Declare the waiter's capabilities.
local function withdraw(wid, agentId, nonce, giveBack, out)
  for _, cap in ipairs(declaredCaps) do redis.call('ZREM', waitingKey[cap], wid) end
  local record = redis.call('HGET', K.waiters, wid)
  if record then
    redis.call('HDEL', K.waiters, wid)
    return 0, string.sub(record, 1, 5) == 'left|'
  end
  local prefix, count = nonce .. '.', 0
  for _, id in ipairs(heldIds(agentId)) do
    local sl = useSlow()
    local raw = redis.call('HGET', K.state, id)
    local h = raw and sl.parseHot(raw)
    if h and h.state == 'leased' and h.agentId == agentId and h.leaseToken
      and string.sub(h.leaseToken, 1, #prefix) == prefix then
      if giveBack then
        local t = sl.loadTask(id)
        needCap(t.capability)
        if not missing then
          sl.unindex(t)
          sl.requeue(t, 0)
        end
      else
        count = count + 1
        pushLeased(out, id, raw)
      end
    end
  end
  return count, false
end

-- Serves waiters, then publishes this script's wake-ups; returns them, followed by the
-- pushes to waiters of the calling instance, each after a PUSH_SEPARATOR.
function publishSignals()
  local touched = serveWaiters()
  local parts = signalParts
  if next(touched) then
    parts = {}
    local skip = {}
    for cap in pairs(touched) do
      if redis.call('ZCARD', readyKey[cap]) == 0 then skip[availableSeen[cap]] = true end
    end
    for i, part in ipairs(signalParts) do
      if not skip[i] then parts[#parts + 1] = part end
    end
  end
  local message = ''
  if #parts > 0 then
    message = '{"o":' .. cjson.encode(ORIGIN) .. ',"s":[' .. table.concat(parts, ',') .. ']}'
    redis.call('PUBLISH', CHANNEL, message)
  end
  if #ownPushes > 0 then message = message .. PUSH_SEPARATOR .. table.concat(ownPushes, PUSH_SEPARATOR) end
  return message
end
