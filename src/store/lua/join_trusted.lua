-- Trusted join: return the position a booking site's user already holds in an event's line, or draw
-- the next one and remember it for them. One round trip, atomic. (Anonymous visitors join in
-- batches through join.lua.)
--
-- KEYS[1] issued counter   wr:{event}:issued   (string, last position handed out)
-- KEYS[2] line             wr:{event}:line     (list, element i-1 = "<visitor> <joined_at_ms>" of position i)
-- KEYS[3] trusted visitors wr:{event}:visitors (hash, visitor id -> position)
-- KEYS[4] draw             wr:{event}:draw     (hash: seed, size, at; see draw.lua)
-- KEYS[5] shadow counter   wr:{event}:issued:shadow (moved with the counter: see restore.lua)
-- KEYS[6] settings         wr:{event}:settings
-- KEYS[7] settle mark      wr:{event}:settle   (present while replicas restore after a loss)
-- ARGV[1] visitor id
-- ARGV[2] joined_at, unix milliseconds
-- ARGV[3] notification channel, ARGV[4] event id (a new number is announced to every replica)
-- Returns {position, 1 if a new number was drawn else 0, 1 if the position is an arrival number
-- of a pre-queue not drawn yet else 0, 0}, or {0, 0, 0, why} when no number may be drawn now: Redis
-- lost writes (why = 1: the counter, its shadow and the line disagree, or the settings are gone) or
-- replicas are restoring after a loss (why = 2)
local arrival = 0
if redis.call('HEXISTS', KEYS[4], 'seed') == 1 and redis.call('HEXISTS', KEYS[4], 'at') == 0 then
  arrival = 1
end
local held = redis.call('HGET', KEYS[3], ARGV[1])
if held then
  return {tonumber(held), 0, arrival, 0}
end
if redis.call('EXISTS', KEYS[7]) == 1 then
  return {0, 0, 0, 2}
end
local issued = tonumber(redis.call('GET', KEYS[1]) or '0')
if redis.call('EXISTS', KEYS[6]) == 0 or tonumber(redis.call('GET', KEYS[5]) or '0') ~= issued or
    redis.call('LLEN', KEYS[2]) ~= issued then
  return {0, 0, 0, 1}
end
local position = redis.call('INCR', KEYS[1])
redis.call('INCR', KEYS[5])
redis.call('RPUSH', KEYS[2], ARGV[1] .. ' ' .. ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], position)
redis.call('PUBLISH', ARGV[3], '{"kind":"issued","event":"' .. ARGV[4] .. '","issued":' .. position .. '}')
return {position, 1, arrival, 0}
