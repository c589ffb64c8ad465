/**
 * The Redis layer: the same contract suite as the in-memory layer (with clock: "client", so
 * TestClock drives it), and what only Redis has: server time, outages, several processes.
 */
import { Buffer } from "node:buffer"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Layer, Option, Queue, Schema, TestClock } from "effect"
import { Redis } from "ioredis"
import {
  PIIDetector,
  SessionId,
  SessionManager,
  SessionStoreUnavailable,
  ShieldEngine,
  ShieldPolicy,
  ToolName
} from "../src/index.js"
import { layerRedis, layerRedisConfig, type SessionManagerRedisOptions } from "../src/redis.js"
import { sessionManagerContract } from "./contract/sessionManagerContract.js"
import { sessionManagerModel } from "./contract/sessionManagerModel.js"
import { freePort, MISSING_REDIS, runRedisTests } from "./support/redisServer.js"
import { useRedisServer } from "./support/useRedisServer.js"

if (!runRedisTests) console.warn(MISSING_REDIS)

describe.runIf(runRedisTests)("Redis layer", () => {
  const server = useRedisServer()
  let prefixes = 0

  // Every test gets its own key prefix: its own table on the shared server.
  sessionManagerContract("Redis layer", (options) =>
    layerRedis({
      ...options,
      url: server().url,
      keyPrefix: `contract-${++prefixes}`,
      clock: "client"
    })
  )

  sessionManagerModel(
    "Redis layer",
    (options) =>
      layerRedis({ ...options, url: server().url, keyPrefix: `model-${++prefixes}`, clock: "client" }),
    100
  )
})

const sid = (s: string) => SessionId.make(s)
const tool = (s: string) => ToolName.make(s)
const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

describe.runIf(runRedisTests)("Redis layer, beyond the contract", () => {
  const server = useRedisServer()
  let prefixes = 0
  const layer = (options: Partial<SessionManagerRedisOptions> = {}) =>
    layerRedis({ url: server().url, keyPrefix: `extra-${++prefixes}`, ...options })

  it.live("with server time, sessions expire after a short real TTL", () =>
    Effect.gen(function* () {
      const sm = yield* SessionManager
      const before = Date.now()
      const state = yield* sm.increment(sid("s1"), tool("exec"))
      expect(state.createdAt.epochMillis).toBeGreaterThanOrEqual(before - 5_000)
      expect(state.createdAt.epochMillis).toBeLessThanOrEqual(Date.now() + 5_000)
      expect(Option.isSome(yield* sm.get(sid("s1")))).toBe(true)
      yield* sleep(1_500)
      expect(Option.isNone(yield* sm.get(sid("s1")))).toBe(true)
      expect((yield* sm.stats).expired).toBe(1)
      // A TTL long enough that a busy machine cannot stretch the two calls above past it.
    }).pipe(Effect.provide(layer({ ttl: Duration.seconds(1) })))
  )

  it.live("with server time, the sweep drops expired sessions without any call", () =>
    Effect.gen(function* () {
      const sm = yield* SessionManager
      for (let i = 0; i < 3; i++) yield* sm.getOrCreate(sid(`s${i}`))
      yield* sleep(1_500)
      expect(yield* sm.cleanup).toBe(0)
      expect((yield* sm.stats).expired).toBe(3)
    }).pipe(Effect.provide(layer({ ttl: Duration.millis(100), sweepInterval: Duration.millis(150) })))
  )

  it.live("keys share one hash tag, and ids that look like keys or tags stay distinct", () =>
    Effect.gen(function* () {
      const sm = yield* SessionManager
      const ids = [
        "a",
        "{a}",
        "}{",
        ":meta",
        "a:idx:u",
        "x}:s:y",
        "\ud800",
        "\udc00",
        "e\u0301",
        "\u00e9",
        "  "
      ]
      for (const id of ids) yield* sm.increment(sid(id), tool("exec"))
      expect((yield* sm.stats).activeSessions).toBe(ids.length)
      for (const id of ids)
        expect(Option.map(yield* sm.get(sid(id)), (s) => s.sessionId)).toEqual(Option.some(id))
      const raw = new Redis(server().url)
      const keys = yield* Effect.promise(() => raw.keys("*"))
      yield* Effect.promise(() => raw.quit())
      const mine = keys.filter((k) => k.startsWith("{keys-test}"))
      // The sessions, the meta hash and the untainted index (no session is tainted, so no tainted index).
      expect(mine.length).toBe(ids.length + 2)
      expect(keys.filter((k) => k.includes("keys-test") && !k.startsWith("{keys-test}:"))).toEqual([])
    }).pipe(Effect.provide(layerRedis({ url: server().url, keyPrefix: "keys-test" })))
  )

  it.live("a malformed session record is SessionStoreUnavailable, never a defect or a guess", () =>
    Effect.gen(function* () {
      const sm = yield* SessionManager
      yield* sm.increment(sid("s1"), tool("exec"))
      const raw = new Redis(server().url)
      const key = `{malformed}:s:${Buffer.from("s1", "utf16le").toString("base64url")}`
      yield* Effect.promise(() => raw.hdel(key, "c"))
      yield* Effect.promise(() => raw.quit())
      const attempts: ReadonlyArray<Effect.Effect<unknown, { readonly message: string }>> = [
        sm.get(sid("s1")),
        sm.increment(sid("s1"), tool("exec")),
        sm.getTaints(sid("s1"))
      ]
      for (const attempt of attempts) {
        const error = yield* Effect.flip(attempt)
        expect(error).toBeInstanceOf(SessionStoreUnavailable)
        expect(error.message).toContain("malformed")
      }
    }).pipe(Effect.provide(layerRedis({ url: server().url, keyPrefix: "malformed" })))
  )

  it.live("an unreachable Redis fails the layer with SessionStoreUnavailable", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const error = yield* Effect.flip(
        Layer.build(layerRedis({ url: `redis://127.0.0.1:${port}`, commandTimeout: "500 millis" })).pipe(
          Effect.scoped
        )
      )
      expect(error).toBeInstanceOf(SessionStoreUnavailable)
      expect(error.operation).toBe("connect")
    })
  )

  it.live("reads POLICYSHIELD_REDIS_URL with layerRedisConfig", () =>
    Effect.gen(function* () {
      const sm = yield* SessionManager
      expect((yield* sm.stats).maxSessions).toBe(7)
      expect((yield* sm.increment(sid("s1"), tool("exec"))).totalCalls).toBe(1)
    }).pipe(
      Effect.provide(
        layerRedisConfig().pipe(
          Layer.provide(
            Layer.setConfigProvider(
              ConfigProvider.fromMap(
                new Map([
                  ["POLICYSHIELD_REDIS_URL", server().url],
                  ["POLICYSHIELD_REDIS_KEY_PREFIX", "from-env"],
                  ["POLICYSHIELD_MAX_SESSIONS", "7"]
                ])
              )
            )
          )
        )
      )
    )
  )

  it.live("events carry what this replica's operations did", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const sm = yield* SessionManager
        const queue = yield* sm.subscribe
        yield* sm.addTaint(sid("a"), "EMAIL")
        yield* sm.getOrCreate(sid("b"))
        yield* sm.getOrCreate(sid("c"))
        const events = yield* Queue.takeAll(queue)
        expect([...events].map((e) => `${e._tag}:${"sessionId" in e ? e.sessionId : ""}`)).toEqual([
          "Created:a",
          "Tainted:a",
          "Created:b",
          "Parked:b",
          "Created:c"
        ])
      })
    ).pipe(Effect.provide(layer({ maxSessions: 2 })))
  )
})

describe.runIf(runRedisTests)("Redis layer, when Redis goes away", () => {
  const server = useRedisServer()

  it.live("operations fail with SessionStoreUnavailable, the shield blocks, and both recover", () =>
    Effect.gen(function* () {
      const policy = yield* ShieldPolicy.fromObject({ shield_name: "outage", default_verdict: "allow" })
      const layer = ShieldEngine.layer(policy).pipe(
        // "accept": this test is about the connection coming back; the empty store it comes
        // back to is the subject of "when Redis loses its data".
        Layer.provideMerge(
          layerRedis({
            url: server().url,
            keyPrefix: "outage",
            commandTimeout: "500 millis",
            onStoreLoss: "accept"
          })
        ),
        Layer.provide(PIIDetector.Default)
      )
      yield* Effect.gen(function* () {
        const sm = yield* SessionManager
        const engine = yield* ShieldEngine
        expect((yield* sm.increment(sid("s1"), tool("exec"))).totalCalls).toBe(1)
        yield* Effect.promise(() => server().stop())
        const failures = yield* Effect.all([
          Effect.either(sm.increment(sid("s1"), tool("exec"))),
          Effect.either(sm.get(sid("s1"))),
          Effect.either(sm.stats),
          Effect.either(sm.decideAndRecord(sid("s1"), tool("exec"), () => ({ record: true, value: 1 })))
        ])
        for (const result of failures as ReadonlyArray<Either.Either<unknown, unknown>>) {
          expect(Either.isLeft(result)).toBe(true)
          if (Either.isLeft(result)) {
            expect(result.left).toBeInstanceOf(SessionStoreUnavailable)
            // Where, and what: never a bare "Connection is closed".
            expect((result.left as SessionStoreUnavailable).message).toMatch(
              new RegExp(
                `^Redis at 127\\.0\\.0\\.1:${server().port}: (connection refused|connection reset|the connection is closed)`
              )
            )
          }
        }
        const verdict = yield* engine.check({ sessionId: "s1", tool: "web_fetch", args: {} })
        expect([verdict.decision, verdict.ruleId]).toEqual(["BLOCK", "__session_store__"])
        const postCheck = yield* Effect.either(
          engine.postCheck({ sessionId: "s1", tool: "x", result: "a@example.org" })
        )
        expect(Either.isLeft(postCheck)).toBe(true)
        // Back, empty (no persistence) and without the script loaded: the layer reconnects and
        // loads the script again on NOSCRIPT.
        yield* Effect.promise(() => server().start())
        let recovered = false
        for (let i = 0; i < 100 && !recovered; i++) {
          recovered = Either.isRight(yield* Effect.either(sm.increment(sid("s1"), tool("exec"))))
          if (!recovered) yield* sleep(100)
        }
        expect(recovered).toBe(true)
        expect((yield* engine.check({ sessionId: "s2", tool: "web_fetch", args: {} })).decision).toBe("ALLOW")
      }).pipe(Effect.provide(layer))
    })
  )
})

describe.runIf(runRedisTests)("Redis layer, when Redis loses its data", () => {
  const server = useRedisServer()
  let prefixes = 0

  const policy = Effect.runSync(
    ShieldPolicy.fromObject({
      shield_name: "loss",
      version: 1,
      taint_chain: { enabled: true, outgoing_tools: ["send_message"] }
    })
  )
  /**
   * One replica: its own connection and engine on the shared prefix, with client time (so
   * TestClock drives it), built in the test's scope; the Context to provide to what it runs.
   */
  const replica = (keyPrefix: string, options: Partial<SessionManagerRedisOptions> = {}) =>
    Layer.build(
      ShieldEngine.layer(policy).pipe(
        Layer.provideMerge(
          layerRedis({
            url: server().url,
            keyPrefix,
            clock: "client",
            ttl: "10 minutes",
            commandTimeout: "1 second",
            ...options
          })
        ),
        Layer.provide(PIIDetector.Default)
      )
    )
  const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
  /** A check, retried (in real time) while the connection is still coming back. */
  const check = (sessionId: string, tool: string) =>
    Effect.gen(function* () {
      const engine = yield* ShieldEngine
      for (let attempt = 0; ; attempt++) {
        const verdict = yield* engine.check({ sessionId, tool, args: {} })
        const reconnecting =
          verdict.ruleId === "__session_store__" && !verdict.message.includes("lost its state")
        if (!reconnecting || attempt >= 100) return verdict
        yield* realSleep(100)
      }
    })

  for (const [how, lose] of [
    [
      "a restart without persistence",
      () =>
        Effect.promise(() =>
          server()
            .stop()
            .then(() => server().start())
        )
    ],
    [
      "FLUSHALL",
      () =>
        Effect.promise(async () => {
          const raw = new Redis(server().url)
          await raw.flushall()
          await raw.quit()
        })
    ]
  ] as const) {
    it.scoped(`after ${how}, an outgoing call of a tainted session is BLOCKed on every replica`, () =>
      Effect.gen(function* () {
        const prefix = `loss-${++prefixes}`
        const a = yield* replica(prefix)
        const b = yield* replica(prefix)
        const accepting = yield* replica(prefix, { onStoreLoss: "accept" })
        const events = yield* Effect.provide(
          Effect.flatMap(SessionManager, (sm) => sm.subscribe),
          a
        )
        yield* Effect.provide(
          Effect.flatMap(ShieldEngine, (engine) =>
            engine.check({ sessionId: "s1", tool: "read_file", args: { text: "jane@example.org" } })
          ),
          a
        )
        for (const on of [a, b, accepting]) {
          expect((yield* Effect.provide(check("s1", "send_message"), on)).ruleId).toBe("__pii_taint__")
        }

        yield* lose()

        for (const on of [a, b]) {
          const verdict = yield* Effect.provide(check("s1", "send_message"), on)
          expect([verdict.decision, verdict.ruleId]).toEqual(["BLOCK", "__session_store__"])
          expect(verdict.message).toContain("lost its state")
          expect(verdict.message).toContain('onStoreLoss: "failClosed"')
        }
        // Every operation fails closed, not only the engine's.
        const error = yield* Effect.provide(Effect.flip(Effect.flatMap(SessionManager, (sm) => sm.stats)), b)
        expect(error.message).toContain("lost its state")
        const lost = [...(yield* Queue.takeAll(events))].filter((e) => e._tag === "StoreLost")
        expect(lost).toHaveLength(1)

        // "accept" starts afresh at once: the taint is gone, the call is allowed.
        const accepted = yield* Effect.provide(check("s1", "send_message"), accepting)
        expect([accepted.decision, accepted.ruleId]).toEqual(["ALLOW", null])

        // One TTL after the loss was noticed, the failing-closed replicas serve again.
        yield* TestClock.adjust("10 minutes")
        expect((yield* Effect.provide(check("s1", "send_message"), a)).decision).toBe("BLOCK")
        yield* TestClock.adjust("1 millis")
        for (const on of [a, b]) {
          expect((yield* Effect.provide(check("s2", "send_message"), on)).decision).toBe("ALLOW")
        }
      })
    )
  }

  it.scoped("a replica told the store's epoch notices a loss that happened before it started", () =>
    Effect.gen(function* () {
      const prefix = `loss-${++prefixes}`
      const first = yield* replica(prefix)
      yield* Effect.provide(
        Effect.flatMap(SessionManager, (sm) => sm.addTaint(sid("s1"), "EMAIL")),
        first
      )
      const raw = new Redis(server().url)
      const epoch = yield* Effect.promise(() => raw.hget(`{${prefix}}:meta`, "epoch"))
      expect(epoch).toMatch(/^[0-9a-f-]{36}$/)
      yield* Effect.promise(() => raw.flushall())
      yield* Effect.promise(() => raw.quit())
      const told = yield* replica(prefix, { expectedEpoch: epoch! })
      const verdict = yield* Effect.provide(check("s1", "send_message"), told)
      expect([verdict.ruleId, verdict.message.includes("lost its state")]).toEqual([
        "__session_store__",
        true
      ])
      // Not told, a new replica cannot tell a flushed store from a new one.
      const untold = yield* replica(prefix)
      expect((yield* Effect.provide(check("s1", "send_message"), untold)).decision).toBe("ALLOW")
    })
  )
})

describe.runIf(runRedisTests)("Redis layer, several replicas", () => {
  const server = useRedisServer()

  const replica = fileURLToPath(new URL("./support/redisReplica.ts", import.meta.url))
  const runReplicas = (prefix: string, mode: string, count: number, limit: number, replicas = 4) =>
    Promise.all(
      Array.from(
        { length: replicas },
        () =>
          new Promise<number>((resolve, reject) => {
            const child = spawn(
              process.execPath,
              ["--import", "tsx", replica, server().url, prefix, mode, String(count), String(limit)],
              { stdio: ["ignore", "pipe", "pipe"] }
            )
            let out = ""
            let err = ""
            child.stdout.on("data", (d) => {
              out += d
            })
            child.stderr.on("data", (d) => {
              err += d
            })
            child.on("exit", (code) => {
              if (code !== 0) reject(new Error(`replica failed (${code}): ${err}`))
              else
                resolve(
                  Schema.decodeUnknownSync(Schema.parseJson(Schema.Struct({ allowed: Schema.Number })))(out)
                    .allowed
                )
            })
          })
      )
    )

  const finalState = (prefix: string) =>
    Effect.gen(function* () {
      const sm = yield* SessionManager
      return Option.getOrThrow(yield* sm.get(sid("shared-session")))
    }).pipe(Effect.provide(layerRedis({ url: server().url, keyPrefix: prefix, maxSessions: 10 })))

  it.live("4 processes, 500 increments each on one session: exactly 2,000", () =>
    Effect.gen(function* () {
      const allowed = yield* Effect.promise(() => runReplicas("replicas-increment", "increment", 500, 0))
      expect(allowed).toEqual([500, 500, 500, 500])
      const state = yield* finalState("replicas-increment")
      expect(state.totalCalls).toBe(2000)
      expect(state.toolCount(tool("web_fetch"))).toBe(2000)
    })
  )

  it.live(
    "6 processes × 300 concurrent checks on one session below its limit: all allowed, counts exact",
    () =>
      Effect.gen(function* () {
        const allowed = yield* Effect.promise(() => runReplicas("replicas-burst", "burst", 300, 100_000, 6))
        expect(allowed).toEqual([300, 300, 300, 300, 300, 300])
        const state = yield* finalState("replicas-burst")
        expect(state.toolCount(tool("web_fetch"))).toBe(1800)
        expect(state.totalCalls).toBe(1800)
      })
  )

  it.live("4 processes deciding against one limit: exactly the limit is allowed in total", () =>
    Effect.gen(function* () {
      const allowed = yield* Effect.promise(() => runReplicas("replicas-decide", "decide", 500, 150))
      expect(allowed.reduce((a, b) => a + b, 0)).toBe(150)
      const state = yield* finalState("replicas-decide")
      expect(state.toolCount(tool("web_fetch"))).toBe(150)
    })
  )
})
