/**
 * A deliberately naive model of the session manager's semantics: plain arrays, linear scans
 * and sorting, no index. The pure core and the service on every store are run against it on
 * random operation sequences with random time steps (forwards and backwards), and must agree
 * with it on every result and every event.
 */
import { FastCheck as fc } from "effect"
import { allPIITypes, type PIIType } from "../../src/index.js"
import { RECORD_BYTES, TOOL_BYTES } from "../../src/internal/core/sessionTable.js"

/** The options the model and the system under test share. */
export interface ModelConfig {
  readonly ttlMillis: number
  readonly maxSessions: number
  readonly protectTainted: boolean
  readonly maxToolsPerSession: number
  readonly maxParkedBytes: number
}

/** What both sides report about one session, in a comparable form. */
export interface View {
  readonly id: string
  readonly createdAt: number
  readonly last: number
  readonly total: number
  readonly counts: ReadonlyArray<readonly [string, number]>
  readonly taints: ReadonlyArray<string>
}

/** An event, in a comparable form. */
export type ModelEvent =
  | {
      readonly _tag: "Created" | "Expired" | "Removed" | "TaintsCleared" | "Resumed"
      readonly sessionId: string
    }
  | { readonly _tag: "Evicted" | "Parked"; readonly sessionId: string; readonly tainted: boolean }
  | { readonly _tag: "Tainted"; readonly sessionId: string; readonly pii: PIIType }

/** Why a touching operation was refused. */
export type Failure = "sessions" | "tools"

export const ids = ["a", "b", "c", "d", "e", "__proto__", "constructor"]
export const tools = ["x", "y", "z", "__proto__"]
const piis: ReadonlyArray<PIIType> = ["EMAIL", "PHONE", "CUSTOM"]

export const byId = (a: View, b: View) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
export const sortedCounts = (counts: Iterable<readonly [string, number]>) =>
  [...counts].map(([t, n]) => [t, n] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1))

/** How many expired sessions an ordinary operation drops on its way (the core's figure). */
const SWEEP_PER_OPERATION = 2

interface ModelSession {
  readonly id: string
  readonly createdAt: number
  last: number
  order: number
  counts: Array<[string, number]>
  total: number
  taints: Set<PIIType>
  /** Moved out of the full live table, state kept. */
  parked: boolean
}

/**
 * Sessions live in two tiers: the live table, bounded by `maxSessions`, and the parked ones,
 * bounded by `maxParkedBytes`. Making room parks the least recently used live session
 * (untainted first with protectTainted), dropping the least recently used parked sessions
 * (untainted only with protectTainted) to make room for it; one that cannot be parked is
 * dropped, unless it is tainted and protected, and then the operation is refused. A parked
 * session is the same session to every operation but stats; touching it resumes it.
 */
export class Model {
  sessions: Array<ModelSession> = []
  /** What the current step did. */
  events: Array<ModelEvent> = []
  now = Number.NEGATIVE_INFINITY
  order = 0
  evicted = 0
  expired = 0
  parkings = 0

  constructor(readonly config: ModelConfig) {}

  view(s: ModelSession): View {
    return {
      id: s.id,
      createdAt: s.createdAt,
      last: s.last,
      total: s.total,
      counts: sortedCounts(s.counts),
      taints: [...s.taints].sort()
    }
  }

  isExpired(s: ModelSession): boolean {
    return this.now - s.last > this.config.ttlMillis
  }

  read(reading: number): void {
    this.now = Math.max(this.now, reading)
  }

  drop(s: ModelSession): void {
    this.sessions = this.sessions.filter((x) => x !== s)
  }

  /** Drops up to `limit` expired sessions, least recently accessed first. */
  sweep(limit: number): number {
    const expired = this.sessions.filter((s) => this.isExpired(s)).sort((a, b) => a.order - b.order)
    const dropped = expired.slice(0, limit)
    for (const s of dropped) {
      this.drop(s)
      this.events.push({ _tag: "Expired", sessionId: s.id })
    }
    this.expired += dropped.length
    return dropped.length
  }

  /** What a parked session is taken to cost. */
  bytes(s: ModelSession): number {
    return (
      RECORD_BYTES + 2 * s.id.length + s.counts.reduce((sum, [tool]) => sum + TOOL_BYTES + 2 * tool.length, 0)
    )
  }

  oldest(candidates: ReadonlyArray<ModelSession>): ModelSession | undefined {
    return [...candidates].sort((a, b) => a.order - b.order)[0]
  }

  evict(s: ModelSession): void {
    this.drop(s)
    this.evicted++
    this.events.push({ _tag: "Evicted", sessionId: s.id, tainted: s.taints.size > 0 })
  }

  /** Room in the live table for one more session, as the class comment says. */
  makeRoom(): boolean {
    const live = this.sessions.filter((x) => !x.parked)
    if (live.length < this.config.maxSessions) return true
    const expired = this.oldest(live.filter((x) => this.isExpired(x)))
    if (expired !== undefined) {
      this.drop(expired)
      this.expired++
      this.events.push({ _tag: "Expired", sessionId: expired.id })
      return true
    }
    const { protectTainted, maxParkedBytes } = this.config
    const victim = protectTainted
      ? (this.oldest(live.filter((x) => x.taints.size === 0)) ?? this.oldest(live))!
      : this.oldest(live)!
    const bytes = this.bytes(victim)
    const parked = () => this.sessions.filter((x) => x.parked)
    const taintedParked = parked()
      .filter((x) => x.taints.size > 0)
      .reduce((sum, x) => sum + this.bytes(x), 0)
    if ((protectTainted ? taintedParked : 0) + bytes > maxParkedBytes) {
      if (protectTainted && victim.taints.size > 0) return false
      this.evict(victim)
      return true
    }
    while (parked().reduce((sum, x) => sum + this.bytes(x), 0) + bytes > maxParkedBytes) {
      this.evict(this.oldest(protectTainted ? parked().filter((x) => x.taints.size === 0) : parked())!)
    }
    victim.parked = true
    this.parkings++
    this.events.push({ _tag: "Parked", sessionId: victim.id, tainted: victim.taints.size > 0 })
    return true
  }

  live(id: string): ModelSession | undefined {
    const s = this.sessions.find((x) => x.id === id)
    if (s !== undefined && this.isExpired(s)) {
      this.drop(s)
      this.expired++
      this.events.push({ _tag: "Expired", sessionId: s.id })
      return undefined
    }
    return s
  }

  touching(reading: number, id: string, change: (s: ModelSession) => Failure | undefined): View | Failure {
    this.read(reading)
    this.sweep(SWEEP_PER_OPERATION)
    const found = this.live(id)
    const copy = (s: ModelSession): ModelSession => ({
      ...s,
      counts: s.counts.map(([t, n]) => [t, n] as [string, number]),
      taints: new Set(s.taints)
    })
    let s: ModelSession
    let before: ModelSession | undefined
    if (found === undefined) {
      if (!this.makeRoom()) return "sessions"
      s = {
        id,
        createdAt: this.now,
        last: this.now,
        order: 0,
        counts: [],
        total: 0,
        taints: new Set(),
        parked: false
      }
      const failure = change(s)
      if (failure !== undefined) return failure
      this.sessions.push(s)
      this.events.push({ _tag: "Created", sessionId: id })
    } else if (found.parked) {
      // The change is tried first: a refused one leaves the parked session where it is.
      const changed = copy(found)
      const failure = change(changed)
      if (failure !== undefined) return failure
      this.drop(found)
      if (!this.makeRoom()) {
        this.sessions.push(found)
        return "sessions"
      }
      before = found
      s = { ...changed, parked: false }
      this.sessions.push(s)
      this.events.push({ _tag: "Resumed", sessionId: id })
    } else {
      before = copy(found)
      const failure = change(found)
      if (failure !== undefined) {
        Object.assign(found, before)
        return failure
      }
      s = found
    }
    s.last = this.now
    s.order = ++this.order
    for (const pii of allPIITypes) {
      if (s.taints.has(pii) && !(before?.taints.has(pii) ?? false))
        this.events.push({ _tag: "Tainted", sessionId: id, pii })
    }
    return this.view(s)
  }

  getOrCreate(reading: number, id: string) {
    return this.touching(reading, id, () => undefined)
  }

  increment(reading: number, id: string, tool: string) {
    return this.touching(reading, id, (s) => {
      const slot = s.counts.find(([t]) => t === tool)
      if (slot === undefined) {
        if (s.counts.length >= this.config.maxToolsPerSession) return "tools"
        s.counts.push([tool, 1])
      } else {
        slot[1]++
      }
      s.total++
      return undefined
    })
  }

  /** Counts the call only while the tool has been called fewer than `limit` times. */
  decide(reading: number, id: string, tool: string, limit: number) {
    let allowed = false
    const view = this.touching(reading, id, (s) => {
      const count = s.counts.find(([t]) => t === tool)?.[1] ?? 0
      allowed = count < limit
      if (!allowed) return undefined
      if (count === 0 && s.counts.length >= this.config.maxToolsPerSession) return "tools"
      const slot = s.counts.find(([t]) => t === tool)
      if (slot === undefined) s.counts.push([tool, 1])
      else slot[1]++
      s.total++
      return undefined
    })
    return typeof view === "string" ? view : { value: allowed, view }
  }

  addTaint(reading: number, id: string, pii: PIIType) {
    return this.touching(reading, id, (s) => {
      s.taints.add(pii)
      return undefined
    })
  }

  get(reading: number, id: string): View | undefined {
    this.read(reading)
    this.sweep(SWEEP_PER_OPERATION)
    const s = this.live(id)
    return s === undefined ? undefined : this.view(s)
  }

  getTaints(reading: number, id: string): ReadonlyArray<string> {
    return this.get(reading, id)?.taints ?? []
  }

  clearTaints(reading: number, id: string): boolean {
    this.read(reading)
    this.sweep(SWEEP_PER_OPERATION)
    const s = this.live(id)
    if (s === undefined) return false
    if (s.taints.size > 0) this.events.push({ _tag: "TaintsCleared", sessionId: id })
    s.taints = new Set()
    return true
  }

  remove(reading: number, id: string): boolean {
    this.read(reading)
    this.sweep(SWEEP_PER_OPERATION)
    const s = this.live(id)
    if (s === undefined) return false
    this.drop(s)
    this.events.push({ _tag: "Removed", sessionId: id })
    return true
  }

  cleanup(reading: number): number {
    this.read(reading)
    return this.sweep(Number.POSITIVE_INFINITY)
  }

  stats(reading: number) {
    this.read(reading)
    this.sweep(Number.POSITIVE_INFINITY)
    const live = this.sessions.filter((s) => !s.parked)
    const parked = this.sessions.filter((s) => s.parked)
    return {
      activeSessions: live.length,
      taintedSessions: live.filter((s) => s.taints.size > 0).length,
      totalCalls: live.reduce((sum, s) => sum + s.total, 0),
      maxSessions: this.config.maxSessions,
      evicted: this.evicted,
      expired: this.expired,
      parkedSessions: parked.length,
      parkedBytes: parked.reduce((sum, s) => sum + this.bytes(s), 0),
      maxParkedBytes: this.config.maxParkedBytes,
      parked: this.parkings
    }
  }

  state(): ReadonlyArray<View> {
    return this.sessions.map((s) => this.view(s)).sort(byId)
  }
}

/** One step of a random run: an operation, or a move of the clock. */
export type Step =
  | { readonly op: "getOrCreate" | "get" | "getTaints" | "clearTaints" | "remove"; readonly id: string }
  | { readonly op: "increment"; readonly id: string; readonly tool: string }
  | { readonly op: "addTaint"; readonly id: string; readonly pii: PIIType }
  | { readonly op: "decide"; readonly id: string; readonly tool: string; readonly limit: number }
  | { readonly op: "cleanup" | "stats" }
  | { readonly op: "advance"; readonly ms: number }
  | { readonly op: "stepBack"; readonly ms: number }

const id = fc.constantFrom(...ids)
const onSession = <const Op extends string>(op: Op) => fc.record({ op: fc.constant(op), id })

export const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: onSession("getOrCreate"), weight: 3 },
  {
    arbitrary: fc.record({ op: fc.constant("increment" as const), id, tool: fc.constantFrom(...tools) }),
    weight: 6
  },
  {
    arbitrary: fc.record({ op: fc.constant("addTaint" as const), id, pii: fc.constantFrom(...piis) }),
    weight: 2
  },
  {
    arbitrary: fc.record({
      op: fc.constant("decide" as const),
      id,
      tool: fc.constantFrom(...tools),
      limit: fc.integer({ min: 0, max: 3 })
    }),
    weight: 3
  },
  { arbitrary: onSession("get"), weight: 2 },
  { arbitrary: onSession("getTaints"), weight: 1 },
  { arbitrary: onSession("clearTaints"), weight: 1 },
  { arbitrary: onSession("remove"), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("cleanup" as const) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("stats" as const) }), weight: 1 },
  {
    arbitrary: fc.record({ op: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 12 }) }),
    weight: 4
  },
  {
    arbitrary: fc.record({ op: fc.constant("stepBack" as const), ms: fc.integer({ min: 1, max: 12 }) }),
    weight: 1
  }
)

export const modelConfig: fc.Arbitrary<ModelConfig> = fc.record({
  ttlMillis: fc.constantFrom(1, 3, 10, Number.POSITIVE_INFINITY),
  maxSessions: fc.integer({ min: 1, max: 5 }),
  protectTainted: fc.boolean(),
  maxToolsPerSession: fc.integer({ min: 1, max: 3 }),
  // From none (every eviction drops state) to room for every session: a parked session costs
  // between 342 and about 500 bytes here.
  maxParkedBytes: fc.constantFrom(0, 400, 900, 2_000, 16 * 1024 * 1024)
})

/** What the model says a step returns; advances the model. `undefined` for clock moves. */
export const expectedOf = (model: Model, reading: number, s: Step): unknown => {
  switch (s.op) {
    case "getOrCreate":
      return model.getOrCreate(reading, s.id)
    case "increment":
      return model.increment(reading, s.id, s.tool)
    case "addTaint":
      return model.addTaint(reading, s.id, s.pii)
    case "decide":
      return model.decide(reading, s.id, s.tool, s.limit)
    case "get":
      return model.get(reading, s.id)
    case "getTaints":
      return model.getTaints(reading, s.id)
    case "clearTaints":
      return model.clearTaints(reading, s.id)
    case "remove":
      return model.remove(reading, s.id)
    case "cleanup":
      return model.cleanup(reading)
    case "stats":
      return model.stats(reading)
    case "advance":
    case "stepBack":
      return undefined
  }
}
