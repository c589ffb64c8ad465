/**
 * The functional core of the session manager: an immutable table of sessions and the pure
 * transitions over it. Every transition takes the table and the clock's reading in
 * milliseconds and returns its result with the next table; none reads a clock, runs an
 * Effect or changes the table it was given.
 */
import { DateTime, HashMap, Option } from "effect"
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
  /** What the transition that produced this table did, in order; undefined when nothing. */
  readonly lifecycle: ReadonlyArray<Lifecycle> | undefined
}

/**
 * What a transition did to the set of sessions and their taints, for events and metrics. Only
 * transitions that create, end or (un)taint a session record any, so most record none.
 */
export type Lifecycle =
  | { readonly _tag: "Created" | "Expired" | "Removed" | "TaintsCleared"; readonly sessionId: SessionId }
  | { readonly _tag: "Evicted"; readonly sessionId: SessionId; readonly tainted: boolean }
  | { readonly _tag: "Tainted"; readonly sessionId: SessionId; readonly pii: PIIType }

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

/** What a touching transition gives back: the session's new record, or why there is none. */
export type Touched = Transition<Entry | SessionCapacityExceeded>

/**
 * How many expired sessions an ordinary operation drops on its way. More than one, so the
 * sweep outpaces creation; small, so no single call stalls when many sessions expire at once.
 */
export const SWEEP_PER_OPERATION = 2

/** Whether the session has been idle for longer than the TTL at `now` (strictly). */
export const isExpired = (config: TableConfig, entry: Entry, now: number): boolean =>
  now - entry.lastAccessedAt.epochMillis > config.ttlMillis

/**
 * The next table while a transition builds it. It starts as a copy of the current table and
 * is changed step by step; once the transition returns it, nothing changes it again (callers
 * see it as a readonly `Table`), so every table handed out is immutable. Making the next table
 * itself the working copy saves an allocation on every operation.
 */
class Next implements Table {
  readonly config: TableConfig
  readonly now: number
  nowUtc: DateTime.Utc | undefined
  sessions: HashMap.HashMap<SessionId, Entry>
  untainted: AccessIndex.AccessIndex<Entry>
  tainted: AccessIndex.AccessIndex<Entry>
  touches: number
  totalCalls: number
  evicted: number
  expired: number
  lifecycle: Array<Lifecycle> | undefined

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
    this.lifecycle = undefined
  }

  note(event: Lifecycle): void {
    if (this.lifecycle === undefined) this.lifecycle = [event]
    else this.lifecycle.push(event)
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
      this.dropExpired(entry)
      dropped++
    }
    return dropped
  }

  /** The live session with this id; an expired one found here is dropped. */
  live(id: SessionId): Entry | undefined {
    const found = HashMap.get(this.sessions, id)
    if (Option.isNone(found)) return undefined
    if (isExpired(this.config, found.value, this.now)) {
      this.dropExpired(found.value)
      return undefined
    }
    return found.value
  }

  drop(entry: Entry): void {
    this.sessions = HashMap.remove(this.sessions, entry.id)
    this.unindex(entry)
    this.totalCalls -= entry.totalCalls
  }

  dropExpired(entry: Entry): void {
    this.drop(entry)
    this.expired++
    this.note({ _tag: "Expired", sessionId: entry.id })
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
    this.note({ _tag: "Evicted", sessionId: victim.id, tainted: victim.taints !== 0 })
    return true
  }

  /**
   * Applies `change` to the live session with this id, or to a new session when it is missing
   * or expired (making room for it), and stores the result touched now. A live session is
   * read and written in one pass over the map, the path nearly every call takes.
   */
  touch<A>(id: SessionId, change: Update<A>, input: A): Entry | SessionCapacityExceeded {
    let previous: Entry | undefined
    let expired: Entry | undefined
    let outcome: Entry | SessionCapacityExceeded | undefined
    const sessions = HashMap.modifyAt(this.sessions, id, (found) => {
      if (Option.isNone(found)) return found
      if (isExpired(this.config, found.value, this.now)) {
        expired = found.value
        return found
      }
      previous = found.value
      const changed = change(found.value, this.config, input)
      if (changed instanceof SessionCapacityExceeded) {
        outcome = changed
        return found
      }
      outcome = this.touched(changed)
      return Option.some(outcome)
    })
    if (previous === undefined) {
      if (expired !== undefined) this.dropExpired(expired)
      return this.create(id, change, input)
    }
    if (!(outcome instanceof SessionCapacityExceeded)) {
      this.sessions = sessions
      this.reindex(previous, outcome!)
      this.noteTaints(id, previous.taints, outcome!.taints)
    }
    return outcome!
  }

  /** Creates the session `id` with `change` applied, making room for it. */
  create<A>(id: SessionId, change: Update<A>, input: A): Entry | SessionCapacityExceeded {
    if (!this.makeRoom()) {
      return new SessionCapacityExceeded({
        reason: "sessions",
        sessionId: id,
        limit: this.config.maxSessions
      })
    }
    const now = this.utc()
    const outcome = change(makeEntry(id, now, now, 0, 0, 0, ToolCounts.empty), this.config, input)
    if (outcome instanceof SessionCapacityExceeded) return outcome
    const entry = this.touched(outcome)
    this.sessions = HashMap.set(this.sessions, id, entry)
    this.reindex(undefined, entry)
    this.note({ _tag: "Created", sessionId: id })
    this.noteTaints(id, 0, entry.taints)
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

  /** This table, or `table` itself when the transition changed nothing (most reads). */
  orUnchanged(table: Table): Table {
    return this.now === table.now &&
      this.nowUtc === table.nowUtc &&
      this.sessions === table.sessions &&
      this.untainted === table.untainted &&
      this.tainted === table.tainted &&
      this.touches === table.touches &&
      this.evicted === table.evicted &&
      this.expired === table.expired &&
      this.lifecycle === undefined
      ? table
      : this
  }
}

/**
 * What a touching operation does to a session's record, or why it cannot. A plain function
 * of its input, so no closure is allocated per call.
 */
type Update<A> = (entry: Entry, config: TableConfig, input: A) => Entry | SessionCapacityExceeded

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

const unchanged: Update<undefined> = (entry) => entry

const counting: Update<ToolName> = (entry, config, tool) => {
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

const tainting: Update<PIIType> = (entry, _, pii) =>
  makeEntry(
    entry.id,
    entry.createdAt,
    entry.lastAccessedAt,
    entry.touch,
    entry.totalCalls,
    entry.taints | Taints.bitOf(pii),
    entry.tools
  )

/** A table with no sessions. */
export const empty = (config: TableConfig): Table =>
  new Next(
    {
      config,
      sessions: HashMap.empty(),
      untainted: AccessIndex.empty(),
      tainted: AccessIndex.empty(),
      now: Number.NEGATIVE_INFINITY,
      nowUtc: undefined,
      touches: 0,
      totalCalls: 0,
      evicted: 0,
      expired: 0,
      lifecycle: undefined
    },
    Number.NEGATIVE_INFINITY
  )

/** The next table for an ordinary operation at `now`, with the incremental sweep done. */
const opening = (table: Table, now: number): Next => {
  const next = new Next(table, now)
  next.sweep(SWEEP_PER_OPERATION)
  return next
}

const touching = <A>(table: Table, now: number, id: SessionId, change: Update<A>, input: A): Touched => {
  const next = opening(table, now)
  const outcome = next.touch(id, change, input)
  return [outcome, next.orUnchanged(table)]
}

/** The session, created if missing or expired, touched now. */
export const getOrCreate = (table: Table, now: number, id: SessionId): Touched =>
  touching(table, now, id, unchanged, undefined)

/** One more call of `tool` in the session (created if needed), touched now. */
export const increment = (table: Table, now: number, id: SessionId, tool: ToolName): Touched =>
  touching(table, now, id, counting, tool)

/** The session (created if needed) with one more taint, touched now. */
export const addTaint = (table: Table, now: number, id: SessionId, pii: PIIType): Touched =>
  touching(table, now, id, tainting, pii)

/**
 * Whether an operation at `now` would find the table exactly as it is: time does not move on
 * and no session has expired (the least recent one has not, so none has). Reads then need no
 * next table at all, which is what nearly every read finds.
 */
const isSettled = (table: Table, now: number): boolean => {
  if (now > table.now) return false
  if (table.config.ttlMillis === Number.POSITIVE_INFINITY) return true
  const a = AccessIndex.first(table.untainted)
  const b = AccessIndex.first(table.tainted)
  return (
    (a === undefined || !isExpired(table.config, a, table.now)) &&
    (b === undefined || !isExpired(table.config, b, table.now))
  )
}

/** What a caller's `decide` returns: whether to count the call, and a value to hand back. */
export interface Decision<A> {
  readonly record: boolean
  readonly value: A
}

/** The input of `deciding`: the tool and the decision, which the change fills in. */
interface Deciding<A> {
  readonly tool: ToolName
  readonly decide: (before: Entry) => Decision<A>
  decision: Decision<A> | undefined
}

const deciding: Update<Deciding<unknown>> = (entry, config, input) => {
  const decision = input.decide(entry)
  input.decision = decision
  return decision.record ? counting(entry, config, input.tool) : entry
}

/**
 * Touches the session (creating it if needed), asks `decide` about its record as it is before
 * this call, and counts the call of `tool` only when `decide` says so: the decision and the
 * count are one step, so no other operation can come between them. `decide` must be pure.
 */
export const decideAndRecord = <A>(
  table: Table,
  now: number,
  id: SessionId,
  tool: ToolName,
  decide: (before: Entry) => Decision<A>
): Transition<{ readonly value: A; readonly entry: Entry } | SessionCapacityExceeded> => {
  const input: Deciding<A> = { tool, decide, decision: undefined }
  const [outcome, next] = touching(table, now, id, deciding as Update<Deciding<A>>, input)
  if (outcome instanceof SessionCapacityExceeded) return [outcome, next]
  return [{ value: input.decision!.value, entry: outcome }, next]
}

/** The live session, if any; reading does not touch it. */
export const get = (table: Table, now: number, id: SessionId): Transition<Entry | undefined> => {
  if (isSettled(table, now)) return [Option.getOrUndefined(HashMap.get(table.sessions, id)), table]
  const next = opening(table, now)
  const entry = next.live(id)
  return [entry, next.orUnchanged(table)]
}

/** Clears the taints of a live session without touching it; false when there is none. */
export const clearTaints = (table: Table, now: number, id: SessionId): Transition<boolean> => {
  const next = opening(table, now)
  const entry = next.live(id)
  if (entry === undefined) return [false, next.orUnchanged(table)]
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
    next.sessions = HashMap.set(next.sessions, entry.id, cleared)
    next.reindex(entry, cleared)
    next.note({ _tag: "TaintsCleared", sessionId: entry.id })
  }
  return [true, next.orUnchanged(table)]
}

/** Removes a live session; false when there is none. Counts as neither evicted nor expired. */
export const remove = (table: Table, now: number, id: SessionId): Transition<boolean> => {
  const next = opening(table, now)
  const entry = next.live(id)
  if (entry !== undefined) {
    next.drop(entry)
    next.note({ _tag: "Removed", sessionId: id })
  }
  return [entry !== undefined, next.orUnchanged(table)]
}

/** Drops every expired session; returns how many this call dropped. */
export const cleanup = (table: Table, now: number): Transition<number> => {
  const next = new Next(table, now)
  const dropped = next.sweep(Number.POSITIVE_INFINITY)
  return [dropped, next.orUnchanged(table)]
}

/** Figures over the live sessions, after dropping the expired ones. */
export const stats = (table: Table, now: number): Transition<TableStats> => {
  const next = new Next(table, now)
  next.sweep(Number.POSITIVE_INFINITY)
  return [
    {
      activeSessions: HashMap.size(next.sessions),
      taintedSessions: next.tainted.size,
      totalCalls: next.totalCalls,
      maxSessions: next.config.maxSessions,
      evicted: next.evicted,
      expired: next.expired
    },
    next.orUnchanged(table)
  ]
}
