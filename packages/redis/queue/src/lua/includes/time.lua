-- The server clock in epoch milliseconds. Scripts never trust a hub's local clock.
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
