"""The fleet limits' Lua scripts. Each is one decision, atomic in Redis and timed by Redis's
own clock; ``shared_limits`` describes the rules they keep, ``shared_limiter`` calls them."""

# One call's way in, in one round trip. KEYS: the rate (GCRA) keys, then, when the limit
# has a concurrency cap, its slot set and lease set. ARGV: max_wait, the number of rate keys,
# (seconds per unit, units) per rate key, then cap, member, holder, lease_s, forget_s.
# The rates are reserved all together or not at all; a slot is taken at once only when the
# call need not wait for the rates (a call that waits takes its slot after the wait).
# -> {1, wait, 0, slot}: reserved; slot 1 taken, 0 full, -1 not asked for
#    {0, wait, i, 0}: rate i refused (wait seconds would be needed) | i = 0: slots full
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local maxw = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local worst, worst_i = 0, 0
local tats = {}
for i = 1, n do
  local e = tonumber(ARGV[1 + i * 2])
  local u = tonumber(ARGV[2 + i * 2])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local need = u
  if need > 60 / e then need = 60 / e end  -- more than a minute's budget waits for a full one
  local w = tat + need * e - now - 60
  if w > worst then worst, worst_i = w, i end
  tats[i] = tat + u * e
end
if worst > maxw then return {0, tostring(worst), worst_i, 0} end
local slot = -1
if #KEYS > n and worst <= 0 then
  local a = 3 + n * 2
  local slots, leases, member, holder = KEYS[n + 1], KEYS[n + 2], ARGV[a + 1], ARGV[a + 2]
  local lease, forget = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  -- holders whose lease ran out (killed, or cut off from Redis) give their slots back
  for _, h in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now)) do
    redis.call('ZREMRANGEBYLEX', slots, '[' .. h .. '|', '[' .. h .. '|\\255')
  end
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now - forget)
  redis.call('ZADD', leases, now + lease, holder)
  redis.call('PEXPIRE', leases, math.ceil((lease + forget) * 1000))
  if redis.call('ZCARD', slots) >= tonumber(ARGV[a]) then
    if maxw <= 0 then return {0, '1', 0, 0} end
    slot = 0
  else
    redis.call('ZADD', slots, 0, member)
    redis.call('PEXPIRE', slots, math.ceil(lease * 2000))
    slot = 1
  end
end
for i = 1, n do
  redis.call('SET', KEYS[i], tostring(tats[i]), 'PX', math.ceil((tats[i] - now + 1) * 1000))
end
return {1, tostring(worst), 0, slot}
"""

# One call's way out (or a settlement), in one round trip. KEYS: rate keys, then optionally
# the slot set. ARGV: the number of rate keys, (seconds per unit, units, most) per rate key
# (units: + charge, - give back; most: the most debt it may leave, in seconds), then the
# member to free.
SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = tonumber(ARGV[1])
for i = 1, n do
  local e = tonumber(ARGV[i * 3 - 1])
  local u = tonumber(ARGV[i * 3])
  local most = tonumber(ARGV[i * 3 + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  tat = tat + u * e
  if tat > now + most then tat = now + most end
  if tat <= now then
    redis.call('DEL', KEYS[i])
  else
    redis.call('SET', KEYS[i], tostring(tat), 'PX', math.ceil((tat - now + 1) * 1000))
  end
end
if #KEYS > n then redis.call('ZREM', KEYS[n + 1], ARGV[n * 3 + 2]) end
return 1
"""

# KEYS: the slot set and the lease set. ARGV: holder, lease_s, members...: the holder's
# members become exactly these, and its lease is extended.
RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = ARGV[1]
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYLEX', KEYS[1], '[' .. h .. '|', '[' .. h .. '|\\255')
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
redis.call('ZADD', KEYS[2], now + lease, h)
if #ARGV > 2 then redis.call('PEXPIRE', KEYS[1], math.ceil(lease * 2000)) end
return 1
"""
