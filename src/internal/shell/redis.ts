/**
 * The Redis store: the same operations as the in-memory store, applied by one Lua script (see
 * redisScript.ts) so that several replicas share the sessions. Every operation is one call of
 * the script, except decide-and-record, which reads, decides here and commits with a version
 * check. Nothing here knows one operation from another but that one.
 */
import { Buffer } from "node:buffer"
import { randomUUID } from "node:crypto"
import { Clock, DateTime, Duration, Effect, Either, Random, type Scope } from "effect"
import { Redis } from "ioredis"
import type { PIIType } from "../../PIIType.js"
import { SessionStoreUnavailable } from "../../SessionError.js"
import type { SessionId } from "../../SessionId.js"
import type { ToolName } from "../../ToolName.js"
import * as Table from "../core/sessionTable.js"
import * as ToolCounts from "../core/toolCounts.js"
import type { ResolvedRedis } from "./options.js"
import { SCRIPT, SCRIPT_KEYS } from "./redisScript.js"
import { millis, type Reporter, type SessionStore } from "./service.js"

/**
 * A store in the Redis at `resolved.url`: connects, pings and reads the store's identity
 * (failing with SessionStoreUnavailable when Redis cannot be reached), and disconnects when the
 * scope closes.
 */
export const make = (
  resolved: ResolvedRedis,
  reporter: Reporter
): Effect.Effect<SessionStore, SessionStoreUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const where = placeOf(resolved.url)
    const connection = yield* connect(resolved, where)
    const { client } = connection
    const { table: config } = resolved
    const tag = `{${resolved.keyPrefix}}`
    const keys = [`${tag}:meta`, `${tag}:idx:u`, `${tag}:idx:t`, `${tag}:idx:pu`, `${tag}:idx:pt`] as const
    const sessionPrefix = `${tag}:s:`
    const ttl = Number.isFinite(config.ttlMillis) ? config.ttlMillis : -1
    const protect = config.protectTainted ? "1" : "0"

    const unavailable = (operation: string, cause: unknown) =>
      new SessionStoreUnavailable({
        operation,
        message: `Redis at ${where}: ${explain(cause, connection.lastError, resolved.commandTimeoutMillis)}`,
        cause
      })

    // What this replica knows of the store's identity (its epoch), and when it noticed that the
    // store lost its state, if it is failing closed because of it.
    const identity = {
      known: resolved.expectedEpoch ?? "",
      lostAt: undefined as number | undefined,
      reported: undefined as string | undefined
    }

    const lost = (operation: string, lostAt: number) =>
      new SessionStoreUnavailable({
        operation,
        message:
          `Redis at ${where} lost its state (noticed at ${iso(lostAt)}): every session's taints and counts are ` +
          (Number.isFinite(config.ttlMillis)
            ? `gone, so operations fail closed until ${iso(lostAt + config.ttlMillis)}, one TTL later`
            : "gone, and sessions never expire (ttl is infinite), so operations fail closed until the layer is rebuilt") +
          ' (onStoreLoss: "failClosed")'
      })

    /** The script, once, as this replica's identity stands. */
    const send = (
      nowMillis: number,
      op: string,
      id: SessionId | undefined,
      args: ReadonlyArray<string | number>,
      adopt: boolean
    ) => {
      const member = id === undefined ? "" : encodeId(id)
      const known = identity.known
      return Effect.tryPromise({
        try: () =>
          client.policyshieldSession(
            ...keys,
            id === undefined ? keys[0] : sessionPrefix + member,
            sessionPrefix,
            resolved.clock === "client" ? String(nowMillis) : "",
            ttl,
            config.maxSessions,
            protect,
            config.maxToolsPerSession,
            config.maxParkedBytes,
            known,
            randomUUID(),
            adopt ? "1" : "0",
            member,
            op,
            ...args
          ),
        catch: (cause) => unavailable(op, cause)
      }).pipe(
        Effect.flatMap((raw) => Either.mapLeft(parseReply(raw), (cause) => unavailable(op, cause))),
        Effect.map((reply) => ({ reply, known }))
      )
    }

    /**
     * One atomic step on the server: the script, for one session or for the whole table. A
     * store that lost its state is noticed here: the loss is reported once, then every call
     * fails closed for one TTL (or, with onStoreLoss "accept", the store is adopted at once).
     */
    const call = (
      op: string,
      id: SessionId | undefined,
      args: ReadonlyArray<string | number>
    ): Effect.Effect<Reply, SessionStoreUnavailable> =>
      Effect.clockWith((clock) => {
        const nowMillis = millis(clock)
        const { lostAt } = identity
        if (lostAt !== undefined && !(nowMillis - lostAt > config.ttlMillis))
          return Effect.fail(lost(op, lostAt))
        const adopting = lostAt !== undefined
        return Effect.flatMap(send(nowMillis, op, id, args, adopting), ({ reply, known }) => {
          if (reply.kind !== "lost") return Effect.succeed(settled(reply, adopting))
          if (identity.reported !== known) {
            identity.reported = known
            reporter.storeLost(nowMillis)
          }
          if (resolved.onStoreLoss === "accept") {
            return Effect.map(send(nowMillis, op, id, args, true), (again) => settled(again.reply, true))
          }
          identity.lostAt ??= nowMillis
          return Effect.fail(lost(op, identity.lostAt))
        })
      }).pipe(
        Effect.tap((reply) => {
          if (reply.events.length > 0) reporter.lifecycle(lifecycleOf(reply.events), reply.now)
        })
      )

    /** A reply of the store as this replica now knows it. */
    const settled = (reply: Reply, adopted: boolean): Reply => {
      identity.known = reply.epoch
      if (adopted) identity.lostAt = undefined
      return reply
    }

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
     * turns, so they never conflict with each other; a conflict means another replica changed
     * the session in between, and then the call decides again after a short, growing, random
     * pause, until the contention timeout has passed: never after a fixed number of attempts.
     */
    const decideAndRecord = (operation: Extract<Table.Operation, { readonly _tag: "decideAndRecord" }>) =>
      oneAtATime(
        operation.id,
        Effect.gen(function* () {
          const { id, tool } = operation
          const started = yield* Clock.currentTimeMillis
          for (let pause = 1; ; pause = Math.min(pause * 2, 100)) {
            const peek = yield* call("peek", id, [])
            const before =
              peek.kind === "record"
                ? yield* decodeRecord(id, peek.rest[0])
                : { record: Table.fresh(id, DateTime.unsafeMake(peek.now)), version: "" }
            const decision = operation.decide(before.record)
            const reply = yield* call("decide", id, [tool, before.version, decision.record ? "1" : "0"])
            if (reply.kind !== "conflict") {
              const outcome = (yield* resultOf("decide", id, reply)) as Table.Touched
              if (outcome._tag === "Refused") return outcome
              return {
                _tag: "Decided",
                value: decision.value,
                recorded: decision.record,
                record: outcome.record
              } satisfies Table.Decided
            }
            if ((yield* Clock.currentTimeMillis) - started >= resolved.contentionTimeoutMillis) {
              return yield* Effect.fail(
                new SessionStoreUnavailable({
                  operation: "decideAndRecord",
                  message:
                    `other replicas kept changing the session for ${resolved.contentionTimeoutMillis} ms ` +
                    "(contentionTimeout) while this call tried to decide on it"
                })
              )
            }
            yield* Effect.sleep(Duration.millis(pause * (0.5 + (yield* Random.next) / 2)))
          }
        })
      )

    const oneAtATime = makeTurns()

    // The store's identity is read (or, on first use, written) now, so that a replica told an
    // expected epoch notices a loss before it serves anything.
    const first = yield* Effect.either(call("epoch", undefined, []))
    if (Either.isLeft(first) && identity.lostAt === undefined) return yield* Effect.fail(first.left)

    return {
      apply: <O extends Table.Operation, B>(operation: O, finish: (result: Table.Result<O>) => B) => {
        if (operation._tag === "decideAndRecord") {
          return Effect.map(
            decideAndRecord(operation as Extract<Table.Operation, { readonly _tag: "decideAndRecord" }>),
            (result) => finish(result as Table.Result<O>)
          )
        }
        const id = "id" in operation ? operation.id : undefined
        return Effect.flatMap(call(operation._tag, id, argumentsOf(operation)), (reply) =>
          Effect.map(resultOf(operation._tag, id, reply), (result) => finish(result as Table.Result<O>))
        )
      }
    } satisfies SessionStore
  })

/** The client with the script defined as a command (EVALSHA, and EVAL again on NOSCRIPT). */
type ScriptedClient = Redis & {
  policyshieldSession(...args: ReadonlyArray<string | number>): Promise<unknown>
}

/** The reply of the script: what kind of result it holds, lifecycle events, its time, the store's epoch, the rest. */
interface Reply {
  readonly kind: string
  readonly events: ReadonlyArray<string>
  readonly now: number
  readonly epoch: string
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

/** Where Redis is, as `host:port`, for messages: never the URL, which may hold a password. */
const placeOf = (url: string): string => {
  try {
    const parsed = new URL(url)
    return `${parsed.hostname || "localhost"}:${parsed.port || "6379"}`
  } catch {
    return "the configured URL"
  }
}

const iso = (millis: number): string => DateTime.formatIso(DateTime.unsafeMake(millis))

/** What went wrong, in words: the connection's own error when a command only says it is closed. */
const explain = (cause: unknown, connectionError: unknown, commandTimeoutMillis: number): string => {
  const message = cause instanceof Error ? cause.message : String(cause)
  if (/timed out/i.test(message)) return `no reply within ${commandTimeoutMillis} ms (commandTimeout)`
  if (/Connection is closed|isn't writeable|enableOfflineQueue/i.test(message)) {
    return connectionError === undefined
      ? "the connection is closed"
      : `${connectionProblem(connectionError)} (the connection is closed)`
  }
  return connectionProblem(cause)
}

const connectionProblem = (error: unknown): string => {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : ""
  const problems: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ECONNRESET: "connection reset",
    ETIMEDOUT: "connection timed out",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    ENOTFOUND: "host not found",
    EAI_AGAIN: "host not found"
  }
  return problems[code] ?? (error instanceof Error ? error.message : String(error))
}

const parseReply = (raw: unknown): Either.Either<Reply, Error> => {
  if (
    !Array.isArray(raw) ||
    typeof raw[0] !== "string" ||
    !Array.isArray(raw[1]) ||
    typeof raw[2] !== "number" ||
    typeof raw[3] !== "string"
  ) {
    return Either.left(new Error(`unexpected reply ${JSON.stringify(raw)}`))
  }
  return Either.right({
    kind: raw[0],
    events: raw[1] as Array<string>,
    now: raw[2],
    epoch: raw[3],
    rest: raw.slice(4)
  })
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
  resolved: ResolvedRedis,
  where: string
): Effect.Effect<Connection, SessionStoreUnavailable, Scope.Scope> =>
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
        const connection: Connection = { client, lastError: undefined }
        // Connection errors reach the operations as SessionStoreUnavailable, named by the last
        // one seen; a successful connection clears it.
        client.on("error", (error: unknown) => {
          connection.lastError = error
        })
        client.on("ready", () => {
          connection.lastError = undefined
        })
        try {
          await client.connect()
          await client.ping()
          client.defineCommand("policyshieldSession", { numberOfKeys: SCRIPT_KEYS, lua: SCRIPT })
          await client.script("LOAD", SCRIPT)
          return connection
        } catch (error) {
          client.disconnect()
          throw error
        }
      },
      catch: (cause) =>
        new SessionStoreUnavailable({
          operation: "connect",
          message: `Redis at ${where}: ${connectionProblem(cause)}`,
          cause
        })
    }),
    ({ client }) =>
      Effect.promise(() =>
        client.quit().then(
          () => undefined,
          () => client.disconnect()
        )
      )
  )

/** The client, and the last connection error it reported (cleared when it is ready again). */
interface Connection {
  readonly client: ScriptedClient
  lastError: unknown
}
