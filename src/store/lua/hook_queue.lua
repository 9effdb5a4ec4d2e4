-- Queue a notice of an event's turn for its webhooks, once: every replica that saw the turn asks,
-- the first one queues it. Each delivery (one per webhook) is due at once.
--
-- KEYS[1] told      wr:{event}:hooks:told    (set of the ids of every notice ever queued)
-- KEYS[2] due       wr:{event}:hooks         (sorted set: delivery key -> when due, unix ms)
-- KEYS[3] records   wr:{event}:hooks:records (hash: delivery key -> what sending it needs)
-- ARGV[1] the notice's id
-- ARGV[2] now, unix ms
-- ARGV[3...] pairs of a delivery's key and its record
-- Returns 1 if queued, 0 if the notice was queued before
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
  return 0
end
for i = 3, #ARGV, 2 do
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[i])
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
return 1
