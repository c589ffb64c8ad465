import { type Clock, Context, Effect, Either, type HashSet, Layer, Option, Ref } from "effect"
import * as Options from "./internal/options.js"
import * as Table from "./internal/sessionTable.js"
import { toState } from "./internal/snapshot.js"
import * as Taints from "./internal/taints.js"
import type { PIIType } from "./PIIType.js"
import { SessionCapacityExceeded, type SessionStoreUnavailable } from "./SessionError.js"
import type { SessionId } from "./SessionId.js"
import { type SessionState, SessionStats } from "./SessionState.js"
import type { ToolName } from "./ToolName.js"

/** Options of the in-memory layer. Invalid options make the layer die when it is built. */
export type SessionManagerOptions = Options.SessionOptions

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
}

// Effect's default clock gives monotonic nanoseconds; the table keeps whole milliseconds, the
// precision of the snapshots' DateTime.
const millis = (clock: Clock.Clock): number => Number(clock.unsafeCurrentTimeNanos() / 1_000_000n)

/**
 * Builds an in-memory session manager. Dies with a message naming the option when an option
 * is invalid (a programming error, not a runtime condition).
 */
const make = (options: SessionManagerOptions = {}): Effect.Effect<SessionManagerService> =>
  Effect.suspend(() => {
    const config = Options.decode(options)
    if (Either.isLeft(config)) return Effect.dieMessage(config.left)
    return Effect.map(Ref.make(Table.empty(config.right)), (ref): SessionManagerService => {
      // One operation, one atomic step: the clock is read and the transition applied inside
      // the same Ref.modify, so no other fiber's operation can come between them.
      const run = <A>(f: (table: Table.Table, now: number) => Table.Transition<A>): Effect.Effect<A> =>
        Effect.clockWith((clock) => Ref.modify(ref, (table) => f(table, millis(clock))))
      const touching = (
        f: (table: Table.Table, now: number) => Table.Touched
      ): Effect.Effect<SessionState, SessionCapacityExceeded> =>
        Effect.flatMap(run(f), (outcome) =>
          outcome instanceof SessionCapacityExceeded ? Effect.fail(outcome) : Effect.succeed(toState(outcome))
        )
      return {
        getOrCreate: (id) => touching((table, now) => Table.getOrCreate(table, now, id)),
        get: (id) =>
          Effect.map(
            run((table, now) => Table.get(table, now, id)),
            (entry) => (entry === undefined ? Option.none() : Option.some(toState(entry)))
          ),
        increment: (id, tool) => touching((table, now) => Table.increment(table, now, id, tool)),
        addTaint: (id, pii) => touching((table, now) => Table.addTaint(table, now, id, pii)),
        getTaints: (id) =>
          Effect.map(
            run((table, now) => Table.get(table, now, id)),
            (entry) => Taints.toHashSet(entry === undefined ? 0 : entry.taints)
          ),
        decideAndRecord: (id, tool, decide) =>
          Effect.flatMap(
            run((table, now) =>
              Table.decideAndRecord(table, now, id, tool, (before) => decide(toState(before)))
            ),
            (outcome) =>
              outcome instanceof SessionCapacityExceeded
                ? Effect.fail(outcome)
                : Effect.succeed({ value: outcome.value, state: toState(outcome.entry) })
          ),
        clearTaints: (id) => run((table, now) => Table.clearTaints(table, now, id)),
        remove: (id) => run((table, now) => Table.remove(table, now, id)),
        cleanup: run(Table.cleanup),
        stats: Effect.map(run(Table.stats), (figures) => new SessionStats(figures, true))
      }
    })
  })

/**
 * The session manager service. A library offers layers and lets the application choose:
 * `SessionManager.layer(options)`, `SessionManager.Default`, or `SessionManager.make(options)`
 * for the service without a layer. Build one layer value once and share it: two builds are two
 * separate tables.
 */
export class SessionManager extends Context.Tag("policyshield/SessionManager")<
  SessionManager,
  SessionManagerService
>() {
  /** The Effect that builds an in-memory manager. */
  static readonly make = make

  /** An in-memory manager with these options (defaults: 1 hour, 1000, true, 1024). */
  static readonly layer = (options?: SessionManagerOptions): Layer.Layer<SessionManager> =>
    Layer.effect(SessionManager, make(options))

  /** An in-memory manager with the default options. */
  static readonly Default: Layer.Layer<SessionManager> = Layer.effect(SessionManager, make())
}
