--[[
  Returns every task an agent holds to the queue with attempts + 1, or to the dead-letter set
  once the crash budget is spent, and ends its waits (dropWaits). `unregistered` requeues at
  once; `evicted` applies the crash backoff and is leader-only (fenced).

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare the
                   capabilities of the agent's tasks when known.
  ARGV[A]         agentId
  ARGV[A+1]       reason: "evicted" or "unregistered"
  ARGV[A+2..A+4]  crash backoff: baseMs, maxMs, jitter

  Reply: {0, signals, #requeued, requeued ids..., dead ids...}
         {E_STALE_FENCE} | {E_NEED_KEYS, ...}
]]
--@include "queue"
local sl = useSlow()
local fenceHolds, releaseHeld, dropWaits, releasedReply = sl.fenceHolds, sl.releaseHeld, sl.dropWaits, sl.releasedReply
local agentId, reason = ARGV[A], ARGV[A + 1]
if not fenceHolds() then return { E_STALE_FENCE } end
local delay = nil
if reason == 'unregistered' then delay = 0 end
local released, refused = releaseHeld(agentId, delay, reason, A + 2)
if refused then return refused end
-- Before the reply serves waiters: the requeued tasks must not go back to the leaving agent.
dropWaits(agentId)
return releasedReply(released)
