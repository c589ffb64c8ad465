import {
  Config,
  ConfigError,
  Context,
  Duration,
  Effect,
  Either,
  type HashSet,
  Layer,
  Option,
  Queue,
  type Scope,
  type Stream
} from "effect"
import * as Memory from "./internal/memory.js"
import {
  decode,
  decodeDuration,
  decodeRedis,
  type RedisSessionOptions,
  type SessionOptions
} from "./internal/options.js"
import * as Redis from "./internal/redis.js"
import type { PIIType } from "./PIIType.js"
import type { SessionCapacityExceeded, SessionStoreUnavailable } from "./SessionError.js"
import type { SessionEvent } from "./SessionEvent.js"
import type { SessionId } from "./SessionId.js"
import type { SessionState, SessionStats } from "./SessionState.js"
import type { ToolName } from "./ToolName.js"

/** Options of the in-memory layer. Invalid options make the layer die when it is built. */
export type SessionManagerOptions = SessionOptions

/**
 * Options of the Redis layer: those of the in-memory layer, plus `url`, `keyPrefix`, `clock`
 * and `commandTimeout`.
 */
export type SessionManagerRedisOptions = RedisSessionOptions

/** The operations of a session manager, whichever store backs it. */
export interface SessionManagerService {
  /** The live session with this id, created (and touched) if missing or expired. */
  readonly getOrCreate: (
    id: SessionId
  ) => Effect.Effect<SessionState, SessionCapacityExceeded | SessionStoreUnavailable>
  /** The live session with this id, if any. Never creates, never touches. */
  readonly get: (id: SessionId) => Effect.Effect<Option.Option<SessionState>, SessionStoreUnavailable>
  /** Counts one call of `tool` (creating the session if needed) and returns the state after it. */
  readonly increment: (
    id: SessionId,
    tool: ToolName
  ) => Effect.Effect<SessionState, SessionCapacityExceeded | SessionStoreUnavailable>
  /** Adds a taint label (creating the session if needed) and returns the state after it. */
  readonly addTaint: (
    id: SessionId,
    pii: PIIType
  ) => Effect.Effect<SessionState, SessionCapacityExceeded | SessionStoreUnavailable>
  /** The taints of the live session; empty when it is missing or expired. Never touches. */
  readonly getTaints: (id: SessionId) => Effect.Effect<HashSet.HashSet<PIIType>, SessionStoreUnavailable>
  /**
   * Touches the session (creating it if needed), calls `decide` with its state before this
   * call, and counts one call of `tool` only when `decide` returns `record: true`. Deciding and
   * counting are one atomic step, so concurrent callers can never overshoot a limit. `decide`
   * must be pure and may run more than once (a shared store retries it on conflict).
   */
  readonly decideAndRecord: <A>(
    id: SessionId,
    tool: ToolName,
    decide: (before: SessionState) => { readonly record: boolean; readonly value: A }
  ) => Effect.Effect<
    { readonly value: A; readonly state: SessionState },
    SessionCapacityExceeded | SessionStoreUnavailable
  >
  /** Clears the taints of a live session without touching it; false when there is none. */
  readonly clearTaints: (id: SessionId) => Effect.Effect<boolean, SessionStoreUnavailable>
  /** Removes a live session; false when there is none. */
  readonly remove: (id: SessionId) => Effect.Effect<boolean, SessionStoreUnavailable>
  /** Drops every expired session and returns how many this call dropped. */
  readonly cleanup: Effect.Effect<number, SessionStoreUnavailable>
  /** Figures over the live sessions. */
  readonly stats: Effect.Effect<SessionStats, SessionStoreUnavailable>
  /**
   * A subscription to this manager's lifecycle events, for the life of the scope. It exists
   * once the Effect returns, so no event published after that is missed while the subscriber
   * keeps up; one that falls more than `eventBuffer` events behind loses the oldest.
   */
  readonly subscribe: Effect.Effect<Queue.Dequeue<SessionEvent>, never, Scope.Scope>
  /**
   * The lifecycle events as a Stream. It subscribes when the stream starts running, not when
   * this value is taken: an audit trail forked beside a program can miss the program's first
   * events. For a trail that misses nothing, use `SessionManager.followEvents` or `subscribe`.
   */
  readonly events: Stream.Stream<SessionEvent>
}

/**
 * `make`'s requirements: a Scope when the options ask for a sweep (a fiber that lives as long
 * as the scope), nothing otherwise.
 */
export type MakeRequirements<O> = "sweepInterval" extends keyof O
  ? O["sweepInterval" & keyof O] extends undefined
    ? never
    : Scope.Scope
  : never

const make = <const O extends SessionManagerOptions = Record<never, never>>(
  options?: O
): Effect.Effect<SessionManagerService, never, MakeRequirements<O>> =>
  // Without a sweep the in-memory make never touches the Scope it is typed with.
  Memory.make(options ?? {}) as Effect.Effect<SessionManagerService, never, MakeRequirements<O>>

const positive = (name: string) => (n: number) =>
  Number.isSafeInteger(n) && n >= 1
    ? Either.right(n)
    : Either.left(ConfigError.InvalidData([], `${name} must be a positive integer, got ${n}`))

const invalidData = (message: string) => Either.left(ConfigError.InvalidData([], message))

const durationConfig = (name: string, positiveOnly = false) =>
  Config.string(name).pipe(
    Config.mapOrFail((text) => {
      const duration = decodeDuration(text)
      if (duration === undefined) {
        return invalidData(`${name} must be a duration such as "30 minutes", got ${JSON.stringify(text)}`)
      }
      if (positiveOnly && (!Duration.isFinite(duration) || Duration.toMillis(duration) <= 0)) {
        return invalidData(`${name} must be a positive, finite duration, got ${JSON.stringify(text)}`)
      }
      return Either.right(duration)
    })
  )

/**
 * Options read from a Config are checked like a layer's options, but a bad one fails with a
 * ConfigError (the environment is at fault, not the program) instead of a defect.
 */
const checked = <O extends SessionManagerOptions>(
  options: Config.Config<O>,
  check: (o: O) => Either.Either<unknown, string>
): Config.Config<O> =>
  Config.mapOrFail(options, (o) =>
    Either.match(check(o), { onLeft: invalidData, onRight: () => Either.right(o) })
  )

/**
 * The options read from the environment: `POLICYSHIELD_SESSION_TTL` (a duration such as
 * `30 minutes`), `POLICYSHIELD_MAX_SESSIONS`, `POLICYSHIELD_PROTECT_TAINTED` (`true`/`false`)
 * and `POLICYSHIELD_SWEEP_INTERVAL` (a duration; no sweep when unset), each defaulting as the
 * layer's options do.
 */
const config: Config.Config<SessionManagerOptions> = Config.all({
  ttl: Config.withDefault(durationConfig("POLICYSHIELD_SESSION_TTL"), Duration.hours(1)),
  maxSessions: Config.integer("POLICYSHIELD_MAX_SESSIONS").pipe(
    Config.mapOrFail(positive("POLICYSHIELD_MAX_SESSIONS")),
    Config.withDefault(1000)
  ),
  protectTainted: Config.withDefault(Config.boolean("POLICYSHIELD_PROTECT_TAINTED"), true),
  sweepInterval: Config.option(durationConfig("POLICYSHIELD_SWEEP_INTERVAL", true)).pipe(
    Config.map(Option.getOrUndefined)
  )
})

/**
 * The Redis layer's options from the environment: `POLICYSHIELD_REDIS_URL` (required),
 * `POLICYSHIELD_REDIS_KEY_PREFIX` (default `policyshield`) and the variables of `config`.
 */
const redisConfig: Config.Config<SessionManagerRedisOptions> = Config.all({
  url: Config.string("POLICYSHIELD_REDIS_URL").pipe(
    Config.validate({
      message: "POLICYSHIELD_REDIS_URL must be a redis:// or rediss:// URL",
      validation: (url) => /^rediss?:\/\/./.test(url)
    })
  ),
  keyPrefix: Config.withDefault(Config.string("POLICYSHIELD_REDIS_KEY_PREFIX"), "policyshield"),
  options: config
}).pipe(Config.map(({ url, keyPrefix, options }) => ({ ...options, url, keyPrefix })))

/**
 * The session manager service. A library offers layers and lets the application choose:
 * `SessionManager.layer(options)`, `SessionManager.Default`, `SessionManager.layerConfig()`,
 * or `SessionManager.make(options)` for the service without a layer. Build one layer value
 * once and share it: two builds are two separate tables.
 */
export class SessionManager extends Context.Tag("policyshield/SessionManager")<
  SessionManager,
  SessionManagerService
>() {
  /** The Effect that builds an in-memory manager (it needs a Scope only for a sweep). */
  static readonly make = make

  /**
   * An in-memory manager with these options (defaults: 1 hour, 1000, true, 1024). With
   * `sweepInterval`, a fiber in the layer's scope drops expired sessions every interval and
   * stops when the scope closes. Invalid options make the layer die, naming the option.
   */
  static readonly layer = (options?: SessionManagerOptions): Layer.Layer<SessionManager> =>
    Layer.scoped(SessionManager, Memory.make(options ?? {}))

  /** An in-memory manager with the default options. */
  static readonly Default: Layer.Layer<SessionManager> = Layer.scoped(SessionManager, Memory.make({}))

  /**
   * Follows the lifecycle events for the life of the scope: subscribes at once, so every event
   * of an operation that starts after this returns reaches `onEvent`, in order, in a fiber of the
   * scope. When the scope closes, the events still buffered are handled before it stops, so an
   * audit trail set up around a program sees everything the program did.
   */
  static readonly followEvents = <R>(
    onEvent: (event: SessionEvent) => Effect.Effect<void, never, R>
  ): Effect.Effect<void, never, SessionManager | Scope.Scope | R> =>
    Effect.gen(function* () {
      const sessions = yield* SessionManager
      const queue = yield* sessions.subscribe
      // Finalizers run last-added first: the fiber stops, then the rest is drained, then the
      // subscription ends.
      yield* Effect.addFinalizer(() =>
        Effect.flatMap(Queue.takeAll(queue), (rest) => Effect.forEach(rest, onEvent, { discard: true }))
      )
      // An event taken is always handled, even when the scope closes meanwhile.
      yield* Effect.forkScoped(
        Effect.forever(
          Effect.uninterruptibleMask((restore) => Effect.flatMap(restore(Queue.take(queue)), onEvent))
        )
      )
    })

  /** The options `layerConfig` reads by default, to extend or compose. */
  static readonly config = config

  /**
   * An in-memory manager with options from Effect's `Config` (by default from the
   * environment, see `SessionManager.config`). A bad value fails the layer with a ConfigError
   * that names the variable.
   */
  /**
   * The same service with the sessions in Redis, shared by every replica that uses the same
   * Redis and key prefix. Scoped: the connection opens (and is pinged) when the layer is built
   * and closes with its scope; an unreachable Redis fails the layer with
   * SessionStoreUnavailable. Every operation is one atomic script call; see the README,
   * "Running several replicas".
   */
  static readonly layerRedis = (
    options: SessionManagerRedisOptions
  ): Layer.Layer<SessionManager, SessionStoreUnavailable> => Layer.scoped(SessionManager, Redis.make(options))

  /** The options `layerRedisConfig` reads by default. */
  static readonly redisConfig = redisConfig

  /**
   * A Redis-backed manager with options from Effect's `Config` (by default
   * `POLICYSHIELD_REDIS_URL` and the variables of `SessionManager.config`).
   */
  static readonly layerRedisConfig = (
    options: Config.Config<SessionManagerRedisOptions> = redisConfig
  ): Layer.Layer<SessionManager, ConfigError.ConfigError | SessionStoreUnavailable> =>
    Layer.scoped(
      SessionManager,
      Effect.flatMap(checked(options, decodeRedis), (resolved) => Redis.make(resolved))
    )

  static readonly layerConfig = (
    options: Config.Config<SessionManagerOptions> = config
  ): Layer.Layer<SessionManager, ConfigError.ConfigError> =>
    Layer.scoped(
      SessionManager,
      Effect.flatMap(checked(options, decode), (resolved) => Memory.make(resolved))
    )
}
