--[[
  The oldest events a channel has not acknowledged, in order: first those delivered before
  and still unacknowledged (re-delivery), then new ones. Each channel is a consumer group
  created at the start of the stream, so a new channel sees every event still kept. Pending
  entries whose event was trimmed away are acknowledged and skipped.

  KEYS[1]  events   stream
  ARGV[1]  channel  (consumer group name)
  ARGV[2]  max

  Reply: flat list of {stream id, type, at, data JSON}
]]
local key, group, max = KEYS[1], ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', key) == 0 then return {} end
redis.pcall('XGROUP', 'CREATE', key, group, '0')

local out, count = {}, 0
local function collect(reply)
  if not reply or not reply[1] then return end
  for _, entry in ipairs(reply[1][2]) do
    local id, fields = entry[1], entry[2]
    if fields then
      local f = {}
      for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
      out[#out + 1] = id
      out[#out + 1] = f.type or ''
      out[#out + 1] = f.at or '0'
      out[#out + 1] = f.data or '{}'
      count = count + 1
    else
      redis.call('XACK', key, group, id)
    end
  end
end
collect(redis.call('XREADGROUP', 'GROUP', group, 'outbox', 'COUNT', max, 'STREAMS', key, '0'))
if count < max then
  collect(redis.call('XREADGROUP', 'GROUP', group, 'outbox', 'COUNT', max - count, 'STREAMS', key, '>'))
end
return out
