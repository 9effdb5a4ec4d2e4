-- Close a pre-queue: its entries are the positions handed out so far, and every later join comes
-- after them. Idempotent: the first call fixes the size. (The order itself is drawn in the replica,
-- from the seed, and written by draw.lua: Redis's Lua has no SHA-256.)
--
-- KEYS[1] draw    wr:{event}:draw   (hash: seed = 64 hex digits, size = entries, at = unix ms drawn,
--                                    order = the seed the order is drawn with, 64 hex digits)
-- KEYS[2] issued  wr:{event}:issued (string, last position handed out)
-- Returns {seed, size, at (0 while not drawn), order ('' until drawn, unless restored)}, or nil for
-- an event without a seed
local seed = redis.call('HGET', KEYS[1], 'seed')
if not seed then
  return nil
end
local size = redis.call('HGET', KEYS[1], 'size')
if not size then
  size = redis.call('GET', KEYS[2]) or '0'
  redis.call('HSET', KEYS[1], 'size', size)
end
return {seed, tonumber(size), tonumber(redis.call('HGET', KEYS[1], 'at') or '0'),
  redis.call('HGET', KEYS[1], 'order') or ''}
