--[[
  Takes the leadership lease when it is free, as `SET leader value NX PX ttl`, and bumps the
  epoch counter so the new leadership gets a fencing token no earlier leadership had.
  A caller that already holds the lease (same value) renews it instead.

  KEYS[1]  leader    string: "<token> <hubId>" of the current leader, with a TTL
  KEYS[2]  epoch     integer counter, INCR on every new leadership
  ARGV[1]  value     "<token> <hubId>" of the campaigning elector
  ARGV[2]  ttlMs     lease length in milliseconds

  Reply: the epoch (> 0) when the caller leads afterwards, 0 when another elector leads.
]]
local leaderKey, epochKey = KEYS[1], KEYS[2]
local value, ttl = ARGV[1], ARGV[2]

if redis.call('SET', leaderKey, value, 'NX', 'PX', ttl) then
  return redis.call('INCR', epochKey)
end
if redis.call('GET', leaderKey) == value then
  redis.call('PEXPIRE', leaderKey, ttl)
  return tonumber(redis.call('GET', epochKey) or '0')
end
return 0
