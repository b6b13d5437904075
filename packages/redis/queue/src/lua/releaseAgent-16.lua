--[[
  Returns every task an agent holds to the queue with attempts + 1, or to the dead-letter set
  once the crash budget is spent. `unregistered` requeues at once; `evicted` applies the crash
  backoff and is leader-only (fenced).

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare the agent, and the
                   capabilities of its tasks when known.
  ARGV[A]         agentId
  ARGV[A+1]       reason: "evicted" or "unregistered"
  ARGV[A+2..A+4]  crash backoff: baseMs, maxMs, jitter

  Reply: {0, signals, #requeued, requeued ids..., dead ids...}
         {E_STALE_FENCE} | {E_NEED_KEYS, ...}
]]
--@include "queue"
local agentId, reason = ARGV[A], ARGV[A + 1]
if not fenceHolds() then return { E_STALE_FENCE } end
needAgent(agentId)
if missing then return needKeysReply() end

local held = {}
for _, id in ipairs(redis.call('ZRANGE', agentKey[agentId], 0, -1)) do
  local t = loadTask(id)
  if t and t.state == 'leased' and t.agentId == agentId then
    needCap(t.capability)
    held[#held + 1] = t
  end
end
if missing then return needKeysReply() end

local released = { requeued = {}, dead = {} }
local delay = nil
if reason == 'unregistered' then delay = 0 end
local crashBackoff = { tonumber(ARGV[A + 2]), tonumber(ARGV[A + 3]), tonumber(ARGV[A + 4]) }
for _, t in ipairs(held) do crash(t, delay, reason, released, crashBackoff) end
redis.call('DEL', agentKey[agentId])
return releasedReply(released)
