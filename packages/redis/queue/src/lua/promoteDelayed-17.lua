--[[
  Leader only: delayed tasks of the declared capabilities that are due become queued.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare every capability to check.
  ARGV[A]         most tasks to promote per capability in this call

  Reply: {0, signals, promoted ids...} | {E_STALE_FENCE}
]]
--@include "queue"
local sl = useSlow()
local fenceHolds = sl.fenceHolds
if not fenceHolds() then return { E_STALE_FENCE } end
local out = { 0, '' }
for _, id in ipairs(promoteDue(tonumber(ARGV[A]))) do out[#out + 1] = id end
out[2] = publishSignals()
return out
