--[[
  Leases up to `max` of the most urgent runnable tasks across the declared capabilities to one
  agent, atomically: no two agents ever get the same task. Due delayed tasks of those
  capabilities are promoted first; tasks past their total deadline become timed_out.

  KEYS, ARGV[1..]: the queue prologue (includes/queue.lua); declare the capabilities to lease
                   from and the agent.
  ARGV[A]         agentId
  ARGV[A+1]       max
  ARGV[A+2]       token nonce; lease tokens are "<nonce>.<n>"

  Reply: {0, signals, count, then record (spec, newline,
         payload) and state line of each leased task}
]]
--@include "queue"
local agentId = ARGV[A]
promoteDue(1000)
local out = { 0, '', 0 }
out[3] = leaseTasks(agentId, tonumber(ARGV[A + 1]), ARGV[A + 2], out, declaredCaps)
out[2] = publishSignals()
return out
