/**
 * The imperative shell shared by every store: the SessionManager service built above a store
 * that only knows how to apply one operation of the core atomically. The shell owns what is the
 * same for every store: turning results into snapshots and typed errors, metrics, spans,
 * lifecycle events and the background sweep.
 */
import { type Clock, Effect, type HashSet, Option, type Queue, type Scope, type Stream } from "effect"
import type { PIIType } from "../../PIIType.js"
import { SessionCapacityExceeded, type SessionStoreUnavailable } from "../../SessionError.js"
import type { SessionEvent } from "../../SessionEvent.js"
import type { SessionId } from "../../SessionId.js"
import { type SessionState, SessionStats } from "../../SessionState.js"
import type { ToolName } from "../../ToolName.js"
import type {
  Decided,
  Lifecycle,
  Operation,
  Refused,
  Result,
  SessionRecord,
  Touched
} from "../core/sessionTable.js"
import * as Taints from "../core/taints.js"
import * as Observe from "./observe.js"
import type { Resolved } from "./options.js"
import { toState } from "./snapshot.js"

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

/** Where a store reports the lifecycle events of an operation, in the step that applies it. */
export type Report = (events: ReadonlyArray<Lifecycle>, nowMillis: number) => void

/** What a store reports: each operation's lifecycle events, and (a shared store) a loss of its state. */
export interface Reporter {
  readonly lifecycle: Report
  readonly storeLost: (nowMillis: number) => void
}

/** What a store provides: one operation of the core, applied as one atomic step. */
export interface SessionStore {
  /**
   * Applies the operation at the store's time and gives back `finish` of its result; the events
   * it caused go to the store's `Report` in the same step. `finish` is synchronous and called
   * once (an in-memory store calls it inside its atomic step, which saves a step per call).
   * Fails only when the store cannot be used.
   */
  readonly apply: <O extends Operation, B>(
    operation: O,
    finish: (result: Result<O>) => B
  ) => Effect.Effect<B, SessionStoreUnavailable>
}

/**
 * The service over the store that `makeStore` builds, for these resolved options. With a sweep
 * interval, a fiber in the scope runs `cleanup` every interval.
 */
export const make = <E, R>(
  resolved: Resolved,
  makeStore: (reporter: Reporter) => Effect.Effect<SessionStore, E, R>
): Effect.Effect<SessionManagerService, E, R | Scope.Scope> =>
  Effect.gen(function* () {
    const observer = yield* Observe.make(resolved.observe)
    const store = yield* makeStore(observer)

    /** One operation through the store, its result finished in the same step, in a span when tracing. */
    const run = <O extends Operation, B>(
      operation: O,
      finish: (result: Result<O>) => B
    ): Effect.Effect<B, SessionStoreUnavailable> => {
      const applied = store.apply(operation, finish)
      return resolved.observe.tracing
        ? observer.traced(operation._tag, attributesOf(operation), idOf(operation), applied)
        : applied
    }

    /** An operation whose result is an Effect (it may fail), with any warning logged after it. */
    const runEffect = <O extends Operation, B, E>(
      operation: O,
      finish: (result: Result<O>) => Effect.Effect<B, E>
    ): Effect.Effect<B, E | SessionStoreUnavailable> =>
      Effect.flatten(
        run(operation, (result) => {
          const finished = finish(result)
          return observer.pending() ? Effect.zipRight(observer.flush, finished) : finished
        })
      )

    const refuse = (id: SessionId, refused: Refused): Effect.Effect<never, SessionCapacityExceeded> => {
      observer.rejected(refused.reason)
      return Effect.fail(
        new SessionCapacityExceeded({ reason: refused.reason, sessionId: id, limit: refused.limit })
      )
    }

    const touched =
      (id: SessionId, counted: boolean) =>
      (outcome: Touched): Effect.Effect<SessionState, SessionCapacityExceeded> => {
        if (outcome._tag === "Refused") return refuse(id, outcome)
        if (counted) observer.callRecorded()
        return Effect.succeed(toState(outcome.record))
      }

    const decided =
      <A>(id: SessionId) =>
      (
        outcome: Decided
      ): Effect.Effect<{ readonly value: A; readonly state: SessionState }, SessionCapacityExceeded> => {
        if (outcome._tag === "Refused") return refuse(id, outcome)
        if (outcome.recorded) observer.callRecorded()
        const { record } = outcome
        // Built on first read: a caller that only needs the value (the engine) never pays for
        // the snapshot. The record is immutable, so the snapshot is the same whenever.
        let state: SessionState | undefined
        return Effect.succeed({
          value: outcome.value as A,
          get state() {
            if (state === undefined) state = toState(record)
            return state
          }
        })
      }

    const snapshot = (record: SessionRecord | undefined): Option.Option<SessionState> =>
      record === undefined ? Option.none() : Option.some(toState(record))
    const same = <A>(a: A): A => a

    // One line per operation: what it is as data, and how its result reaches the caller.
    const service: SessionManagerService = {
      getOrCreate: (id) => runEffect({ _tag: "getOrCreate", id }, touched(id, false)),
      get: (id) => run({ _tag: "get", id }, snapshot),
      increment: (id, tool) => runEffect({ _tag: "increment", id, tool }, touched(id, true)),
      addTaint: (id, pii) => runEffect({ _tag: "addTaint", id, pii }, touched(id, false)),
      getTaints: (id) => run({ _tag: "getTaints", id }, Taints.toHashSet),
      decideAndRecord: (id, tool, decide) =>
        runEffect({ _tag: "decideAndRecord", id, tool, decide: (r) => decide(toState(r)) }, decided(id)),
      clearTaints: (id) => run({ _tag: "clearTaints", id }, same),
      remove: (id) => run({ _tag: "remove", id }, same),
      cleanup: run({ _tag: "cleanup" }, same),
      stats: run({ _tag: "stats" }, (figures) => new SessionStats(figures, true)),
      subscribe: observer.subscribe,
      events: observer.events
    }

    // Returns the memory of expired sessions even when no call arrives; stops with the scope.
    if (resolved.sweepInterval !== undefined)
      yield* Observe.forkSweep(resolved.sweepInterval, service.cleanup)
    return service
  })

/**
 * The clock's reading in whole milliseconds, the precision of the snapshots' DateTime, within
 * the range of valid dates (±8.64e15 ms): a clock past the largest date reads as that date, so
 * every session expires as time says it should and no operation dies on an invalid date. A
 * reading that is not a number at all reads as the earliest date, which the manager's "time
 * never goes backwards" turns into no move at all.
 */
export const millis = (clock: Clock.Clock): number => {
  let reading: number
  try {
    // Effect's default clock gives monotonic nanoseconds; a TestClock set to an infinite or
    // undefined time cannot turn it into a bigint, and then its milliseconds are read instead.
    reading = Number(clock.unsafeCurrentTimeNanos() / 1_000_000n)
  } catch {
    reading = clock.unsafeCurrentTimeMillis()
  }
  if (Number.isNaN(reading)) return -MAX_DATE_MILLIS
  return Math.max(-MAX_DATE_MILLIS, Math.min(MAX_DATE_MILLIS, Math.floor(reading)))
}

/** The largest valid date, in milliseconds since the epoch (and its negative, the smallest). */
export const MAX_DATE_MILLIS = 8_640_000_000_000_000

const idOf = (operation: Operation): SessionId | undefined => ("id" in operation ? operation.id : undefined)

/** What a span says of an operation besides its name: the tool or PII type, never the id. */
const attributesOf = (operation: Operation): Record<string, unknown> => {
  const attributes: Record<string, unknown> = {}
  if ("tool" in operation) attributes.tool = operation.tool
  if ("pii" in operation) attributes.pii = operation.pii
  return attributes
}
