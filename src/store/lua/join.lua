-- Join: draw the next position in an event's line, or return the one a trusted visitor already holds.
-- One round trip, atomic, so concurrent joins never share or skip a number.
--
-- KEYS[1] issued counter   wr:{event}:issued   (string, last position handed out)
-- KEYS[2] line             wr:{event}:line     (list, element i-1 = "<visitor> <joined_at_ms>" of position i)
-- KEYS[3] trusted visitors wr:{event}:visitors (hash, visitor id -> position, trusted joins only)
-- ARGV[1] visitor id
-- ARGV[2] "1" for a trusted join (the same visitor id gets the same position back), "0" otherwise
-- ARGV[3] joined_at, unix milliseconds
-- Returns {position, 1 if a new number was drawn else 0}
if ARGV[2] == '1' then
  local held = redis.call('HGET', KEYS[3], ARGV[1])
  if held then
    return {tonumber(held), 0}
  end
end
local position = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], ARGV[1] .. ' ' .. ARGV[3])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[3], ARGV[1], position)
end
return {position, 1}
