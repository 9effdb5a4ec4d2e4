-- Hold: a renewed pass keeps its holder's slot of the event's capacity until the pass's new end,
-- if the slot is still theirs (the visit was not completed, and the slot did not run out and go
-- to someone else).
--
-- KEYS[1] active wr:{event}:active (sorted set, see advance.lua: position -> unix ms it frees)
-- ARGV[1] position
-- ARGV[2] now, unix ms
-- ARGV[3] until, unix ms
-- Returns 1 when the slot is held until then, 0 when it was no longer theirs
local free_at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not free_at or tonumber(free_at) <= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', 'GT', tonumber(ARGV[3]), ARGV[1])
return 1
