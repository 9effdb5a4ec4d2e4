-- Join an event's pool (the `random` method): each visitor gets the next arrival number, an entry,
-- and a place among those waiting to be drawn (see advance.lua). Anonymous visitors come in
-- batches; a trusted visitor (one per call) keeps the place they hold, in the line or in the pool.
--
-- KEYS[1] arrivals         wr:{event}:pool:arrived  (string, last arrival number handed out)
-- KEYS[2] entries          wr:{event}:pool:entries  (list, element a-1 = "<visitor> <joined_at_ms>" of arrival a)
-- KEYS[3] pool             wr:{event}:pool          (sorted set of the arrival numbers waiting to be
--                                                    drawn, score = member = arrival number)
-- KEYS[4] trusted in pool  wr:{event}:pool:visitors (hash, visitor id -> arrival number)
-- KEYS[5] trusted in line  wr:{event}:visitors      (hash, visitor id -> position; see join_trusted.lua)
-- ARGV[1] joined_at, unix ms
-- ARGV[2] floor: the highest arrival number the calling replica knows was handed out. Should Redis
--         hold less (it lost writes), the numbers in between wait in the pool as `(lost)` entries:
--         their holders' tokens name them, so none is handed out twice and none is never drawn.
-- ARGV[3] 1 for a trusted visitor, else 0
-- ARGV[4..] the visitors' ids (none: only restore the numbers up to the floor, see restore)
-- Returns {first arrival number (or the position held), 1 if new else 0, 1 if an arrival number else
-- 0, 1 if numbers Redis had lost were restored else 0}
if ARGV[3] == '1' then
  local position = redis.call('HGET', KEYS[5], ARGV[4])
  if position then
    return {tonumber(position), 0, 0, 0}
  end
  local arrival = redis.call('HGET', KEYS[4], ARGV[4])
  if arrival then
    return {tonumber(arrival), 0, 1, 0}
  end
end
local function push_all(values)
  for i = 1, #values, 1000 do
    redis.call('RPUSH', KEYS[2], unpack(values, i, math.min(i + 999, #values)))
  end
end
local function pool_all(first, last)
  local numbers = {}
  for arrival = first, last do
    numbers[#numbers + 1] = arrival
    numbers[#numbers + 1] = arrival
    if #numbers == 1000 then
      redis.call('ZADD', KEYS[3], unpack(numbers))
      numbers = {}
    end
  end
  if #numbers > 0 then
    redis.call('ZADD', KEYS[3], unpack(numbers))
  end
end
local arrived = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[2])
local restored = 0
if arrived < floor then
  restored = 1
  local lost = {}
  for _ = redis.call('LLEN', KEYS[2]) + 1, floor do
    lost[#lost + 1] = '(lost) ' .. ARGV[1]
  end
  push_all(lost)
  pool_all(arrived + 1, floor)
  arrived = floor
end
local entries = {}
for i = 4, #ARGV do
  entries[#entries + 1] = ARGV[i] .. ' ' .. ARGV[1]
end
push_all(entries)
pool_all(arrived + 1, arrived + #entries)
redis.call('SET', KEYS[1], arrived + #entries)
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[4], ARGV[4], arrived + 1)
end
return {arrived + 1, 1, 1, restored}
