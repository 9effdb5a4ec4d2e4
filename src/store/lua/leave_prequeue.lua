-- Give up a pre-queue place before the draw, by its arrival number; draw.lua gives up the position
-- it draws.
--
-- KEYS[1] draw            wr:{event}:draw          (hash: seed, size, at)
-- KEYS[2] pre-queue left  wr:{event}:prequeue:left (set of arrival numbers)
-- ARGV[1] arrival number
-- Returns 1 if recorded, 2 if the draw was done already (leave the drawn position instead)
if redis.call('HEXISTS', KEYS[1], 'at') == 1 then
  return 2
end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
