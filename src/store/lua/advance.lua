-- Advance an event's admission pointer over the next visitors who have not left.
-- Used for the scheduled batch release (at most once per release slot, whichever replica calls first)
-- and for an admin's manual advance. Never moves past the last issued position. With a capacity
-- (max_active), a scheduled release admits only as many as there are free slots; a manual advance
-- is the admin's call and is not capped, but its visitors count as active too.
--
-- An event that draws at random (the `random` method) keeps those who joined in a pool (see
-- join_pool.lua): a move first draws from it as many as it lets through beyond those already in
-- line, and gives them the line's next positions. The caller computed the draw from the pool's seed
-- (domain::draw::release_picks, which Lua cannot: it has no SHA-256) for the pool as it read it:
-- the t-th winner is the member at rank ARGV[10 + t] (from 0) among those left, so the script
-- refuses (returns -1 and changes nothing) if that pool changed meanwhile: another release, or a
-- leave. Joins since do not matter: their arrival numbers rank after. Any other event's move first
-- gives whoever is left in the pool (it drew at random before) the next positions, in arrival order.
--
-- KEYS[1] admission pointer wr:{event}:admitted (string, highest admitted position)
-- KEYS[2] issued counter    wr:{event}:issued
-- KEYS[3] leavers           wr:{event}:leavers  (sorted set, score = member = position; see leave.lua)
-- KEYS[4] release slot      wr:{event}:slot     (string, start in ms of the last slot released)
-- KEYS[5] admissions        wr:{event}:admissions (sorted set, score = pointer after a move,
--                                                  member = "<pointer>:<unix ms>": when each position got in)
-- KEYS[6] active visitors   wr:{event}:active   (sorted set, member = position, score = unix ms when the
--                                                slot frees itself: end of the claim window, later of the pass)
-- ARGV[1] how many visitors to admit
-- ARGV[2] release interval in ms; 0 for a manual advance, which ignores slots
-- ARGV[3] pub/sub channel to announce the move on
-- ARGV[4] event id, for the announcement
-- ARGV[5] most active visitors at once; 0 for no limit (and no tracking)
-- KEYS[7] pool             wr:{event}:pool          (sorted set of arrival numbers waiting to be drawn)
-- KEYS[8] pool entries     wr:{event}:pool:entries  (list, element a-1 = "<visitor> <joined_at_ms>" of arrival a)
-- KEYS[9] winners' log     wr:{event}:pool:won      (list of "<arrival>:<position>", in the order drawn)
-- KEYS[10] line            wr:{event}:line          (list, element i-1 = the entry of position i)
-- ARGV[6] claim window in ms: how long a newly admitted visitor holds a slot without collecting the pass
-- KEYS[11] releases        wr:{event}:pool:releases (string, how many releases drew from the pool)
-- KEYS[12] shadow counter  wr:{event}:issued:shadow (moved with the issued counter: see restore.lua)
-- KEYS[13] settle mark     wr:{event}:settle (present while replicas restore after a loss: the pool's
--                                             winners get no positions meanwhile, nor while the
--                                             counter, its shadow and the line disagree)
-- ARGV[7] `random` to draw from the pool at random, anything else to move it to the line in order
-- ARGV[8] random: the releases counted when the pool was read (this one is the next)
-- ARGV[9] random: the highest arrival number then; ARGV[10]: how many of those waited in the pool
-- ARGV[11..] random: the picks, ranks in the pool as it shrinks (at least as many as are needed)
-- Returns {1 if the pointer moved else 0 (-1: the pool changed since it was read), pointer, issued}
local issued = tonumber(redis.call('GET', KEYS[2]) or '0')
local pointer = tonumber(redis.call('GET', KEYS[1]) or '0')
local interval = tonumber(ARGV[2])
-- Redis's clock, so replicas with skewed clocks still release once per slot.
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local random = ARGV[7] == 'random'
-- Whether the pool the caller drew for is not the pool now.
local function pool_changed()
  return random and (tonumber(redis.call('GET', KEYS[11]) or '0') ~= tonumber(ARGV[8]) or
    redis.call('ZCOUNT', KEYS[7], '-inf', ARGV[9]) ~= tonumber(ARGV[10]))
end
local slot
if interval > 0 then
  -- Slot starts are stored in ms rather than as slot numbers so a changed interval keeps working.
  slot = now_ms - (now_ms % interval)
  if tonumber(redis.call('GET', KEYS[4]) or '-1') >= slot then
    return {0, pointer, issued}
  end
end
if pool_changed() then
  return {-1, pointer, issued}
end
if slot then
  redis.call('SET', KEYS[4], slot)
end
local wanted = tonumber(ARGV[1])
local max_active = tonumber(ARGV[5])
if max_active > 0 then
  -- Slots of no-shows and of passes that ran out are free again.
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now_ms)
  if interval > 0 then
    wanted = math.min(wanted, max_active - redis.call('ZCARD', KEYS[6]))
    if wanted <= 0 then
      return {0, pointer, issued}
    end
  end
end
local function staying(t)
  return (t - pointer) - redis.call('ZCOUNT', KEYS[3], pointer + 1, t)
end
local counted = redis.call('EXISTS', KEYS[13]) == 0 and
  tonumber(redis.call('GET', KEYS[12]) or '0') == issued and redis.call('LLEN', KEYS[10]) == issued
if counted and redis.call('ZCARD', KEYS[7]) > 0 then
  local winners = {}
  if random then
    local needed = math.min(wanted - staying(issued), tonumber(ARGV[10]), #ARGV - 10)
    for t = 1, needed do
      local rank = ARGV[10 + t]
      local arrival = redis.call('ZRANGE', KEYS[7], rank, rank)[1]
      redis.call('ZREM', KEYS[7], arrival)
      winners[t] = arrival
    end
    if needed > 0 then
      redis.call('INCR', KEYS[11])
    end
  else
    winners = redis.call('ZRANGE', KEYS[7], 0, -1)
    redis.call('DEL', KEYS[7])
  end
  for _, arrival in ipairs(winners) do
    issued = issued + 1
    local entry = redis.call('LINDEX', KEYS[8], tonumber(arrival) - 1) or ('(lost) ' .. now_ms)
    redis.call('RPUSH', KEYS[10], entry)
    redis.call('RPUSH', KEYS[9], arrival .. ':' .. issued)
  end
  if #winners > 0 then
    redis.call('SET', KEYS[2], issued)
    redis.call('INCRBY', KEYS[12], #winners)
    redis.call('PUBLISH', ARGV[3], '{"kind":"won","event":"' .. ARGV[4] .. '"}')
  end
end
if wanted <= 0 then
  return {0, pointer, issued}
end
local target
if redis.call('ZCARD', KEYS[3]) == 0 then
  target = math.min(pointer + wanted, issued)
else
  -- Left positions do not use up the batch: those behind them move up instead. staying(t), the
  -- visitors in (pointer, t] who did not leave, grows with t; the smallest t where it reaches the
  -- batch is found by bisection, O(log n) per step however many left.
  if staying(issued) < wanted then
    target = issued
  else
    local low, high = pointer, issued -- staying(low) < wanted <= staying(high)
    while high - low > 1 do
      local middle = math.floor((low + high) / 2)
      if staying(middle) >= wanted then
        high = middle
      else
        low = middle
      end
    end
    target = high
  end
end
if target == pointer then
  return {0, pointer, issued}
end
redis.call('SET', KEYS[1], target)
if max_active > 0 then
  local free_at = now_ms + tonumber(ARGV[6])
  local gone = {}
  for _, position in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], pointer + 1, target)) do
    gone[tonumber(position)] = true
  end
  for position = pointer + 1, target do
    if not gone[position] then
      redis.call('ZADD', KEYS[6], free_at, position)
    end
  end
end
redis.call('ZADD', KEYS[5], target, string.format('%d:%d', target, now_ms))
redis.call('PUBLISH', ARGV[3], '{"kind":"pointer","event":"' .. ARGV[4] .. '","admitted_through":' ..
  target .. ',"issued":' .. issued .. ',"manual":' .. (interval == 0 and 'true' or 'false') .. '}')
return {1, target, issued}
