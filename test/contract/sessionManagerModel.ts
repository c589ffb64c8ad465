/**
 * The model-based test of the service, written once and run against each store: random runs
 * of operations and clock moves (TestClock, forwards and backwards) through the public API,
 * compared with the naive model (support/sessionModel.ts) on every result and every event.
 * On Redis this checks the Lua script by the same model as the TypeScript core.
 */
import { expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc, HashMap, HashSet, Queue, TestClock } from "effect"
import {
  type SessionEvent,
  SessionId,
  SessionManager,
  type SessionManagerOptions,
  type SessionState,
  ToolName
} from "../../src/index.js"
import {
  expectedOf,
  ids,
  Model,
  type ModelConfig,
  type ModelEvent,
  modelConfig,
  type Step,
  sortedCounts,
  step,
  type View
} from "../support/sessionModel.js"
import type { MakeLayer } from "./sessionManagerContract.js"

const viewOf = (state: SessionState): View => ({
  id: state.sessionId,
  createdAt: state.createdAt.epochMillis,
  last: state.lastAccessedAt.epochMillis,
  total: state.totalCalls,
  counts: sortedCounts(HashMap.toEntries(state.toolCounts)),
  taints: [...HashSet.values(state.taints)].sort()
})

const eventOf = (event: SessionEvent): ModelEvent => {
  switch (event._tag) {
    case "Evicted":
    case "Parked":
      return { _tag: event._tag, sessionId: event.sessionId, tainted: event.tainted }
    case "Tainted":
      return { _tag: "Tainted", sessionId: event.sessionId, pii: event.pii }
    case "StoreLost":
      throw new Error("no store loss in a model run")
    default:
      return { _tag: event._tag, sessionId: event.sessionId }
  }
}

const optionsOf = (config: ModelConfig): SessionManagerOptions => ({
  ttl: Number.isFinite(config.ttlMillis) ? Duration.millis(config.ttlMillis) : Duration.infinity,
  maxSessions: config.maxSessions,
  protectTainted: config.protectTainted,
  maxToolsPerSession: config.maxToolsPerSession,
  maxParkedBytes: config.maxParkedBytes
})

// Far from zero, so that stepping back never reaches negative times.
const START = 1_000_000

export const sessionManagerModel = (name: string, makeLayer: MakeLayer, numRuns: number) =>
  it.effect.prop(
    `${name}: agrees with a naive model on every result and event of random runs`,
    [modelConfig, fc.array(step, { minLength: 1, maxLength: 60 })],
    ([config, steps]) =>
      Effect.gen(function* () {
        const sm = yield* SessionManager
        const events = yield* sm.subscribe
        const model = new Model(config)
        let reading = START
        yield* TestClock.setTime(reading)
        // Every id read at the end, so that the final state is compared too.
        const all: ReadonlyArray<Step> = [...steps, ...ids.map((id) => ({ op: "get" as const, id }))]
        for (const s of all) {
          if (s.op === "advance" || s.op === "stepBack") {
            reading += s.op === "advance" ? s.ms : -s.ms
            yield* TestClock.setTime(reading)
            continue
          }
          model.events = []
          const actual = yield* run(sm, s)
          const expected = expectedOf(model, reading, s)
          expect(actual, JSON.stringify(s)).toEqual(expected)
          expect((yield* Queue.takeAll(events)).pipe((chunk) => [...chunk].map(eventOf))).toEqual(
            model.events
          )
        }
      }).pipe(Effect.scoped, Effect.provide(makeLayer(optionsOf(config)))),
    { timeout: 300_000, fastCheck: { numRuns } }
  )

/** The step through the service, and its result in the model's form. */
const run = (sm: SessionManager["Type"], s: Exclude<Step, { op: "advance" } | { op: "stepBack" }>) => {
  const id = "id" in s ? SessionId.make(s.id) : SessionId.make("unused")
  const touched = (
    effect: Effect.Effect<SessionState, { readonly _tag: string; readonly reason?: string }>
  ) =>
    Effect.match(effect, {
      onFailure: (error) => (error._tag === "SessionCapacityExceeded" ? error.reason : error._tag),
      onSuccess: viewOf
    })
  switch (s.op) {
    case "getOrCreate":
      return touched(sm.getOrCreate(id))
    case "increment":
      return touched(sm.increment(id, ToolName.make(s.tool)))
    case "addTaint":
      return touched(sm.addTaint(id, s.pii))
    case "decide": {
      const tool = ToolName.make(s.tool)
      return Effect.match(
        sm.decideAndRecord(id, tool, (before) => {
          const allowed = before.toolCount(tool) < s.limit
          return { record: allowed, value: allowed }
        }),
        {
          onFailure: (error) => (error._tag === "SessionCapacityExceeded" ? error.reason : error._tag),
          onSuccess: ({ value, state }) => ({ value, view: viewOf(state) })
        }
      )
    }
    case "get":
      return Effect.map(sm.get(id), (state) => (state._tag === "Some" ? viewOf(state.value) : undefined))
    case "getTaints":
      return Effect.map(sm.getTaints(id), (taints) => [...HashSet.values(taints)].sort())
    case "clearTaints":
      return sm.clearTaints(id)
    case "remove":
      return sm.remove(id)
    case "cleanup":
      return sm.cleanup
    case "stats":
      return Effect.map(sm.stats, (stats) => ({ ...stats }))
  }
}
