-- Leave: give up a place. The position is never admitted or forwarded, and every replica is told
-- so it refuses the token without asking Redis.
--
-- KEYS[1] leavers          wr:{event}:leavers     (sorted set, score = member = position: counted
--                                                  by range in O(log n) when the pointer moves)
-- KEYS[2] leavers' log     wr:{event}:leavers:log (list of positions in the order they left, so a
--                                                  replica reads only the ones it has not seen)
-- KEYS[3] trusted visitors wr:{event}:visitors    (hash)
-- ARGV[1] position
-- ARGV[2] visitor id (a trusted visitor who leaves and joins again draws a new number)
-- ARGV[3] pub/sub channel
-- ARGV[4] event id, for the announcement
-- Returns 1 if the place was given up now, 0 if it had been already
local added = redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[1])
if redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[3], ARGV[2])
end
if added == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('PUBLISH', ARGV[3], '{"kind":"left","event":"' .. ARGV[4] .. '","position":' .. ARGV[1] .. '}')
end
return added
