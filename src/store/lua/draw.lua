-- Write a pre-queue's drawn order, once: position d goes to the entry that arrived ARGV[4 + d]-th.
-- The line's first `size` entries are put in drawn order (a copy in arrival order is kept for the
-- published audit), trusted visitors' held positions follow their entries, and the places given up
-- during the pre-queue are given up at their drawn positions. Every replica is told.
--
-- KEYS[1] draw            wr:{event}:draw           (hash: seed, size, at, order)
-- KEYS[2] line            wr:{event}:line           (list, element i-1 = "<visitor> <joined_at_ms>" of position i)
-- KEYS[3] pre-queue       wr:{event}:prequeue       (list: the line's first `size` entries in arrival order)
-- KEYS[4] trusted         wr:{event}:visitors       (hash, visitor id -> position)
-- KEYS[5] leavers         wr:{event}:leavers        (sorted set, score = member = position)
-- KEYS[6] leavers' log    wr:{event}:leavers:log    (list of positions in the order they left)
-- KEYS[7] pre-queue left  wr:{event}:prequeue:left  (set of arrival numbers given up before the draw)
-- ARGV[1] unix ms now, ARGV[2] pub/sub channel, ARGV[3] event id
-- ARGV[4] the seed the order was drawn with (the seed mixed with the entries), kept as `order`
-- ARGV[5..] the drawn order: the arrival number of position 1, 2, ... (as many as the size)
-- Returns 1 if drawn now, 0 if it had been drawn already
if redis.call('HEXISTS', KEYS[1], 'at') == 1 then
  return 0
end
local size = #ARGV - 4
if tonumber(redis.call('HGET', KEYS[1], 'size')) ~= size then
  return redis.error_reply('the drawn order does not match the pre-queue size')
end
local function push_all(key, values, first, last)
  local chunk = 1000
  for i = first, last, chunk do
    redis.call('RPUSH', key, unpack(values, i, math.min(i + chunk - 1, last)))
  end
end
if size > 0 then
  -- Drawn again after a loss (see restore): if the arrival order survived, the line may be in drawn
  -- order already, so the arrival order is read from its copy.
  local arrived = redis.call('LRANGE', KEYS[3], 0, -1)
  if #arrived ~= size then
    arrived = redis.call('LRANGE', KEYS[2], 0, size - 1)
  end
  local later = redis.call('LRANGE', KEYS[2], size, -1)
  local drawn = {}
  local position_of = {}
  for d = 1, size do
    local arrival = tonumber(ARGV[4 + d])
    drawn[d] = arrived[arrival]
    position_of[arrival] = d
  end
  redis.call('DEL', KEYS[3])
  push_all(KEYS[3], arrived, 1, size)
  redis.call('DEL', KEYS[2])
  push_all(KEYS[2], drawn, 1, size)
  if #later > 0 then
    push_all(KEYS[2], later, 1, #later)
  end
  local trusted = redis.call('HGETALL', KEYS[4])
  for i = 1, #trusted, 2 do
    local held = tonumber(trusted[i + 1])
    if held <= size then
      redis.call('HSET', KEYS[4], trusted[i], position_of[held])
    end
  end
  for _, arrival in ipairs(redis.call('SMEMBERS', KEYS[7])) do
    local position = position_of[tonumber(arrival)]
    if position and redis.call('ZADD', KEYS[5], 'NX', position, position) == 1 then
      redis.call('RPUSH', KEYS[6], position)
    end
  end
  redis.call('DEL', KEYS[7])
end
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'order', ARGV[4])
redis.call('PUBLISH', ARGV[2], '{"kind":"settings","event":"' .. ARGV[3] .. '"}')
return 1
