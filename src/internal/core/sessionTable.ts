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
  readonly maxSessions: number
  readonly protectTainted: boolean
  readonly maxToolsPerSession: number
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
}

/**
 * All sessions of one manager. Each live session is in `sessions` and in exactly one of the
 * two access indexes (untainted or tainted), under its `touch`, with the same record, so the
 * least recently accessed session of either kind is found without a lookup.
 */
export interface Table {
  readonly config: TableConfig
  readonly sessions: HashMap.HashMap<SessionId, SessionRecord>
  readonly untainted: AccessIndex.AccessIndex<SessionRecord>
  readonly tainted: AccessIndex.AccessIndex<SessionRecord>
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

/** What an operation did to the set of sessions and their taints, for events and metrics. */
export type Lifecycle =
  | { readonly _tag: "Created" | "Expired" | "Removed" | "TaintsCleared"; readonly sessionId: SessionId }
  | { readonly _tag: "Evicted"; readonly sessionId: SessionId; readonly tainted: boolean }
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
  /** `"sessions"`: every live session is protected; `"tools"`: the session counts `limit` tools. */
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

/** The figures `stats` reports, over live sessions. */
export interface TableStats {
  readonly activeSessions: number
  readonly taintedSessions: number
  readonly totalCalls: number
  readonly maxSessions: number
  readonly evicted: number
  readonly expired: number
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
  untainted: AccessIndex.empty(),
  tainted: AccessIndex.empty(),
  now: Number.NEGATIVE_INFINITY,
  nowUtc: undefined,
  touches: 0,
  totalCalls: 0,
  evicted: 0,
  expired: 0
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
    tools: ToolCounts.empty
  })

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
  tools: fields.tools
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
    const record = next.live(id)
    if (record !== undefined && record.taints !== 0) {
      // It keeps its place in the access order, now among the untainted sessions.
      const cleared = makeRecord({ ...record, taints: 0 })
      next.sessions = HashMap.set(next.sessions, id, cleared)
      next.reindex(record, cleared)
      next.note({ _tag: "TaintsCleared", sessionId: id })
    }
    return next.finish(record !== undefined, table)
  },
  remove: (table, now, { id }) => {
    const next = opening(table, now)
    const record = next.live(id)
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
        activeSessions: HashMap.size(next.sessions),
        taintedSessions: next.tainted.size,
        totalCalls: next.totalCalls,
        maxSessions: next.config.maxSessions,
        evicted: next.evicted,
        expired: next.expired
      },
      table
    )
  }
}

const noEvents: ReadonlyArray<Lifecycle> = []

/**
 * What a touching operation does to a session's record, or why it cannot. A plain function
 * of its input, so no closure is allocated per call.
 */
type Update<A> = (record: SessionRecord, config: TableConfig, input: A) => SessionRecord | Refused

const unchanged: Update<undefined> = (record) => record

const counting: Update<ToolName> = (record, config, tool) => {
  const tools = ToolCounts.increment(record.tools, tool, config.maxToolsPerSession)
  if (tools === undefined) return { _tag: "Refused", reason: "tools", limit: config.maxToolsPerSession }
  return makeRecord({ ...record, totalCalls: record.totalCalls + 1, tools })
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
    return { result: read(Option.getOrUndefined(HashMap.get(table.sessions, id))), table, events: noEvents }
  }
  const next = opening(table, now)
  return next.finish(read(next.live(id)), table)
}

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

/**
 * The next table while a transition builds it: it starts as the current table's fields and is
 * changed step by step, then `finish` hands out a new immutable table (or the current one when
 * nothing changed) with the events noted on the way.
 */
class Next {
  readonly config: TableConfig
  readonly now: number
  nowUtc: DateTime.Utc | undefined
  sessions: HashMap.HashMap<SessionId, SessionRecord>
  untainted: AccessIndex.AccessIndex<SessionRecord>
  tainted: AccessIndex.AccessIndex<SessionRecord>
  touches: number
  totalCalls: number
  evicted: number
  expired: number
  events: Array<Lifecycle> | undefined

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
    this.events = undefined
  }

  /** The transition: `result`, the next table (`table` itself when nothing changed), the events. */
  finish<A>(result: A, table: Table): Transition<A> {
    const same =
      this.now === table.now &&
      this.nowUtc === table.nowUtc &&
      this.sessions === table.sessions &&
      this.untainted === table.untainted &&
      this.tainted === table.tainted &&
      this.touches === table.touches &&
      this.evicted === table.evicted &&
      this.expired === table.expired
    return {
      result,
      table: same
        ? table
        : {
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

  /** The least recently accessed session, tainted or not. */
  oldest(): SessionRecord | undefined {
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
      const record = this.oldest()
      if (record === undefined || !isExpired(this.config, record, this.now)) break
      this.dropExpired(record)
      dropped++
    }
    return dropped
  }

  /** The live session with this id; an expired one found here is dropped. */
  live(id: SessionId): SessionRecord | undefined {
    const found = HashMap.get(this.sessions, id)
    if (Option.isNone(found)) return undefined
    if (isExpired(this.config, found.value, this.now)) {
      this.dropExpired(found.value)
      return undefined
    }
    return found.value
  }

  drop(record: SessionRecord): void {
    this.sessions = HashMap.remove(this.sessions, record.id)
    this.unindex(record)
    this.totalCalls -= record.totalCalls
  }

  dropExpired(record: SessionRecord): void {
    this.drop(record)
    this.expired++
    this.note({ _tag: "Expired", sessionId: record.id })
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
    if (previous === undefined) {
      if (expired !== undefined) this.dropExpired(expired)
      return this.create(id, change, input)
    }
    const result = outcome!
    if (!isRefused(result)) {
      this.sessions = sessions
      this.reindex(previous, result)
      this.noteTaints(id, previous.taints, result.taints)
    }
    return result
  }

  /** Creates the session `id` with `change` applied, making room for it. */
  create<A>(id: SessionId, change: Update<A>, input: A): SessionRecord | Refused {
    if (!this.makeRoom()) return { _tag: "Refused", reason: "sessions", limit: this.config.maxSessions }
    const outcome = change(fresh(id, this.utc()), this.config, input)
    if (isRefused(outcome)) return outcome
    const record = this.touched(outcome)
    this.sessions = HashMap.set(this.sessions, id, record)
    this.reindex(undefined, record)
    this.note({ _tag: "Created", sessionId: id })
    this.noteTaints(id, 0, record.taints)
    return record
  }

  /** The record as touched now, with the next touch number. */
  touched(record: SessionRecord): SessionRecord {
    return makeRecord({ ...record, lastAccessedAt: this.utc(), touch: ++this.touches })
  }

  /** Moves a session from `previous` (its old record, if any) to `next` in the indexes and totals. */
  reindex(previous: SessionRecord | undefined, next: SessionRecord): void {
    if (previous !== undefined) {
      this.unindex(previous)
      this.totalCalls -= previous.totalCalls
    }
    if (next.taints === 0) this.untainted = AccessIndex.insert(this.untainted, next.touch, next)
    else this.tainted = AccessIndex.insert(this.tainted, next.touch, next)
    this.totalCalls += next.totalCalls
  }

  unindex(record: SessionRecord): void {
    if (record.taints === 0) this.untainted = AccessIndex.remove(this.untainted, record.touch)
    else this.tainted = AccessIndex.remove(this.tainted, record.touch)
  }
}
