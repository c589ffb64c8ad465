import { type Config, type ConfigError, Context, Effect, Either, Layer, Queue, type Scope } from "effect"
import * as Memory from "./internal/shell/memory.js"
import * as Options from "./internal/shell/options.js"
import * as Service from "./internal/shell/service.js"
import type { SessionEvent } from "./SessionEvent.js"

/** Options of the in-memory layer. Invalid options make the layer die when it is built. */
export type SessionManagerOptions = Options.SessionOptions

/** The operations of a session manager, whichever store backs it. */
export type SessionManagerService = Service.SessionManagerService

/**
 * `make`'s requirements: a Scope when the options ask for a sweep (a fiber that lives as long
 * as the scope), nothing otherwise.
 */
export type MakeRequirements<O> = "sweepInterval" extends keyof O
  ? O["sweepInterval" & keyof O] extends undefined
    ? never
    : Scope.Scope
  : never

// Defined before the class: its static layers are built when the class is.
/** An in-memory manager; invalid options are a defect naming the option. */
const inMemory = (options: SessionManagerOptions): Effect.Effect<SessionManagerService, never, Scope.Scope> =>
  Effect.flatMap(
    Either.match(Options.decode(options), { onLeft: Effect.dieMessage, onRight: Effect.succeed }),
    (resolved) => Service.make(resolved, (reporter) => Memory.make(resolved.table, reporter.lifecycle))
  )

/**
 * The session manager service. A library offers layers and lets the application choose:
 * `SessionManager.layer(options)`, `SessionManager.Default`, `SessionManager.layerConfig()`,
 * or `SessionManager.make(options)` for the service without a layer; the Redis layers are in
 * `policyshield-effect/redis`. Build one layer value once and share it: two builds are two
 * separate tables.
 */
export class SessionManager extends Context.Tag("policyshield/SessionManager")<
  SessionManager,
  SessionManagerService
>() {
  /** The Effect that builds an in-memory manager (it needs a Scope only for a sweep). */
  static readonly make = <const O extends SessionManagerOptions = Record<never, never>>(
    options?: O
  ): Effect.Effect<SessionManagerService, never, MakeRequirements<O>> =>
    // Without a sweep the in-memory make never touches the Scope it is typed with.
    inMemory(options ?? {}) as Effect.Effect<SessionManagerService, never, MakeRequirements<O>>

  /**
   * An in-memory manager with these options (defaults: 1 hour, 1000, true, 1024). With
   * `sweepInterval`, a fiber in the layer's scope drops expired sessions every interval and
   * stops when the scope closes. Invalid options make the layer die, naming the option.
   */
  static readonly layer = (options?: SessionManagerOptions): Layer.Layer<SessionManager> =>
    Layer.scoped(SessionManager, inMemory(options ?? {}))

  /** An in-memory manager with the default options. */
  static readonly Default: Layer.Layer<SessionManager> = Layer.scoped(SessionManager, inMemory({}))

  /**
   * The options `layerConfig` reads by default, as a `Config.Wrap`: `POLICYSHIELD_SESSION_TTL`,
   * `POLICYSHIELD_MAX_SESSIONS`, `POLICYSHIELD_PROTECT_TAINTED` and
   * `POLICYSHIELD_SWEEP_INTERVAL`, each optional. Spread it to extend or override a field.
   */
  static readonly config: Config.Config.Wrap<SessionManagerOptions> = Options.config

  /**
   * An in-memory manager with options from Effect's `Config` (by default from the environment,
   * see `SessionManager.config`): each field a `Config`, checked by the same decoder as
   * `layer`'s options. A bad value fails the layer with a ConfigError that names it.
   */
  static readonly layerConfig = (
    config: Config.Config.Wrap<SessionManagerOptions> = Options.config
  ): Layer.Layer<SessionManager, ConfigError.ConfigError> =>
    Layer.scoped(
      SessionManager,
      Effect.flatMap(Options.fromConfig(config, Options.decode), (resolved) =>
        Service.make(resolved, (reporter) => Memory.make(resolved.table, reporter.lifecycle))
      )
    )

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
}
