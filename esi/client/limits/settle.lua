-- Record what an answer says about the budgets. See esi/client/limits/_scripts.py (SettleArgs).
-- KEYS: err, inflight[, groups, bucket zset, bucket hash]
-- ARGV: 1 id, 2 threshold, 3 status (0 = no answer), 4 reserved, 5 real cost, 6 error remain,
--       7 error reset, 8 rl remaining, 9 rl max, 10 rl window, 11 retry-after, 12 "1" = an error
--       without any limit header, 13 registry label, 14 spec max, 15 spec window, 16 longest pause
--       ('' = a header that was absent or unreadable; pauses are already capped by the caller)
-- -> {seconds everything is paused, seconds the bucket is paused} (informational)
local err, inflight = KEYS[1], KEYS[2]
local id, threshold, status = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local er, ereset, retry_after = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[11])
local max_pause = tonumber(ARGV[16])
local all_pause, group_pause = 0, 0
if #KEYS == 2 then redis.call('ZREM', inflight, id) end

if status == 420 then
  local reset_at = tonumber(redis.call('HGET', err, 'reset_at'))
  local until_at
  if retry_after then until_at = now + retry_after
  elseif ereset then until_at = now + ereset
  elseif reset_at and reset_at > now then until_at = reset_at
  else until_at = now + 60 end
  if until_at > now + max_pause then until_at = now + max_pause end
  redis.call('HSET', err, 'remain', 0, 'reset_at', until_at)
  pause_all(err, until_at, '420')
  keep_err(err)
  all_pause = until_at - now
elseif er then
  local e = redis.call('HMGET', err, 'remain', 'reset_at', 'limit')
  local remain, reset_at, limit = tonumber(e[1]), tonumber(e[2]), tonumber(e[3]) or 0
  local new_reset = now + (ereset or 60)
  if (not remain) or (not reset_at) or now >= reset_at or new_reset > reset_at + 2 then
    remain, reset_at = er, new_reset
  else
    if er < remain then remain = er end
    if new_reset > reset_at then reset_at = new_reset end
  end
  if er > limit then limit = er end
  redis.call('HSET', err, 'remain', remain, 'reset_at', reset_at, 'limit', limit)
  if remain <= threshold then
    pause_all(err, reset_at, 'threshold')
    all_pause = reset_at - now
  end
  keep_err(err)
elseif ARGV[12] == '1' then
  local e = redis.call('HMGET', err, 'remain', 'reset_at')
  local remain, reset_at = tonumber(e[1]), tonumber(e[2])
  if remain and reset_at and now < reset_at then
    remain = remain - 1
    redis.call('HSET', err, 'remain', remain)
    if remain <= threshold then
      pause_all(err, reset_at, 'threshold')
      all_pause = reset_at - now
    end
    keep_err(err)
  end
end

-- a bucket that is gone (its window long over, or Redis flushed) is not created again by a late settle
if #KEYS == 5 and redis.call('EXISTS', KEYS[5]) == 1 then
  local groups, bz, bm = KEYS[3], KEYS[4], KEYS[5]
  local m = redis.call('HMGET', bm, 'max', 'window', 'used', 'pause_until')
  local maxt = tonumber(ARGV[9]) or tonumber(m[1]) or tonumber(ARGV[14])
  local window = tonumber(ARGV[10]) or tonumber(m[2]) or tonumber(ARGV[15])
  local used = tonumber(m[3]) or 0
  local reserved, real = tonumber(ARGV[4]), tonumber(ARGV[5])
  local found = redis.call('ZREM', bz, '?' .. id .. '|' .. reserved)
  if found == 1 then used = used - reserved end
  if real > 0 and found == 1 then
    -- timestamped at the answer, which is never before ESI spent the tokens
    redis.call('ZADD', bz, now, id .. '|' .. real)
    used = used + real
  end
  used = expire(bz, used, window)
  local remaining = tonumber(ARGV[8])
  if remaining then
    local server_used = maxt - remaining
    if server_used > used then
      redis.call('ZADD', bz, now, 'c' .. id .. '|' .. (server_used - used))
      used = server_used
    end
  end
  redis.call('HSET', bm, 'used', used, 'max', maxt, 'window', window)
  if status == 429 then
    local until_at = now + math.min(retry_after or 1, max_pause)
    local cur = tonumber(m[4])
    if (not cur) or cur < until_at then redis.call('HSET', bm, 'pause_until', until_at) end
    group_pause = until_at - now
  end
  redis.call('SADD', groups, ARGV[13])
  keep_bucket(bz, bm, groups, window)
end
return {tostring(all_pause), tostring(group_pause)}
