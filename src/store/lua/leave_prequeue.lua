-- Give up a place by its arrival number: in a pre-queue before the draw (draw.lua gives up the
-- position it draws), or in the pool of an event that draws at random (it is never drawn).
--
-- KEYS[1] draw            wr:{event}:draw          (hash: seed, size, at)
-- KEYS[2] pre-queue left  wr:{event}:prequeue:left (set of arrival numbers)
-- KEYS[3] pool            wr:{event}:pool          (sorted set of arrival numbers; see join_pool.lua)
-- KEYS[4] winners' log    wr:{event}:pool:won      (list of "<arrival>:<position>"; a leave is
--                                                   logged with position 0, so replicas learn of it)
-- KEYS[5] trusted in line  wr:{event}:visitors      (hash, visitor id -> position, an arrival number
--                                                    before the draw; see join_trusted.lua)
-- KEYS[6] trusted in pool  wr:{event}:pool:visitors (hash, visitor id -> arrival number)
-- ARGV[1] arrival number, ARGV[2] pub/sub channel, ARGV[3] event id
-- ARGV[4] the visitor's id: a booking site's user who held the number may join again, with a new one
-- Returns 1 if recorded, 2 if the draw came first (leave the drawn position instead), or, in a
-- pool, if the number was not in it (drawn, or given up before)
if redis.call('HEXISTS', KEYS[1], 'seed') == 0 then
  if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then
    return 2
  end
  redis.call('RPUSH', KEYS[4], ARGV[1] .. ':0')
  if redis.call('HGET', KEYS[6], ARGV[4]) == ARGV[1] then
    redis.call('HDEL', KEYS[6], ARGV[4])
  end
  redis.call('PUBLISH', ARGV[2], '{"kind":"won","event":"' .. ARGV[3] .. '"}')
  return 1
end
if redis.call('HEXISTS', KEYS[1], 'at') == 1 then
  return 2
end
redis.call('SADD', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[5], ARGV[4]) == ARGV[1] then
  redis.call('HDEL', KEYS[5], ARGV[4])
end
return 1
