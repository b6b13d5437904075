--[[
  Gives up the leadership lease, but only if the caller still holds it, so a stopping hub
  never deletes a lease another hub acquired after its own expired.

  KEYS[1]  leader    string: "<token> <hubId>" of the current leader
  ARGV[1]  value     "<token> <hubId>" of the releasing elector

  Reply: 1 when released, 0 when the caller did not hold the lease.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
