/**
 * Lua scripts of {@link RedisRateLimitStore}: each runs atomically, so replicas never take the
 * same slot twice. Times come from Redis's clock (`TIME`), one clock for every replica. They
 * mirror `LocalRateLimitStore`'s logic; a pending window's `resetAt` is -1 here.
 *
 * KEYS[1] is the key prefix's routes hash: every key of a bot shares its `{...}` hash tag.
 */

const NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/**
 * ARGV: prefix, routeId, majorParameter, global (0|1), globalLimit, invalidLimit, ticket,
 * inFlightTtlMs, idleTtlMs. Returns `{1, bucketKey}` or `{0, reason, retryAfterMs (-1: unknown)}`.
 */
export const RESERVE_SCRIPT = `${NOW}
local prefix, routeId, major = ARGV[1], ARGV[2], ARGV[3]
local isGlobal = ARGV[4] == '1'
local globalLimit, invalidLimit = tonumber(ARGV[5]), tonumber(ARGV[6])
local ticket, ttl, idle = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])

local invalidKey = prefix .. 'invalid'
redis.call('ZREMRANGEBYSCORE', invalidKey, '-inf', now - 600000)
local invalid = redis.call('ZCARD', invalidKey)
if invalid >= invalidLimit then
  local counted = redis.call('ZRANGE', invalidKey, invalid - invalidLimit, invalid - invalidLimit, 'WITHSCORES')
  return {0, 'invalid', tonumber(counted[2]) + 600000 - now}
end

local globalInFlight, globalDone = prefix .. 'global:inflight', prefix .. 'global:done'
if isGlobal then
  local blocked = tonumber(redis.call('GET', prefix .. 'global:blocked') or '0')
  if now < blocked then return {0, 'global', blocked - now} end
  redis.call('ZREMRANGEBYSCORE', globalInFlight, '-inf', now)
  redis.call('ZREMRANGEBYSCORE', globalDone, '-inf', now - 1000)
  if redis.call('ZCARD', globalInFlight) + redis.call('ZCARD', globalDone) >= globalLimit then
    local first = redis.call('ZRANGE', globalDone, 0, 0, 'WITHSCORES')
    if first[2] then return {0, 'global', tonumber(first[2]) + 1000 - now} end
    return {0, 'global', -1}
  end
end

local hash = redis.call('HGET', KEYS[1], routeId)
local bucketKey
if hash then bucketKey = prefix .. 'bucket:' .. hash .. ':' .. major
else bucketKey = prefix .. 'bucket:route:' .. routeId .. ':' .. major end
local inFlightKey = bucketKey .. ':inflight'
redis.call('ZREMRANGEBYSCORE', inFlightKey, '-inf', now)
local inFlight = redis.call('ZCARD', inFlightKey)
local state = redis.call('HMGET', bucketKey, 'limit', 'remaining', 'resetAt', 'blockedUntil')
local limit = tonumber(state[1] or '-1')
local remaining = tonumber(state[2] or '1')
local resetAt = tonumber(state[3] or '-1')
local blockedUntil = tonumber(state[4] or '0')
if now < blockedUntil then return {0, 'bucket', blockedUntil - now} end
if limit == -1 then
  if inFlight > 0 then return {0, 'bucket', -1} end
else
  if resetAt ~= -1 and now >= resetAt then
    remaining = limit - inFlight
    resetAt = -1
    redis.call('HSET', bucketKey, 'remaining', remaining, 'resetAt', -1)
  end
  if remaining <= 0 then
    if resetAt == -1 and inFlight == 0 then
      -- No answer in flight can date the new window any more: it began by now at the latest.
      local windowMs = tonumber(redis.call('HGET', bucketKey, 'windowMs') or '0')
      redis.call('HSET', bucketKey, 'resetAt', now + windowMs)
      return {0, 'bucket', windowMs}
    end
    if resetAt == -1 then return {0, 'bucket', -1} end
    return {0, 'bucket', resetAt - now}
  end
  redis.call('HINCRBY', bucketKey, 'remaining', -1)
  redis.call('PEXPIRE', bucketKey, idle)
end
redis.call('ZADD', inFlightKey, now + ttl, ticket)
redis.call('PEXPIRE', inFlightKey, ttl)
if isGlobal then
  redis.call('ZADD', globalInFlight, now + ttl, ticket)
  redis.call('PEXPIRE', globalInFlight, ttl)
end
return {1, bucketKey}
`;

/**
 * ARGV: prefix, routeId, majorParameter, global (0|1), ticket, bucketKey, answered (0|1),
 * invalid (0|1), global429 (0|1), status, limit, remaining, resetEpochSeconds, resetAfterMs,
 * bucketHash, retryAfterMs, idleTtlMs, headerToleranceSeconds, estimatedToleranceSeconds ('' for an
 * absent header).
 */
export const SETTLE_SCRIPT = `${NOW}
local prefix, routeId, major = ARGV[1], ARGV[2], ARGV[3]
local isGlobal, ticket, bucketKey = ARGV[4] == '1', ARGV[5], ARGV[6]
local answered, invalid, global429 = ARGV[7] == '1', ARGV[8] == '1', ARGV[9] == '1'
local status = tonumber(ARGV[10])
local limit, remaining = tonumber(ARGV[11]), tonumber(ARGV[12])
local resetEpoch, resetAfter = tonumber(ARGV[13]), tonumber(ARGV[14])
local bucketHash, retryAfter = ARGV[15], tonumber(ARGV[16])
local idle = tonumber(ARGV[17])
local tolerance = tonumber(ARGV[18])
if not resetEpoch then tolerance = tonumber(ARGV[19]) end

if isGlobal then
  local done = prefix .. 'global:done'
  redis.call('ZREM', prefix .. 'global:inflight', ticket)
  redis.call('ZADD', done, now, ticket)
  redis.call('PEXPIRE', done, 2000)
end
redis.call('ZREM', bucketKey .. ':inflight', ticket)

-- Without a window in the answer a new window's end stays unknown: assume it began now.
local function assumeWindowFromNow(key)
  local state = redis.call('HMGET', key, 'limit', 'resetAt', 'windowMs')
  if tonumber(state[1] or '-1') ~= -1 and tonumber(state[2] or '-1') == -1 then
    redis.call('HSET', key, 'resetAt', now + tonumber(state[3] or '0'))
  end
end

if not answered then
  assumeWindowFromNow(bucketKey)
  return 0
end

if invalid then
  local invalidKey = prefix .. 'invalid'
  redis.call('ZADD', invalidKey, now, ticket)
  redis.call('PEXPIRE', invalidKey, 600000)
end

if global429 then
  local blockedKey = prefix .. 'global:blocked'
  local wait = retryAfter or 1000
  local blocked = tonumber(redis.call('GET', blockedKey) or '0')
  if now + wait > blocked then redis.call('SET', blockedKey, now + wait, 'PX', math.max(1, math.ceil(wait))) end
end

local target = bucketKey
if bucketHash ~= '' then
  redis.call('HSET', KEYS[1], routeId, bucketHash)
  local key = prefix .. 'bucket:' .. bucketHash .. ':' .. major
  if key ~= bucketKey then
    if redis.call('ZCARD', bucketKey .. ':inflight') == 0 then redis.call('DEL', bucketKey) end
    target = key
  end
end

if limit and remaining and resetAfter then
  local inFlightKey = target .. ':inflight'
  redis.call('ZREMRANGEBYSCORE', inFlightKey, '-inf', now)
  local inFlight = redis.call('ZCARD', inFlightKey)
  local state = redis.call('HMGET', target, 'limit', 'remaining', 'resetAt', 'windowId', 'windowMs')
  local knownLimit = tonumber(state[1] or '-1')
  local known = tonumber(state[2] or '0')
  local resetAt = tonumber(state[3] or '-1')
  local windowId = tonumber(state[4] or '')
  local windowMs = math.max(tonumber(state[5] or '0'), resetAfter)
  local window = resetEpoch or (now + resetAfter) / 1000
  local reported = math.min(remaining, limit - 1) - inFlight
  local rolledOver = knownLimit ~= -1 and resetAt == -1
  if windowId == nil or window > windowId + tolerance then
    if rolledOver then reported = math.min(known, reported) end
    redis.call('HSET', target, 'limit', limit, 'remaining', reported, 'resetAt', now + resetAfter,
      'windowId', tostring(window), 'windowMs', windowMs)
  elseif rolledOver then
    -- A request in flight at the rollover landed in the old window: its slot in the new one is free.
    redis.call('HSET', target, 'remaining', math.min(known + 1, limit - inFlight))
  elseif window >= windowId - tolerance then
    redis.call('HSET', target, 'limit', limit, 'remaining', math.min(known, reported),
      'resetAt', math.min(resetAt, now + resetAfter), 'windowMs', windowMs)
  end
else
  assumeWindowFromNow(target)
end

if status == 429 and retryAfter and not global429 then
  local blockedUntil = tonumber(redis.call('HGET', target, 'blockedUntil') or '0')
  if now + retryAfter > blockedUntil then redis.call('HSET', target, 'blockedUntil', now + retryAfter) end
end
redis.call('PEXPIRE', target, idle)
return 0
`;

/** ARGV: prefix, replicaId, ttlMs. Registers the replica; returns how many are alive. */
export const HEARTBEAT_SCRIPT = `${NOW}
local replicas = ARGV[1] .. 'replicas'
redis.call('ZADD', replicas, now + tonumber(ARGV[3]), ARGV[2])
redis.call('ZREMRANGEBYSCORE', replicas, '-inf', now)
redis.call('PEXPIRE', replicas, tonumber(ARGV[3]))
return redis.call('ZCARD', replicas)
`;

/** ARGV: prefix. Invalid requests in the last 10 minutes. */
export const INVALID_COUNT_SCRIPT = `${NOW}
return redis.call('ZCOUNT', ARGV[1] .. 'invalid', now - 600000, '+inf')
`;
