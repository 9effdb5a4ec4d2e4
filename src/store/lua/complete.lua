-- Complete: the booking service is done with a visitor. Their slot (events with a capacity) is free
-- for the next release, their position admits nobody again, and every replica is told so it refuses
-- the pass without asking Redis.
--
-- KEYS[1] claims wr:{event}:claims (hash, see claim.lua)
-- KEYS[2] active wr:{event}:active (sorted set, see advance.lua)
-- ARGV[1] position
-- ARGV[2] pub/sub channel
-- ARGV[3] event id, for the announcement
-- Returns 1 if the visitor held a slot, else 0
local held = redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'done' then
  redis.call('HSET', KEYS[1], ARGV[1], 'done')
  redis.call('PUBLISH', ARGV[2], '{"kind":"completed","event":"' .. ARGV[3] .. '","position":' .. ARGV[1] .. '}')
end
return held
