import { allPIITypes } from "../../PIIType.js"

/**
 * The Redis store's one server-side script. Every operation is one call of it (EVALSHA), so
 * every operation is one atomic step on the server, whichever replica sends it. It mirrors the
 * functional core (core/sessionTable.ts) operation by operation, and the same contract and
 * model-based tests run against both.
 *
 * Keys (all under one hash tag, so a manager's keys share a Cluster slot):
 *   KEYS[1] meta hash: hw (latest time seen), touch and ver (counters), calls, evicted, expired
 *   KEYS[2] sorted set of untainted sessions, KEYS[3] of tainted ones, scored by touch number
 *   KEYS[4] the session's hash: c created, a last access, n touch, t calls, x taint bits,
 *           k distinct tools, v version, and "k:<tool>" counts
 * ARGV: 1 session key prefix, 2 client time in ms ("" for Redis TIME), 3 ttl in ms (-1 for
 * never), 4 maxSessions, 5 protectTainted ("1"/"0"), 6 maxToolsPerSession, 7 the session's
 * member (encoded id), 8 the operation (the core's name for it), 9 and on its arguments.
 *
 * Replies: { kind, events, now, ... } with events a flat list of (tag, member, extra), and a
 * kind that says what the rest is: "touched" or "record" and the session's hash (HGETALL),
 * "taints" and the session's hash (for its taints), "missing", "refused" and the bound
 * ("sessions" or "tools"), "bits", "bool", "number" or
 * "stats" and figures, "conflict" when a decision's version is stale.
 */
const piiBits = allPIITypes.map((pii, i) => `${pii} = ${2 ** i}`).join(", ")

export const SCRIPT = `
local meta, idxU, idxT, key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, ttl = ARGV[1], tonumber(ARGV[3])
local maxSessions, protect, maxTools = tonumber(ARGV[4]), ARGV[5] == '1', tonumber(ARGV[6])
local member, op = ARGV[7], ARGV[8]
local events = {}
local PII_BITS = { ${piiBits} }

-- Time never goes backwards: the later of this reading and the latest time seen.
local now
if ARGV[2] == '' then
  local tm = redis.call('TIME')
  now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
else
  now = tonumber(ARGV[2])
end
local hw = tonumber(redis.call('HGET', meta, 'hw'))
if hw ~= nil and hw >= now then now = hw else redis.call('HSET', meta, 'hw', now) end

local function note(tag, m, extra)
  events[#events + 1] = tag
  events[#events + 1] = m
  events[#events + 1] = extra or ''
end

local function isExpired(k)
  if ttl < 0 then return false end
  local a = tonumber(redis.call('HGET', k, 'a'))
  return a ~= nil and now - a > ttl
end

local function drop(m, tainted)
  local k = prefix .. m
  local calls = tonumber(redis.call('HGET', k, 't')) or 0
  redis.call('DEL', k)
  redis.call('ZREM', tainted and idxT or idxU, m)
  if calls ~= 0 then redis.call('HINCRBY', meta, 'calls', -calls) end
end

local function head(idx)
  local r = redis.call('ZRANGE', idx, 0, 0, 'WITHSCORES')
  if r[1] == nil then return nil, nil end
  return r[1], tonumber(r[2])
end

-- The least recently accessed session, and whether it is tainted.
local function oldest()
  local u, su = head(idxU)
  local t, st = head(idxT)
  if u == nil then return t, true end
  if t == nil then return u, false end
  if su < st then return u, false end
  return t, true
end

local function dropExpired(m, tainted)
  drop(m, tainted)
  redis.call('HINCRBY', meta, 'expired', 1)
  note('Expired', m)
end

-- Drops up to limit expired sessions, least recent first (expiry order is access order).
local function sweep(limit)
  if ttl < 0 then return 0 end
  local n = 0
  while n < limit do
    local m, tainted = oldest()
    if m == nil or not isExpired(prefix .. m) then break end
    dropExpired(m, tainted)
    n = n + 1
  end
  return n
end

local function taintBits()
  return tonumber(redis.call('HGET', key, 'x')) or 0
end

-- Whether the session is live; an expired one found here is dropped.
local function live()
  if redis.call('EXISTS', key) == 0 then return false end
  if isExpired(key) then
    dropExpired(member, taintBits() ~= 0)
    return false
  end
  return true
end

-- Room for one more session. The sweep at the start of every operation has dropped an expired
-- session if there was one, so a full table here holds none and the least recent can go.
local function makeRoom()
  if redis.call('ZCARD', idxU) + redis.call('ZCARD', idxT) < maxSessions then return true end
  local victim, tainted
  if protect then
    victim = head(idxU)
    tainted = false
  else
    victim, tainted = oldest()
  end
  if victim == nil then return false end
  drop(victim, tainted)
  redis.call('HINCRBY', meta, 'evicted', 1)
  note('Evicted', victim, tainted and '1' or '0')
  return true
end

local function bump()
  redis.call('HSET', key, 'v', redis.call('HINCRBY', meta, 'ver', 1))
end

local function touch()
  local n = redis.call('HINCRBY', meta, 'touch', 1)
  redis.call('HSET', key, 'a', now, 'n', n)
  redis.call('ZADD', taintBits() ~= 0 and idxT or idxU, n, member)
end

-- One more call of a tool; false when it is a new tool beyond the bound.
local function count(tool)
  local field = 'k:' .. tool
  if redis.call('HEXISTS', key, field) == 0 then
    if tonumber(redis.call('HGET', key, 'k')) >= maxTools then return false end
    redis.call('HINCRBY', key, 'k', 1)
  end
  redis.call('HINCRBY', key, field, 1)
  redis.call('HINCRBY', key, 't', 1)
  redis.call('HINCRBY', meta, 'calls', 1)
  bump()
  return true
end

if op == 'cleanup' then
  local n = sweep(math.huge)
  return { 'number', events, now, n }
end

if op == 'stats' then
  sweep(math.huge)
  local untainted, tainted = redis.call('ZCARD', idxU), redis.call('ZCARD', idxT)
  local m = redis.call('HMGET', meta, 'calls', 'evicted', 'expired')
  return { 'stats', events, now, untainted + tainted, tainted, tonumber(m[1]) or 0, tonumber(m[2]) or 0, tonumber(m[3]) or 0 }
end

if op == 'peek' then
  -- The read of decide-and-record: the live session as it is, changing nothing (no sweep, no
  -- drop), so that the commit that follows is the operation's one step that changes the table.
  if redis.call('EXISTS', key) == 0 or isExpired(key) then return { 'missing', events, now } end
  return { 'record', events, now, redis.call('HGETALL', key) }
end

sweep(2)

if op == 'get' then
  if not live() then return { 'missing', events, now } end
  return { 'record', events, now, redis.call('HGETALL', key) }
end

if op == 'getTaints' then
  if not live() then return { 'bits', events, now, 0 } end
  -- The whole hash, so that the taints of a malformed record are never guessed at.
  return { 'taints', events, now, redis.call('HGETALL', key) }
end

if op == 'clearTaints' then
  if not live() then return { 'bool', events, now, 0 } end
  if taintBits() ~= 0 then
    local n = redis.call('HGET', key, 'n')
    redis.call('HSET', key, 'x', 0)
    bump()
    redis.call('ZREM', idxT, member)
    redis.call('ZADD', idxU, n, member)
    note('TaintsCleared', member)
  end
  return { 'bool', events, now, 1 }
end

if op == 'remove' then
  if not live() then return { 'bool', events, now, 0 } end
  drop(member, taintBits() ~= 0)
  note('Removed', member)
  return { 'bool', events, now, 1 }
end

local function create()
  redis.call('HSET', key, 'c', now, 'a', now, 'n', 0, 't', 0, 'x', 0, 'k', 0, 'v', redis.call('HINCRBY', meta, 'ver', 1))
  note('Created', member)
end

if op == 'decide' then
  -- The commit of decide-and-record: the caller read the session without changing it (a 'peek')
  -- and decided on the version ARGV[10] ("" for no live session). If it is still that version,
  -- create it if needed, count the call when ARGV[11] is "1", and touch it, all in this one
  -- step; otherwise nothing changes and the caller decides again.
  local present = live()
  local version = present and redis.call('HGET', key, 'v') or ''
  if version ~= ARGV[10] then return { 'conflict', events, now } end
  if not present then
    if not makeRoom() then return { 'refused', events, now, 'sessions' } end
    create()
  end
  if ARGV[11] == '1' and not count(ARGV[9]) then return { 'refused', events, now, 'tools' } end
  touch()
  return { 'touched', events, now, redis.call('HGETALL', key) }
end

-- The touching operations: getOrCreate, increment and addTaint. The session is created when
-- missing or expired.
if op ~= 'getOrCreate' and op ~= 'increment' and op ~= 'addTaint' then
  return redis.error_reply('unknown operation ' .. tostring(op))
end
if not live() then
  if not makeRoom() then return { 'refused', events, now, 'sessions' } end
  create()
end
if op == 'increment' then
  if not count(ARGV[9]) then return { 'refused', events, now, 'tools' } end
elseif op == 'addTaint' then
  local x = taintBits()
  local next = bit.bor(x, PII_BITS[ARGV[9]])
  if next ~= x then
    redis.call('HSET', key, 'x', next)
    bump()
    if x == 0 then redis.call('ZREM', idxU, member) end
    note('Tainted', member, ARGV[9])
  end
end
touch()
return { 'touched', events, now, redis.call('HGETALL', key) }
`
