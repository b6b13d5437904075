-- Leader fencing. The leader key holds "<token> <hubId>" (see @mcpmas/leader-election) and
-- the epoch key the counter bumped on every new leadership. A fence (hubId, epoch) holds
-- only while that hub still owns the lease and no newer leadership began. An empty epoch
-- means the call is not leader-only and is not checked.
local function fenceHolds(leaderKey, epochKey, hubId, epoch)
  if epoch == nil or epoch == '' then return true end
  local holder = redis.call('GET', leaderKey)
  if not holder then return false end
  local space = string.find(holder, ' ', 1, true)
  if not space or string.sub(holder, space + 1) ~= hubId then return false end
  return redis.call('GET', epochKey) == epoch
end
