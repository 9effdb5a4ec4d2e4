-- Take the deliveries that are due, for one worker: each is due again only after the lease, so no
-- other worker sends it meanwhile, and should this one die before settling it, another sends it
-- then (at least once). Each take counts a try.
--
-- KEYS[1] due       wr:{event}:hooks         (sorted set: delivery key -> when due, unix ms)
-- KEYS[2] records   wr:{event}:hooks:records (hash: delivery key -> what sending it needs)
-- KEYS[3] tries     wr:{event}:hooks:tries   (hash: delivery key -> tries so far)
-- ARGV[1] now, unix ms
-- ARGV[2] the lease, ms
-- ARGV[3] most deliveries to take
-- Returns a flat list of (key, record, tries) for each delivery taken, oldest first
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local leased = tonumber(ARGV[1]) + tonumber(ARGV[2])
local taken = {}
for _, key in ipairs(due) do
  local record = redis.call('HGET', KEYS[2], key)
  if record then
    redis.call('ZADD', KEYS[1], leased, key)
    local tries = redis.call('HINCRBY', KEYS[3], key, 1)
    taken[#taken + 1] = key
    taken[#taken + 1] = record
    taken[#taken + 1] = tries
  else
    -- Nothing to send (its record was lost): it goes.
    redis.call('ZREM', KEYS[1], key)
    redis.call('HDEL', KEYS[3], key)
  end
end
return taken
