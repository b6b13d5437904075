--[[
  Extends the leadership lease, but only while the caller still holds it.

  KEYS[1]  leader    string: "<token> <hubId>" of the current leader, with a TTL
  KEYS[2]  epoch     integer counter of leaderships
  ARGV[1]  value     "<token> <hubId>" of the renewing elector
  ARGV[2]  ttlMs     new lease length in milliseconds

  Reply: the current epoch (> 0) when renewed; 0 when the lease expired or another elector
  holds it (the caller must stop leader duties at once).
]]
local leaderKey, epochKey = KEYS[1], KEYS[2]
if redis.call('GET', leaderKey) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', leaderKey, ARGV[2])
return tonumber(redis.call('GET', epochKey) or '0')
