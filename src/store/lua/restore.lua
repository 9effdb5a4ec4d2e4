-- Restore: raise an event's figures to what a replica knows they were, after Redis came back with
-- less (a failover to a replica that missed the last writes, a restore from a backup, a flushed key).
-- Nothing is ever lowered, so calling it with figures Redis already holds changes nothing. Positions
-- Redis forgot stay handed out (their holders' tokens say so): the counter moves past them and their
-- line entries become `(lost)` placeholders, so no position is ever handed to a second visitor; a lost
-- join costs a gap in the line, never a duplicate. The counter, its shadow (a second count every
-- draw moves with it) and the line's length are brought to the highest of them and the floor: a line
-- longer than its counter (the counter wound back) keeps every entry at its position, so the drain
-- never reads a shifted index.
--
-- KEYS[1] issued counter   wr:{event}:issued
-- KEYS[2] line             wr:{event}:line        (list, see join)
-- KEYS[3] pointer          wr:{event}:admitted
-- KEYS[4] admissions       wr:{event}:admissions  (sorted set, see advance.lua)
-- KEYS[5] drain checkpoint wr:{event}:drained
-- KEYS[6] leavers          wr:{event}:leavers     (sorted set, see leave.lua)
-- KEYS[7] leavers' log     wr:{event}:leavers:log
-- KEYS[8] settings         wr:{event}:settings
-- KEYS[9] restore mark     wr:{event}:restored    (string, Redis's time in µs of the last restore:
--                                                  replicas that see it change read the leavers'
--                                                  log whole again, as restored entries were appended)
-- KEYS[10] shadow counter  wr:{event}:issued:shadow (string, moved with the counter by every draw)
-- ARGV[1] issued floor: the highest position handed out, as known
-- ARGV[2] pointer floor
-- ARGV[3] drain checkpoint floor
-- ARGV[4] settings JSON, written only if Redis has none; empty to leave them alone
-- ARGV[5] now, unix ms (the placeholders' join time and the pointer move's time)
-- ARGV[6] first of the positions whose entries this replica's own join wrote after Redis lost
--         writes, to be made placeholders (its visitors were never answered); 0 for none
-- ARGV[7] last of those positions
-- ARGV[8...] positions known to have left
-- Returns {1 if anything was raised or re-written else 0, issued after}
local changed = 0
local issued = tonumber(redis.call('GET', KEYS[1]) or '0')
local shadow = tonumber(redis.call('GET', KEYS[10]) or '0')
local length = redis.call('LLEN', KEYS[2])
local target = math.max(issued, shadow, length, tonumber(ARGV[1]))
local placeholder = '(lost) ' .. ARGV[5]
local orphans_from, orphans_to = tonumber(ARGV[6]), tonumber(ARGV[7])
if orphans_from > 0 then
  for position = orphans_from, math.min(orphans_to, length) do
    redis.call('LSET', KEYS[2], position - 1, placeholder)
  end
  changed = 1
end
if length < target then
  local pad = {}
  for _ = length + 1, target do
    pad[#pad + 1] = placeholder
    if #pad == 1000 then
      redis.call('RPUSH', KEYS[2], unpack(pad))
      pad = {}
    end
  end
  if #pad > 0 then
    redis.call('RPUSH', KEYS[2], unpack(pad))
  end
  changed = 1
end
if issued < target then
  redis.call('SET', KEYS[1], target)
  changed = 1
end
-- A shadow behind only (written by no earlier version) is caught up without counting as a loss.
if shadow ~= target then
  redis.call('SET', KEYS[10], target)
end
issued = target
local pointer = tonumber(redis.call('GET', KEYS[3]) or '0')
local pointer_floor = math.min(tonumber(ARGV[2]), issued)
if pointer < pointer_floor then
  redis.call('SET', KEYS[3], pointer_floor)
  redis.call('ZADD', KEYS[4], pointer_floor, string.format('%d:%d', pointer_floor, tonumber(ARGV[5])))
  changed = 1
end
if tonumber(redis.call('GET', KEYS[5]) or '0') < tonumber(ARGV[3]) then
  redis.call('SET', KEYS[5], ARGV[3])
  changed = 1
end
if ARGV[4] ~= '' and redis.call('SETNX', KEYS[8], ARGV[4]) == 1 then
  changed = 1
end
for i = 8, #ARGV do
  if redis.call('ZADD', KEYS[6], 'NX', ARGV[i], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[7], ARGV[i])
    changed = 1
  end
end
if changed == 1 then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[9], now[1] .. string.format('%06d', tonumber(now[2])))
end
return {changed, issued}
