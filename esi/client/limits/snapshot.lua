-- Every budget as of now, for esi_status and dashboards. See esi/client/limits/_redis.py (snapshot).
-- KEYS: err, inflight, groups, then a bucket zset and hash per ARGV label
-- ARGV: the registry labels ("<group>\n<identity>") of those buckets
-- -> {now, {remain, reset_at, limit, pause_until, reason}, units in flight,
--     {{label, max, window, used, pause_until, next token back, all back}, ...}}
local e = redis.call('HMGET', KEYS[1], 'remain', 'reset_at', 'limit', 'pause_until', 'reason')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local inflight = redis.call('ZCARD', KEYS[2])
local groups = {}
for i, label in ipairs(ARGV) do
  local bz, bm = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
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
