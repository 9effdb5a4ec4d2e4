-- Take, renew or give back an event's drain lease, so that only one drain worker sends its visitors.
-- A holder that dies simply stops renewing; the lease expires and another worker takes over.
--
-- KEYS[1] lease wr:{event}:drain:lease (string, holder id, with an expiry)
-- ARGV[1] holder id
-- ARGV[2] lease lifetime in ms
-- ARGV[3] "take" to acquire or renew, "give" to release
-- Returns 1 if the caller holds the lease afterwards, else 0
local holder = redis.call('GET', KEYS[1])
if ARGV[3] == 'give' then
  if holder == ARGV[1] then
    redis.call('DEL', KEYS[1])
  end
  return 0
end
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
