--[[
  How many events a channel has not acknowledged: delivered-but-unacknowledged plus not yet
  delivered.

  KEYS[1]  events   stream
  ARGV[1]  channel  (consumer group name)

  Reply: the count.
]]
local key, group = KEYS[1], ARGV[1]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.pcall('XGROUP', 'CREATE', key, group, '0')
for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info.name == group then
    local lag = info.lag
    if not lag then
      -- Lag is unknown after deletions inside the stream: count what follows the last delivery.
      lag = #redis.call('XRANGE', key, '(' .. info['last-delivered-id'], '+')
    end
    return info.pending + lag
  end
end
return 0
