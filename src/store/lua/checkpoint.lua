-- Move an event's drain checkpoint forward after the sink confirmed delivery, but only for the
-- holder of the drain lease: a worker that lost its lease while delivering cannot move it.
--
-- KEYS[1] checkpoint wr:{event}:drained     (string, highest position forwarded downstream)
-- KEYS[2] lease      wr:{event}:drain:lease
-- ARGV[1] new checkpoint
-- ARGV[2] holder id
-- ARGV[3] notification channel, ARGV[4] event id (for the announcement every replica hears)
-- Returns 1 if the checkpoint is now at least ARGV[1], 0 if the caller no longer holds the lease
if redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return 0
end
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('PUBLISH', ARGV[3], '{"kind":"drained","event":"' .. ARGV[4] .. '","through":' .. ARGV[1] .. '}')
end
return 1
