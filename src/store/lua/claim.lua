-- Claim: an admitted visitor collects the admission pass. Decided once per position: the first
-- claim's time is kept, and every later claim gets it back, so a pass's lifetime counts from the
-- first collection however often it is asked for. With a capacity, the slot is then held until the
-- pass expires, and a visitor who comes after the claim window (the slot went to someone else) is
-- refused, for good. A completed visit admits nobody again.
--
-- KEYS[1] claims wr:{event}:claims (hash, position -> unix ms of the first claim, "late" or "done")
-- KEYS[2] active wr:{event}:active (sorted set, see advance.lua)
-- ARGV[1] position
-- ARGV[2] now, unix ms
-- ARGV[3] pass lifetime in ms
-- ARGV[4] "1" when the event has a capacity, else "0"
-- Returns {1, ms of the first claim} when the pass is theirs, {2, 0} when the claim window had
-- passed, {3, 0} when the visit was completed
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if prior == 'late' then
  return {2, 0}
end
if prior == 'done' then
  return {3, 0}
end
if prior then
  return {1, tonumber(prior)}
end
if ARGV[4] == '1' then
  local free_at = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if not free_at or tonumber(free_at) <= tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[1], ARGV[1], 'late')
    redis.call('ZREM', KEYS[2], ARGV[1])
    return {2, 0}
  end
  redis.call('ZADD', KEYS[2], 'XX', tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1, tonumber(ARGV[2])}
