/**
 * The semantics every SessionManager layer must have, written once and run against each layer
 * (in memory, Redis), so that the layers cannot drift apart. Time is TestClock's throughout.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  DateTime,
  Duration,
  Effect,
  Either,
  HashMap,
  HashSet,
  Layer,
  Option,
  Queue,
  Schema,
  TestClock
} from "effect"
import {
  PIIDetector,
  type PIIType,
  SessionCapacityExceeded,
  SessionId,
  SessionManager,
  type SessionManagerOptions,
  type SessionManagerService,
  SessionState,
  ShieldEngine,
  type ShieldEngineService,
  ShieldPolicy,
  ToolName
} from "../../src/index.js"
import { RECORD_BYTES, TOOL_BYTES } from "../../src/internal/core/sessionTable.js"

/** Builds the layer under test with the given options. */
export type MakeLayer = (options?: SessionManagerOptions) => Layer.Layer<SessionManager, unknown>

const sid = (s: string) => SessionId.make(s)
const tool = (s: string) => ToolName.make(s)
const ms = (n: number) => Duration.millis(n)
const epoch = (state: SessionState, field: "createdAt" | "lastAccessedAt") =>
  DateTime.toEpochMillis(state[field])

export const sessionManagerContract = (name: string, makeLayer: MakeLayer) => {
  const withManager =
    (options: SessionManagerOptions | undefined) =>
    <A, E>(body: (sm: SessionManagerService) => Effect.Effect<A, E>) =>
      Effect.flatMap(SessionManager, body).pipe(Effect.provide(makeLayer(options)))

  describe(`${name}: the specification's tests`, () => {
    it.effect("1. a new session starts with zero calls", () =>
      withManager(undefined)((sm) =>
        Effect.gen(function* () {
          const state = yield* sm.getOrCreate(sid("s1"))
          expect(state.sessionId).toBe("s1")
          expect(state.totalCalls).toBe(0)
          expect(HashMap.size(state.toolCounts)).toBe(0)
          expect(HashSet.size(state.taints)).toBe(0)
        })
      )
    )

    it.effect("2. an existing session is the same session, counts carried over", () =>
      withManager(undefined)((sm) =>
        Effect.gen(function* () {
          const first = yield* sm.getOrCreate(sid("s1"))
          yield* sm.increment(sid("s1"), tool("exec"))
          yield* TestClock.adjust(ms(5))
          const again = yield* sm.getOrCreate(sid("s1"))
          expect(again.sessionId).toBe(first.sessionId)
          expect(epoch(again, "createdAt")).toBe(epoch(first, "createdAt"))
          expect(again.totalCalls).toBe(1)
          expect(again.toolCount(tool("exec"))).toBe(1)
        })
      )
    )

    it.effect("3. two increments of exec count 2 for exec and 2 in total", () =>
      withManager(undefined)((sm) =>
        Effect.gen(function* () {
          yield* sm.increment(sid("s1"), tool("exec"))
          const state = yield* sm.increment(sid("s1"), tool("exec"))
          expect(HashMap.get(state.toolCounts, tool("exec"))).toEqual(Option.some(2))
          expect(state.totalCalls).toBe(2)
        })
      )
    )

    // A TTL of 0 is refused (every limit and taint would vanish a millisecond later): 1 ms is the
    // shortest.
    it.effect("4. with the shortest TTL a session expires once time moves, and comes back new", () =>
      withManager({ ttl: ms(1) })((sm) =>
        Effect.gen(function* () {
          yield* sm.increment(sid("s1"), tool("exec"))
          yield* TestClock.adjust(ms(2))
          const state = yield* sm.getOrCreate(sid("s1"))
          expect(state.totalCalls).toBe(0)
          expect(epoch(state, "createdAt")).toBe(2)
        })
      )
    )

    it.effect("5. with maxSessions 2 and no parking budget, creating a third session removes the first", () =>
      withManager({ maxSessions: 2, maxParkedBytes: 0 })((sm) =>
        Effect.gen(function* () {
          yield* sm.getOrCreate(sid("s1"))
          yield* sm.getOrCreate(sid("s2"))
          yield* sm.getOrCreate(sid("s3"))
          expect(yield* sm.get(sid("s1"))).toEqual(Option.none())
          expect(Option.isSome(yield* sm.get(sid("s2")))).toBe(true)
          expect(Option.isSome(yield* sm.get(sid("s3")))).toBe(true)
        })
      )
    )

    it.effect("6. an added taint is among the session's taints", () =>
      withManager(undefined)((sm) =>
        Effect.gen(function* () {
          yield* sm.addTaint(sid("s1"), "EMAIL")
          const taints = yield* sm.getTaints(sid("s1"))
          expect(HashSet.has(taints, "EMAIL")).toBe(true)
          expect(HashSet.size(taints)).toBe(1)
        })
      )
    )

    it.effect("7. cleanup removes both sessions expired with the shortest TTL", () =>
      withManager({ ttl: ms(1) })((sm) =>
        Effect.gen(function* () {
          yield* sm.getOrCreate(sid("s1"))
          yield* sm.getOrCreate(sid("s2"))
          yield* TestClock.adjust(ms(2))
          expect(yield* sm.cleanup).toBe(2)
          expect((yield* sm.stats).activeSessions).toBe(0)
        })
      )
    )

    it.effect("8. stats count two sessions and every call", () =>
      withManager(undefined)((sm) =>
        Effect.gen(function* () {
          yield* sm.increment(sid("s1"), tool("exec"))
          yield* sm.increment(sid("s1"), tool("web_fetch"))
          yield* sm.increment(sid("s2"), tool("exec"))
          const stats = yield* sm.stats
          expect(stats.activeSessions).toBe(2)
          expect(stats.totalCalls).toBe(3)
        })
      )
    )

    it.effect("9. ten concurrent increments on one session give ten calls", () =>
      withManager(undefined)((sm) =>
        Effect.gen(function* () {
          yield* Effect.all(
            Array.from({ length: 10 }, () => sm.increment(sid("s1"), tool("exec"))),
            { concurrency: "unbounded" }
          )
          const state = yield* sm.getOrCreate(sid("s1"))
          expect(state.totalCalls).toBe(10)
          expect(state.toolCount(tool("exec"))).toBe(10)
        })
      )
    )
  })

  describe(`${name}: expiry`, () => {
    it.effect("a session is live at ttl - 1 and at ttl, and expired at ttl + 1 ms", () =>
      withManager({ ttl: ms(1000) })((sm) =>
        Effect.gen(function* () {
          yield* sm.getOrCreate(sid("s1"))
          yield* TestClock.adjust(ms(999))
          expect(Option.isSome(yield* sm.get(sid("s1")))).toBe(true)
          yield* TestClock.adjust(ms(1))
          expect(Option.isSome(yield* sm.get(sid("s1")))).toBe(true)
          yield* TestClock.adjust(ms(1))
          expect(yield* sm.get(sid("s1"))).toEqual(Option.none())
        })
      )
    )

    it.effect("an expired session is never visible, even when cleanup never ran", () =>
      withManager({ ttl: ms(100) })((sm) =>
        Effect.gen(function* () {
          for (const id of ["a", "b", "c", "d"]) {
            yield* sm.increment(sid(id), tool("exec"))
            yield* sm.addTaint(sid(id), "EMAIL")
          }
          yield* TestClock.adjust(ms(101))
          expect(yield* sm.get(sid("a"))).toEqual(Option.none())
          expect(HashSet.size(yield* sm.getTaints(sid("b")))).toBe(0)
          const c = yield* sm.getOrCreate(sid("c"))
          expect(c.totalCalls).toBe(0)
          expect(HashSet.size(c.taints)).toBe(0)
          expect(epoch(c, "createdAt")).toBe(101)
          const d = yield* sm.increment(sid("d"), tool("web_fetch"))
          expect(d.totalCalls).toBe(1)
          expect(d.toolCount(tool("exec"))).toBe(0)
          expect(HashSet.size(d.taints)).toBe(0)
        })
      )
    )

    it.effect("adding a taint to an expired session starts a fresh session with only that taint", () =>
      withManager({ ttl: ms(100) })((sm) =>
        Effect.gen(function* () {
          yield* sm.addTaint(sid("s1"), "EMAIL")
          yield* sm.increment(sid("s1"), tool("exec"))
          yield* TestClock.adjust(ms(200))
          const state = yield* sm.addTaint(sid("s1"), "PHONE")
          expect([...state.taints]).toEqual(["PHONE"])
          expect(state.totalCalls).toBe(0)
        })
      )
    )

    it.effect("idle expiry drops the taints with the session", () =>
      withManager({ ttl: Duration.minutes(30) })((sm) =>
        Effect.gen(function* () {
          yield* sm.addTaint(sid("s1"), "CREDIT_CARD")
          yield* TestClock.adjust(Duration.minutes(31))
          expect(HashSet.size(yield* sm.getTaints(sid("s1")))).toBe(0)
        })
      )
    )

    it.effect("Duration.infinity means sessions never expire", () =>
      withManager({ ttl: Duration.infinity })((sm) =>
        Effect.gen(function* () {
          yield* sm.increment(sid("s1"), tool("exec"))
          yield* TestClock.adjust(Duration.weeks(10_000))
          expect(yield* sm.cleanup).toBe(0)
          const state = yield* sm.get(sid("s1"))
          expect(Option.map(state, (s) => s.totalCalls)).toEqual(Option.some(1))
        })
      )
    )

    it.effect("a clock stepped back never resurrects an expired session", () =>
      withManager({ ttl: ms(1000) })((sm) =>
        Effect.gen(function* () {
          // Older sessions first, so that what operations drop on their way is not s1.
          for (let i = 0; i < 10; i++) yield* sm.getOrCreate(sid(`older-${i}`))
          yield* sm.addTaint(sid("s1"), "EMAIL")
          yield* TestClock.setTime(5000)
          // The manager sees 5000, when s1 has expired.
          yield* sm.getOrCreate(sid("other"))
          yield* TestClock.setTime(500)
          expect(yield* sm.get(sid("s1"))).toEqual(Option.none())
          expect(HashSet.size(yield* sm.getTaints(sid("s1")))).toBe(0)
        })
      )
    )

    it.effect("a clock stepped back does not move a session's last access back", () =>
      withManager({ ttl: ms(1000) })((sm) =>
        Effect.gen(function* () {
          yield* TestClock.setTime(10_000)
          yield* sm.getOrCreate(sid("s1"))
          yield* TestClock.setTime(2_000)
          const s2 = yield* sm.getOrCreate(sid("s2"))
          expect(epoch(s2, "lastAccessedAt")).toBe(10_000)
          expect(epoch(s2, "createdAt")).toBe(10_000)
          // Time only moves on from the latest reading, so s1 expires 1001 ms after 10_000.
          yield* TestClock.setTime(11_001)
          expect(yield* sm.get(sid("s1"))).toEqual(Option.none())
        })
      )
    )

    it.effect("a clock past the largest date reads as that date: nothing dies, sessions expire", () =>
      withManager({ ttl: ms(1_000) })((sm) =>
        Effect.gen(function* () {
          yield* sm.addTaint(sid("s1"), "EMAIL")
          yield* TestClock.setTime(8_640_000_000_000_001)
          expect(HashSet.size(yield* sm.getTaints(sid("s1")))).toBe(0)
          const state = yield* sm.increment(sid("s2"), tool("exec"))
          expect(epoch(state, "createdAt")).toBe(8_640_000_000_000_000)
          yield* TestClock.adjust(Duration.infinity)
          const again = yield* sm.increment(sid("s2"), tool("exec"))
          expect([again.totalCalls, epoch(again, "lastAccessedAt")]).toEqual([2, 8_640_000_000_000_000])
          expect((yield* sm.stats).expired).toBe(1)
        })
      )
    )

    it.effect("a clock that reads no number at all does not move the manager's time", () =>
      withManager({ ttl: ms(1_000) })((sm) =>
        Effect.gen(function* () {
          yield* TestClock.setTime(5_000)
          yield* sm.increment(sid("s1"), tool("exec"))
          yield* TestClock.setTime(Number.NaN)
          const state = yield* sm.increment(sid("s1"), tool("exec"))
          expect([state.totalCalls, epoch(state, "lastAccessedAt")]).toEqual([2, 5_000])
        })
      )
    )

    it.effect("a clock stepped back keeps the access order", () =>
      withManager({ maxSessions: 2, maxParkedBytes: 0 })((sm) =>
        Effect.gen(function* () {
          yield* TestClock.setTime(10_000)
          yield* sm.getOrCreate(sid("s1"))
          yield* TestClock.setTime(1_000)
          yield* sm.getOrCreate(sid("s2"))
          yield* sm.getOrCreate(sid("s3"))
          expect(yield* sm.get(sid("s1"))).toEqual(Option.none())
          expect(Option.isSome(yield* sm.get(sid("s2")))).toBe(true)
        })
      )
    )
  })

  describe(`${name}: touching`, () => {
    const touches: ReadonlyArray<
      readonly [string, (sm: SessionManagerService, id: SessionId) => Effect.Effect<unknown, unknown>]
    > = [
      ["getOrCreate", (sm, id) => sm.getOrCreate(id)],
      ["increment", (sm, id) => sm.increment(id, tool("exec"))],
      ["addTaint", (sm, id) => sm.addTaint(id, "PHONE")]
    ]
    for (const [op, run] of touches) {
      it.effect(`${op} extends a session's life`, () =>
        withManager({ ttl: ms(100) })((sm) =>
          Effect.gen(function* () {
            yield* sm.getOrCreate(sid("s1"))
            yield* TestClock.adjust(ms(80))
            yield* run(sm, sid("s1"))
            yield* TestClock.adjust(ms(80))
            const state = yield* sm.get(sid("s1"))
            expect(Option.map(state, (s) => epoch(s, "lastAccessedAt"))).toEqual(Option.some(80))
            expect(Option.map(state, (s) => epoch(s, "createdAt"))).toEqual(Option.some(0))
          })
        )
      )
    }

    const reads: ReadonlyArray<
      readonly [string, (sm: SessionManagerService, id: SessionId) => Effect.Effect<unknown, unknown>]
    > = [
      ["get", (sm, id) => sm.get(id)],
      ["getTaints", (sm, id) => sm.getTaints(id)],
      ["clearTaints", (sm, id) => sm.clearTaints(id)],
      ["stats", (sm) => sm.stats],
      ["cleanup", (sm) => sm.cleanup]
    ]
    for (const [op, run] of reads) {
      it.effect(`${op} does not extend a session's life`, () =>
        withManager({ ttl: ms(100) })((sm) =>
          Effect.gen(function* () {
            yield* sm.addTaint(sid("s1"), "EMAIL")
            yield* TestClock.adjust(ms(80))
            yield* run(sm, sid("s1"))
            yield* TestClock.adjust(ms(80))
            expect(yield* sm.get(sid("s1"))).toEqual(Option.none())
          })
        )
      )
    }

    it.effect("remove and clearTaints act on live sessions only", () =>
      withManager({ ttl: ms(100) })((sm) =>
        Effect.gen(function* () {
          expect(yield* sm.remove(sid("missing"))).toBe(false)
          expect(yield* sm.clearTaints(sid("missing"))).toBe(false)
          yield* sm.addTaint(sid("s1"), "EMAIL")
          yield* sm.addTaint(sid("s2"), "EMAIL")
          yield* TestClock.adjust(ms(101))
          expect(yield* sm.remove(sid("s1"))).toBe(false)
          expect(yield* sm.clearTaints(sid("s2"))).toBe(false)
          yield* sm.addTaint(sid("s3"), "EMAIL")
          expect(yield* sm.clearTaints(sid("s3"))).toBe(true)
          expect(HashSet.size(yield* sm.getTaints(sid("s3")))).toBe(0)
          expect(yield* sm.remove(sid("s3"))).toBe(true)
          expect(yield* sm.get(sid("s3"))).toEqual(Option.none())
        })
      )
    )

    it.effect("a returned snapshot never changes afterwards", () =>
      withManager(undefined)((sm) =>
        Effect.gen(function* () {
          const before = yield* sm.increment(sid("s1"), tool("exec"))
          yield* sm.increment(sid("s1"), tool("exec"))
          yield* sm.addTaint(sid("s1"), "SSN")
          yield* TestClock.adjust(ms(10))
          yield* sm.increment(sid("s1"), tool("web_fetch"))
          expect(before.totalCalls).toBe(1)
          expect(before.toolCount(tool("exec"))).toBe(1)
          expect(HashSet.size(before.taints)).toBe(0)
          expect(epoch(before, "lastAccessedAt")).toBe(0)
        })
      )
    )

    it.effect("a snapshot encodes to JSON-safe data and decodes back to an equal state", () =>
      withManager(undefined)((sm) =>
        Effect.gen(function* () {
          yield* TestClock.setTime(1_700_000_000_000)
          yield* sm.increment(sid("s1"), tool("exec"))
          yield* sm.increment(sid("s1"), tool("web_fetch"))
          const state = yield* sm.addTaint(sid("s1"), "EMAIL")
          const encoded = Schema.encodeSync(SessionState)(state)
          expect(encoded.toolCounts).toHaveLength(2)
          const json = JSON.parse(JSON.stringify(encoded))
          expect(json).toEqual({
            sessionId: "s1",
            createdAt: "2023-11-14T22:13:20.000Z",
            lastAccessedAt: "2023-11-14T22:13:20.000Z",
            toolCounts: expect.arrayContaining([
              ["exec", 1],
              ["web_fetch", 1]
            ]),
            totalCalls: 2,
            taints: ["EMAIL"]
          })
          const decoded = Schema.decodeUnknownSync(SessionState)(json)
          expect(decoded.totalCalls).toBe(2)
          expect(decoded.toolCount(tool("web_fetch"))).toBe(1)
          expect(decoded.hasTaint("EMAIL")).toBe(true)
        })
      )
    )
  })

  // With no parking budget a session evicted from the full live table loses its state, and a
  // table full of protected sessions refuses new ones: the live table's own rules.
  describe(`${name}: capacity of the live table alone (maxParkedBytes 0)`, () => {
    it.effect("sessions touched in the same millisecond keep the order of the operations", () =>
      withManager({ maxParkedBytes: 0, maxSessions: 2 })((sm) =>
        Effect.gen(function* () {
          yield* sm.getOrCreate(sid("s1"))
          yield* sm.getOrCreate(sid("s2"))
          yield* sm.increment(sid("s1"), tool("exec"))
          yield* sm.getOrCreate(sid("s3"))
          expect(yield* sm.get(sid("s2"))).toEqual(Option.none())
          expect(Option.isSome(yield* sm.get(sid("s1")))).toBe(true)
          expect((yield* sm.stats).evicted).toBe(1)
        })
      )
    )

    it.effect("reading a session does not save it from eviction", () =>
      withManager({ maxParkedBytes: 0, maxSessions: 2 })((sm) =>
        Effect.gen(function* () {
          yield* sm.getOrCreate(sid("s1"))
          yield* sm.getOrCreate(sid("s2"))
          yield* sm.get(sid("s1"))
          yield* sm.getTaints(sid("s1"))
          yield* sm.getOrCreate(sid("s3"))
          expect(yield* sm.get(sid("s1"))).toEqual(Option.none())
        })
      )
    )

    it.effect("live sessions never exceed maxSessions", () =>
      withManager({ maxParkedBytes: 0, maxSessions: 7 })((sm) =>
        Effect.gen(function* () {
          let failures = 0
          for (let i = 0; i < 50; i++) {
            const created = yield* Effect.either(sm.increment(sid(`s${i}`), tool("exec")))
            if (i % 3 === 0) yield* Effect.either(sm.addTaint(sid(`s${i}`), "EMAIL"))
            const stats = yield* sm.stats
            expect(stats.activeSessions).toBeLessThanOrEqual(7)
            // Creation only fails once every live session is tainted.
            if (Either.isLeft(created)) {
              failures++
              expect(stats.taintedSessions).toBe(7)
            }
          }
          expect(failures).toBeGreaterThan(0)
        })
      )
    )

    it.effect("expired sessions make room before any live session is evicted", () =>
      withManager({ maxParkedBytes: 0, maxSessions: 2, ttl: ms(100) })((sm) =>
        Effect.gen(function* () {
          yield* sm.getOrCreate(sid("old"))
          yield* TestClock.adjust(ms(60))
          yield* sm.getOrCreate(sid("young"))
          yield* TestClock.adjust(ms(60))
          yield* sm.getOrCreate(sid("new"))
          expect(Option.isSome(yield* sm.get(sid("young")))).toBe(true)
          const stats = yield* sm.stats
          expect(stats.evicted).toBe(0)
          expect(stats.expired).toBe(1)
        })
      )
    )

    it.effect("a flood of new ids never evicts a tainted session", () =>
      withManager({ maxParkedBytes: 0, maxSessions: 10 })((sm) =>
        Effect.gen(function* () {
          yield* sm.addTaint(sid("victim"), "CREDIT_CARD")
          for (let i = 0; i < 1000; i++) yield* sm.getOrCreate(sid(`flood-${i}`))
          const taints = yield* sm.getTaints(sid("victim"))
          expect(HashSet.has(taints, "CREDIT_CARD")).toBe(true)
          const stats = yield* sm.stats
          expect(stats.activeSessions).toBe(10)
          expect(stats.evicted).toBe(991)
        })
      )
    )

    it.effect("the least recently accessed untainted session is the one evicted", () =>
      withManager({ maxParkedBytes: 0, maxSessions: 3 })((sm) =>
        Effect.gen(function* () {
          yield* sm.addTaint(sid("t1"), "EMAIL")
          yield* sm.getOrCreate(sid("u1"))
          yield* sm.getOrCreate(sid("u2"))
          yield* sm.getOrCreate(sid("u3"))
          expect(yield* sm.get(sid("u1"))).toEqual(Option.none())
          expect(Option.isSome(yield* sm.get(sid("t1")))).toBe(true)
          expect(Option.isSome(yield* sm.get(sid("u2")))).toBe(true)
        })
      )
    )

    it.effect("when every live session is tainted, creating one fails and evicts nothing", () =>
      withManager({ maxParkedBytes: 0, maxSessions: 2 })((sm) =>
        Effect.gen(function* () {
          yield* sm.addTaint(sid("t1"), "EMAIL")
          yield* sm.addTaint(sid("t2"), "SSN")
          for (const attempt of [
            sm.getOrCreate(sid("new")),
            sm.increment(sid("new"), tool("exec")),
            sm.addTaint(sid("new"), "IBAN")
          ]) {
            const error = yield* Effect.flip(attempt)
            expect(error).toBeInstanceOf(SessionCapacityExceeded)
            expect(error._tag).toBe("SessionCapacityExceeded")
            expect((error as SessionCapacityExceeded).reason).toBe("sessions")
            expect(error.message).toContain("tainted")
          }
          const stats = yield* sm.stats
          expect(stats.activeSessions).toBe(2)
          expect(stats.evicted).toBe(0)
          expect(yield* sm.get(sid("new"))).toEqual(Option.none())
          // An existing session is still served.
          expect((yield* sm.increment(sid("t1"), tool("exec"))).totalCalls).toBe(1)
        })
      )
    )

    it.effect("clearing a session's taints makes it evictable again, in its old place", () =>
      withManager({ maxParkedBytes: 0, maxSessions: 2 })((sm) =>
        Effect.gen(function* () {
          yield* sm.addTaint(sid("t1"), "EMAIL")
          yield* sm.getOrCreate(sid("u1"))
          expect(yield* sm.clearTaints(sid("t1"))).toBe(true)
          yield* sm.getOrCreate(sid("u2"))
          expect(yield* sm.get(sid("t1"))).toEqual(Option.none())
          expect(Option.isSome(yield* sm.get(sid("u1")))).toBe(true)
        })
      )
    )

    it.effect("with protectTainted false the plain LRU evicts tainted sessions too", () =>
      withManager({ maxParkedBytes: 0, maxSessions: 2, protectTainted: false })((sm) =>
        Effect.gen(function* () {
          yield* sm.addTaint(sid("t1"), "EMAIL")
          yield* sm.getOrCreate(sid("u1"))
          yield* sm.getOrCreate(sid("u2"))
          expect(HashSet.size(yield* sm.getTaints(sid("t1")))).toBe(0)
          expect((yield* sm.stats).evicted).toBe(1)
        })
      )
    )

    it.effect("a new tool beyond maxToolsPerSession fails and changes nothing", () =>
      withManager({ maxToolsPerSession: 2, ttl: ms(100) })((sm) =>
        Effect.gen(function* () {
          yield* sm.increment(sid("s1"), tool("a"))
          yield* sm.increment(sid("s1"), tool("b"))
          yield* TestClock.adjust(ms(50))
          const error = yield* Effect.flip(sm.increment(sid("s1"), tool("c")))
          expect(error).toBeInstanceOf(SessionCapacityExceeded)
          expect((error as SessionCapacityExceeded).reason).toBe("tools")
          expect(error.message).toContain("maxToolsPerSession")
          const state = Option.getOrThrow(yield* sm.get(sid("s1")))
          expect(state.totalCalls).toBe(2)
          expect(state.toolCount(tool("c"))).toBe(0)
          expect(epoch(state, "lastAccessedAt")).toBe(0)
          // Known tools are still counted.
          expect((yield* sm.increment(sid("s1"), tool("a"))).totalCalls).toBe(3)
        })
      )
    )

    it.effect("a session can count many tools, up to the bound", () =>
      withManager({ maxToolsPerSession: 40 })((sm) =>
        Effect.gen(function* () {
          for (let round = 0; round < 2; round++) {
            for (let i = 0; i < 40; i++) yield* sm.increment(sid("s1"), tool(`tool_${i}`))
          }
          const state = yield* sm.getOrCreate(sid("s1"))
          expect(HashMap.size(state.toolCounts)).toBe(40)
          expect(state.totalCalls).toBe(80)
          for (let i = 0; i < 40; i++) expect(state.toolCount(tool(`tool_${i}`))).toBe(2)
          const error = yield* Effect.flip(sm.increment(sid("s1"), tool("tool_40")))
          expect(error).toBeInstanceOf(SessionCapacityExceeded)
          expect((error as SessionCapacityExceeded).reason).toBe("tools")
        })
      )
    )
  })

  describe(`${name}: decide and record`, () => {
    const underLimit =
      (limit: number, t: ToolName) =>
      (before: SessionState): { readonly record: boolean; readonly value: boolean } => {
        const allowed = before.toolCount(t) < limit
        return { record: allowed, value: allowed }
      }

    it.effect("100 concurrent calls against a limit of 10 record exactly 10", () =>
      withManager(undefined)((sm) =>
        Effect.gen(function* () {
          const results = yield* Effect.all(
            Array.from({ length: 100 }, () =>
              sm.decideAndRecord(sid("s1"), tool("web_fetch"), underLimit(10, tool("web_fetch")))
            ),
            { concurrency: "unbounded" }
          )
          expect(results.filter((r) => r.value).length).toBe(10)
          const state = Option.getOrThrow(yield* sm.get(sid("s1")))
          expect(state.toolCount(tool("web_fetch"))).toBe(10)
          expect(state.totalCalls).toBe(10)
        })
      )
    )

    it.effect("is one operation: it drops at most two expired sessions on its way, like any other", () =>
      withManager({ ttl: ms(5), maxSessions: 10 })((sm) =>
        Effect.gen(function* () {
          for (const id of ["a", "b", "c"]) yield* sm.getOrCreate(sid(id))
          yield* TestClock.adjust(ms(6))
          const events = yield* sm.subscribe
          yield* sm.decideAndRecord(sid("d"), tool("exec"), underLimit(1, tool("exec")))
          const tags = [...(yield* Queue.takeAll(events))].map(
            (e) => `${e._tag}:${"sessionId" in e ? e.sessionId : ""}`
          )
          expect(tags).toEqual(["Expired:a", "Expired:b", "Created:d"])
        }).pipe(Effect.scoped)
      )
    )

    it.effect("decide sees the state before this call, and the result shows it after", () =>
      withManager(undefined)((sm) =>
        Effect.gen(function* () {
          yield* sm.increment(sid("s1"), tool("exec"))
          const seen: Array<number> = []
          const { state, value } = yield* sm.decideAndRecord(sid("s1"), tool("exec"), (before) => {
            seen.push(before.toolCount(tool("exec")))
            return { record: true, value: "counted" }
          })
          expect(value).toBe("counted")
          expect(seen.at(-1)).toBe(1)
          expect(state.toolCount(tool("exec"))).toBe(2)
        })
      )
    )

    it.effect("a call that is not recorded still touches and creates the session, without counting", () =>
      withManager({ ttl: ms(100) })((sm) =>
        Effect.gen(function* () {
          const first = yield* sm.decideAndRecord(sid("new"), tool("exec"), () => ({
            record: false,
            value: 0
          }))
          expect(first.state.totalCalls).toBe(0)
          yield* TestClock.adjust(ms(80))
          yield* sm.decideAndRecord(sid("new"), tool("exec"), () => ({ record: false, value: 0 }))
          yield* TestClock.adjust(ms(80))
          const state = Option.getOrThrow(yield* sm.get(sid("new")))
          expect(state.totalCalls).toBe(0)
          expect(epoch(state, "lastAccessedAt")).toBe(80)
        })
      )
    )

    it.effect("a burst of 300 concurrent calls on one session all succeed, each counted once", () =>
      withManager(undefined)((sm) =>
        Effect.gen(function* () {
          const results = yield* Effect.all(
            Array.from({ length: 300 }, () =>
              Effect.either(
                sm.decideAndRecord(sid("s1"), tool("exec"), () => ({ record: true, value: true }))
              )
            ),
            { concurrency: "unbounded" }
          )
          expect(results.filter(Either.isRight)).toHaveLength(300)
          expect(Option.getOrThrow(yield* sm.get(sid("s1"))).totalCalls).toBe(300)
        })
      )
    )

    it.effect("a call refused for a new tool does not touch the session", () =>
      withManager({ maxToolsPerSession: 1, ttl: ms(10) })((sm) =>
        Effect.gen(function* () {
          yield* sm.increment(sid("s1"), tool("a"))
          yield* TestClock.adjust(ms(8))
          const error = yield* Effect.flip(
            sm.decideAndRecord(sid("s1"), tool("b"), () => ({ record: true, value: 1 }))
          )
          expect((error as SessionCapacityExceeded).reason).toBe("tools")
          yield* TestClock.adjust(ms(7))
          expect(yield* sm.get(sid("s1"))).toEqual(Option.none())
        })
      )
    )

    it.effect("recording a new tool beyond the bound fails and changes nothing", () =>
      withManager({ maxToolsPerSession: 1 })((sm) =>
        Effect.gen(function* () {
          yield* sm.increment(sid("s1"), tool("a"))
          const error = yield* Effect.flip(
            sm.decideAndRecord(sid("s1"), tool("b"), () => ({ record: true, value: 1 }))
          )
          expect(error).toBeInstanceOf(SessionCapacityExceeded)
          expect((error as SessionCapacityExceeded).reason).toBe("tools")
          expect(Option.getOrThrow(yield* sm.get(sid("s1"))).totalCalls).toBe(1)
        })
      )
    )
  })

  describe(`${name}: cleanup and stats`, () => {
    it.effect("cleanup removes every expired session and returns how many", () =>
      withManager({ ttl: ms(100) })((sm) =>
        Effect.gen(function* () {
          for (const id of ["a", "b", "c"]) yield* sm.getOrCreate(sid(id))
          yield* TestClock.adjust(ms(50))
          yield* sm.getOrCreate(sid("d"))
          yield* TestClock.adjust(ms(51))
          expect(yield* sm.cleanup).toBe(3)
          expect(yield* sm.cleanup).toBe(0)
          const stats = yield* sm.stats
          expect(stats.expired).toBe(3)
          expect(stats.activeSessions).toBe(1)
        })
      )
    )

    it.effect("cleanup does not count a session an earlier operation already dropped", () =>
      withManager({ ttl: ms(100) })((sm) =>
        Effect.gen(function* () {
          yield* sm.getOrCreate(sid("a"))
          yield* TestClock.adjust(ms(101))
          expect(yield* sm.get(sid("a"))).toEqual(Option.none())
          expect(yield* sm.cleanup).toBe(0)
          expect((yield* sm.stats).expired).toBe(1)
        })
      )
    )

    it.effect("stats count live and parked sessions apart, with cumulative evicted, parked and expired", () =>
      withManager({ ttl: ms(100), maxSessions: 3 })((sm) =>
        Effect.gen(function* () {
          yield* sm.increment(sid("a"), tool("exec"))
          yield* sm.increment(sid("a"), tool("exec"))
          yield* sm.addTaint(sid("b"), "EMAIL")
          yield* sm.increment(sid("b"), tool("exec"))
          yield* TestClock.adjust(ms(101))
          yield* sm.increment(sid("c"), tool("exec"))
          yield* sm.increment(sid("d"), tool("exec"))
          yield* sm.increment(sid("e"), tool("exec"))
          yield* sm.addTaint(sid("e"), "PHONE")
          yield* sm.increment(sid("f"), tool("exec"))
          expect(yield* sm.remove(sid("d"))).toBe(true)
          const stats = yield* sm.stats
          expect(stats.activeSessions).toBe(2)
          expect(stats.taintedSessions).toBe(1)
          expect(stats.totalCalls).toBe(2)
          expect(stats.maxSessions).toBe(3)
          expect(stats.expired).toBe(2)
          // c was parked to make room for f; nothing lost its state.
          expect(stats.evicted).toBe(0)
          expect(stats.parked).toBe(1)
          expect(stats.parkedSessions).toBe(1)
          expect(stats.parkedBytes).toBe(RECORD_BYTES + 2 * "c".length + TOOL_BYTES + 2 * "exec".length)
          expect(stats.maxParkedBytes).toBe(16 * 1024 * 1024)
        })
      )
    )
  })

  describe(`${name}: eviction parks a session, and a parked session is the same session`, () => {
    const policy = Effect.runSync(
      ShieldPolicy.fromObject({
        shield_name: "parking",
        version: 1,
        rules: [
          {
            id: "web-limit",
            when: { tool: "web_fetch", session: { "tool_count.web_fetch": { gte: 10 } } },
            then: "block"
          }
        ],
        taint_chain: { enabled: true, outgoing_tools: ["send_message", "web_fetch"] }
      })
    )
    const withEngine =
      (options: SessionManagerOptions) =>
      <A, E>(body: (engine: ShieldEngineService, sm: SessionManagerService) => Effect.Effect<A, E>) =>
        Effect.flatMap(Effect.all([ShieldEngine, SessionManager]), ([engine, sm]) => body(engine, sm)).pipe(
          Effect.provide(
            ShieldEngine.layer(policy).pipe(
              Layer.provideMerge(makeLayer(options)),
              Layer.provide(PIIDetector.Default)
            )
          )
        )
    const check = (engine: ShieldEngineService, sessionId: string, t: string) =>
      Effect.map(engine.check({ sessionId, tool: t, args: {} }), (v) => `${v.decision}:${v.ruleId ?? "-"}`)

    for (const protectTainted of [true, false]) {
      it.effect(
        `a flood of 100 × maxSessions new ids washes neither a limit nor a taint (protectTainted ${protectTainted})`,
        () =>
          withEngine({ maxSessions: 10, ttl: ms(60_000), protectTainted })((engine, sm) =>
            Effect.gen(function* () {
              for (let i = 0; i < 10; i++) expect(yield* check(engine, "victim", "web_fetch")).toBe("ALLOW:-")
              yield* sm.addTaint(sid("victim"), "EMAIL")
              expect(yield* check(engine, "victim", "web_fetch")).toBe("BLOCK:web-limit")
              for (let i = 0; i < 1000; i++) yield* sm.getOrCreate(sid(`flood-${i}`))
              const stats = yield* sm.stats
              expect(stats.activeSessions).toBe(10)
              expect(stats.evicted).toBe(0)
              expect(stats.parkedSessions).toBe(991)
              expect(yield* check(engine, "victim", "web_fetch")).toBe("BLOCK:web-limit")
              expect(yield* check(engine, "victim", "send_message")).toBe("BLOCK:__pii_taint__")
              const counted = yield* sm.increment(sid("victim"), tool("web_fetch"))
              expect(counted.toolCount(tool("web_fetch"))).toBe(11)
              expect(counted.hasTaint("EMAIL")).toBe(true)
              // Forgotten like any session once its TTL has passed.
              yield* TestClock.adjust(ms(60_001))
              expect(yield* sm.get(sid("victim"))).toEqual(Option.none())
              expect(HashSet.size(yield* sm.getTaints(sid("victim")))).toBe(0)
              expect(yield* check(engine, "victim", "web_fetch")).toBe("ALLOW:-")
            })
          )
      )
    }

    it.effect("a session parked at its limit is still blocked by it, untainted and flooded", () =>
      withEngine({ maxSessions: 5 })((engine, sm) =>
        Effect.gen(function* () {
          for (let i = 0; i < 10; i++) yield* check(engine, "limited", "web_fetch")
          for (let i = 0; i < 500; i++) yield* sm.getOrCreate(sid(`flood-${i}`))
          expect(yield* check(engine, "limited", "web_fetch")).toBe("BLOCK:web-limit")
          expect((yield* sm.stats).evicted).toBe(0)
        })
      )
    )

    it.effect(
      "a table full of tainted sessions keeps creating sessions, and each parked one keeps its taint",
      () =>
        withManager({ maxSessions: 3 })((sm) =>
          Effect.gen(function* () {
            for (const id of ["t0", "t1", "t2"]) yield* sm.addTaint(sid(id), "EMAIL")
            for (const id of ["n0", "n1", "n2"]) yield* sm.getOrCreate(sid(id))
            const stats = yield* sm.stats
            expect([stats.activeSessions, stats.parkedSessions, stats.evicted]).toEqual([3, 3, 0])
            for (const id of ["t0", "t1", "t2"]) {
              expect(HashSet.has(yield* sm.getTaints(sid(id)), "EMAIL")).toBe(true)
              const back = yield* sm.increment(sid(id), tool("web_fetch"))
              expect([back.hasTaint("EMAIL"), back.toolCount(tool("web_fetch"))]).toEqual([true, 1])
            }
          })
        )
    )

    it.effect("reads see a parked session as it is, without touching it; a touch resumes it", () =>
      withManager({ maxSessions: 1 })((sm) =>
        Effect.gen(function* () {
          const events = yield* sm.subscribe
          yield* sm.increment(sid("a"), tool("exec"))
          yield* TestClock.adjust(ms(5))
          yield* sm.getOrCreate(sid("b"))
          yield* TestClock.adjust(ms(5))
          const parked = Option.getOrThrow(yield* sm.get(sid("a")))
          expect([epoch(parked, "createdAt"), epoch(parked, "lastAccessedAt"), parked.totalCalls]).toEqual([
            0, 0, 1
          ])
          const resumed = yield* sm.increment(sid("a"), tool("exec"))
          expect([epoch(resumed, "createdAt"), epoch(resumed, "lastAccessedAt")]).toEqual([0, 10])
          expect(resumed.toolCount(tool("exec"))).toBe(2)
          const tags = [...(yield* Queue.takeAll(events))].map(
            (e) => `${e._tag}:${"sessionId" in e ? e.sessionId : ""}`
          )
          expect(tags).toEqual(["Created:a", "Parked:a", "Created:b", "Parked:b", "Resumed:a"])
          const stats = yield* sm.stats
          expect([stats.activeSessions, stats.parkedSessions, stats.parked]).toEqual([1, 1, 2])
        }).pipe(Effect.scoped)
      )
    )

    it.effect("decide-and-record on a parked session decides on its kept counts", () =>
      withManager({ maxSessions: 1 })((sm) =>
        Effect.gen(function* () {
          const underTwo = (before: SessionState) => {
            const ok = before.toolCount(tool("exec")) < 2
            return { record: ok, value: ok }
          }
          yield* sm.decideAndRecord(sid("a"), tool("exec"), underTwo)
          yield* sm.decideAndRecord(sid("a"), tool("exec"), underTwo)
          yield* sm.getOrCreate(sid("b"))
          const { value, state } = yield* sm.decideAndRecord(sid("a"), tool("exec"), underTwo)
          expect([value, state.toolCount(tool("exec"))]).toEqual([false, 2])
        })
      )
    )

    it.effect("clearTaints and remove act on a parked session as on a live one", () =>
      withManager({ maxSessions: 1 })((sm) =>
        Effect.gen(function* () {
          yield* sm.addTaint(sid("a"), "EMAIL")
          yield* sm.addTaint(sid("b"), "PHONE")
          expect((yield* sm.stats).parkedSessions).toBe(1)
          expect(yield* sm.clearTaints(sid("a"))).toBe(true)
          expect(HashSet.size(yield* sm.getTaints(sid("a")))).toBe(0)
          expect((yield* sm.stats).parkedSessions).toBe(1)
          expect(yield* sm.remove(sid("a"))).toBe(true)
          expect(yield* sm.get(sid("a"))).toEqual(Option.none())
          expect(yield* sm.remove(sid("a"))).toBe(false)
          expect((yield* sm.stats).parkedSessions).toBe(0)
        })
      )
    )

    it.effect("a parked session expires after the TTL like a live one", () =>
      withManager({ maxSessions: 1, ttl: ms(100) })((sm) =>
        Effect.gen(function* () {
          yield* sm.addTaint(sid("a"), "EMAIL")
          yield* sm.getOrCreate(sid("b"))
          yield* TestClock.adjust(ms(100))
          expect(HashSet.has(yield* sm.getTaints(sid("a")), "EMAIL")).toBe(true)
          yield* TestClock.adjust(ms(1))
          expect(HashSet.size(yield* sm.getTaints(sid("a")))).toBe(0)
          const stats = yield* sm.stats
          expect([stats.parkedSessions, stats.expired]).toEqual([0, 2])
        })
      )
    )

    // Every session here costs the same: ids of two characters, no tools.
    const size = RECORD_BYTES + 2 * 2

    it.effect("a full budget drops the least recently used parked session, untainted first", () =>
      withManager({ maxSessions: 1, maxParkedBytes: 2 * size })((sm) =>
        Effect.gen(function* () {
          const events = yield* sm.subscribe
          yield* sm.addTaint(sid("t1"), "EMAIL")
          for (const id of ["u1", "u2", "u3"]) yield* sm.getOrCreate(sid(id))
          // Parked in order: t1, u1, u2; making room for u2 dropped u1, the oldest untainted one.
          const tags = [...(yield* Queue.takeAll(events))].map((e) =>
            e._tag === "Evicted" || e._tag === "Parked"
              ? `${e._tag}:${e.sessionId}:${e.tainted}`
              : `${e._tag}:${"sessionId" in e ? e.sessionId : ""}`
          )
          expect(tags.filter((t) => t.startsWith("Evicted") || t.startsWith("Parked"))).toEqual([
            "Parked:t1:true",
            "Parked:u1:false",
            "Evicted:u1:false",
            "Parked:u2:false"
          ])
          expect(HashSet.has(yield* sm.getTaints(sid("t1")), "EMAIL")).toBe(true)
          expect(yield* sm.get(sid("u1"))).toEqual(Option.none())
          const stats = yield* sm.stats
          expect([stats.parkedSessions, stats.parkedBytes, stats.evicted]).toEqual([2, 2 * size, 1])
        }).pipe(Effect.scoped)
      )
    )

    it.effect("with protectTainted a full budget never drops a taint: a new session is refused instead", () =>
      withManager({ maxSessions: 1, maxParkedBytes: size })((sm) =>
        Effect.gen(function* () {
          yield* sm.addTaint(sid("t1"), "EMAIL")
          yield* sm.addTaint(sid("t2"), "EMAIL")
          const refused = yield* Effect.flip(sm.getOrCreate(sid("n1")))
          expect(refused).toBeInstanceOf(SessionCapacityExceeded)
          expect(refused._tag === "SessionCapacityExceeded" && refused.reason).toBe("sessions")
          for (const id of ["t1", "t2"]) expect(HashSet.has(yield* sm.getTaints(sid(id)), "EMAIL")).toBe(true)
          expect((yield* sm.stats).evicted).toBe(0)
        })
      )
    )

    it.effect(
      "without protectTainted a full budget drops the least recently used session, tainted or not",
      () =>
        withManager({ maxSessions: 1, maxParkedBytes: size, protectTainted: false })((sm) =>
          Effect.gen(function* () {
            yield* sm.addTaint(sid("t1"), "EMAIL")
            yield* sm.addTaint(sid("t2"), "EMAIL")
            yield* sm.getOrCreate(sid("n1"))
            expect(HashSet.size(yield* sm.getTaints(sid("t1")))).toBe(0)
            expect(HashSet.has(yield* sm.getTaints(sid("t2")), "EMAIL")).toBe(true)
            expect((yield* sm.stats).evicted).toBe(1)
          })
        )
    )
  })

  describe(`${name}: identifiers`, () => {
    it.effect("__proto__, constructor and toString are ordinary session ids and tool names", () =>
      withManager({ maxToolsPerSession: 3 })((sm) =>
        Effect.gen(function* () {
          const names = ["__proto__", "constructor", "toString"]
          for (const name of names) {
            for (const other of names) yield* sm.increment(sid(name), tool(other))
            yield* sm.increment(sid(name), tool(name))
          }
          for (const name of names) {
            const state = Option.getOrThrow(yield* sm.get(sid(name)))
            expect(state.sessionId).toBe(name)
            expect(state.totalCalls).toBe(4)
            expect(state.toolCount(tool(name))).toBe(2)
            expect(HashMap.size(state.toolCounts)).toBe(3)
          }
          yield* sm.addTaint(sid("__proto__"), "EMAIL")
          expect(HashSet.size(yield* sm.getTaints(sid("constructor")))).toBe(0)
          expect((yield* sm.stats).activeSessions).toBe(3)
          expect(Object.hasOwn(Object.prototype, "polluted")).toBe(false)
        })
      )
    )

    it.effect("ids are compared exactly: no trimming, case folding or normalisation", () =>
      withManager(undefined)((sm) =>
        Effect.gen(function* () {
          const ids = ["s1", " s1", "s1 ", "S1", "e\u0301", "\u00e9", "x".repeat(256)]
          for (const id of ids) yield* sm.increment(sid(id), tool("exec"))
          expect((yield* sm.stats).activeSessions).toBe(ids.length)
        })
      )
    )
  })

  describe(`${name}: concurrency`, () => {
    it.effect("thousands of fibers over many sessions give exact totals", () =>
      withManager({ maxSessions: 100 })((sm) =>
        Effect.gen(function* () {
          const fibers = 2000
          const perFiber = 10
          const pii: ReadonlyArray<PIIType> = ["EMAIL", "PHONE", "SSN"]
          yield* Effect.all(
            Array.from({ length: fibers }, (_, f) =>
              Effect.gen(function* () {
                for (let k = 0; k < perFiber; k++) {
                  const id = sid(`s${(f * 7 + k) % 50}`)
                  yield* sm.increment(id, tool(k % 2 === 0 ? "exec" : "web_fetch"))
                  if (k === 0) yield* sm.addTaint(id, pii[f % 3]!)
                  yield* Effect.yieldNow()
                }
              })
            ),
            { concurrency: "unbounded", discard: true }
          )
          const stats = yield* sm.stats
          expect(stats.totalCalls).toBe(fibers * perFiber)
          expect(stats.activeSessions).toBe(50)
          let sum = 0
          for (let s = 0; s < 50; s++) {
            const state = Option.getOrThrow(yield* sm.get(sid(`s${s}`)))
            sum += state.toolCount(tool("exec")) + state.toolCount(tool("web_fetch"))
            expect(state.toolCount(tool("exec")) + state.toolCount(tool("web_fetch"))).toBe(state.totalCalls)
          }
          expect(sum).toBe(fibers * perFiber)
        })
      )
    )

    it.effect("concurrent creation never exceeds the bound and never loses a taint", () =>
      withManager({ maxSessions: 20 })((sm) =>
        Effect.gen(function* () {
          yield* Effect.all(
            Array.from({ length: 5 }, (_, i) => sm.addTaint(sid(`tainted-${i}`), "EMAIL")),
            { concurrency: "unbounded" }
          )
          const results = yield* Effect.all(
            Array.from({ length: 500 }, (_, i) => Effect.either(sm.increment(sid(`new-${i}`), tool("exec")))),
            { concurrency: "unbounded" }
          )
          expect(results.every(Either.isRight)).toBe(true)
          const stats = yield* sm.stats
          expect(stats.activeSessions).toBe(20)
          expect(stats.taintedSessions).toBe(5)
          for (let i = 0; i < 5; i++) expect(HashSet.size(yield* sm.getTaints(sid(`tainted-${i}`)))).toBe(1)
        })
      )
    )
  })
}
