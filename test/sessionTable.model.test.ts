/**
 * The pure core against a deliberately naive model of the specification: plain arrays, linear
 * scans and sorting, no index. Random operation sequences with random time steps (forwards and
 * backwards) run on both; results and the whole state must agree after every step, and the
 * core's invariants must hold.
 */
import { describe, expect, it } from "@effect/vitest"
import { DateTime, FastCheck as fc, HashMap, HashSet } from "effect"
import { allPIITypes, type PIIType, SessionCapacityExceeded, SessionId, ToolName } from "../src/index.js"
import * as AccessIndex from "../src/internal/accessIndex.js"
import * as Table from "../src/internal/sessionTable.js"
import { toState } from "../src/internal/snapshot.js"
import * as Taints from "../src/internal/taints.js"
import * as ToolCounts from "../src/internal/toolCounts.js"

interface ModelSession {
  readonly id: string
  readonly createdAt: number
  last: number
  order: number
  counts: Array<[string, number]>
  total: number
  taints: Set<PIIType>
}

/** What both sides report about one session, in a comparable form. */
interface View {
  readonly id: string
  readonly createdAt: number
  readonly last: number
  readonly total: number
  readonly counts: ReadonlyArray<readonly [string, number]>
  readonly taints: ReadonlyArray<string>
}

type Failure = "sessions" | "tools"

const byId = (a: View, b: View) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
const sortedCounts = (counts: Iterable<readonly [string, number]>) =>
  [...counts].map(([t, n]) => [t, n] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1))

class Model {
  sessions: Array<ModelSession> = []
  /** What the current step did, in the core's Lifecycle form. */
  events: Array<Table.Lifecycle> = []
  now = Number.NEGATIVE_INFINITY
  order = 0
  evicted = 0
  expired = 0

  constructor(readonly config: Table.TableConfig) {}

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
      this.events.push({ _tag: "Expired", sessionId: SessionId.make(s.id) })
    }
    this.expired += dropped.length
    return dropped.length
  }

  live(id: string): ModelSession | undefined {
    const s = this.sessions.find((x) => x.id === id)
    if (s !== undefined && this.isExpired(s)) {
      this.drop(s)
      this.expired++
      this.events.push({ _tag: "Expired", sessionId: SessionId.make(s.id) })
      return undefined
    }
    return s
  }

  touching(reading: number, id: string, change: (s: ModelSession) => Failure | undefined): View | Failure {
    this.read(reading)
    this.sweep(Table.SWEEP_PER_OPERATION)
    let s = this.live(id)
    let created = false
    if (s === undefined) {
      if (this.sessions.length >= this.config.maxSessions && this.sweep(1) === 0) {
        const candidates = this.sessions
          .filter((x) => !this.config.protectTainted || x.taints.size === 0)
          .sort((a, b) => a.order - b.order)
        if (candidates.length === 0) return "sessions"
        const victim = candidates[0]!
        this.drop(victim)
        this.evicted++
        this.events.push({
          _tag: "Evicted",
          sessionId: SessionId.make(victim.id),
          tainted: victim.taints.size > 0
        })
      }
      s = { id, createdAt: this.now, last: this.now, order: 0, counts: [], total: 0, taints: new Set() }
      created = true
    }
    const before = {
      counts: s.counts.map(([t, n]) => [t, n] as [string, number]),
      total: s.total,
      taints: new Set(s.taints)
    }
    const failure = change(s)
    if (failure !== undefined) {
      Object.assign(s, before)
      return failure
    }
    s.last = this.now
    s.order = ++this.order
    if (created) {
      this.sessions.push(s)
      this.events.push({ _tag: "Created", sessionId: SessionId.make(id) })
    }
    for (const pii of allPIITypes) {
      if (s.taints.has(pii) && !before.taints.has(pii))
        this.events.push({ _tag: "Tainted", sessionId: SessionId.make(id), pii })
    }
    return this.view(s)
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
    this.sweep(Table.SWEEP_PER_OPERATION)
    const s = this.live(id)
    return s === undefined ? undefined : this.view(s)
  }

  clearTaints(reading: number, id: string): boolean {
    this.read(reading)
    this.sweep(Table.SWEEP_PER_OPERATION)
    const s = this.live(id)
    if (s === undefined) return false
    if (s.taints.size > 0) this.events.push({ _tag: "TaintsCleared", sessionId: SessionId.make(id) })
    s.taints = new Set()
    return true
  }

  remove(reading: number, id: string): boolean {
    this.read(reading)
    this.sweep(Table.SWEEP_PER_OPERATION)
    const s = this.live(id)
    if (s === undefined) return false
    this.drop(s)
    this.events.push({ _tag: "Removed", sessionId: SessionId.make(id) })
    return true
  }

  cleanup(reading: number): number {
    this.read(reading)
    return this.sweep(Number.POSITIVE_INFINITY)
  }

  stats(reading: number) {
    this.read(reading)
    this.sweep(Number.POSITIVE_INFINITY)
    return {
      activeSessions: this.sessions.length,
      taintedSessions: this.sessions.filter((s) => s.taints.size > 0).length,
      totalCalls: this.sessions.reduce((sum, s) => sum + s.total, 0),
      maxSessions: this.config.maxSessions,
      evicted: this.evicted,
      expired: this.expired
    }
  }

  state(): ReadonlyArray<View> {
    return this.sessions.map((s) => this.view(s)).sort(byId)
  }
}

const entryView = (entry: Table.Entry): View => {
  const state = toState(entry)
  return {
    id: state.sessionId,
    createdAt: DateTime.toEpochMillis(state.createdAt),
    last: DateTime.toEpochMillis(state.lastAccessedAt),
    total: state.totalCalls,
    counts: sortedCounts(HashMap.toEntries(state.toolCounts)),
    taints: [...HashSet.values(state.taints)].sort()
  }
}

const settled = (result: Table.Entry | SessionCapacityExceeded): View | Failure =>
  result instanceof SessionCapacityExceeded ? result.reason : entryView(result)

/** The invariants of the core's representation, checked after every step. */
const checkInvariants = (table: Table.Table) => {
  const entries = [...HashMap.values(table.sessions)]
  expect(entries.length).toBeLessThanOrEqual(table.config.maxSessions)
  expect(table.untainted.size + table.tainted.size).toBe(entries.length)
  expect(table.totalCalls).toBe(entries.reduce((sum, e) => sum + e.totalCalls, 0))
  for (const [index, tainted] of [
    [table.untainted, false],
    [table.tainted, true]
  ] as const) {
    const inOrder = AccessIndex.values(index)
    expect(inOrder.length).toBe(index.size)
    for (let i = 0; i < inOrder.length; i++) {
      const entry = inOrder[i]!
      // The very record stored in the map, in the index that matches its taints, in touch order.
      expect(HashMap.unsafeGet(table.sessions, entry.id)).toBe(entry)
      expect(entry.taints !== 0).toBe(tainted)
      if (i > 0) expect(inOrder[i - 1]!.touch).toBeLessThan(entry.touch)
    }
    expect(AccessIndex.first(index)).toBe(inOrder[0])
  }
}

const ids = ["a", "b", "c", "d", "e", "__proto__", "constructor"]
const tools = ["x", "y", "z", "__proto__"]
const piis: ReadonlyArray<PIIType> = ["EMAIL", "PHONE", "CUSTOM"]

const operation = fc.oneof(
  {
    arbitrary: fc.record({ op: fc.constant("getOrCreate" as const), id: fc.constantFrom(...ids) }),
    weight: 3
  },
  {
    arbitrary: fc.record({
      op: fc.constant("increment" as const),
      id: fc.constantFrom(...ids),
      tool: fc.constantFrom(...tools)
    }),
    weight: 6
  },
  {
    arbitrary: fc.record({
      op: fc.constant("addTaint" as const),
      id: fc.constantFrom(...ids),
      pii: fc.constantFrom(...piis)
    }),
    weight: 2
  },
  {
    arbitrary: fc.record({
      op: fc.constant("decide" as const),
      id: fc.constantFrom(...ids),
      tool: fc.constantFrom(...tools),
      limit: fc.integer({ min: 0, max: 3 })
    }),
    weight: 3
  },
  { arbitrary: fc.record({ op: fc.constant("get" as const), id: fc.constantFrom(...ids) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant("getTaints" as const), id: fc.constantFrom(...ids) }), weight: 1 },
  {
    arbitrary: fc.record({ op: fc.constant("clearTaints" as const), id: fc.constantFrom(...ids) }),
    weight: 1
  },
  { arbitrary: fc.record({ op: fc.constant("remove" as const), id: fc.constantFrom(...ids) }), weight: 1 },
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

const config: fc.Arbitrary<Table.TableConfig> = fc.record({
  ttlMillis: fc.constantFrom(0, 1, 3, 10, Number.POSITIVE_INFINITY),
  maxSessions: fc.integer({ min: 1, max: 5 }),
  protectTainted: fc.boolean(),
  maxToolsPerSession: fc.integer({ min: 1, max: 3 })
})

describe("sessionTable (the pure core)", () => {
  it.prop(
    "agrees with a naive model of the specification on every step of random runs",
    [config, fc.array(operation, { minLength: 1, maxLength: 80 })],
    ([config, operations]) => {
      const model = new Model(config)
      let table = Table.empty(config)
      let reading = 0
      for (const step of operations) {
        const previous = table
        model.events = []
        let actual: unknown
        let expected: unknown
        switch (step.op) {
          case "advance":
            reading += step.ms
            continue
          case "stepBack":
            reading -= step.ms
            continue
          case "getOrCreate": {
            const [result, next] = Table.getOrCreate(table, reading, SessionId.make(step.id))
            table = next
            actual = settled(result)
            expected = model.touching(reading, step.id, () => undefined)
            break
          }
          case "increment": {
            const [result, next] = Table.increment(
              table,
              reading,
              SessionId.make(step.id),
              ToolName.make(step.tool)
            )
            table = next
            actual = settled(result)
            expected = model.increment(reading, step.id, step.tool)
            break
          }
          case "decide": {
            const [result, next] = Table.decideAndRecord(
              table,
              reading,
              SessionId.make(step.id),
              ToolName.make(step.tool),
              (before) => {
                const allowed = ToolCounts.get(before.tools, ToolName.make(step.tool)) < step.limit
                return { record: allowed, value: allowed }
              }
            )
            table = next
            actual =
              result instanceof SessionCapacityExceeded
                ? result.reason
                : { value: result.value, view: entryView(result.entry) }
            expected = model.decide(reading, step.id, step.tool, step.limit)
            break
          }
          case "addTaint": {
            const [result, next] = Table.addTaint(table, reading, SessionId.make(step.id), step.pii)
            table = next
            actual = settled(result)
            expected = model.addTaint(reading, step.id, step.pii)
            break
          }
          case "get": {
            const [result, next] = Table.get(table, reading, SessionId.make(step.id))
            table = next
            actual = result === undefined ? undefined : entryView(result)
            expected = model.get(reading, step.id)
            break
          }
          case "getTaints": {
            const [result, next] = Table.get(table, reading, SessionId.make(step.id))
            table = next
            actual = [...Taints.toHashSet(result?.taints ?? 0)].sort()
            expected = model.get(reading, step.id)?.taints ?? []
            break
          }
          case "clearTaints": {
            const [result, next] = Table.clearTaints(table, reading, SessionId.make(step.id))
            table = next
            actual = result
            expected = model.clearTaints(reading, step.id)
            break
          }
          case "remove": {
            const [result, next] = Table.remove(table, reading, SessionId.make(step.id))
            table = next
            actual = result
            expected = model.remove(reading, step.id)
            break
          }
          case "cleanup": {
            const [result, next] = Table.cleanup(table, reading)
            table = next
            actual = result
            expected = model.cleanup(reading)
            break
          }
          case "stats": {
            const [result, next] = Table.stats(table, reading)
            table = next
            actual = result
            expected = model.stats(reading)
            break
          }
        }
        expect(actual, JSON.stringify(step)).toEqual(expected)
        expect([...HashMap.values(table.sessions)].map(entryView).sort(byId)).toEqual(model.state())
        expect([table.evicted, table.expired, table.now]).toEqual([model.evicted, model.expired, model.now])
        // What the step did to the sessions, for events and metrics, in the order it did it.
        expect(table === previous ? [] : (table.lifecycle ?? [])).toEqual(model.events)
        checkInvariants(table)
        // Expired sessions are never visible: whatever the table still holds past its TTL, a
        // read at the same time must not return it.
        for (const entry of HashMap.values(table.sessions)) {
          if (Table.isExpired(config, entry, table.now)) {
            expect(Table.get(table, table.now, entry.id)[0]).toBeUndefined()
          }
        }
      }
    },
    { fastCheck: { numRuns: 400 } }
  )

  it("never changes the table it is given", () => {
    const config = { ttlMillis: 5, maxSessions: 2, protectTainted: true, maxToolsPerSession: 2 }
    let table = Table.empty(config)
    table = Table.increment(table, 0, SessionId.make("a"), ToolName.make("x"))[1]
    table = Table.addTaint(table, 1, SessionId.make("b"), "EMAIL")[1]
    const before = JSON.stringify([...HashMap.values(table.sessions)].map(entryView))
    const beforeFields = { ...table }
    Table.increment(table, 2, SessionId.make("a"), ToolName.make("y"))
    Table.getOrCreate(table, 3, SessionId.make("c"))
    Table.clearTaints(table, 3, SessionId.make("b"))
    Table.remove(table, 3, SessionId.make("a"))
    Table.cleanup(table, 100)
    Table.stats(table, 100)
    expect(JSON.stringify([...HashMap.values(table.sessions)].map(entryView))).toBe(before)
    expect({ ...table }).toEqual(beforeFields)
    expect(AccessIndex.values(table.untainted).map((e) => e.id)).toEqual(["a"])
  })

  it("drops a bounded number of expired sessions per ordinary operation", () => {
    const config = { ttlMillis: 10, maxSessions: 10_000, protectTainted: true, maxToolsPerSession: 4 }
    let table = Table.empty(config)
    for (let i = 0; i < 1000; i++) table = Table.getOrCreate(table, 0, SessionId.make(`s${i}`))[1]
    const [, next] = Table.get(table, 11, SessionId.make("missing"))
    expect(HashMap.size(table.sessions) - HashMap.size(next.sessions)).toBe(Table.SWEEP_PER_OPERATION)
    const [dropped] = Table.cleanup(next, 11)
    expect(dropped).toBe(1000 - Table.SWEEP_PER_OPERATION)
  })
})
