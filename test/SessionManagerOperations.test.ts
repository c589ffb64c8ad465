import { describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  Config,
  ConfigError,
  ConfigProvider,
  Context,
  Duration,
  Effect,
  Exit,
  Layer,
  Logger,
  LogLevel,
  Metric,
  Option,
  Queue,
  Scope,
  Stream,
  TestClock,
  Tracer
} from "effect"
import {
  type SessionEvent,
  SessionId,
  SessionManager,
  type SessionManagerOptions,
  SessionMetrics,
  ToolName
} from "../src/index.js"
import { layerRedisConfig } from "../src/redis.js"

const sid = (s: string) => SessionId.make(s)
const tool = (s: string) => ToolName.make(s)

const withManager =
  (options: SessionManagerOptions = {}) =>
  <A, E>(body: (sm: SessionManager["Type"]) => Effect.Effect<A, E>) =>
    Effect.flatMap(SessionManager, body).pipe(Effect.provide(SessionManager.layer(options)))

const fromEnv = (variables: Record<string, string>) =>
  SessionManager.layerConfig().pipe(
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(variables)))))
  )

describe("SessionManager.layerConfig", () => {
  it.effect("reads the TTL, the bound and the protection from the environment", () =>
    Effect.gen(function* () {
      const sm = yield* SessionManager
      expect((yield* sm.stats).maxSessions).toBe(2)
      yield* sm.addTaint(sid("t1"), "EMAIL")
      yield* sm.getOrCreate(sid("s2"))
      yield* sm.getOrCreate(sid("s3"))
      // protectTainted is false and there is no parking budget: the tainted session was the
      // least recent, so it went.
      expect(Option.isNone(yield* sm.get(sid("t1")))).toBe(true)
      yield* TestClock.adjust(Duration.minutes(30))
      expect(Option.isSome(yield* sm.get(sid("s3")))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      expect(Option.isNone(yield* sm.get(sid("s3")))).toBe(true)
    }).pipe(
      Effect.provide(
        fromEnv({
          POLICYSHIELD_SESSION_TTL: "30 minutes",
          POLICYSHIELD_MAX_SESSIONS: "2",
          POLICYSHIELD_PROTECT_TAINTED: "false",
          POLICYSHIELD_MAX_PARKED_BYTES: "0"
        })
      )
    )
  )

  it.effect("defaults to 1 hour, 1000 sessions and tainted sessions protected", () =>
    Effect.gen(function* () {
      const sm = yield* SessionManager
      expect((yield* sm.stats).maxSessions).toBe(1000)
      yield* sm.getOrCreate(sid("s1"))
      yield* TestClock.adjust(Duration.hours(1))
      expect(Option.isSome(yield* sm.get(sid("s1")))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      expect(Option.isNone(yield* sm.get(sid("s1")))).toBe(true)
    }).pipe(Effect.provide(fromEnv({})))
  )

  const bad: ReadonlyArray<readonly [string, string]> = [
    ["POLICYSHIELD_SESSION_TTL", "soon"],
    ["POLICYSHIELD_SESSION_TTL", "-5 seconds"],
    ["POLICYSHIELD_MAX_SESSIONS", "many"],
    ["POLICYSHIELD_MAX_SESSIONS", "0"],
    ["POLICYSHIELD_PROTECT_TAINTED", "maybe"],
    ["POLICYSHIELD_SWEEP_INTERVAL", "often"],
    ["POLICYSHIELD_SWEEP_INTERVAL", "0 seconds"],
    ["POLICYSHIELD_SESSION_TTL", "0 seconds"],
    ["POLICYSHIELD_MAX_PARKED_BYTES", "-1"],
    ["POLICYSHIELD_MAX_PARKED_BYTES", "16 MiB"]
  ]
  for (const [variable, value] of bad) {
    it.effect(`fails the layer naming ${variable} when it is ${JSON.stringify(value)}`, () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Layer.build(fromEnv({ [variable]: value })).pipe(Effect.scoped))
        expect(ConfigError.isConfigError(error)).toBe(true)
        expect(String(error)).toContain(variable)
      })
    )
  }

  it.effect("an empty variable is reported as empty, with what it must be", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Layer.build(fromEnv({ POLICYSHIELD_MAX_SESSIONS: "" })).pipe(Effect.scoped)
      )
      expect(String(error)).toContain("POLICYSHIELD_MAX_SESSIONS")
      expect(String(error)).toContain("is empty; it must be a positive integer")
      expect(String(error)).not.toContain("got 0")
    })
  )

  for (const spelling of ["yes", "1", "TRUE", "on"]) {
    it.effect(`POLICYSHIELD_PROTECT_TAINTED accepts only true and false, and says so (not ${spelling})`, () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          Layer.build(fromEnv({ POLICYSHIELD_PROTECT_TAINTED: spelling })).pipe(Effect.scoped)
        )
        expect(String(error)).toContain("POLICYSHIELD_PROTECT_TAINTED")
        expect(String(error)).toContain("must be true or false")
      })
    )
  }
})

describe("SessionManager.layerConfig with other configs", () => {
  it.effect("an option that a layer would reject fails with a ConfigError naming it, not a defect", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Layer.build(SessionManager.layerConfig(Config.succeed({ maxSessions: 0 }))).pipe(Effect.scoped)
      )
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(String(error)).toContain('"maxSessions"')
    })
  )

  it.effect("layerRedisConfig fails naming POLICYSHIELD_REDIS_KEY_PREFIX when it holds braces", () =>
    Effect.gen(function* () {
      const layer = layerRedisConfig().pipe(
        Layer.provide(
          Layer.setConfigProvider(
            ConfigProvider.fromMap(
              new Map([
                ["POLICYSHIELD_REDIS_URL", "redis://127.0.0.1:1"],
                ["POLICYSHIELD_REDIS_KEY_PREFIX", "{other}"]
              ])
            )
          )
        )
      )
      const error = yield* Effect.flip(Layer.build(layer).pipe(Effect.scoped))
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(String(error)).toContain("POLICYSHIELD_REDIS_KEY_PREFIX")
    })
  )

  it.effect("layerRedisConfig fails naming POLICYSHIELD_REDIS_URL when it is not a Redis URL", () =>
    Effect.gen(function* () {
      const layer = layerRedisConfig().pipe(
        Layer.provide(
          Layer.setConfigProvider(
            ConfigProvider.fromMap(new Map([["POLICYSHIELD_REDIS_URL", "http://localhost:6379"]]))
          )
        )
      )
      const error = yield* Effect.flip(Layer.build(layer).pipe(Effect.scoped))
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(String(error)).toContain("POLICYSHIELD_REDIS_URL")
    })
  )
})

const count = (metric: Metric.Metric.Counter<number>) =>
  Effect.map(Metric.value(metric), (state) => state.count)
const gauge = Effect.map(Metric.value(SessionMetrics.liveSessions), (state) => state.value)

describe("SessionManager metrics", () => {
  const ended = (reason: string) => Metric.tagged(SessionMetrics.sessionsEnded, "reason", reason)
  const rejected = (reason: string) => Metric.tagged(SessionMetrics.capacityRejections, "reason", reason)
  const tainted = (pii: string) => Metric.tagged(SessionMetrics.taintsAdded, "pii", pii)

  const snapshot = Effect.all({
    created: count(SessionMetrics.sessionsCreated),
    capacity: count(ended("capacity")),
    expired: count(ended("expired")),
    removed: count(ended("removed")),
    rejectedSessions: count(rejected("sessions")),
    rejectedTools: count(rejected("tools")),
    calls: count(SessionMetrics.toolCallsRecorded),
    email: count(tainted("EMAIL")),
    parked: count(SessionMetrics.sessionsParked),
    live: gauge
  })

  const scenario = (sm: SessionManager["Type"]) =>
    Effect.gen(function* () {
      yield* sm.increment(sid("a"), tool("x"))
      yield* sm.increment(sid("a"), tool("y"))
      yield* Effect.either(sm.increment(sid("a"), tool("z")))
      yield* sm.addTaint(sid("a"), "EMAIL")
      yield* sm.addTaint(sid("a"), "EMAIL")
      yield* sm.getOrCreate(sid("b"))
      yield* sm.getOrCreate(sid("c"))
      yield* sm.addTaint(sid("c"), "EMAIL")
      yield* Effect.either(sm.getOrCreate(sid("d")))
      yield* sm.remove(sid("c"))
      yield* sm.decideAndRecord(sid("d"), tool("x"), () => ({ record: true, value: null }))
      yield* sm.decideAndRecord(sid("d"), tool("x"), () => ({ record: false, value: null }))
      yield* TestClock.adjust(Duration.seconds(11))
      yield* sm.cleanup
    })

  const deltaOf = (options: SessionManagerOptions) =>
    Effect.gen(function* () {
      const before = yield* snapshot
      yield* withManager(options)(scenario)
      const after = yield* snapshot
      return Object.fromEntries(
        Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]])
      )
    })

  it.effect("count creations, ends by reason, rejections, calls and taints, and track live sessions", () =>
    Effect.gen(function* () {
      const delta = yield* deltaOf({
        maxSessions: 2,
        maxToolsPerSession: 2,
        ttl: Duration.seconds(10),
        maxParkedBytes: 0
      })
      // No parking budget: a, b; c evicts b; d is refused (a and c tainted); c removed; d then
      // fits; a and d expire.
      expect(delta).toEqual({
        created: 4,
        capacity: 1,
        expired: 2,
        removed: 1,
        rejectedSessions: 1,
        rejectedTools: 1,
        calls: 3,
        email: 2,
        parked: 0,
        live: 0
      })
    })
  )

  it.effect("count parked sessions, which have not ended", () =>
    Effect.gen(function* () {
      const delta = yield* deltaOf({ maxSessions: 2, maxToolsPerSession: 2, ttl: Duration.seconds(10) })
      // a, b; c parks b; d parks a (every live session is tainted); c removed; a, b and d expire.
      expect(delta).toEqual({
        created: 4,
        capacity: 0,
        expired: 3,
        removed: 1,
        rejectedSessions: 0,
        rejectedTools: 1,
        calls: 3,
        email: 2,
        parked: 2,
        live: 0
      })
    })
  )

  it.effect("stay still when metrics are off", () =>
    Effect.gen(function* () {
      const before = yield* snapshot
      yield* withManager({
        maxSessions: 2,
        maxToolsPerSession: 2,
        ttl: Duration.seconds(10),
        metrics: false
      })(scenario)
      expect(yield* snapshot).toEqual(before)
    })
  )
})

const tags = (events: Iterable<SessionEvent>) =>
  [...events].map((e) => `${e._tag}:${"sessionId" in e ? e.sessionId : ""}${"pii" in e ? `:${e.pii}` : ""}`)

describe("SessionManager events", () => {
  it.scoped("arrive in the order of the operations, each with its session id and time", () =>
    withManager({ maxSessions: 2, ttl: Duration.seconds(10) })((sm) =>
      Effect.gen(function* () {
        const queue = yield* sm.subscribe
        yield* sm.addTaint(sid("a"), "EMAIL")
        yield* sm.addTaint(sid("a"), "EMAIL")
        yield* sm.addTaint(sid("a"), "PHONE")
        yield* sm.getOrCreate(sid("b"))
        yield* sm.clearTaints(sid("a"))
        yield* TestClock.adjust(Duration.seconds(1))
        yield* sm.getOrCreate(sid("c"))
        yield* sm.remove(sid("c"))
        yield* TestClock.adjust(Duration.seconds(11))
        yield* sm.get(sid("b"))
        const events = yield* Queue.takeAll(queue)
        expect(tags(events)).toEqual([
          "Created:a",
          "Tainted:a:EMAIL",
          "Tainted:a:PHONE",
          "Created:b",
          "TaintsCleared:a",
          "Parked:a",
          "Created:c",
          "Removed:c",
          "Expired:a",
          "Expired:b"
        ])
        const parked = Chunk.toReadonlyArray(events)[5]
        expect(parked?._tag === "Parked" && parked.tainted).toBe(false)
        expect(Chunk.toReadonlyArray(events).map((e) => e.at.epochMillis)).toEqual([
          0, 0, 0, 0, 0, 1000, 1000, 1000, 12000, 12000
        ])
      }).pipe(Effect.scoped)
    )
  )

  it.scoped(
    "each fiber's events arrive in the order of its operations, even when fibers are preempted often",
    () =>
      withManager({ maxSessions: 10_000, eventBuffer: 100_000 })((sm) =>
        Effect.gen(function* () {
          const queue = yield* sm.subscribe
          yield* Effect.all(
            Array.from({ length: 200 }, (_, f) =>
              Effect.gen(function* () {
                for (let k = 0; k < 5; k++) {
                  yield* sm.addTaint(sid(`f${f}-${k}`), "EMAIL")
                  yield* sm.clearTaints(sid(`f${f}-${k}`))
                  yield* sm.remove(sid(`f${f}-${k}`))
                }
              })
            ),
            { concurrency: "unbounded", discard: true }
          ).pipe(Effect.withMaxOpsBeforeYield(40))
          const byFiber = new Map<string, Array<string>>()
          for (const event of yield* Queue.takeAll(queue)) {
            const id = "sessionId" in event ? event.sessionId : ""
            const fiber = id.split("-")[0]!
            byFiber.set(fiber, [...(byFiber.get(fiber) ?? []), `${event._tag}:${id}`])
          }
          expect(byFiber.size).toBe(200)
          for (const [fiber, events] of byFiber) {
            expect(events).toEqual(
              Array.from({ length: 5 }, (_, k) => [
                `Created:${fiber}-${k}`,
                `Tainted:${fiber}-${k}`,
                `TaintsCleared:${fiber}-${k}`,
                `Removed:${fiber}-${k}`
              ]).flat()
            )
          }
        }).pipe(Effect.scoped)
      )
  )

  it.scoped("a subscriber that does not read never slows the operations; it loses the oldest events", () =>
    withManager({ eventBuffer: 4, maxSessions: 10_000 })((sm) =>
      Effect.gen(function* () {
        const queue = yield* sm.subscribe
        for (let i = 0; i < 1000; i++) yield* sm.getOrCreate(sid(`s${i}`))
        expect((yield* sm.stats).activeSessions).toBe(1000)
        expect(tags(yield* Queue.takeAll(queue))).toEqual([
          "Created:s996",
          "Created:s997",
          "Created:s998",
          "Created:s999"
        ])
      }).pipe(Effect.scoped)
    )
  )

  it.effect("the events stream carries the same events", () =>
    withManager()((sm) =>
      Effect.gen(function* () {
        const fiber = yield* Stream.take(sm.events, 3).pipe(Stream.runCollect, Effect.fork)
        // Let the stream subscribe before anything happens.
        yield* Effect.yieldNow()
        yield* Effect.yieldNow()
        yield* sm.addTaint(sid("a"), "SSN")
        yield* sm.remove(sid("a"))
        const collected = yield* Effect.fromFiber(fiber)
        expect(tags(collected)).toEqual(["Created:a", "Tainted:a:SSN", "Removed:a"])
      })
    )
  )

  it.effect("an audit trail set up with followEvents sees every event of the program after it", () =>
    withManager()((sm) =>
      Effect.gen(function* () {
        const seen: Array<SessionEvent> = []
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* SessionManager.followEvents((event) => Effect.sync(() => seen.push(event)))
            // No yield in between: the program runs at once, before the trail's fiber starts.
            yield* sm.increment(sid("a"), tool("web_fetch"))
            yield* sm.addTaint(sid("a"), "EMAIL")
            yield* sm.remove(sid("a"))
          })
        )
        expect(tags(seen)).toEqual(["Created:a", "Tainted:a:EMAIL", "Removed:a"])
      }).pipe(Effect.provideServiceEffect(SessionManager, Effect.succeed(sm)))
    )
  )

  it.effect("followEvents finishes handling a slow event and drains the rest when the scope closes", () =>
    withManager()((sm) =>
      Effect.gen(function* () {
        const seen: Array<string> = []
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* SessionManager.followEvents((event) =>
              Effect.zipRight(
                TestClock.adjust("1 second"),
                Effect.sync(() => seen.push(`${event._tag}:${"sessionId" in event ? event.sessionId : ""}`))
              )
            )
            for (const id of ["a", "b", "c", "d"]) yield* sm.getOrCreate(sid(id))
            yield* Effect.yieldNow()
          })
        )
        expect(seen).toEqual(["Created:a", "Created:b", "Created:c", "Created:d"])
      }).pipe(Effect.provideServiceEffect(SessionManager, Effect.succeed(sm)))
    )
  )

  it.effect("dropping sessions' state to make room logs a warning, at most once a second", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const collect = Logger.make(({ logLevel, message }) => {
        if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) warnings.push(String(message))
      })
      yield* withManager({ maxSessions: 1, protectTainted: false, maxParkedBytes: 0 })((sm) =>
        Effect.gen(function* () {
          yield* sm.getOrCreate(sid("clean"))
          expect(warnings).toEqual([])
          yield* sm.addTaint(sid("other"), "EMAIL")
          expect(warnings).toHaveLength(1)
          expect(warnings[0]).toContain("1 session(s) had their state dropped to make room (0 tainted)")
          // Within the same second: counted, not logged yet.
          yield* sm.getOrCreate(sid("third"))
          expect(warnings).toHaveLength(1)
          yield* TestClock.adjust(Duration.seconds(1))
          yield* sm.getOrCreate(sid("fourth"))
          expect(warnings).toHaveLength(2)
          expect(warnings[1]).toContain("2 session(s) had their state dropped to make room (1 tainted)")
        })
      ).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, collect)))
    })
  )

  it.effect("parking a session logs nothing: no state is lost", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const collect = Logger.make(({ logLevel, message }) => {
        if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) warnings.push(String(message))
      })
      yield* withManager({ maxSessions: 1 })((sm) =>
        Effect.forEach(["a", "b", "c"], (id) => sm.addTaint(sid(id), "EMAIL"))
      ).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, collect)))
      expect(warnings).toEqual([])
    })
  )
})

describe("SessionManager tracing", () => {
  const recording = (spans: Array<{ name: string; attributes: ReadonlyMap<string, unknown> }>) =>
    Effect.map(Effect.tracer, (tracer) =>
      Tracer.make({
        span: (name, parent, context, links, startTime, kind, options) => {
          const span = tracer.span(name, parent, context, links, startTime, kind, options)
          spans.push({ name, attributes: span.attributes })
          return span
        },
        context: (f, fiber) => tracer.context(f, fiber)
      })
    )

  const run = (options: SessionManagerOptions) =>
    Effect.gen(function* () {
      const spans: Array<{ name: string; attributes: ReadonlyMap<string, unknown> }> = []
      const tracer = yield* recording(spans)
      yield* withManager(options)((sm) =>
        Effect.gen(function* () {
          yield* sm.increment(sid("telegram:42"), tool("web_fetch"))
          yield* sm.stats
        })
      ).pipe(Effect.withTracer(tracer))
      return spans
    })

  it.effect("is off by default: no spans", () =>
    Effect.gen(function* () {
      expect(yield* run({})).toEqual([])
    })
  )

  it.effect("gives a span per operation when on, without session ids unless asked", () =>
    Effect.gen(function* () {
      const spans = yield* run({ tracing: true })
      expect(spans.map((s) => s.name)).toEqual(["SessionManager.increment", "SessionManager.stats"])
      expect(spans[0]?.attributes.get("tool")).toBe("web_fetch")
      expect(spans[0]?.attributes.has("sessionId")).toBe(false)
      const withIds = yield* run({ tracing: true, traceSessionIds: true })
      expect(withIds[0]?.attributes.get("sessionId")).toBe("telegram:42")
    })
  )
})

describe("SessionManager sweep", () => {
  it.effect("drops expired sessions every interval without any call, and stops with its scope", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        SessionManager.layer({ ttl: Duration.seconds(10), sweepInterval: Duration.seconds(5) }),
        scope
      )
      const sm = Context.get(context, SessionManager)
      for (let i = 0; i < 5; i++) yield* sm.getOrCreate(sid(`s${i}`))
      yield* TestClock.adjust(Duration.seconds(16))
      // The sweep at 15 s found them expired; nothing is left for cleanup.
      expect(yield* sm.cleanup).toBe(0)
      expect((yield* sm.stats).expired).toBe(5)
      yield* Scope.close(scope, Exit.void)
      for (let i = 0; i < 5; i++) yield* sm.getOrCreate(sid(`t${i}`))
      yield* TestClock.adjust(Duration.seconds(30))
      expect(yield* sm.cleanup).toBe(5)
    })
  )
})
