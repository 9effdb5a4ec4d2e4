-- Join: draw the next positions in an event's line for a batch of visitors, in the order given, or
-- return the position a trusted visitor already holds. One round trip for the whole batch, atomic,
-- so concurrent joins never share or skip a number.
--
-- KEYS[1] issued counter   wr:{event}:issued   (string, last position handed out)
-- KEYS[2] line             wr:{event}:line     (list, element i-1 = "<visitor> <joined_at_ms>" of position i)
-- KEYS[3] trusted visitors wr:{event}:visitors (hash, visitor id -> position, trusted joins only)
-- ARGV, three per visitor of the batch:
--   visitor id
--   "1" for a trusted join (the same visitor id gets the same position back), "0" otherwise
--   joined_at, unix milliseconds
-- Returns a flat list, two per visitor in the order given: position, 1 if a new number was drawn else 0
local answers = {}
local entries = {}
for i = 1, #ARGV, 3 do
  local visitor, trusted, joined_at = ARGV[i], ARGV[i + 1] == '1', ARGV[i + 2]
  local held = nil
  if trusted then
    held = redis.call('HGET', KEYS[3], visitor)
  end
  if held then
    answers[#answers + 1] = tonumber(held)
    answers[#answers + 1] = 0
  else
    local position = redis.call('INCR', KEYS[1])
    entries[#entries + 1] = visitor .. ' ' .. joined_at
    if trusted then
      -- Seen by the HGET of a later join of the same visitor in this batch.
      redis.call('HSET', KEYS[3], visitor, position)
    end
    answers[#answers + 1] = position
    answers[#answers + 1] = 1
  end
end
if #entries > 0 then
  redis.call('RPUSH', KEYS[2], unpack(entries))
end
return answers
