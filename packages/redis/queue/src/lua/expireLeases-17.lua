--[[
  Leader only: leases past their deadline are released as crashes (attempts + 1, crash
  backoff, dead-lettered once the crash budget is spent).

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); the script asks for the
                   capabilities of the expired tasks (E_NEED_KEYS).
  ARGV[A..A+2]    crash backoff: baseMs, maxMs, jitter
  ARGV[A+3]       most leases to expire in this call

  Reply: {0, signals, #requeued, requeued ids..., dead ids...}
         {E_STALE_FENCE} | {E_NEED_KEYS, ...}
]]
--@include "queue"
local sl = useSlow()
local loadTask, fenceHolds, crash, releasedReply =
  sl.loadTask, sl.fenceHolds, sl.crash, sl.releasedReply
if not fenceHolds() then return { E_STALE_FENCE } end
local expired, orphans = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.leases, '-inf', ms(NOW), 'LIMIT', 0, tonumber(ARGV[A + 3]))) do
  local t = loadTask(id)
  if t and t.state == 'leased' and t.leaseDeadline and t.leaseDeadline <= NOW then
    needCap(t.capability)
    expired[#expired + 1] = t
  else
    orphans[#orphans + 1] = id
  end
end
if missing then return needKeysReply() end

for _, id in ipairs(orphans) do redis.call('ZREM', K.leases, id) end
local released = { requeued = {}, dead = {} }
local crashBackoff = { tonumber(ARGV[A]), tonumber(ARGV[A + 1]), tonumber(ARGV[A + 2]) }
for _, t in ipairs(expired) do crash(t, nil, 'lease_expired', released, crashBackoff) end
return releasedReply(released)
