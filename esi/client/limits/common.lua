-- Shared by acquire.lua, settle.lua and snapshot.lua (prepended when the scripts are loaded).
-- All times come from Redis' own clock, so hosts with skewed clocks still agree.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

-- A bucket entry is "<id>|<cost>" (settled, scored by its answer's time), "?<id>|<cost>" (a
-- reservation in flight, scored by its acquire time) or "c<id>|<cost>" (tokens spent elsewhere).
local function cost_of(member)
  return tonumber(string.match(member, '|(%d+)$')) or 0
end

-- Drop the entries whose tokens came back by `at` (default now); returns the new running sum.
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

-- The error-limit state lives as long as its window or pause (plus a minute), never forever.
local function keep_err(err)
  local e = redis.call('HMGET', err, 'reset_at', 'pause_until')
  local last = math.max(tonumber(e[1]) or now, tonumber(e[2]) or now)
  redis.call('PEXPIRE', err, math.ceil((last - now + 60) * 1000))
end

local function pause_all(err, until_at, reason)
  local cur = tonumber(redis.call('HGET', err, 'pause_until'))
  if (not cur) or cur < until_at then
    redis.call('HSET', err, 'pause_until', until_at, 'reason', reason)
  end
end

local function keep_bucket(bz, bm, groups, window)
  local ttl = math.ceil((window + 60) * 1000)
  redis.call('PEXPIRE', bz, ttl)
  redis.call('PEXPIRE', bm, ttl)
  if redis.call('PTTL', groups) < ttl then redis.call('PEXPIRE', groups, ttl) end
end
