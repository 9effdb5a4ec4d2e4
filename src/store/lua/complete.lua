-- Complete: the booking service is done with a visitor. Their slot (events with a capacity) is free
-- for the next release, their position admits nobody again, and every replica is told so it refuses
-- the pass without asking Redis; the completion is also kept a while, for a replica that missed the
-- announcement to read at its resync.
--
-- KEYS[1] claims      wr:{event}:claims    (hash, see claim.lua)
-- KEYS[2] active      wr:{event}:active    (sorted set, see advance.lua)
-- KEYS[3] completions wr:{event}:completed (sorted set, member = position, score = unix ms when
--                                            completed; older than ARGV[4] ms are dropped)
-- ARGV[1] position
-- ARGV[2] pub/sub channel
-- ARGV[3] event id, for the announcement
-- ARGV[4] how long completions are kept, ms (longer than any pass lives)
-- Returns 1 if the visitor held a slot, else 0
local held = redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'done' then
  redis.call('HSET', KEYS[1], ARGV[1], 'done')
  local now = redis.call('TIME')
  local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  redis.call('ZADD', KEYS[3], now_ms, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now_ms - tonumber(ARGV[4]))
  redis.call('PUBLISH', ARGV[2], '{"kind":"completed","event":"' .. ARGV[3] .. '","position":' .. ARGV[1] .. '}')
end
return held
