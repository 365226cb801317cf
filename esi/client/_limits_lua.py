"""The Lua scripts behind :mod:`esi.client._limits`: every budget change is one atomic script.

All times come from Redis' own clock (``TIME``), so hosts with skewed clocks still agree.
Bucket entries are sorted-set members ``"<id>|<cost>"`` scored by the time they were spent;
a bucket's hash keeps the running sum (``used``) so a check never sums the whole window.

Key layout (``P`` is the limiter's prefix, ``esi:limits:`` by default)::

    P err                 hash  remain, reset_at, limit, pause_until, reason
    P inflight            zset  error-limit unit -> expiry (a unit per request that may still cost an error)
    P seq                 int   reservation ids
    P groups              set   "<group>\\n<identity>" of every bucket (for snapshots)
    P rl:<group>:<ident>  zset  "<id>|<cost>" -> time spent
    P rl:<group>:<ident>:m hash  max, window, used, pause_until

Return values are ``{code, value}`` with floats as strings (Redis truncates Lua numbers).
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "LEASE", "SETTLE", "SNAPSHOT"]

_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function cost_of(member)
  return tonumber(string.match(member, '|(%d+)$')) or 0
end
-- drop the entries of a bucket whose tokens came back; returns the new running sum
local function expire(bz, used, window, at)
  local cutoff = (at or now) - window
  local old = redis.call('ZRANGEBYSCORE', bz, '-inf', cutoff)
  if #old > 0 then
    for _, member in ipairs(old) do used = used - cost_of(member) end
    redis.call('ZREMRANGEBYSCORE', bz, '-inf', cutoff)
  end
  if used < 0 or redis.call('ZCARD', bz) == 0 then used = 0 end
  return used
end
local function pause_all(err, until_at, reason)
  local cur = tonumber(redis.call('HGET', err, 'pause_until'))
  if (not cur) or cur < until_at then
    redis.call('HSET', err, 'pause_until', until_at, 'reason', reason)
  end
end
"""

_PAUSE_CHECK = """
local threshold = tonumber(ARGV[1])
local e = redis.call('HMGET', KEYS[1], 'pause_until', 'remain', 'reset_at', 'limit')
local pause_until = tonumber(e[1])
if pause_until and now < pause_until then
  return {1, tostring(pause_until - now)}
end
local remain, reset_at = tonumber(e[2]), tonumber(e[3])
local budget
local known = false
if remain and reset_at and now < reset_at then
  known = true
  if remain <= threshold then
    pause_all(KEYS[1], reset_at, 'threshold')
    return {1, tostring(reset_at - now)}
  end
  budget = remain
else
  budget = tonumber(e[4])
end
"""

# Error-limit units of one process (requests on routes without a rate-limit group).
# KEYS: err, inflight
# ARGV: 1 threshold, 2 unit ttl, 3 hold retry, 4 assumed error limit, 5 new unit name ('' = none),
#       6 number of units to keep (refresh), then those names, then the names to drop
# -> {0, remain or ''} | {1, retry} error-limit pause | {3, retry} in-flight hold
LEASE = (
    _PRELUDE
    + """
local nkeep = tonumber(ARGV[6])
for i = 7 + nkeep, #ARGV do redis.call('ZREM', KEYS[2], ARGV[i]) end
local expiry = now + tonumber(ARGV[2])
for i = 7, 6 + nkeep do redis.call('ZADD', KEYS[2], 'XX', expiry, ARGV[i]) end  -- never re-created
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
"""
    + _PAUSE_CHECK
    + """
budget = budget or tonumber(ARGV[4])
if ARGV[5] ~= '' then
  local inflight = redis.call('ZCARD', KEYS[2])
  -- with the window unknown (or over), one probe at a time may always go: its answer tells
  if budget - inflight - 1 < threshold and (known or inflight > 0) then
    local wait = tonumber(ARGV[3])
    if reset_at and reset_at > now and reset_at - now < wait then wait = reset_at - now end
    return {3, tostring(wait)}
  end
  redis.call('ZADD', KEYS[2], expiry, ARGV[5])
end
return {0, tostring(remain or '')}
"""
)

# Requests of a rate-limit group (their errors cost tokens, not errors; a 420 still stops them).
# KEYS: err, inflight, seq, groups, bucket zset, bucket hash
# ARGV: 1 threshold, 2 reserve, 3 spec max, 4 spec window, 5 registry label, 6 entries wanted,
#       7 lifetime of the entries beyond the first, 8... unused entries of an earlier batch to drop
# -> {0, first id, count} | {1, retry} error-limit pause | {2, retry} bucket empty or paused
ACQUIRE = (
    _PRELUDE
    + """
local bz, bm = KEYS[5], KEYS[6]
if #ARGV >= 8 then
  local dropped = 0
  for i = 8, #ARGV do dropped = dropped + redis.call('ZREM', bz, ARGV[i] .. '|' .. ARGV[2]) end
  if dropped > 0 then redis.call('HINCRBY', bm, 'used', -dropped * tonumber(ARGV[2])) end
end
"""
    + _PAUSE_CHECK
    + """
local m = redis.call('HMGET', bm, 'max', 'window', 'used', 'pause_until')
local maxt = tonumber(m[1]) or tonumber(ARGV[3])
local window = tonumber(m[2]) or tonumber(ARGV[4])
local gp = tonumber(m[4])
if gp and now < gp then return {2, tostring(gp - now)} end
local used = expire(bz, tonumber(m[3]) or 0, window)
local reserve = tonumber(ARGV[2])
if used + reserve > maxt then
  local need = used + reserve - maxt
  local wait = window
  local entries = redis.call('ZRANGE', bz, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    need = need - cost_of(entries[i])
    if need <= 0 then
      wait = tonumber(entries[i + 1]) + window - now
      break
    end
  end
  redis.call('HSET', bm, 'used', used)
  return {2, tostring(wait)}
end
-- a batch never takes more than a sixteenth of what is left: other processes want some too,
-- and small buckets (where each token counts) are not batched at all
local n = math.floor((maxt - used) / (reserve * 16))
if n > tonumber(ARGV[6]) then n = tonumber(ARGV[6]) end
if n < 1 then n = 1 end
local last = redis.call('INCRBY', KEYS[3], n)
local first = last - n + 1
redis.call('ZADD', bz, now, first .. '|' .. reserve)
-- the spares are booked so that, unused, they lapse after their lifetime (not a whole window);
-- a used one is re-booked at its answer by the settle
local spare_at = now - window + math.min(window, tonumber(ARGV[7]))
for id = first + 1, last do redis.call('ZADD', bz, spare_at, id .. '|' .. reserve) end
redis.call('HSET', bm, 'used', used + n * reserve)
if not m[3] then redis.call('SADD', KEYS[4], ARGV[5]) end
local ttl = math.ceil((window + 60) * 1000)
redis.call('PEXPIRE', bz, ttl)
redis.call('PEXPIRE', bm, ttl)
return {0, first, n}
"""
)

# KEYS: err, inflight, groups, [bucket zset, bucket hash]
# ARGV: 1 id (a bucket entry, or an error-limit unit), 2 threshold, 3 reserved cost, 4 real cost,
#       5 error remain, 6 error reset, 7 rl remaining, 8 rl max, 9 rl window, 10 retry-after, 11 status,
#       12 "1" = an error that carried no limit header, 13 registry label, 14 spec max, 15 spec window,
#       16 "1" = the unit stays held (a success: the process reuses it),
#       17 seconds since the answer (deferred settles; absent = now)
# -> {pause seconds of everything, pause seconds of the bucket} (informational)
SETTLE = (
    _PRELUDE
    + """
local id = ARGV[1]
local answered = now - (tonumber(ARGV[17]) or 0)
if ARGV[16] ~= '1' then redis.call('ZREM', KEYS[2], id) end
local threshold = tonumber(ARGV[2])
local status = tonumber(ARGV[11])
local retry_after = tonumber(ARGV[10])
local er, ereset = tonumber(ARGV[5]), tonumber(ARGV[6])
local all_pause, group_pause = 0, 0
if status == 420 then
  local reset_at = tonumber(redis.call('HGET', KEYS[1], 'reset_at'))
  local until_at
  if retry_after then until_at = now + retry_after
  elseif ereset then until_at = now + ereset
  elseif reset_at and reset_at > now then until_at = reset_at
  else until_at = now + 60 end
  redis.call('HSET', KEYS[1], 'remain', 0, 'reset_at', until_at)
  pause_all(KEYS[1], until_at, '420')
  all_pause = until_at - now
elseif er then
  local e = redis.call('HMGET', KEYS[1], 'remain', 'reset_at', 'limit')
  local remain, reset_at, limit = tonumber(e[1]), tonumber(e[2]), tonumber(e[3]) or 0
  local new_reset = now + (ereset or 60)
  if (not remain) or (not reset_at) or now >= reset_at or new_reset > reset_at + 2 then
    remain, reset_at = er, new_reset
  else
    if er < remain then remain = er end
    if new_reset > reset_at then reset_at = new_reset end
  end
  if er > limit then limit = er end
  redis.call('HSET', KEYS[1], 'remain', remain, 'reset_at', reset_at, 'limit', limit)
  if remain <= threshold then
    pause_all(KEYS[1], reset_at, 'threshold')
    all_pause = reset_at - now
  end
elseif ARGV[12] == '1' then
  local e = redis.call('HMGET', KEYS[1], 'remain', 'reset_at')
  local remain, reset_at = tonumber(e[1]), tonumber(e[2])
  if remain and reset_at and now < reset_at then
    remain = remain - 1
    redis.call('HSET', KEYS[1], 'remain', remain)
    if remain <= threshold then
      pause_all(KEYS[1], reset_at, 'threshold')
      all_pause = reset_at - now
    end
  end
end
-- a bucket that is gone (its window long over, or Redis flushed) is not created again by a late settle
if #KEYS >= 5 and redis.call('EXISTS', KEYS[5]) == 1 then
  local bz, bm = KEYS[4], KEYS[5]
  local m = redis.call('HMGET', bm, 'max', 'window', 'used', 'pause_until')
  local maxt = tonumber(ARGV[8]) or tonumber(m[1]) or tonumber(ARGV[14])
  local window = tonumber(ARGV[9]) or tonumber(m[2]) or tonumber(ARGV[15])
  local used = tonumber(m[3]) or 0
  local reserved, real = tonumber(ARGV[3]), tonumber(ARGV[4])
  local found = redis.call('ZREM', bz, id .. '|' .. reserved)
  if found == 1 then used = used - reserved end
  if real > 0 and (found == 1 or reserved == 0) then
    -- timestamped at the answer, which is never before ESI spent the tokens
    redis.call('ZADD', bz, answered, id .. '|' .. real)
    used = used + real
  end
  -- compare with ESI's count as of its answer: what had expired by then, not by now
  used = expire(bz, used, window, answered)
  local remaining = tonumber(ARGV[7])
  if remaining then
    local server_used = maxt - remaining
    if server_used > used then
      redis.call('ZADD', bz, answered, 'c' .. id .. '|' .. (server_used - used))
      used = server_used
    end
  end
  used = expire(bz, used, window)
  redis.call('HSET', bm, 'used', used, 'max', maxt, 'window', window)
  if status == 429 then
    local until_at = now + (retry_after or 1)
    local cur = tonumber(m[4])
    if (not cur) or cur < until_at then redis.call('HSET', bm, 'pause_until', until_at) end
    group_pause = until_at - now
  end
  redis.call('SADD', KEYS[3], ARGV[13])
  local ttl = math.ceil((window + 60) * 1000)
  redis.call('PEXPIRE', bz, ttl)
  redis.call('PEXPIRE', bm, ttl)
end
return {tostring(all_pause), tostring(group_pause)}
"""
)

# KEYS: err, inflight, groups; ARGV: key prefix of the buckets ("P rl:")
# -> {now, {err fields...}, inflight, {{label, max, window, used, pause_until, next_return}, ...}}
SNAPSHOT = (
    _PRELUDE
    + """
local e = redis.call('HMGET', KEYS[1], 'remain', 'reset_at', 'limit', 'pause_until', 'reason')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local inflight = redis.call('ZCARD', KEYS[2])
local groups = {}
for _, label in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local nl = string.find(label, '\\n', 1, true)
  local bz = ARGV[1] .. string.sub(label, 1, nl - 1) .. ':' .. string.sub(label, nl + 1)
  local bm = bz .. ':m'
  local m = redis.call('HMGET', bm, 'max', 'window', 'used', 'pause_until')
  if not m[1] and not m[3] then
    redis.call('SREM', KEYS[3], label)
  else
    local window = tonumber(m[2]) or 0
    local used = expire(bz, tonumber(m[3]) or 0, window)
    redis.call('HSET', bm, 'used', used)
    local first = redis.call('ZRANGE', bz, 0, 0, 'WITHSCORES')
    local back = ''
    if #first > 0 then back = tostring(tonumber(first[2]) + window - now) end
    local last = redis.call('ZRANGE', bz, -1, -1, 'WITHSCORES')
    local full = ''
    if #last > 0 then full = tostring(tonumber(last[2]) + window - now) end
    groups[#groups + 1] = {label, m[1] or '', m[2] or '', tostring(used), m[4] or '', back, full}
  end
end
return {tostring(now), {e[1] or '', e[2] or '', e[3] or '', e[4] or '', e[5] or ''}, inflight, groups}
"""
)
