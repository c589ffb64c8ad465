/**
 * The pure core against the naive model (support/sessionModel.ts): results, the whole table and
 * the events must agree after every step of random runs, and the core's own invariants (the
 * access indexes, the totals) must hold.
 */
import { describe, expect, it } from "@effect/vitest"
import { DateTime, FastCheck as fc, HashMap, HashSet } from "effect"
import { SessionId, ToolName } from "../src/index.js"
import * as AccessIndex from "../src/internal/core/accessIndex.js"
import * as Table from "../src/internal/core/sessionTable.js"
import * as ToolCounts from "../src/internal/core/toolCounts.js"
import { toState } from "../src/internal/shell/snapshot.js"
import {
  byId,
  expectedOf,
  Model,
  modelConfig,
  type Step,
  sortedCounts,
  step,
  type View
} from "./support/sessionModel.js"

const recordView = (record: Table.SessionRecord): View => {
  const state = toState(record)
  return {
    id: state.sessionId,
    createdAt: DateTime.toEpochMillis(state.createdAt),
    last: DateTime.toEpochMillis(state.lastAccessedAt),
    total: state.totalCalls,
    counts: sortedCounts(HashMap.toEntries(state.toolCounts)),
    taints: [...HashSet.values(state.taints)].sort()
  }
}

const touchedView = (outcome: Table.Touched) =>
  outcome._tag === "Refused" ? outcome.reason : recordView(outcome.record)

/** The step as an operation of the core, and its result in the model's form. */
const run = (table: Table.Table, reading: number, s: Exclude<Step, { op: "advance" | "stepBack" }>) => {
  const sid = "id" in s ? SessionId.make(s.id) : undefined
  switch (s.op) {
    case "getOrCreate":
    case "increment":
    case "addTaint": {
      const operation: Table.Operation =
        s.op === "increment"
          ? { _tag: "increment", id: sid!, tool: ToolName.make(s.tool) }
          : s.op === "addTaint"
            ? { _tag: "addTaint", id: sid!, pii: s.pii }
            : { _tag: "getOrCreate", id: sid! }
      const t = Table.apply(table, reading, operation) as Table.Transition<Table.Touched>
      return { t, actual: touchedView(t.result) }
    }
    case "decide": {
      const tool = ToolName.make(s.tool)
      const t = Table.apply(table, reading, {
        _tag: "decideAndRecord",
        id: sid!,
        tool,
        decide: (before) => {
          const allowed = ToolCounts.get(before.tools, tool) < s.limit
          return { record: allowed, value: allowed }
        }
      })
      const r = t.result
      return { t, actual: r._tag === "Refused" ? r.reason : { value: r.value, view: recordView(r.record) } }
    }
    case "get": {
      const t = Table.apply(table, reading, { _tag: "get", id: sid! })
      return { t, actual: t.result === undefined ? undefined : recordView(t.result) }
    }
    case "getTaints": {
      const t = Table.apply(table, reading, { _tag: "getTaints", id: sid! })
      return {
        t,
        actual: [...toState({ ...Table.fresh(sid!, DateTime.unsafeMake(0)), taints: t.result }).taints].sort()
      }
    }
    case "clearTaints":
    case "remove": {
      const t = Table.apply(table, reading, { _tag: s.op, id: sid! })
      return { t, actual: t.result }
    }
    case "cleanup": {
      const t = Table.apply(table, reading, { _tag: "cleanup" })
      return { t, actual: t.result }
    }
    case "stats": {
      const t = Table.apply(table, reading, { _tag: "stats" })
      return { t, actual: t.result }
    }
  }
}

const allRecords = (table: Table.Table) => [
  ...HashMap.values(table.sessions),
  ...HashMap.values(table.parkedSessions)
]

/** The invariants of the core's representation, checked after every step. */
const checkInvariants = (table: Table.Table) => {
  const live = [...HashMap.values(table.sessions)]
  const parked = [...HashMap.values(table.parkedSessions)]
  expect(live.every((r) => !r.parked)).toBe(true)
  expect(parked.every((r) => r.parked)).toBe(true)
  expect(live.length).toBeLessThanOrEqual(table.config.maxSessions)
  expect(table.live.untainted.size + table.live.tainted.size).toBe(live.length)
  expect(table.parked.untainted.size + table.parked.tainted.size).toBe(parked.length)
  expect(table.totalCalls).toBe(live.reduce((sum, r) => sum + r.totalCalls, 0))
  const bytes = (rs: ReadonlyArray<Table.SessionRecord>) =>
    rs.reduce((sum, r) => sum + Table.recordBytes(r), 0)
  expect(table.parkedBytes).toBe(bytes(parked))
  expect(table.parkedTaintedBytes).toBe(bytes(parked.filter((r) => r.taints !== 0)))
  expect(table.parkedBytes).toBeLessThanOrEqual(table.config.maxParkedBytes)
  // sweepFrom is a lower bound of every session's expiry: no sweep is skipped that was needed.
  for (const r of [...live, ...parked]) {
    expect(r.lastAccessedAt.epochMillis + table.config.ttlMillis).toBeGreaterThanOrEqual(table.sweepFrom)
  }
  for (const [index, tainted, inParked] of [
    [table.live.untainted, false, false],
    [table.live.tainted, true, false],
    [table.parked.untainted, false, true],
    [table.parked.tainted, true, true]
  ] as const) {
    const inOrder = AccessIndex.values(index)
    expect(inOrder.length).toBe(index.size)
    for (let i = 0; i < inOrder.length; i++) {
      const record = inOrder[i]!
      // The very record stored in the map, in the index of its tier and taints, in touch order.
      expect(HashMap.unsafeGet(inParked ? table.parkedSessions : table.sessions, record.id)).toBe(record)
      expect(record.taints !== 0).toBe(tainted)
      expect(record.parked).toBe(inParked)
      if (i > 0) expect(inOrder[i - 1]!.touch).toBeLessThan(record.touch)
    }
    expect(AccessIndex.first(index)).toBe(inOrder[0])
  }
}

// Small enough that creating a third session parks one: the parking paths run too.
const small: Table.TableConfig = {
  ttlMillis: 5,
  maxSessions: 2,
  protectTainted: true,
  maxToolsPerSession: 2,
  maxParkedBytes: 10_000
}

describe("sessionTable (the pure core)", () => {
  it.prop(
    "agrees with a naive model on every step of random runs",
    [modelConfig, fc.array(step, { minLength: 1, maxLength: 80 })],
    ([config, steps]) => {
      const model = new Model(config)
      let table = Table.empty(config)
      let reading = 0
      for (const s of steps) {
        if (s.op === "advance" || s.op === "stepBack") {
          reading += s.op === "advance" ? s.ms : -s.ms
          continue
        }
        const previous = table
        model.events = []
        const { t, actual } = run(table, reading, s)
        table = t.table
        const expected = expectedOf(model, reading, s)
        expect(actual, JSON.stringify(s)).toEqual(expected)
        expect(allRecords(table).map(recordView).sort(byId)).toEqual(model.state())
        expect([table.evicted, table.expired, table.parkings, table.now]).toEqual([
          model.evicted,
          model.expired,
          model.parkings,
          model.now
        ])
        expect([...HashMap.values(table.parkedSessions)].map((r) => r.id).sort()).toEqual(
          model.sessions
            .filter((m) => m.parked)
            .map((m) => m.id)
            .sort()
        )
        // What the step did to the sessions, for events and metrics, in the order it did it.
        expect(t.events).toEqual(model.events)
        if (t.events.length > 0) expect(table).not.toBe(previous)
        checkInvariants(table)
        // Expired sessions are never visible: whatever the table still holds past its TTL, a
        // read at the same time must not return it.
        for (const record of allRecords(table)) {
          if (Table.isExpired(config, record, table.now)) {
            expect(Table.apply(table, table.now, { _tag: "get", id: record.id }).result).toBeUndefined()
          }
        }
      }
    },
    { fastCheck: { numRuns: 400 } }
  )

  it("never changes the table it is given", () => {
    const [a, b, c] = ["a", "b", "c"].map((s) => SessionId.make(s)) as [SessionId, SessionId, SessionId]
    let table = Table.empty(small)
    table = Table.apply(table, 0, { _tag: "increment", id: a, tool: ToolName.make("x") }).table
    table = Table.apply(table, 1, { _tag: "addTaint", id: b, pii: "EMAIL" }).table
    const before = JSON.stringify(allRecords(table).map(recordView))
    const beforeFields = { ...table }
    Table.apply(table, 2, { _tag: "increment", id: a, tool: ToolName.make("y") })
    Table.apply(table, 3, { _tag: "getOrCreate", id: c })
    Table.apply(table, 3, { _tag: "clearTaints", id: b })
    Table.apply(table, 3, { _tag: "remove", id: a })
    Table.apply(table, 100, { _tag: "cleanup" })
    Table.apply(table, 100, { _tag: "stats" })
    expect(JSON.stringify(allRecords(table).map(recordView))).toBe(before)
    expect({ ...table }).toEqual(beforeFields)
    expect(AccessIndex.values(table.live.untainted).map((e) => e.id)).toEqual(["a"])
  })

  it("a read that changes nothing hands back the same table and no events", () => {
    const a = SessionId.make("a")
    const table = Table.apply(Table.empty(small), 0, { _tag: "getOrCreate", id: a }).table
    const read = Table.apply(table, 0, { _tag: "get", id: a })
    expect(read.table).toBe(table)
    expect(read.events).toEqual([])
  })

  it("drops a bounded number of expired sessions per ordinary operation", () => {
    const config = {
      ttlMillis: 10,
      maxSessions: 10_000,
      protectTainted: true,
      maxToolsPerSession: 4,
      maxParkedBytes: 0
    }
    let table = Table.empty(config)
    for (let i = 0; i < 1000; i++)
      table = Table.apply(table, 0, { _tag: "getOrCreate", id: SessionId.make(`s${i}`) }).table
    const { table: next } = Table.apply(table, 11, { _tag: "get", id: SessionId.make("missing") })
    expect(HashMap.size(table.sessions) - HashMap.size(next.sessions)).toBe(Table.SWEEP_PER_OPERATION)
    expect(Table.apply(next, 11, { _tag: "cleanup" }).result).toBe(1000 - Table.SWEEP_PER_OPERATION)
  })
})
