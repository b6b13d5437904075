--[[
  Appends one event to the outbox stream; leader-only appends carry a fence.

  KEYS[1]  events  stream
  KEYS[2]  leader  string "<token> <hubId>" (leader election)
  KEYS[3]  epoch   leadership counter (leader election)
  ARGV[1]  type
  ARGV[2]  data JSON
  ARGV[3]  maxEvents (approximate stream cap)
  ARGV[4]  fence hub id
  ARGV[5]  fence epoch, or "" when not fenced

  Reply: {0, stream id, at} | {E_STALE_FENCE}
]]
--@include "time"
if ARGV[5] ~= '' then
  local holder = redis.call('GET', KEYS[2])
  local space = holder and string.find(holder, ' ', 1, true)
  if not space or string.sub(holder, space + 1) ~= ARGV[4] or redis.call('GET', KEYS[3]) ~= ARGV[5] then
    return { -4 }
  end
end
local now = nowMs()
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', tonumber(ARGV[3]), '*',
  'type', ARGV[1], 'at', string.format('%.0f', now), 'data', ARGV[2])
return { 0, id, now }
