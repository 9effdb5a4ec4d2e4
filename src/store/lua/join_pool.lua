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
-- KEYS[6] quota          wr:{event}:quota:<minute>      (hash, client address -> its joins this minute)
-- KEYS[7] quota before   wr:{event}:quota:<minute - 1>  (the same, the previous minute)
-- KEYS[8] quota after    wr:{event}:quota:<minute + 1>  (the same, the next minute: joins another
--                                                         replica timed later that came first)
--         A counted client's join is within its quota when its count this minute with the join,
--         plus its count the next minute, plus its count the previous minute × the part of it the
--         last 60 s cover (rounded up), is at most its limit (`JoinQuota` in limits.rs); refused
--         joins count too.
-- ARGV[1] joined_at, unix ms
-- ARGV[2] floor: the highest arrival number the calling replica knows was handed out. Should Redis
--         hold less (it lost writes), the numbers in between wait in the pool as `(lost)` entries:
--         their holders' tokens name them, so none is handed out twice and none is never drawn.
-- ARGV[3] 1 for a trusted visitor, else 0
-- ARGV[4] how much of the previous minute the last 60 s cover, ms
-- ARGV[5] n, the number of visitors (0: only restore the numbers up to the floor, see restore)
-- ARGV[6..5+n] the visitors' ids
-- ARGV[6+n..5+3n] for each visitor, its client's address and limit per minute ('' and 0: not counted)
-- Returns {first arrival number (or the position held), 1 if new else 0, 1 if an arrival number else
-- 0, 1 if numbers Redis had lost were restored else 0, {for each visitor: 1 if refused else 0, its
-- client's count this minute with it and the next minute's, the previous minute's}}; the visitors
-- not refused get consecutive arrival numbers from the first, in their order.
local n = tonumber(ARGV[5])
local trusted = ARGV[3] == '1'
if trusted then
  local position = redis.call('HGET', KEYS[5], ARGV[6])
  if position then
    return {tonumber(position), 0, 0, 0, {}}
  end
  local arrival = redis.call('HGET', KEYS[4], ARGV[6])
  if arrival then
    return {tonumber(arrival), 0, 1, 0, {}}
  end
end
local window_ms = 60000
local covered_ms = tonumber(ARGV[4])
local this_minute, previous_minute, next_minute = {}, {}, {}
local counts = {}
local admitted = {}
for i = 1, n do
  local client = ARGV[4 + n + 2 * i]
  local limit = tonumber(ARGV[5 + n + 2 * i])
  local refused, count, previous = 0, 0, 0
  if limit > 0 then
    if not this_minute[client] then
      this_minute[client] = tonumber(redis.call('HGET', KEYS[6], client) or '0')
      previous_minute[client] = tonumber(redis.call('HGET', KEYS[7], client) or '0')
      next_minute[client] = tonumber(redis.call('HGET', KEYS[8], client) or '0')
    end
    this_minute[client] = this_minute[client] + 1
    count, previous = this_minute[client] + next_minute[client], previous_minute[client]
    if math.floor((previous * covered_ms + window_ms - 1) / window_ms) + count > limit then
      refused = 1
    end
  end
  counts[#counts + 1] = refused
  counts[#counts + 1] = count
  counts[#counts + 1] = previous
  if refused == 0 then
    admitted[#admitted + 1] = ARGV[5 + i]
  end
end
for client, count in pairs(this_minute) do
  redis.call('HSET', KEYS[6], client, count)
end
if next(this_minute) then
  redis.call('PEXPIRE', KEYS[6], 2 * window_ms)
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
for _, visitor in ipairs(admitted) do
  entries[#entries + 1] = visitor .. ' ' .. ARGV[1]
end
push_all(entries)
pool_all(arrived + 1, arrived + #entries)
redis.call('SET', KEYS[1], arrived + #entries)
if trusted then
  redis.call('HSET', KEYS[4], ARGV[6], arrived + 1)
end
return {arrived + 1, 1, 1, restored, counts}
