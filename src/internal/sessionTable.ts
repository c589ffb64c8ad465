/**
 * The functional core of the session manager: an immutable table of sessions and the pure
 * transitions over it. Every transition takes the table and the clock's reading in
 * milliseconds and returns its result with the next table; none reads a clock, runs an
 * Effect or mutates its input.
 */
import { DateTime, Either, HashMap, Option } from "effect"
import type { PIIType } from "../PIIType.js"
import { SessionCapacityExceeded } from "../SessionError.js"
import type { SessionId } from "../SessionId.js"
import type { ToolName } from "../ToolName.js"
import * as AccessIndex from "./accessIndex.js"
import * as Taints from "./taints.js"
import * as ToolCounts from "./toolCounts.js"

/** Decoded, valid options. `ttlMillis` is `Infinity` when sessions never expire. */
export interface TableConfig {
  readonly ttlMillis: number
  readonly maxSessions: number
  readonly protectTainted: boolean
  readonly maxToolsPerSession: number
}

/** The internal record of one session; snapshots are built from it on the way out. */
export interface Entry {
  readonly id: SessionId
  readonly createdAt: DateTime.Utc
  readonly lastAccessedAt: DateTime.Utc
  /** The number of the touch that last accessed the session: its key in the access index. */
  readonly touch: number
  readonly totalCalls: number
  readonly taints: Taints.TaintBits
  readonly tools: ToolCounts.ToolCounts
}

/**
 * All sessions of one manager. Each live session is in `sessions` and in exactly one of the
 * two access indexes (untainted or tainted), under its `touch`, with the same `Entry`, so the
 * least recently accessed session of either kind is found without a lookup.
 */
export interface Table {
  readonly config: TableConfig
  readonly sessions: HashMap.HashMap<SessionId, Entry>
  readonly untainted: AccessIndex.AccessIndex<Entry>
  readonly tainted: AccessIndex.AccessIndex<Entry>
  /** The latest time the table has seen, in milliseconds: time never goes backwards. */
  readonly now: number
  /**
   * `now` as a DateTime, once an operation needed it. Every record touched in the same
   * millisecond shares this one value, which saves both its construction and its memory.
   */
  readonly nowUtc: DateTime.Utc | undefined
  /** The last touch number given out. */
  readonly touches: number
  /** Calls summed over the sessions in the table. */
  readonly totalCalls: number
  readonly evicted: number
  readonly expired: number
}

/** The figures `stats` reports, over live sessions. */
export interface TableStats {
  readonly activeSessions: number
  readonly taintedSessions: number
  readonly totalCalls: number
  readonly maxSessions: number
  readonly evicted: number
  readonly expired: number
}

/** What a transition gives back: its result and the next table. */
export type Transition<A> = readonly [A, Table]

/**
 * How many expired sessions an ordinary operation drops on its way. More than one, so the
 * sweep outpaces creation; small, so no single call stalls when many sessions expire at once.
 */
export const SWEEP_PER_OPERATION = 2

/** A table with no sessions. */
export const empty = (config: TableConfig): Table => ({
  config,
  sessions: HashMap.empty(),
  untainted: AccessIndex.empty(),
  tainted: AccessIndex.empty(),
  now: Number.NEGATIVE_INFINITY,
  nowUtc: undefined,
  touches: 0,
  totalCalls: 0,
  evicted: 0,
  expired: 0
})

/** Whether the session has been idle for longer than the TTL at `now` (strictly). */
export const isExpired = (config: TableConfig, entry: Entry, now: number): boolean =>
  now - entry.lastAccessedAt.epochMillis > config.ttlMillis

/**
 * The working copy of one transition. It is created from a table, changed step by step and
 * frozen into the next table; it never escapes the transition, so the transition stays pure.
 */
class Draft {
  readonly config: TableConfig
  readonly now: number
  private nowUtc: DateTime.Utc | undefined
  sessions: HashMap.HashMap<SessionId, Entry>
  untainted: AccessIndex.AccessIndex<Entry>
  tainted: AccessIndex.AccessIndex<Entry>
  touches: number
  totalCalls: number
  evicted: number
  expired: number

  constructor(table: Table, reading: number) {
    this.config = table.config
    this.now = Math.max(reading, table.now)
    this.nowUtc = this.now === table.now ? table.nowUtc : undefined
    this.sessions = table.sessions
    this.untainted = table.untainted
    this.tainted = table.tainted
    this.touches = table.touches
    this.totalCalls = table.totalCalls
    this.evicted = table.evicted
    this.expired = table.expired
  }

  freeze(): Table {
    return {
      config: this.config,
      sessions: this.sessions,
      untainted: this.untainted,
      tainted: this.tainted,
      now: this.now,
      nowUtc: this.nowUtc,
      touches: this.touches,
      totalCalls: this.totalCalls,
      evicted: this.evicted,
      expired: this.expired
    }
  }

  /** `now` as a DateTime. */
  utc(): DateTime.Utc {
    if (this.nowUtc === undefined) this.nowUtc = DateTime.unsafeMake(this.now)
    return this.nowUtc
  }

  /** The least recently accessed session, tainted or not. */
  oldest(): Entry | undefined {
    const a = AccessIndex.first(this.untainted)
    const b = AccessIndex.first(this.tainted)
    if (a === undefined) return b
    if (b === undefined) return a
    return a.touch < b.touch ? a : b
  }

  /** Drops up to `limit` expired sessions, oldest first; returns how many. */
  sweep(limit: number): number {
    if (this.config.ttlMillis === Number.POSITIVE_INFINITY) return 0
    let dropped = 0
    while (dropped < limit) {
      const entry = this.oldest()
      if (entry === undefined || !isExpired(this.config, entry, this.now)) break
      this.drop(entry)
      dropped++
    }
    this.expired += dropped
    return dropped
  }

  /** The live session with this id; an expired one found here is dropped. */
  live(id: SessionId): Entry | undefined {
    const found = HashMap.get(this.sessions, id)
    if (Option.isNone(found)) return undefined
    if (isExpired(this.config, found.value, this.now)) {
      this.drop(found.value)
      this.expired++
      return undefined
    }
    return found.value
  }

  drop(entry: Entry): void {
    this.sessions = HashMap.remove(this.sessions, entry.id)
    this.unindex(entry)
    this.totalCalls -= entry.totalCalls
  }

  /** Makes room for one more session; false when every live session is protected. */
  makeRoom(): boolean {
    if (HashMap.size(this.sessions) < this.config.maxSessions) return true
    // Expired sessions must go before any live one is evicted. The sweep that opens every
    // transition dropped at least one if any had expired, and then the table is not full here;
    // so a full table holds no expired session and the least recent one can be evicted.
    const victim = this.config.protectTainted ? AccessIndex.first(this.untainted) : this.oldest()
    if (victim === undefined) return false
    this.drop(victim)
    this.evicted++
    return true
  }

  /**
   * Applies `change` to the live session with this id, or to a new session when it is missing
   * or expired (making room for it), and stores the result touched now. A session found live
   * is read and written in one pass over the map, the path nearly every call takes.
   */
  touch(id: SessionId, change: Change): Entry | SessionCapacityExceeded {
    let previous: Entry | undefined
    let outcome: Entry | SessionCapacityExceeded | undefined
    const sessions = HashMap.modifyAt(this.sessions, id, (found) => {
      if (Option.isNone(found) || isExpired(this.config, found.value, this.now)) return found
      previous = found.value
      const changed = change(found.value, this.config)
      outcome = changed instanceof SessionCapacityExceeded ? changed : this.touched(changed)
      return outcome instanceof SessionCapacityExceeded ? found : Option.some(outcome)
    })
    if (previous === undefined) return this.create(id, change)
    if (!(outcome instanceof SessionCapacityExceeded)) {
      this.sessions = sessions
      this.reindex(previous, outcome!)
    }
    return outcome!
  }

  /** Creates the session `id` (dropping an expired one of that id) with `change` applied. */
  create(id: SessionId, change: Change): Entry | SessionCapacityExceeded {
    this.live(id)
    if (!this.makeRoom()) {
      return new SessionCapacityExceeded({
        reason: "sessions",
        sessionId: id,
        limit: this.config.maxSessions
      })
    }
    const outcome = change(newEntry(id, this.utc()), this.config)
    if (outcome instanceof SessionCapacityExceeded) return outcome
    const entry = this.touched(outcome)
    this.sessions = HashMap.set(this.sessions, id, entry)
    this.reindex(undefined, entry)
    return entry
  }

  /** The record `entry` as touched now, with the next touch number. */
  touched(entry: Entry): Entry {
    return makeEntry(
      entry.id,
      entry.createdAt,
      this.utc(),
      ++this.touches,
      entry.totalCalls,
      entry.taints,
      entry.tools
    )
  }

  /** Moves a session from `previous` (its old record, if any) to `next` in the indexes and totals. */
  reindex(previous: Entry | undefined, next: Entry): void {
    if (previous !== undefined) {
      this.unindex(previous)
      this.totalCalls -= previous.totalCalls
    }
    if (next.taints === 0) this.untainted = AccessIndex.insert(this.untainted, next.touch, next)
    else this.tainted = AccessIndex.insert(this.tainted, next.touch, next)
    this.totalCalls += next.totalCalls
  }

  unindex(entry: Entry): void {
    if (entry.taints === 0) this.untainted = AccessIndex.remove(this.untainted, entry.touch)
    else this.tainted = AccessIndex.remove(this.tainted, entry.touch)
  }
}

/** What a touching operation does to a session's record, or why it cannot. */
type Change = (entry: Entry, config: TableConfig) => Entry | SessionCapacityExceeded

// Records are built in one place with one field order, so they all share one hidden class.
const makeEntry = (
  id: SessionId,
  createdAt: DateTime.Utc,
  lastAccessedAt: DateTime.Utc,
  touch: number,
  totalCalls: number,
  taints: Taints.TaintBits,
  tools: ToolCounts.ToolCounts
): Entry => ({ id, createdAt, lastAccessedAt, touch, totalCalls, taints, tools })

const newEntry = (id: SessionId, now: DateTime.Utc): Entry =>
  makeEntry(id, now, now, 0, 0, 0, ToolCounts.empty)

const unchanged: Change = (entry) => entry

const counting =
  (tool: ToolName): Change =>
  (entry, config) => {
    const tools = ToolCounts.increment(entry.tools, tool, config.maxToolsPerSession)
    if (tools === undefined) {
      return new SessionCapacityExceeded({
        reason: "tools",
        sessionId: entry.id,
        limit: config.maxToolsPerSession
      })
    }
    return makeEntry(
      entry.id,
      entry.createdAt,
      entry.lastAccessedAt,
      entry.touch,
      entry.totalCalls + 1,
      entry.taints,
      tools
    )
  }

const tainting =
  (pii: PIIType): Change =>
  (entry) =>
    makeEntry(
      entry.id,
      entry.createdAt,
      entry.lastAccessedAt,
      entry.touch,
      entry.totalCalls,
      entry.taints | Taints.bitOf(pii),
      entry.tools
    )

const opening = (table: Table, now: number): Draft => {
  const draft = new Draft(table, now)
  draft.sweep(SWEEP_PER_OPERATION)
  return draft
}

const touching = (
  table: Table,
  now: number,
  id: SessionId,
  change: Change
): Transition<Either.Either<Entry, SessionCapacityExceeded>> => {
  const draft = opening(table, now)
  const outcome = draft.touch(id, change)
  const next = draft.freeze()
  return outcome instanceof SessionCapacityExceeded
    ? [Either.left(outcome), next]
    : [Either.right(outcome), next]
}

/** The session, created if missing or expired, touched now. */
export const getOrCreate = (table: Table, now: number, id: SessionId) => touching(table, now, id, unchanged)

/** One more call of `tool` in the session (created if needed), touched now. */
export const increment = (table: Table, now: number, id: SessionId, tool: ToolName) =>
  touching(table, now, id, counting(tool))

/** The session (created if needed) with one more taint, touched now. */
export const addTaint = (table: Table, now: number, id: SessionId, pii: PIIType) =>
  touching(table, now, id, tainting(pii))

/** The live session, if any; reading does not touch it. */
export const get = (table: Table, now: number, id: SessionId): Transition<Entry | undefined> => {
  const draft = opening(table, now)
  const entry = draft.live(id)
  return [entry, draft.freeze()]
}

/** Clears the taints of a live session without touching it; false when there is none. */
export const clearTaints = (table: Table, now: number, id: SessionId): Transition<boolean> => {
  const draft = opening(table, now)
  const entry = draft.live(id)
  if (entry === undefined) return [false, draft.freeze()]
  if (entry.taints !== 0) {
    // It keeps its place in the access order, now among the untainted sessions.
    const cleared = makeEntry(
      entry.id,
      entry.createdAt,
      entry.lastAccessedAt,
      entry.touch,
      entry.totalCalls,
      0,
      entry.tools
    )
    draft.sessions = HashMap.set(draft.sessions, entry.id, cleared)
    draft.reindex(entry, cleared)
  }
  return [true, draft.freeze()]
}

/** Removes a live session; false when there is none. Counts as neither evicted nor expired. */
export const remove = (table: Table, now: number, id: SessionId): Transition<boolean> => {
  const draft = opening(table, now)
  const entry = draft.live(id)
  if (entry === undefined) return [false, draft.freeze()]
  draft.drop(entry)
  return [true, draft.freeze()]
}

/** Drops every expired session; returns how many this call dropped. */
export const cleanup = (table: Table, now: number): Transition<number> => {
  const draft = new Draft(table, now)
  const dropped = draft.sweep(Number.POSITIVE_INFINITY)
  return [dropped, draft.freeze()]
}

/** Figures over the live sessions, after dropping the expired ones. */
export const stats = (table: Table, now: number): Transition<TableStats> => {
  const draft = new Draft(table, now)
  draft.sweep(Number.POSITIVE_INFINITY)
  const next = draft.freeze()
  return [
    {
      activeSessions: HashMap.size(next.sessions),
      taintedSessions: next.tainted.size,
      totalCalls: next.totalCalls,
      maxSessions: next.config.maxSessions,
      evicted: next.evicted,
      expired: next.expired
    },
    next
  ]
}
