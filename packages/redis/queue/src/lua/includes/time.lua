-- The server clock in epoch milliseconds, as a number and as digits. Scripts never trust a
-- hub's local clock.
local function nowMs()
  local t = redis.call('TIME')
  local millis = math.floor(tonumber(t[2]) / 1000)
  return tonumber(t[1]) * 1000 + millis, t[1] .. string.format('%03d', millis)
end
