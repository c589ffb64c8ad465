/**
 * The functional core of the session manager: an immutable table of sessions and the pure
 * transitions over it. `apply` takes the table, the clock's reading in milliseconds and one
 * operation, and returns the operation's result, the next table and the lifecycle events the
 * operation caused; it reads no clock, runs no Effect and never changes the table it was given.
 * Every store applies operations through it (the Redis script mirrors it).
 */
import { DateTime, HashMap, Option } from "effect"
import type { PIIType } from "../../PIIType.js"
import type { SessionId } from "../../SessionId.js"
import type { ToolName } from "../../ToolName.js"
import * as AccessIndex from "./accessIndex.js"
import * as Taints from "./taints.js"
import * as ToolCounts from "./toolCounts.js"

/** Decoded, valid options. `ttlMillis` is `Infinity` when sessions never expire. */
export interface TableConfig {
  readonly ttlMillis: number
  /** The most live sessions. */
  readonly maxSessions: number
  readonly protectTainted: boolean
  readonly maxToolsPerSession: number
  /** The most bytes (by `recordBytes`) of parked sessions' state. */
  readonly maxParkedBytes: number
}

/** The record of one session; public snapshots are built from it on the way out. */
export interface SessionRecord {
  readonly id: SessionId
  readonly createdAt: DateTime.Utc
  readonly lastAccessedAt: DateTime.Utc
  /** The number of the touch that last accessed the session: its key in the access index. */
  readonly touch: number
  readonly totalCalls: number
  readonly taints: Taints.TaintBits
  readonly tools: ToolCounts.ToolCounts
  /**
   * Whether the session is parked: moved out of the live table to make room, with all that a
   * policy reads of it kept, until an operation touches it again.
   */
  readonly parked: boolean
}

/** The access order of one tier: its untainted and its tainted sessions, each by touch number. */
export interface Tier {
  readonly untainted: AccessIndex.AccessIndex<SessionRecord>
  readonly tainted: AccessIndex.AccessIndex<SessionRecord>
}

/**
 * All sessions of one manager, in two tiers: the live table, bounded by `maxSessions`, and the
 * parked sessions, bounded by `maxParkedBytes`. Eviction moves a session from the first to the
 * second instead of forgetting it, so a flood cannot wash its taints or its counts away; to
 * every operation but `stats` a parked session is the same session. Each session is in the map
 * of its tier and in exactly one of the four access indexes (its tier, untainted or tainted),
 * under its `touch`, with the same record, so the least recently accessed session of any kind
 * is found without a lookup.
 */
export interface Table {
  readonly config: TableConfig
  /** The live sessions. */
  readonly sessions: HashMap.HashMap<SessionId, SessionRecord>
  /** The parked sessions, kept apart so that the live table's map stays as small as it is. */
  readonly parkedSessions: HashMap.HashMap<SessionId, SessionRecord>
  readonly live: Tier
  readonly parked: Tier
  /** The bytes of the parked sessions, and of the tainted ones among them (by `recordBytes`). */
  readonly parkedBytes: number
  readonly parkedTaintedBytes: number
  /** The latest time the table has seen, in milliseconds: time never goes backwards. */
  readonly now: number
  /**
   * No session can have expired at or before this time: the least recent session's last access
   * plus the TTL, when it was last looked at. Sessions only get newer, so it stays a lower bound
   * until the next sweep moves it, and an operation before it needs no sweep at all.
   */
  readonly sweepFrom: number
  /**
   * `now` as a DateTime, once an operation needed it. Every record touched in the same
   * millisecond shares this one value, which saves both its construction and its memory.
   */
  readonly nowUtc: DateTime.Utc | undefined
  /** The last touch number given out. */
  readonly touches: number
  /** Calls summed over the live sessions. */
  readonly totalCalls: number
  /** Sessions whose state was dropped to make room, since the table was made. */
  readonly evicted: number
  /** Sessions dropped because they expired, in either tier. */
  readonly expired: number
  /** Sessions moved to the parked tier, since the table was made. */
  readonly parkings: number
}

/**
 * What an operation did to the set of sessions and their taints, for events and metrics.
 * `Parked` and `Resumed` move a session between the tiers; `Evicted` drops a session's state to
 * make room, the only way capacity ends a session.
 */
export type Lifecycle =
  | {
      readonly _tag: "Created" | "Expired" | "Removed" | "TaintsCleared" | "Resumed"
      readonly sessionId: SessionId
    }
  | { readonly _tag: "Evicted" | "Parked"; readonly sessionId: SessionId; readonly tainted: boolean }
  | { readonly _tag: "Tainted"; readonly sessionId: SessionId; readonly pii: PIIType }

/** An operation's result, the next table, and the events it caused (most cause none). */
export interface Transition<A> {
  readonly result: A
  readonly table: Table
  readonly events: ReadonlyArray<Lifecycle>
}

/** Why a touching operation changed nothing: a bound was reached. */
export interface Refused {
  readonly _tag: "Refused"
  /**
   * `"sessions"`: the live table is full of tainted sessions and the parked tier has no room
   * for another without dropping a tainted one (with `protectTainted`); `"tools"`: the session
   * counts `limit` distinct tools.
   */
  readonly reason: "sessions" | "tools"
  readonly limit: number
}

/** The outcome of a touching operation: the session's record after it, or a refusal. */
export type Touched = { readonly _tag: "Touched"; readonly record: SessionRecord } | Refused

/** What a caller's `decide` returns: whether to count the call, and a value to hand back. */
export interface Decision<A> {
  readonly record: boolean
  readonly value: A
}

/** The outcome of decide-and-record: the decision's value and the record after it, or a refusal. */
export type Decided =
  | {
      readonly _tag: "Decided"
      readonly value: unknown
      readonly recorded: boolean
      readonly record: SessionRecord
    }
  | Refused

/** The figures `stats` reports. */
export interface TableStats {
  readonly activeSessions: number
  readonly taintedSessions: number
  readonly totalCalls: number
  readonly maxSessions: number
  readonly evicted: number
  readonly expired: number
  readonly parkedSessions: number
  readonly parkedBytes: number
  readonly maxParkedBytes: number
  readonly parked: number
}

/** The operations on a table, as data: every store applies these and nothing else. */
export type Operation =
  | { readonly _tag: "getOrCreate"; readonly id: SessionId }
  | { readonly _tag: "increment"; readonly id: SessionId; readonly tool: ToolName }
  | { readonly _tag: "addTaint"; readonly id: SessionId; readonly pii: PIIType }
  | {
      readonly _tag: "decideAndRecord"
      readonly id: SessionId
      readonly tool: ToolName
      /** Pure: a shared store may call it more than once. */
      readonly decide: (before: SessionRecord) => Decision<unknown>
    }
  | { readonly _tag: "get"; readonly id: SessionId }
  | { readonly _tag: "getTaints"; readonly id: SessionId }
  | { readonly _tag: "clearTaints"; readonly id: SessionId }
  | { readonly _tag: "remove"; readonly id: SessionId }
  | { readonly _tag: "cleanup" }
  | { readonly _tag: "stats" }

/** The result of each operation. */
export interface Results {
  readonly getOrCreate: Touched
  readonly increment: Touched
  readonly addTaint: Touched
  readonly decideAndRecord: Decided
  /** The live session, if any. */
  readonly get: SessionRecord | undefined
  /** The live session's taints; none when there is no live session. */
  readonly getTaints: Taints.TaintBits
  /** Whether there was a live session to act on. */
  readonly clearTaints: boolean
  readonly remove: boolean
  /** How many expired sessions this call dropped. */
  readonly cleanup: number
  readonly stats: TableStats
}

/** The result type of an operation. */
export type Result<O extends Operation> = Results[O["_tag"]]

/**
 * How many expired sessions an ordinary operation drops on its way. More than one, so the
 * sweep outpaces creation; small, so no single call stalls when many sessions expire at once.
 */
export const SWEEP_PER_OPERATION = 2

/** A table with no sessions. */
export const empty = (config: TableConfig): Table => ({
  config,
  sessions: HashMap.empty(),
  parkedSessions: HashMap.empty(),
  live: emptyTier,
  parked: emptyTier,
  parkedBytes: 0,
  parkedTaintedBytes: 0,
  now: Number.NEGATIVE_INFINITY,
  sweepFrom: Number.POSITIVE_INFINITY,
  nowUtc: undefined,
  touches: 0,
  totalCalls: 0,
  evicted: 0,
  expired: 0,
  parkings: 0
})

/** Applies one operation at the clock's reading `now` (milliseconds). */
export const apply = <O extends Operation>(table: Table, now: number, operation: O): Transition<Result<O>> =>
  (
    transitions[operation._tag] as unknown as (
      table: Table,
      now: number,
      operation: O
    ) => Transition<Result<O>>
  )(table, now, operation)

/** The record of a session that does not exist yet, as it would be created at `now`. */
export const fresh = (id: SessionId, now: DateTime.Utc): SessionRecord =>
  makeRecord({
    id,
    createdAt: now,
    lastAccessedAt: now,
    touch: 0,
    totalCalls: 0,
    taints: 0,
    tools: ToolCounts.empty,
    parked: false
  })

/**
 * What a parked session's state is taken to cost, in bytes, for `maxParkedBytes`: an estimate
 * of its record in the table (the record, its map and index entries, its times) plus its id and
 * its per-tool counts. The Redis script computes the same figure.
 */
export const recordBytes = (record: SessionRecord): number => {
  let bytes = RECORD_BYTES + 2 * record.id.length
  ToolCounts.forEach(record.tools, (tool) => {
    bytes += TOOL_BYTES + 2 * tool.length
  })
  return bytes
}

/** The fixed part of `recordBytes`, and what each counted tool adds besides its name. */
export const RECORD_BYTES = 320
export const TOOL_BYTES = 32

/** Whether the session has been idle for longer than the TTL at `now` (strictly). */
export const isExpired = (config: TableConfig, record: SessionRecord, now: number): boolean =>
  now - record.lastAccessedAt.epochMillis > config.ttlMillis

/** A record from its fields. Every record is built here, so all share one hidden class. */
export const makeRecord = (fields: SessionRecord): SessionRecord => ({
  id: fields.id,
  createdAt: fields.createdAt,
  lastAccessedAt: fields.lastAccessedAt,
  touch: fields.touch,
  totalCalls: fields.totalCalls,
  taints: fields.taints,
  tools: fields.tools,
  parked: fields.parked
})

type Of<K extends Operation["_tag"]> = Extract<Operation, { readonly _tag: K }>

const transitions: {
  readonly [K in Operation["_tag"]]: (table: Table, now: number, operation: Of<K>) => Transition<Results[K]>
} = {
  getOrCreate: (table, now, { id }) => touching(table, now, id, unchanged, undefined),
  increment: (table, now, { id, tool }) => touching(table, now, id, counting, tool),
  addTaint: (table, now, { id, pii }) => touching(table, now, id, tainting, pii),
  decideAndRecord: (table, now, { id, tool, decide }) => {
    const input: Deciding = { tool, decide, decision: undefined }
    const { result, table: next, events } = touching(table, now, id, deciding, input)
    if (result._tag === "Refused") return { result, table: next, events }
    const { value, record: recorded } = input.decision!
    return { result: { _tag: "Decided", value, recorded, record: result.record }, table: next, events }
  },
  get: (table, now, { id }) => reading(table, now, id, (record) => record),
  getTaints: (table, now, { id }) => reading(table, now, id, (record) => record?.taints ?? 0),
  clearTaints: (table, now, { id }) => {
    const next = opening(table, now)
    const record = next.find(id)
    if (record !== undefined && record.taints !== 0) {
      // It keeps its place in the access order, now among the untainted sessions.
      const cleared = makeRecord({ ...record, taints: 0 })
      next.store(cleared)
      next.reindex(record, cleared)
      next.note({ _tag: "TaintsCleared", sessionId: id })
    }
    return next.finish(record !== undefined, table)
  },
  remove: (table, now, { id }) => {
    const next = opening(table, now)
    const record = next.find(id)
    if (record !== undefined) {
      next.drop(record)
      next.note({ _tag: "Removed", sessionId: id })
    }
    return next.finish(record !== undefined, table)
  },
  cleanup: (table, now) => {
    const next = new Next(table, now)
    return next.finish(next.sweep(Number.POSITIVE_INFINITY), table)
  },
  stats: (table, now) => {
    const next = new Next(table, now)
    next.sweep(Number.POSITIVE_INFINITY)
    return next.finish(
      {
        activeSessions: next.liveCount(),
        taintedSessions: next.live.tainted.size,
        totalCalls: next.totalCalls,
        maxSessions: next.config.maxSessions,
        evicted: next.evicted,
        expired: next.expired,
        parkedSessions: next.parked.untainted.size + next.parked.tainted.size,
        parkedBytes: next.parkedBytes,
        maxParkedBytes: next.config.maxParkedBytes,
        parked: next.parkings
      },
      table
    )
  }
}

const noEvents: ReadonlyArray<Lifecycle> = []

const emptyTier: Tier = { untainted: AccessIndex.empty(), tainted: AccessIndex.empty() }

/**
 * What a touching operation does to a session's record, or why it cannot. A plain function
 * of its input, so no closure is allocated per call.
 */
type Update<A> = (record: SessionRecord, config: TableConfig, input: A) => SessionRecord | Refused

const unchanged: Update<undefined> = (record) => record

const counting: Update<ToolName> = (record, config, tool) => {
  const tools = ToolCounts.increment(record.tools, tool, config.maxToolsPerSession)
  if (tools === undefined) return { _tag: "Refused", reason: "tools", limit: config.maxToolsPerSession }
  return {
    id: record.id,
    createdAt: record.createdAt,
    lastAccessedAt: record.lastAccessedAt,
    touch: record.touch,
    totalCalls: record.totalCalls + 1,
    taints: record.taints,
    tools,
    parked: record.parked
  }
}

const tainting: Update<PIIType> = (record, _, pii) =>
  makeRecord({ ...record, taints: record.taints | Taints.bitOf(pii) })

/** The input of `deciding`: the tool and the decision, which the update fills in. */
interface Deciding {
  readonly tool: ToolName
  readonly decide: (before: SessionRecord) => Decision<unknown>
  decision: Decision<unknown> | undefined
}

const deciding: Update<Deciding> = (record, config, input) => {
  const decision = input.decide(record)
  input.decision = decision
  return decision.record ? counting(record, config, input.tool) : record
}

const isRefused = (outcome: SessionRecord | Refused): outcome is Refused => "_tag" in outcome

/** The next table for an ordinary operation at `now`, with the incremental sweep done. */
const opening = (table: Table, now: number): Next => {
  const next = new Next(table, now)
  next.sweep(SWEEP_PER_OPERATION)
  return next
}

const touching = <A>(
  table: Table,
  now: number,
  id: SessionId,
  change: Update<A>,
  input: A
): Transition<Touched> => {
  const next = opening(table, now)
  const outcome = next.touch(id, change, input)
  return next.finish(isRefused(outcome) ? outcome : { _tag: "Touched", record: outcome }, table)
}

/**
 * A read of the live session. When an operation at `now` would find the table exactly as it
 * is (time does not move on and the least recent session of each kind has not expired, so none
 * has), the read needs no next table at all, which is what nearly every read finds.
 */
const reading = <A>(
  table: Table,
  now: number,
  id: SessionId,
  read: (record: SessionRecord | undefined) => A
): Transition<A> => {
  if (isSettled(table, now)) {
    const found = HashMap.get(table.sessions, id)
    const record = Option.isSome(found)
      ? found.value
      : Option.getOrUndefined(HashMap.get(table.parkedSessions, id))
    return { result: read(record), table, events: noEvents }
  }
  const next = opening(table, now)
  return next.finish(read(next.find(id)), table)
}

const isSettled = (table: Table, now: number): boolean => now <= table.now && table.now <= table.sweepFrom

/** The least recently accessed session of both tiers. */
const oldestOf = (live: Tier, parked: Tier): SessionRecord | undefined =>
  older(older(AccessIndex.first(live.untainted), AccessIndex.first(live.tainted)), oldestIn(parked))

const oldestIn = (tier: Tier): SessionRecord | undefined =>
  older(AccessIndex.first(tier.untainted), AccessIndex.first(tier.tainted))

const older = (a: SessionRecord | undefined, b: SessionRecord | undefined): SessionRecord | undefined => {
  if (a === undefined) return b
  if (b === undefined) return a
  return a.touch < b.touch ? a : b
}

const withRecord = (tier: Tier, record: SessionRecord): Tier =>
  record.taints === 0
    ? { untainted: AccessIndex.insert(tier.untainted, record.touch, record), tainted: tier.tainted }
    : { untainted: tier.untainted, tainted: AccessIndex.insert(tier.tainted, record.touch, record) }

const withoutRecord = (tier: Tier, record: SessionRecord): Tier =>
  record.taints === 0
    ? { untainted: AccessIndex.remove(tier.untainted, record.touch), tainted: tier.tainted }
    : { untainted: tier.untainted, tainted: AccessIndex.remove(tier.tainted, record.touch) }

/**
 * The next table while a transition builds it: it starts as the current table's fields and is
 * changed step by step, then `finish` hands out a new immutable table (or the current one when
 * nothing changed) with the events noted on the way.
 */
class Next {
  readonly config: TableConfig
  readonly now: number
  sweepFrom: number
  nowUtc: DateTime.Utc | undefined
  sessions: HashMap.HashMap<SessionId, SessionRecord>
  parkedSessions: HashMap.HashMap<SessionId, SessionRecord>
  live: Tier
  parked: Tier
  parkedBytes: number
  parkedTaintedBytes: number
  touches: number
  totalCalls: number
  evicted: number
  expired: number
  parkings: number
  events: Array<Lifecycle> | undefined

  constructor(table: Table, reading: number) {
    this.config = table.config
    this.now = Math.max(reading, table.now)
    this.sweepFrom = table.sweepFrom
    this.nowUtc = this.now === table.now ? table.nowUtc : undefined
    this.sessions = table.sessions
    this.parkedSessions = table.parkedSessions
    this.live = table.live
    this.parked = table.parked
    this.parkedBytes = table.parkedBytes
    this.parkedTaintedBytes = table.parkedTaintedBytes
    this.touches = table.touches
    this.totalCalls = table.totalCalls
    this.evicted = table.evicted
    this.expired = table.expired
    this.parkings = table.parkings
    this.events = undefined
  }

  /** The transition: `result`, the next table (`table` itself when nothing changed), the events. */
  finish<A>(result: A, table: Table): Transition<A> {
    const same =
      this.now === table.now &&
      this.sweepFrom === table.sweepFrom &&
      this.nowUtc === table.nowUtc &&
      this.sessions === table.sessions &&
      this.parkedSessions === table.parkedSessions &&
      this.live === table.live &&
      this.parked === table.parked &&
      this.touches === table.touches &&
      this.evicted === table.evicted &&
      this.expired === table.expired &&
      this.parkings === table.parkings
    return {
      result,
      table: same
        ? table
        : {
            config: this.config,
            sessions: this.sessions,
            parkedSessions: this.parkedSessions,
            live: this.live,
            parked: this.parked,
            parkedBytes: this.parkedBytes,
            parkedTaintedBytes: this.parkedTaintedBytes,
            now: this.now,
            sweepFrom: this.sweepFrom,
            nowUtc: this.nowUtc,
            touches: this.touches,
            totalCalls: this.totalCalls,
            evicted: this.evicted,
            expired: this.expired,
            parkings: this.parkings
          },
      events: this.events ?? noEvents
    }
  }

  note(event: Lifecycle): void {
    if (this.events === undefined) this.events = [event]
    else this.events.push(event)
  }

  /** Notes a Tainted event for every taint `next` has that `previous` had not. */
  noteTaints(id: SessionId, previous: Taints.TaintBits, next: Taints.TaintBits): void {
    const added = next & ~previous
    if (added === 0) return
    for (const pii of Taints.toArray(added)) this.note({ _tag: "Tainted", sessionId: id, pii })
  }

  /** `now` as a DateTime. */
  utc(): DateTime.Utc {
    if (this.nowUtc === undefined) this.nowUtc = DateTime.unsafeMake(this.now)
    return this.nowUtc
  }

  liveCount(): number {
    return this.live.untainted.size + this.live.tainted.size
  }

  /** Drops up to `limit` expired sessions of either tier, least recently accessed first. */
  sweep(limit: number): number {
    if (this.now <= this.sweepFrom) return 0
    let dropped = 0
    for (;;) {
      const record = oldestOf(this.live, this.parked)
      if (record === undefined || !isExpired(this.config, record, this.now)) {
        this.sweepFrom =
          record === undefined
            ? Number.POSITIVE_INFINITY
            : record.lastAccessedAt.epochMillis + this.config.ttlMillis
        return dropped
      }
      // Left for the next operation: sweepFrom stays behind, so it sweeps again.
      if (dropped === limit) return dropped
      this.dropExpired(record)
      dropped++
    }
  }

  /** The session with this id, live or parked; an expired one found here is dropped. */
  find(id: SessionId): SessionRecord | undefined {
    let found = HashMap.get(this.sessions, id)
    if (Option.isNone(found)) found = HashMap.get(this.parkedSessions, id)
    if (Option.isNone(found)) return undefined
    if (isExpired(this.config, found.value, this.now)) {
      this.dropExpired(found.value)
      return undefined
    }
    return found.value
  }

  /** Removes a session from the table, whichever its tier. */
  drop(record: SessionRecord): void {
    this.unstore(record)
    this.unindex(record)
  }

  /** Puts the record in the map of its tier. */
  store(record: SessionRecord): void {
    if (record.parked) this.parkedSessions = HashMap.set(this.parkedSessions, record.id, record)
    else this.sessions = HashMap.set(this.sessions, record.id, record)
  }

  /** Takes the record out of the map of its tier. */
  unstore(record: SessionRecord): void {
    if (record.parked) this.parkedSessions = HashMap.remove(this.parkedSessions, record.id)
    else this.sessions = HashMap.remove(this.sessions, record.id)
  }

  dropExpired(record: SessionRecord): void {
    this.drop(record)
    this.expired++
    this.note({ _tag: "Expired", sessionId: record.id })
  }

  /** Drops a session's state to make room: the only way capacity ends a session. */
  evict(record: SessionRecord): void {
    this.drop(record)
    this.evicted++
    this.note({ _tag: "Evicted", sessionId: record.id, tainted: record.taints !== 0 })
  }

  /**
   * Makes room in the live table for one more session, by parking the least recently accessed
   * one (untainted first with `protectTainted`). Room in the parked tier is made by dropping its
   * least recently accessed sessions (untainted only with `protectTainted`); a session that
   * cannot be parked then is evicted, unless it is tainted and protected: then nothing changes
   * and the answer is false.
   */
  makeRoom(): boolean {
    if (this.liveCount() < this.config.maxSessions) return true
    // An expired live session goes before any live one is parked. Within the live tier expiry
    // follows the access order, so the least recent one is the first to have expired (the
    // sweep that opens the operation may have dropped older parked sessions instead).
    const oldest = this.now > this.sweepFrom ? oldestIn(this.live) : undefined
    if (oldest !== undefined && isExpired(this.config, oldest, this.now)) {
      this.dropExpired(oldest)
      return true
    }
    const { protectTainted, maxParkedBytes } = this.config
    const victim = protectTainted
      ? (AccessIndex.first(this.live.untainted) ?? AccessIndex.first(this.live.tainted))
      : oldestIn(this.live)
    if (victim === undefined) return false
    const bytes = recordBytes(victim)
    // With protectTainted only untainted parked sessions may be dropped to make room.
    const kept = protectTainted ? this.parkedTaintedBytes : 0
    if (kept + bytes > maxParkedBytes) {
      if (protectTainted && victim.taints !== 0) return false
      this.evict(victim)
      return true
    }
    while (this.parkedBytes + bytes > maxParkedBytes) {
      const dropped = protectTainted ? AccessIndex.first(this.parked.untainted) : oldestIn(this.parked)
      this.evict(dropped!)
    }
    this.park(victim)
    return true
  }

  /** Moves a live session to the parked tier, as it is. */
  park(record: SessionRecord): void {
    const parked = makeRecord({ ...record, parked: true })
    this.drop(record)
    this.store(parked)
    this.index(parked)
    this.parkings++
    this.note({ _tag: "Parked", sessionId: record.id, tainted: record.taints !== 0 })
  }

  /**
   * Applies `change` to the session with this id (a parked one is resumed into the live table,
   * making room for it), or to a new session when it is missing or expired (making room for
   * it), and stores the result touched now. A live session is read and written in one pass over
   * the map, the path nearly every call takes.
   */
  touch<A>(id: SessionId, change: Update<A>, input: A): SessionRecord | Refused {
    let previous: SessionRecord | undefined
    let expired: SessionRecord | undefined
    let outcome: SessionRecord | Refused | undefined
    const sessions = HashMap.modifyAt(this.sessions, id, (found) => {
      if (Option.isNone(found)) return found
      if (isExpired(this.config, found.value, this.now)) {
        expired = found.value
        return found
      }
      previous = found.value
      const changed = change(found.value, this.config, input)
      if (isRefused(changed)) {
        outcome = changed
        return found
      }
      outcome = this.touched(changed)
      return Option.some(outcome)
    })
    if (previous !== undefined) {
      const result = outcome!
      if (!isRefused(result)) {
        this.sessions = sessions
        this.reindex(previous, result)
        this.noteTaints(id, previous.taints, result.taints)
      }
      return result
    }
    if (expired !== undefined) {
      this.dropExpired(expired)
      return this.create(id, change, input)
    }
    const parked = HashMap.get(this.parkedSessions, id)
    if (Option.isSome(parked)) {
      if (!isExpired(this.config, parked.value, this.now)) return this.resume(parked.value, change, input)
      this.dropExpired(parked.value)
    }
    return this.create(id, change, input)
  }

  /** Brings a parked session back into the live table with `change` applied. */
  resume<A>(parked: SessionRecord, change: Update<A>, input: A): SessionRecord | Refused {
    const outcome = change(parked, this.config, input)
    if (isRefused(outcome)) return outcome
    // Out of the parked tier first, so that making room cannot pick it.
    this.drop(parked)
    if (!this.makeRoom()) {
      this.store(parked)
      this.index(parked)
      return { _tag: "Refused", reason: "sessions", limit: this.config.maxSessions }
    }
    const record = this.touched(makeRecord({ ...outcome, parked: false }))
    this.store(record)
    this.index(record)
    this.note({ _tag: "Resumed", sessionId: parked.id })
    this.noteTaints(parked.id, parked.taints, record.taints)
    return record
  }

  /** Creates the session `id` with `change` applied, making room for it. */
  create<A>(id: SessionId, change: Update<A>, input: A): SessionRecord | Refused {
    const outcome = change(fresh(id, this.utc()), this.config, input)
    if (isRefused(outcome)) return outcome
    if (!this.makeRoom()) return { _tag: "Refused", reason: "sessions", limit: this.config.maxSessions }
    const record = this.touched(outcome)
    this.store(record)
    this.index(record)
    this.note({ _tag: "Created", sessionId: id })
    this.noteTaints(id, 0, record.taints)
    return record
  }

  /** The record as touched now, with the next touch number. */
  touched(record: SessionRecord): SessionRecord {
    // Written out rather than spread: this runs on every touch.
    return {
      id: record.id,
      createdAt: record.createdAt,
      lastAccessedAt: this.utc(),
      touch: ++this.touches,
      totalCalls: record.totalCalls,
      taints: record.taints,
      tools: record.tools,
      parked: record.parked
    }
  }

  /** Replaces a session's record in the indexes and totals (the map is the caller's). */
  reindex(previous: SessionRecord, next: SessionRecord): void {
    this.unindex(previous)
    this.index(next)
  }

  index(record: SessionRecord): void {
    // An empty table had no bound; a session's own expiry is one (touches only push it later).
    const expiry = record.lastAccessedAt.epochMillis + this.config.ttlMillis
    if (expiry < this.sweepFrom) this.sweepFrom = expiry
    if (record.parked) {
      this.parked = withRecord(this.parked, record)
      const bytes = recordBytes(record)
      this.parkedBytes += bytes
      if (record.taints !== 0) this.parkedTaintedBytes += bytes
    } else {
      this.live = withRecord(this.live, record)
      this.totalCalls += record.totalCalls
    }
  }

  unindex(record: SessionRecord): void {
    if (record.parked) {
      this.parked = withoutRecord(this.parked, record)
      const bytes = recordBytes(record)
      this.parkedBytes -= bytes
      if (record.taints !== 0) this.parkedTaintedBytes -= bytes
    } else {
      this.live = withoutRecord(this.live, record)
      this.totalCalls -= record.totalCalls
    }
  }
}
