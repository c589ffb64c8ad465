/**
 * The Redis store: the same operations as the in-memory store, applied by one Lua script (see
 * redisScript.ts) so that several replicas share the sessions. Every operation is one call of
 * the script, except decide-and-record, which reads, decides here and commits with a version
 * check. Nothing here knows one operation from another but that one.
 */
import { Buffer } from "node:buffer"
import { DateTime, Effect, Either, type Scope } from "effect"
import { Redis } from "ioredis"
import type { PIIType } from "../../PIIType.js"
import { SessionStoreUnavailable } from "../../SessionError.js"
import type { SessionId } from "../../SessionId.js"
import type { ToolName } from "../../ToolName.js"
import * as Table from "../core/sessionTable.js"
import * as ToolCounts from "../core/toolCounts.js"
import type { ResolvedRedis } from "./options.js"
import { SCRIPT, SCRIPT_KEYS } from "./redisScript.js"
import { millis, type Report, type SessionStore } from "./service.js"

/** How often decide-and-record retries when other replicas keep changing the session. */
const MAX_DECIDE_ATTEMPTS = 64

/**
 * A store in the Redis at `resolved.url`: connects and pings (failing with
 * SessionStoreUnavailable when Redis cannot be reached) and disconnects when the scope closes.
 */
export const make = (
  resolved: ResolvedRedis,
  report: Report
): Effect.Effect<SessionStore, SessionStoreUnavailable, Scope.Scope> =>
  Effect.map(connect(resolved), (client): SessionStore => {
    const { table: config } = resolved
    const tag = `{${resolved.keyPrefix}}`
    const keys = [`${tag}:meta`, `${tag}:idx:u`, `${tag}:idx:t`, `${tag}:idx:pu`, `${tag}:idx:pt`] as const
    const sessionPrefix = `${tag}:s:`
    const ttl = Number.isFinite(config.ttlMillis) ? config.ttlMillis : -1
    const protect = config.protectTainted ? "1" : "0"

    /** One atomic step on the server: the script, for one session or for the whole table. */
    const call = (
      op: string,
      id: SessionId | undefined,
      args: ReadonlyArray<string | number>
    ): Effect.Effect<Reply, SessionStoreUnavailable> =>
      Effect.clockWith((clock) => {
        const member = id === undefined ? "" : encodeId(id)
        const now = resolved.clock === "client" ? String(millis(clock)) : ""
        return Effect.tryPromise({
          try: () =>
            client.policyshieldSession(
              ...keys,
              id === undefined ? keys[0] : sessionPrefix + member,
              sessionPrefix,
              now,
              ttl,
              config.maxSessions,
              protect,
              config.maxToolsPerSession,
              config.maxParkedBytes,
              member,
              op,
              ...args
            ),
          catch: (cause) => unavailable(op, cause)
        })
      }).pipe(
        Effect.flatMap((raw) => parseReply(op, raw)),
        Effect.tap((reply) => {
          if (reply.events.length > 0) report(lifecycleOf(reply.events), reply.now)
        })
      )

    /** The result of one operation, from the reply's kind; the same shapes the core returns. */
    const resultOf = (
      op: string,
      id: SessionId | undefined,
      reply: Reply
    ): Effect.Effect<unknown, SessionStoreUnavailable> => {
      const [first, ...rest] = reply.rest
      switch (reply.kind) {
        case "touched":
          return Effect.map(decodeRecord(id!, first), ({ record }) => ({ _tag: "Touched", record }))
        case "record":
          return Effect.map(decodeRecord(id!, first), ({ record }) => record)
        case "taints":
          return Effect.map(decodeRecord(id!, first), ({ record }) => record.taints)
        case "missing":
          return Effect.succeed(undefined)
        case "refused":
          return Effect.succeed(refused(first === "tools" ? "tools" : "sessions"))
        case "bits":
        case "number":
          return Effect.succeed(Number(first))
        case "bool":
          return Effect.succeed(Number(first) === 1)
        case "stats": {
          const figures = [first, ...rest].map(Number)
          if (figures.length !== 8 || !figures.every((n) => Number.isSafeInteger(n) && n >= 0)) {
            return Effect.fail(
              unavailable(op, new Error(`malformed statistics ${JSON.stringify(reply.rest)}`))
            )
          }
          const [
            activeSessions,
            taintedSessions,
            totalCalls,
            evicted,
            expired,
            parkedSessions,
            parkedBytes,
            parked
          ] = figures as [number, number, number, number, number, number, number, number]
          return Effect.succeed({
            activeSessions,
            taintedSessions,
            totalCalls,
            maxSessions: config.maxSessions,
            evicted,
            expired,
            parkedSessions,
            parkedBytes,
            maxParkedBytes: config.maxParkedBytes,
            parked
          } satisfies Table.TableStats)
        }
        default:
          return Effect.fail(
            unavailable(op, new Error(`unexpected reply kind ${JSON.stringify(reply.kind)}`))
          )
      }
    }

    const refused = (reason: "sessions" | "tools"): Table.Refused => ({
      _tag: "Refused",
      reason,
      limit: reason === "sessions" ? config.maxSessions : config.maxToolsPerSession
    })

    /**
     * Decide-and-record: the session as it is (without touching or creating it; a missing one
     * is a fresh record), the caller's decision on it, and a commit that applies only while the
     * session is still the version decided on. Calls on one session from this replica take
     * turns, so they never conflict with each other; a conflict then means another replica
     * changed the session, and some replica made progress, so a bounded number of attempts is
     * enough.
     */
    const decideAndRecord = (operation: Extract<Table.Operation, { readonly _tag: "decideAndRecord" }>) =>
      oneAtATime(
        operation.id,
        Effect.gen(function* () {
          const { id, tool } = operation
          for (let attempt = 0; attempt < MAX_DECIDE_ATTEMPTS; attempt++) {
            const peek = yield* call("peek", id, [])
            const before =
              peek.kind === "record"
                ? yield* decodeRecord(id, peek.rest[0])
                : { record: Table.fresh(id, DateTime.unsafeMake(peek.now)), version: "" }
            const decision = operation.decide(before.record)
            const reply = yield* call("decide", id, [tool, before.version, decision.record ? "1" : "0"])
            if (reply.kind === "conflict") continue
            const outcome = (yield* resultOf("decide", id, reply)) as Table.Touched
            if (outcome._tag === "Refused") return outcome
            return {
              _tag: "Decided",
              value: decision.value,
              recorded: decision.record,
              record: outcome.record
            } satisfies Table.Decided
          }
          return yield* Effect.fail(
            new SessionStoreUnavailable({
              operation: "decideAndRecord",
              message: `other replicas kept changing the session through ${MAX_DECIDE_ATTEMPTS} attempts to decide on it`
            })
          )
        })
      )

    const oneAtATime = makeTurns()

    return {
      apply: <O extends Table.Operation>(operation: O) => {
        if (operation._tag === "decideAndRecord") {
          return decideAndRecord(
            operation as Extract<Table.Operation, { readonly _tag: "decideAndRecord" }>
          ) as Effect.Effect<Table.Result<O>, SessionStoreUnavailable>
        }
        const id = "id" in operation ? operation.id : undefined
        return Effect.flatMap(call(operation._tag, id, argumentsOf(operation)), (reply) =>
          resultOf(operation._tag, id, reply)
        ) as Effect.Effect<Table.Result<O>, SessionStoreUnavailable>
      }
    }
  })

/** The client with the script defined as a command (EVALSHA, and EVAL again on NOSCRIPT). */
type ScriptedClient = Redis & {
  policyshieldSession(...args: ReadonlyArray<string | number>): Promise<unknown>
}

/** The reply of the script: what kind of result it holds, lifecycle events, its time, the rest. */
interface Reply {
  readonly kind: string
  readonly events: ReadonlyArray<string>
  readonly now: number
  readonly rest: ReadonlyArray<unknown>
}

/** An operation's arguments for the script, after its name and session: its other fields, in order. */
const argumentsOf = (operation: Table.Operation): Array<string> => {
  const args: Array<string> = []
  for (const [field, value] of Object.entries(operation)) {
    if (field !== "_tag" && field !== "id") args.push(String(value))
  }
  return args
}

// Session ids may hold any character but controls, lone surrogates included, so they are keyed
// by their UTF-16 code units in base64url: exact, and free of the braces and separators that
// could reach another key or another Cluster slot.
const encodeId = (id: SessionId): string => Buffer.from(id, "utf16le").toString("base64url")
const decodeId = (member: string): SessionId =>
  Buffer.from(member, "base64url").toString("utf16le") as SessionId

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

const unavailable = (operation: string, cause: unknown) =>
  new SessionStoreUnavailable({ operation, message: `Redis: ${describe(cause)}`, cause })

const parseReply = (operation: string, raw: unknown): Either.Either<Reply, SessionStoreUnavailable> => {
  if (
    !Array.isArray(raw) ||
    typeof raw[0] !== "string" ||
    !Array.isArray(raw[1]) ||
    typeof raw[2] !== "number"
  ) {
    return Either.left(unavailable(operation, new Error(`unexpected reply ${JSON.stringify(raw)}`)))
  }
  return Either.right({ kind: raw[0], events: raw[1] as Array<string>, now: raw[2], rest: raw.slice(3) })
}

const lifecycleOf = (events: ReadonlyArray<string>): Array<Table.Lifecycle> => {
  const out: Array<Table.Lifecycle> = []
  for (let i = 0; i + 2 < events.length; i += 3) {
    const tag = events[i]
    const sessionId = decodeId(events[i + 1] ?? "")
    const extra = events[i + 2] ?? ""
    if (tag === "Evicted" || tag === "Parked") out.push({ _tag: tag, sessionId, tainted: extra === "1" })
    else if (tag === "Tainted") out.push({ _tag: "Tainted", sessionId, pii: extra as PIIType })
    else if (
      tag === "Created" ||
      tag === "Expired" ||
      tag === "Removed" ||
      tag === "TaintsCleared" ||
      tag === "Resumed"
    ) {
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
 * A session record from its hash (HGETALL as a flat list), and its version. A hash that is not
 * what the script writes is reported as an unavailable store, never guessed at.
 */
const decodeRecord = (
  id: SessionId,
  flat: unknown
): Effect.Effect<
  { readonly record: Table.SessionRecord; readonly version: string },
  SessionStoreUnavailable
> => {
  if (!Array.isArray(flat)) return Effect.fail(malformed(id))
  const fields = new Map<string, string>()
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), String(flat[i + 1]))
  const whole = (field: string) => {
    const value = Number(fields.get(field))
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  const createdAt = whole("c")
  const lastAccessedAt = whole("a")
  const touch = whole("n")
  const totalCalls = whole("t")
  const taints = whole("x")
  const parked = fields.get("p")
  const version = fields.get("v")
  if (
    createdAt === undefined ||
    lastAccessedAt === undefined ||
    touch === undefined ||
    totalCalls === undefined ||
    taints === undefined ||
    (parked !== "0" && parked !== "1") ||
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
  const record = Table.makeRecord({
    id,
    createdAt: DateTime.unsafeMake(createdAt),
    lastAccessedAt: DateTime.unsafeMake(lastAccessedAt),
    touch,
    totalCalls,
    taints,
    tools: ToolCounts.fromEntries(counts),
    parked: parked === "1"
  })
  return Effect.succeed({ record, version })
}

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

const connect = (
  resolved: ResolvedRedis
): Effect.Effect<ScriptedClient, SessionStoreUnavailable, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const client = new Redis(resolved.url, {
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
          client.defineCommand("policyshieldSession", { numberOfKeys: SCRIPT_KEYS, lua: SCRIPT })
          await client.script("LOAD", SCRIPT)
          return client
        } catch (error) {
          client.disconnect()
          throw error
        }
      },
      catch: (cause) => unavailable("connect", cause)
    }),
    (client) =>
      Effect.promise(() =>
        client.quit().then(
          () => undefined,
          () => client.disconnect()
        )
      )
  )
