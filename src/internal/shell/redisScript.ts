import { allPIITypes } from "../../PIIType.js"
import { RECORD_BYTES, TOOL_BYTES } from "../core/sessionTable.js"

/**
 * The Redis store's one server-side script. Every operation is one call of it (EVALSHA), so
 * every operation is one atomic step on the server, whichever replica sends it. It mirrors the
 * functional core (core/sessionTable.ts) operation by operation, its two tiers (live sessions,
 * and sessions parked out of the full live table with their state kept) included, and the same
 * contract and model-based tests run against both.
 *
 * Keys (all under one hash tag, so a manager's keys share a Cluster slot):
 *   KEYS[1] meta hash: epoch (the store's identity), hw (latest time seen), touch and ver
 *           (counters), calls (over live
 *           sessions), evicted, expired, parked (counters), pb and ptb (bytes of the parked
 *           sessions, and of the tainted ones among them)
 *   KEYS[2], KEYS[3] sorted sets of live untainted and tainted sessions, scored by touch number
 *   KEYS[4], KEYS[5] the same for parked sessions
 *   KEYS[6] the session's hash: c created, a last access, n touch, t calls, x taint bits,
 *           k distinct tools, v version, p parked ("1"), b its bytes while parked, and
 *           "k:<tool>" counts
 * ARGV: 1 session key prefix, 2 client time in ms ("" for Redis TIME), 3 ttl in ms (-1 for
 * never), 4 maxSessions, 5 protectTainted ("1"/"0"), 6 maxToolsPerSession, 7 maxParkedBytes,
 * 8 the store's epoch this replica has seen ("" for none), 9 a new epoch to write if the store
 * has none, 10 "1" to adopt the store as it is, 11 the session's member (encoded id), 12 the
 * operation (the core's name for it), 13 and on its arguments.
 *
 * Replies: { kind, events, now, epoch, ... } with events a flat list of (tag, member, extra),
 * the store's epoch, and a kind that says what the rest is: "lost" when the store is not the
 * one this replica has seen (nothing else is done), "touched" or "record" and the session's
 * hash (HGETALL),
 * "taints" and the session's hash (for its taints), "missing", "refused" and the bound
 * ("sessions" or "tools"), "bits", "bool", "number" or "stats" and figures, "conflict" when a
 * decision's version is stale.
 */
const piiBits = allPIITypes.map((pii, i) => `${pii} = ${2 ** i}`).join(", ")

/** The number of keys the script takes; the rest of its input is in ARGV. */
export const SCRIPT_KEYS = 6

export const SCRIPT = `
local meta, idxU, idxT, idxPU, idxPT, key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local prefix, ttl = ARGV[1], tonumber(ARGV[3])
local maxSessions, protect, maxTools = tonumber(ARGV[4]), ARGV[5] == '1', tonumber(ARGV[6])
local maxParked = tonumber(ARGV[7])
local known, candidate, adopt = ARGV[8], ARGV[9], ARGV[10] == '1'
local member, op = ARGV[11], ARGV[12]
local arg1, arg2, arg3 = ARGV[13], ARGV[14], ARGV[15]
local events = {}
local PII_BITS = { ${piiBits} }
local RECORD_BYTES, TOOL_BYTES = ${RECORD_BYTES}, ${TOOL_BYTES}

-- The store's identity: an epoch written at first use. A replica that has seen one and finds it
-- gone (the data was flushed, or Redis restarted without persistence) or changed (another
-- replica started afresh after such a loss) is told, before anything is read or written. It
-- adopts the store as it is only when it says so (the layer decides when, see redis.ts); a
-- replica that has seen none adopts what it finds.
local epoch = redis.call('HGET', meta, 'epoch')
if (epoch == false and known ~= '') or (epoch ~= false and known ~= '' and epoch ~= known) then
  if not adopt then return { 'lost', {}, 0, epoch or '' } end
end
if epoch == false then
  -- Starting afresh: whatever the indexes still list belongs to the lost state.
  for _, idx in ipairs({ idxU, idxT, idxPU, idxPT }) do
    for _, m in ipairs(redis.call('ZRANGE', idx, 0, -1)) do redis.call('DEL', prefix .. m) end
    redis.call('DEL', idx)
  end
  epoch = candidate
  redis.call('HSET', meta, 'epoch', epoch)
end

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

local function num(k, field)
  return tonumber(redis.call('HGET', k, field)) or 0
end

local function isExpired(k)
  if ttl < 0 then return false end
  local a = tonumber(redis.call('HGET', k, 'a'))
  return a ~= nil and now - a > ttl
end

local function isParked(k)
  return redis.call('HGET', k, 'p') == '1'
end

local function indexOf(parked, tainted)
  if parked then return tainted and idxPT or idxPU end
  return tainted and idxT or idxU
end

-- What a parked session is taken to cost (the core's recordBytes): the id is the base64url of
-- its UTF-16 code units, so it has #m * 3 / 8 of them.
local function bytesOf(m)
  local k = prefix .. m
  local bytes = RECORD_BYTES + 2 * math.floor(#m * 6 / 8 / 2)
  for _, field in ipairs(redis.call('HKEYS', k)) do
    if string.sub(field, 1, 2) == 'k:' then bytes = bytes + TOOL_BYTES + 2 * (#field - 2) end
  end
  return bytes
end

-- Takes a session out of its tier's index and totals (its hash stays).
local function unindex(m)
  local k = prefix .. m
  local tainted = num(k, 'x') ~= 0
  if isParked(k) then
    local b = num(k, 'b')
    redis.call('ZREM', indexOf(true, tainted), m)
    redis.call('HINCRBY', meta, 'pb', -b)
    if tainted then redis.call('HINCRBY', meta, 'ptb', -b) end
  else
    redis.call('ZREM', indexOf(false, tainted), m)
    local calls = num(k, 't')
    if calls ~= 0 then redis.call('HINCRBY', meta, 'calls', -calls) end
  end
end

local function drop(m)
  unindex(m)
  redis.call('DEL', prefix .. m)
end

local function head(idx)
  local r = redis.call('ZRANGE', idx, 0, 0, 'WITHSCORES')
  if r[1] == nil then return nil, nil end
  return r[1], tonumber(r[2])
end

-- The least recently accessed of the heads of these indexes.
local function oldestOf(...)
  local best, bestScore
  for _, idx in ipairs({ ... }) do
    local m, score = head(idx)
    if m ~= nil and (best == nil or score < bestScore) then best, bestScore = m, score end
  end
  return best
end

local function dropExpired(m)
  drop(m)
  redis.call('HINCRBY', meta, 'expired', 1)
  note('Expired', m)
end

local function evict(m)
  local tainted = num(prefix .. m, 'x') ~= 0
  drop(m)
  redis.call('HINCRBY', meta, 'evicted', 1)
  note('Evicted', m, tainted and '1' or '0')
end

-- Drops up to limit expired sessions of either tier, least recent first.
local function sweep(limit)
  if ttl < 0 then return 0 end
  local n = 0
  while n < limit do
    local m = oldestOf(idxU, idxT, idxPU, idxPT)
    if m == nil or not isExpired(prefix .. m) then break end
    dropExpired(m)
    n = n + 1
  end
  return n
end

local function taintBits()
  return num(key, 'x')
end

-- Whether the session exists, live or parked; an expired one found here is dropped.
local function present()
  if redis.call('EXISTS', key) == 0 then return false end
  if isExpired(key) then
    dropExpired(member)
    return false
  end
  return true
end

local function park(m, bytes)
  local k = prefix .. m
  local tainted = num(k, 'x') ~= 0
  unindex(m)
  redis.call('HSET', k, 'p', '1', 'b', bytes)
  redis.call('ZADD', indexOf(true, tainted), num(k, 'n'), m)
  redis.call('HINCRBY', meta, 'pb', bytes)
  if tainted then redis.call('HINCRBY', meta, 'ptb', bytes) end
  redis.call('HINCRBY', meta, 'parked', 1)
  note('Parked', m, tainted and '1' or '0')
end

-- Room in the live table for one more session: the least recent one (untainted first with
-- protectTainted) is parked, room for it made by dropping the least recent parked sessions
-- (untainted only with protectTainted); one that cannot be parked is evicted, unless it is
-- tainted and protected: then nothing changes and the answer is false. An expired live session
-- goes first: within the live tier the least recent one is the first to have expired.
local function makeRoom()
  if redis.call('ZCARD', idxU) + redis.call('ZCARD', idxT) < maxSessions then return true end
  local oldest = oldestOf(idxU, idxT)
  if oldest ~= nil and isExpired(prefix .. oldest) then
    dropExpired(oldest)
    return true
  end
  local victim
  if protect then
    victim = head(idxU) or head(idxT)
  else
    victim = oldestOf(idxU, idxT)
  end
  if victim == nil then return false end
  local bytes = bytesOf(victim)
  local kept = 0
  if protect then kept = num(meta, 'ptb') end
  if kept + bytes > maxParked then
    if protect and num(prefix .. victim, 'x') ~= 0 then return false end
    evict(victim)
    return true
  end
  while num(meta, 'pb') + bytes > maxParked do
    if protect then evict(head(idxPU)) else evict(oldestOf(idxPU, idxPT)) end
  end
  park(victim, bytes)
  return true
end

local function bump()
  redis.call('HSET', key, 'v', redis.call('HINCRBY', meta, 'ver', 1))
end

local function touch()
  local n = redis.call('HINCRBY', meta, 'touch', 1)
  redis.call('HSET', key, 'a', now, 'n', n)
  redis.call('ZADD', indexOf(false, taintBits() ~= 0), n, member)
end

-- Whether counting a call of tool would go past maxToolsPerSession.
local function tooManyTools(tool)
  return redis.call('HEXISTS', key, 'k:' .. tool) == 0 and num(key, 'k') >= maxTools
end

-- One more call of a tool in a live session.
local function count(tool)
  local field = 'k:' .. tool
  if redis.call('HEXISTS', key, field) == 0 then redis.call('HINCRBY', key, 'k', 1) end
  redis.call('HINCRBY', key, field, 1)
  redis.call('HINCRBY', key, 't', 1)
  redis.call('HINCRBY', meta, 'calls', 1)
  bump()
end

-- Brings the parked session back into the live table; false (and nothing changed) when there
-- is no room for it.
local function resume()
  local bytes = num(key, 'b')
  unindex(member)
  redis.call('HSET', key, 'p', '0')
  if not makeRoom() then
    local tainted = taintBits() ~= 0
    redis.call('HSET', key, 'p', '1')
    redis.call('ZADD', indexOf(true, tainted), num(key, 'n'), member)
    redis.call('HINCRBY', meta, 'pb', bytes)
    if tainted then redis.call('HINCRBY', meta, 'ptb', bytes) end
    return false
  end
  redis.call('HDEL', key, 'b')
  local calls = num(key, 't')
  if calls ~= 0 then redis.call('HINCRBY', meta, 'calls', calls) end
  note('Resumed', member)
  return true
end

local function create()
  redis.call('HSET', key, 'c', now, 'a', now, 'n', 0, 't', 0, 'x', 0, 'k', 0, 'p', '0', 'v', redis.call('HINCRBY', meta, 'ver', 1))
  note('Created', member)
end

-- The session live and ready for a touching operation that counts a call of tool when counts
-- is true: resumed when parked, created when missing. Returns nil, or the bound that refused.
local function ready(counts, tool)
  if present() then
    if counts and tooManyTools(tool) then return 'tools' end
    if isParked(key) and not resume() then return 'sessions' end
    return nil
  end
  if not makeRoom() then return 'sessions' end
  create()
  return nil
end

if op == 'epoch' then
  return { 'epoch', events, now, epoch }
end

if op == 'cleanup' then
  local n = sweep(math.huge)
  return { 'number', events, now, epoch, n }
end

if op == 'stats' then
  sweep(math.huge)
  local untainted, tainted = redis.call('ZCARD', idxU), redis.call('ZCARD', idxT)
  local parked = redis.call('ZCARD', idxPU) + redis.call('ZCARD', idxPT)
  local m = redis.call('HMGET', meta, 'calls', 'evicted', 'expired', 'pb', 'parked')
  return { 'stats', events, now, epoch, untainted + tainted, tainted, tonumber(m[1]) or 0, tonumber(m[2]) or 0,
    tonumber(m[3]) or 0, parked, tonumber(m[4]) or 0, tonumber(m[5]) or 0 }
end

if op == 'peek' then
  -- The read of decide-and-record: the session as it is, changing nothing (no sweep, no drop),
  -- so that the commit that follows is the operation's one step that changes the table.
  if redis.call('EXISTS', key) == 0 or isExpired(key) then return { 'missing', events, now, epoch } end
  return { 'record', events, now, epoch, redis.call('HGETALL', key) }
end

sweep(2)

if op == 'get' then
  if not present() then return { 'missing', events, now, epoch } end
  return { 'record', events, now, epoch, redis.call('HGETALL', key) }
end

if op == 'getTaints' then
  if not present() then return { 'bits', events, now, epoch, 0 } end
  -- The whole hash, so that the taints of a malformed record are never guessed at.
  return { 'taints', events, now, epoch, redis.call('HGETALL', key) }
end

if op == 'clearTaints' then
  if not present() then return { 'bool', events, now, epoch, 0 } end
  if taintBits() ~= 0 then
    -- It keeps its tier and its place in the access order, now among the untainted sessions.
    local parked = isParked(key)
    unindex(member)
    redis.call('HSET', key, 'x', 0)
    bump()
    redis.call('ZADD', indexOf(parked, false), num(key, 'n'), member)
    if parked then redis.call('HINCRBY', meta, 'pb', num(key, 'b')) else
      local calls = num(key, 't')
      if calls ~= 0 then redis.call('HINCRBY', meta, 'calls', calls) end
    end
    note('TaintsCleared', member)
  end
  return { 'bool', events, now, epoch, 1 }
end

if op == 'remove' then
  if not present() then return { 'bool', events, now, epoch, 0 } end
  drop(member)
  note('Removed', member)
  return { 'bool', events, now, epoch, 1 }
end

if op == 'decide' then
  -- The commit of decide-and-record: the caller read the session without changing it (a 'peek')
  -- and decided, on its version arg2 ("" for no session), whether to count a call of the tool
  -- arg1 (arg3 "1" or "0"). If it is still that version, make it live (resumed or created),
  -- count the call when so decided, and touch it, all in this one step; otherwise nothing
  -- changes and the caller decides again.
  local exists = redis.call('EXISTS', key) == 1 and not isExpired(key)
  local version = exists and redis.call('HGET', key, 'v') or ''
  if version ~= arg2 then return { 'conflict', events, now, epoch } end
  local refused = ready(arg3 == '1', arg1)
  if refused ~= nil then return { 'refused', events, now, epoch, refused } end
  if arg3 == '1' then count(arg1) end
  touch()
  return { 'touched', events, now, epoch, redis.call('HGETALL', key) }
end

-- The touching operations: getOrCreate, increment and addTaint. The session is resumed when
-- parked and created when missing or expired.
if op ~= 'getOrCreate' and op ~= 'increment' and op ~= 'addTaint' then
  return redis.error_reply('unknown operation ' .. tostring(op))
end
local refused = ready(op == 'increment', arg1)
if refused ~= nil then return { 'refused', events, now, epoch, refused } end
if op == 'increment' then
  count(arg1)
elseif op == 'addTaint' then
  local x = taintBits()
  local next = bit.bor(x, PII_BITS[arg1])
  if next ~= x then
    redis.call('HSET', key, 'x', next)
    bump()
    if x == 0 then redis.call('ZREM', idxU, member) end
    note('Tainted', member, arg1)
  end
end
touch()
return { 'touched', events, now, epoch, redis.call('HGETALL', key) }
`
