-- Admit one request, or say how long to wait. See esi/client/limits/_scripts.py (AcquireArgs).
-- KEYS: err, inflight[, groups, bucket zset, bucket hash]
-- ARGV: 1 id, 2 threshold, 3 lifetime (longest a request may take), 4 in-flight hold,
--       5 assumed error limit, 6 reserve (tokens), 7 spec max, 8 spec window, 9 registry label
-- -> {Verdict, retry seconds}: 0 admitted, 1 error limit paused, 2 bucket empty or paused,
--    3 the error budget is held by requests in flight
local err, inflight = KEYS[1], KEYS[2]
local id, threshold, lifetime, hold = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

local e = redis.call('HMGET', err, 'pause_until', 'remain', 'reset_at', 'limit')
local pause_until = tonumber(e[1])
if pause_until and now < pause_until then return {1, tostring(pause_until - now)} end
local remain, reset_at = tonumber(e[2]), tonumber(e[3])
local known = remain and reset_at and now < reset_at
if known and remain <= threshold then
  pause_all(err, reset_at, 'threshold')
  keep_err(err)
  return {1, tostring(reset_at - now)}
end

if #KEYS == 2 then
  -- a request without a rate-limit group holds one unit of the error budget while in flight
  if redis.call('ZSCORE', inflight, id) then return {0, ''} end  -- a re-sent script (redis-py retry)
  redis.call('ZREMRANGEBYSCORE', inflight, '-inf', now)
  local budget = (known and remain) or tonumber(e[4]) or tonumber(ARGV[5])
  local n = redis.call('ZCARD', inflight)
  -- with the window unknown (or over), one probe at a time may always go: its answer tells
  if budget - n - 1 < threshold and (known or n > 0) then
    local wait = hold
    if known and reset_at - now < wait then wait = reset_at - now end
    return {3, tostring(wait)}
  end
  redis.call('ZADD', inflight, now + lifetime, id)
  redis.call('PEXPIRE', inflight, math.ceil((lifetime + 60) * 1000))
  return {0, ''}
end

local groups, bz, bm = KEYS[3], KEYS[4], KEYS[5]
local reserve = tonumber(ARGV[6])
local member = '?' .. id .. '|' .. reserve
if redis.call('ZSCORE', bz, member) then return {0, ''} end  -- a re-sent script
local m = redis.call('HMGET', bm, 'max', 'window', 'used', 'pause_until')
local maxt = tonumber(m[1]) or tonumber(ARGV[7])
local window = tonumber(m[2]) or tonumber(ARGV[8])
local gp = tonumber(m[4])
if gp and now < gp then return {2, tostring(gp - now)} end
local used = expire(bz, tonumber(m[3]) or 0, window)
if used + reserve > maxt then
  redis.call('HSET', bm, 'used', used)
  -- When will enough come back? A settled entry `window` after its answer. A reservation still
  -- in flight is re-stamped at its answer, which is after now: if it costs what it reserved, its
  -- tokens come back `window` from now. One whose process died (older than a request's lifetime)
  -- counts as spent when reserved. When the settled entries cannot cover what is needed but the
  -- reservations in flight can, the bucket is full only because of them: they settle within
  -- moments, and what they do not spend (a cache hit giving its reservation back, a 5xx, a 429,
  -- a 304) is free at once, so ask again after the in-flight hold, not a whole window.
  local need = used + reserve - maxt
  local entries = redis.call('ZRANGE', bz, 0, -1, 'WITHSCORES')
  local wait, flying, last = nil, 0, 0
  for i = 1, #entries, 2 do
    local at = tonumber(entries[i + 1])
    if string.sub(entries[i], 1, 1) ~= '?' or at <= now - lifetime then
      need = need - cost_of(entries[i])
      last = at + window - now
      if need <= 0 then
        wait = last
        break
      end
    else
      flying = flying + cost_of(entries[i])
    end
  end
  if not wait then
    wait = window
    if flying >= need then wait = math.min(window, math.max(last, hold)) end
  end
  return {2, tostring(wait)}
end
redis.call('ZADD', bz, now, member)
redis.call('HSET', bm, 'used', used + reserve, 'max', maxt, 'window', window)
redis.call('SADD', groups, ARGV[9])
keep_bucket(bz, bm, groups, window)
return {0, ''}
