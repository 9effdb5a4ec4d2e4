-- Delete: an event and everything kept for it, at once (the admin's DELETE, or its data's lifetime
-- after closing). A tombstone stays a while, so that no replica restores the event from its memory
-- (see restore.lua) before it heard of the deletion; creating the event again removes it.
--
-- KEYS[1]    tombstone wr:{event}:deleted (string, unix ms of the deletion, expiring)
-- KEYS[2...] every other key of the event
-- ARGV[1] now, unix ms
-- ARGV[2] how long the tombstone stays, ms
-- ARGV[3] pub/sub channel
-- ARGV[4] event id, for the announcement
-- Returns the number of keys deleted
local deleted = 0
for i = 2, #KEYS do
  deleted = deleted + redis.call('DEL', KEYS[i])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], '{"kind":"deleted","event":"' .. ARGV[4] .. '"}')
return deleted
