--[[
  Agents whose last heartbeat is at least `olderThanMs` old by the server clock: one range
  query on the heartbeat index, never a scan of every agent.

  KEYS[1]  heartbeats    zset  agentId scored by last heartbeat
  ARGV[1]  olderThanMs

  Reply: agent ids, longest silent first.
]]
--@include "time"
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', nowMs() - tonumber(ARGV[1]))
