/**
 * The Redis session manager: the same service as the in-memory one, with the state in Redis so
 * that several replicas share it. Every operation is one call of one Lua script (see
 * redisScript.ts), except decide-and-record, which reads, decides here and commits with a
 * version check. `ioredis` is loaded only when this layer is built.
 */
import { Buffer } from "node:buffer"
import { type Clock, DateTime, Effect, Either, HashMap, Option, type Scope } from "effect"
import type { Redis } from "ioredis"
import type { PIIType } from "../PIIType.js"
import { SessionCapacityExceeded, SessionStoreUnavailable } from "../SessionError.js"
import type { SessionId } from "../SessionId.js"
import type { SessionManagerService } from "../SessionManager.js"
import { SessionState, SessionStats } from "../SessionState.js"
import type { ToolName } from "../ToolName.js"
import * as Observe from "./observe.js"
import * as Options from "./options.js"
import { SCRIPT } from "./redisScript.js"
import type { Lifecycle } from "./sessionTable.js"
import * as Taints from "./taints.js"

/** The client with the script defined as a command (EVALSHA, and EVAL again on NOSCRIPT). */
type ScriptedClient = Redis & {
  policyshieldSession(...args: ReadonlyArray<string | number>): Promise<unknown>
}

/** How often decide-and-record retries when other replicas keep changing the session. */
const MAX_DECIDE_ATTEMPTS = 64

// Session ids may hold any character but controls, lone surrogates included, so they are keyed
// by their UTF-16 code units in base64url: exact, and free of the braces and separators that
// could reach another key or another Cluster slot.
const encodeId = (id: SessionId): string => Buffer.from(id, "utf16le").toString("base64url")
const decodeId = (member: string): SessionId =>
  Buffer.from(member, "base64url").toString("utf16le") as SessionId

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

const unavailable = (operation: string, cause: unknown) =>
  new SessionStoreUnavailable({ operation, message: `Redis: ${describe(cause)}`, cause })

/** The reply of the script: status, lifecycle events, the time it used, and the rest. */
interface Reply {
  readonly status: string
  readonly events: ReadonlyArray<string>
  readonly now: number
  readonly rest: ReadonlyArray<unknown>
}

const parseReply = (operation: string, raw: unknown): Either.Either<Reply, SessionStoreUnavailable> => {
  if (
    !Array.isArray(raw) ||
    typeof raw[0] !== "string" ||
    !Array.isArray(raw[1]) ||
    typeof raw[2] !== "number"
  ) {
    return Either.left(unavailable(operation, new Error(`unexpected reply ${JSON.stringify(raw)}`)))
  }
  return Either.right({ status: raw[0], events: raw[1] as Array<string>, now: raw[2], rest: raw.slice(3) })
}

const lifecycleOf = (events: ReadonlyArray<string>): Array<Lifecycle> => {
  const out: Array<Lifecycle> = []
  for (let i = 0; i + 2 < events.length; i += 3) {
    const tag = events[i]
    const sessionId = decodeId(events[i + 1] ?? "")
    const extra = events[i + 2] ?? ""
    if (tag === "Evicted") out.push({ _tag: "Evicted", sessionId, tainted: extra === "1" })
    else if (tag === "Tainted") out.push({ _tag: "Tainted", sessionId, pii: extra as PIIType })
    else if (tag === "Created" || tag === "Expired" || tag === "Removed" || tag === "TaintsCleared") {
      out.push({ _tag: tag, sessionId })
    }
  }
  return out
}

const malformed = (id: SessionId) =>
  new SessionStoreUnavailable({
    operation: "read",
    message: `Redis holds a malformed record for session ${JSON.stringify(id)}`
  })

/**
 * A snapshot from the session hash (HGETALL as a flat list), and its version. A record that is
 * not what the script writes is reported as an unavailable store, never guessed at.
 */
const toState = (
  id: SessionId,
  flat: unknown
): Effect.Effect<{ readonly state: SessionState; readonly version: string }, SessionStoreUnavailable> => {
  if (!Array.isArray(flat)) return Effect.fail(malformed(id))
  const fields = new Map<string, string>()
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), String(flat[i + 1]))
  const whole = (field: string) => {
    const value = Number(fields.get(field))
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  const createdAt = whole("c")
  const lastAccessedAt = whole("a")
  const totalCalls = whole("t")
  const taints = whole("x")
  const version = fields.get("v")
  if (
    createdAt === undefined ||
    lastAccessedAt === undefined ||
    totalCalls === undefined ||
    taints === undefined ||
    version === undefined
  ) {
    return Effect.fail(malformed(id))
  }
  const counts: Array<readonly [ToolName, number]> = []
  for (const [field, value] of fields) {
    if (!field.startsWith("k:")) continue
    const count = Number(value)
    if (!Number.isSafeInteger(count) || count < 0) return Effect.fail(malformed(id))
    counts.push([field.slice(2) as ToolName, count])
  }
  const state = new SessionState(
    {
      sessionId: id,
      createdAt: DateTime.unsafeMake(createdAt),
      lastAccessedAt: DateTime.unsafeMake(lastAccessedAt),
      toolCounts: HashMap.fromIterable(counts),
      totalCalls,
      taints: Taints.toHashSet(taints)
    },
    true
  )
  return Effect.succeed({ state, version })
}

/** The state a session would start with at `now`: what a decision on a missing one sees. */
const newSession = (id: SessionId, now: number): SessionState =>
  new SessionState(
    {
      sessionId: id,
      createdAt: DateTime.unsafeMake(now),
      lastAccessedAt: DateTime.unsafeMake(now),
      toolCounts: HashMap.empty(),
      totalCalls: 0,
      taints: Taints.toHashSet(0)
    },
    true
  )

/**
 * Runs effects one session at a time: effects with the same key wait their turn, effects with
 * different keys do not wait for each other. A key is forgotten when nobody waits on it.
 */
const makeTurns = () => {
  const turns = new Map<string, { readonly semaphore: Effect.Semaphore; users: number }>()
  return <A, E>(key: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      let turn = turns.get(key)
      if (turn === undefined) {
        turn = { semaphore: Effect.unsafeMakeSemaphore(1), users: 0 }
        turns.set(key, turn)
      }
      const taken = turn
      taken.users++
      return Effect.ensuring(
        taken.semaphore.withPermits(1)(effect),
        Effect.sync(() => {
          if (--taken.users === 0) turns.delete(key)
        })
      )
    })
}

const millis = (clock: Clock.Clock): number => Number(clock.unsafeCurrentTimeNanos() / 1_000_000n)

const connect = (
  resolved: Options.ResolvedRedis
): Effect.Effect<ScriptedClient, SessionStoreUnavailable, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.flatMap(
      Effect.tryPromise({
        try: () => import("ioredis"),
        catch: (cause) => cause
      }).pipe(
        Effect.orDieWith(
          (cause) =>
            new Error(
              `SessionManager.layerRedis needs the optional dependency ioredis (npm install ioredis): ${describe(cause)}`
            )
        )
      ),
      (module) =>
        Effect.tryPromise({
          try: async () => {
            const RedisClient = module.Redis ?? module.default
            const client = new RedisClient(resolved.url, {
              lazyConnect: true,
              // Fail fast: a command while disconnected fails at once instead of waiting in a
              // queue, and one that was in flight when the connection dropped is not retried.
              enableOfflineQueue: false,
              maxRetriesPerRequest: 0,
              commandTimeout: resolved.commandTimeoutMillis,
              connectTimeout: Math.max(resolved.commandTimeoutMillis, 1000),
              // Keep reconnecting in the background, so operations work again when Redis is back.
              retryStrategy: (attempt) => Math.min(attempt * 100, 2000)
            }) as ScriptedClient
            // Connection errors reach the operations as SessionStoreUnavailable.
            client.on("error", () => {})
            try {
              await client.connect()
              await client.ping()
              client.defineCommand("policyshieldSession", { numberOfKeys: 4, lua: SCRIPT })
              await client.script("LOAD", SCRIPT)
              return client
            } catch (error) {
              client.disconnect()
              throw error
            }
          },
          catch: (cause) => unavailable("connect", cause)
        })
    ),
    (client) =>
      Effect.promise(() =>
        client.quit().then(
          () => undefined,
          () => client.disconnect()
        )
      )
  )

/**
 * Builds a Redis-backed manager: connects and pings (failing with SessionStoreUnavailable when
 * Redis cannot be reached), and disconnects when the scope closes. Invalid options die, naming
 * the option.
 */
export const make = (
  options: Options.RedisSessionOptions
): Effect.Effect<SessionManagerService, SessionStoreUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const decoded = Options.decodeRedis(options)
    if (Either.isLeft(decoded)) return yield* Effect.dieMessage(decoded.left)
    const resolved = decoded.right
    const { table: config } = resolved
    const observer = yield* Observe.make(resolved.observe)
    const client = yield* connect(resolved)

    const tag = `{${resolved.keyPrefix}}`
    const keys = [`${tag}:meta`, `${tag}:idx:u`, `${tag}:idx:t`] as const
    const sessionPrefix = `${tag}:s:`
    const fixed = [
      sessionPrefix,
      Number.isFinite(config.ttlMillis) ? config.ttlMillis : -1,
      config.maxSessions,
      config.protectTainted ? "1" : "0",
      config.maxToolsPerSession
    ] as const

    /** One atomic step on the server: the script, for one session or for the whole table. */
    const call = (
      operation: string,
      op: string,
      id: SessionId | undefined,
      args: ReadonlyArray<string | number> = []
    ) =>
      Effect.clockWith((clock) => {
        const member = id === undefined ? "" : encodeId(id)
        const now = resolved.clock === "client" ? String(millis(clock)) : ""
        return Effect.tryPromise({
          try: () =>
            client.policyshieldSession(
              ...keys,
              id === undefined ? keys[0] : sessionPrefix + member,
              fixed[0],
              now,
              ...fixed.slice(1),
              member,
              op,
              ...args
            ),
          catch: (cause) => unavailable(operation, cause)
        })
      }).pipe(
        Effect.flatMap((raw) => parseReply(operation, raw)),
        Effect.tap((reply) => {
          if (reply.events.length > 0) observer.lifecycle(lifecycleOf(reply.events), reply.now)
          return observer.pending() ? observer.flush : Effect.void
        })
      )

    const full = (id: SessionId) =>
      new SessionCapacityExceeded({ reason: "sessions", sessionId: id, limit: config.maxSessions })
    const tooManyTools = (id: SessionId) =>
      new SessionCapacityExceeded({ reason: "tools", sessionId: id, limit: config.maxToolsPerSession })
    const rejected = (error: SessionCapacityExceeded): Effect.Effect<never, SessionCapacityExceeded> => {
      observer.rejected(error.reason)
      return Effect.fail(error)
    }

    /** A touching operation: the session's state after it, or why there is none. */
    const touching = (
      operation: string,
      op: string,
      id: SessionId,
      args: ReadonlyArray<string | number> = []
    ) =>
      Effect.flatMap(
        call(operation, op, id, args),
        (
          reply
        ): Effect.Effect<
          { readonly state: SessionState },
          SessionCapacityExceeded | SessionStoreUnavailable
        > => {
          if (reply.status === "full") return rejected(full(id))
          if (reply.status === "tools") return rejected(tooManyTools(id))
          return toState(id, reply.rest[0])
        }
      )

    const stateOf = (operation: string, id: SessionId) =>
      Effect.flatMap(call(operation, "get", id), (reply) =>
        reply.status === "ok"
          ? Effect.map(toState(id, reply.rest[0]), ({ state }) => Option.some(state))
          : Effect.succeed(Option.none<SessionState>())
      )

    const oneAtATime = makeTurns()

    const service: SessionManagerService = {
      getOrCreate: (id) => Effect.map(touching("getOrCreate", "touch", id), ({ state }) => state),
      get: (id) => stateOf("get", id),
      increment: (id, tool) =>
        Effect.map(touching("increment", "increment", id, [tool]), ({ state }) => {
          observer.callRecorded()
          return state
        }),
      addTaint: (id, pii) =>
        Effect.map(touching("addTaint", "taint", id, [Taints.bitOf(pii), pii]), ({ state }) => state),
      getTaints: (id) =>
        Effect.map(stateOf("getTaints", id), (state) =>
          Option.isSome(state) ? state.value.taints : Taints.toHashSet(0)
        ),
      decideAndRecord: (id, tool, decide) =>
        // Calls on one session from this replica take turns, so they never conflict with each
        // other; a conflict then means another replica changed the session, and some replica
        // made progress, so a bounded number of attempts is enough.
        oneAtATime(
          id,
          Effect.gen(function* () {
            for (let attempt = 0; attempt < MAX_DECIDE_ATTEMPTS; attempt++) {
              // The session as it is, without touching or creating it; a missing one is new.
              const peek = yield* call("decideAndRecord", "get", id)
              const before =
                peek.status === "ok"
                  ? yield* toState(id, peek.rest[0])
                  : { state: newSession(id, peek.now), version: "" }
              const decision = decide(before.state)
              const reply = yield* call("decideAndRecord", "decide", id, [
                tool,
                before.version,
                decision.record ? "1" : "0"
              ])
              if (reply.status === "full") return yield* rejected(full(id))
              if (reply.status === "tools") return yield* rejected(tooManyTools(id))
              if (reply.status === "ok") {
                if (decision.record) observer.callRecorded()
                const { state } = yield* toState(id, reply.rest[0])
                return { value: decision.value, state }
              }
              // "conflict": another replica changed the session since this decision; decide again.
            }
            return yield* Effect.fail(
              new SessionStoreUnavailable({
                operation: "decideAndRecord",
                message: `other replicas kept changing the session through ${MAX_DECIDE_ATTEMPTS} attempts to decide on it`
              })
            )
          })
        ),
      clearTaints: (id) => Effect.map(call("clearTaints", "clear", id), (reply) => reply.status === "ok"),
      remove: (id) => Effect.map(call("remove", "remove", id), (reply) => reply.status === "ok"),
      cleanup: Effect.map(call("cleanup", "cleanup", undefined), (reply) => Number(reply.rest[0] ?? 0)),
      stats: Effect.map(call("stats", "stats", undefined), (reply) => {
        const [active, tainted, calls, evicted, expired] = reply.rest.map(Number)
        return new SessionStats(
          {
            activeSessions: active ?? 0,
            taintedSessions: tainted ?? 0,
            totalCalls: calls ?? 0,
            maxSessions: config.maxSessions,
            evicted: evicted ?? 0,
            expired: expired ?? 0
          },
          true
        )
      }),
      subscribe: observer.subscribe,
      events: observer.events
    }

    const instrumented = observer.instrument(service)
    if (resolved.sweepInterval !== undefined)
      yield* Observe.forkSweep(resolved.sweepInterval, instrumented.cleanup)
    return instrumented
  })
