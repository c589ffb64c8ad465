/**
 * The in-memory session manager: the imperative shell around the functional core. Each
 * operation reads the clock and applies one transition of the core in one `Ref.modify`, then
 * turns the result into the error channel and a public snapshot.
 */
import { type Clock, Effect, Either, Option, Ref, type Scope } from "effect"
import { SessionCapacityExceeded } from "../SessionError.js"
import type { SessionManagerService } from "../SessionManager.js"
import { type SessionState, SessionStats } from "../SessionState.js"
import * as Observe from "./observe.js"
import * as Options from "./options.js"
import * as Table from "./sessionTable.js"
import { toState } from "./snapshot.js"
import * as Taints from "./taints.js"

// Effect's default clock gives monotonic nanoseconds; the table keeps whole milliseconds, the
// precision of the snapshots' DateTime.
const millis = (clock: Clock.Clock): number => Number(clock.unsafeCurrentTimeNanos() / 1_000_000n)

/**
 * Builds an in-memory manager. Dies with a message naming the option when an option is
 * invalid (a programming error, not a runtime condition). Needs a Scope only for the sweep.
 */
export const make = (
  options: Options.SessionOptions
): Effect.Effect<SessionManagerService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const resolved = Options.decode(options)
    if (Either.isLeft(resolved)) return yield* Effect.dieMessage(resolved.left)
    const { table: config, observe: observeOptions, sweepInterval } = resolved.right
    const observer = yield* Observe.make(observeOptions)
    const ref = yield* Ref.make(Table.empty(config))

    // One operation, one atomic step: the clock is read, the transition applied and its
    // lifecycle reported inside the same Ref.modify, so no other fiber's operation can come
    // between them and events keep the order of the operations.
    const run = <A>(f: (table: Table.Table, now: number) => Table.Transition<A>): Effect.Effect<A> =>
      Effect.flatMap(
        Effect.clockWith((clock) =>
          Ref.modify(ref, (table) => {
            const [result, next] = f(table, millis(clock))
            if (next !== table && next.lifecycle !== undefined) observer.lifecycle(next.lifecycle, next.now)
            return [result, next]
          })
        ),
        (result) => (observer.pending() ? Effect.as(observer.flush, result) : Effect.succeed(result))
      )

    const settle = <A>(
      outcome: A | SessionCapacityExceeded,
      onSuccess: (a: A) => void
    ): Effect.Effect<A, SessionCapacityExceeded> => {
      if (outcome instanceof SessionCapacityExceeded) {
        observer.rejected(outcome.reason)
        return Effect.fail(outcome)
      }
      onSuccess(outcome)
      return Effect.succeed(outcome)
    }
    const none = () => {}
    const counted = () => observer.callRecorded()

    const touching = (
      f: (table: Table.Table, now: number) => Table.Touched,
      onSuccess: (entry: Table.Entry) => void
    ): Effect.Effect<SessionState, SessionCapacityExceeded> =>
      Effect.map(
        Effect.flatMap(run(f), (outcome) => settle(outcome, onSuccess)),
        toState
      )

    const service: SessionManagerService = {
      getOrCreate: (id) => touching((t, now) => Table.getOrCreate(t, now, id), none),
      get: (id) =>
        Effect.map(
          run((t, now) => Table.get(t, now, id)),
          (entry) => (entry === undefined ? Option.none() : Option.some(toState(entry)))
        ),
      increment: (id, tool) => touching((t, now) => Table.increment(t, now, id, tool), counted),
      addTaint: (id, pii) => touching((t, now) => Table.addTaint(t, now, id, pii), none),
      getTaints: (id) =>
        Effect.map(
          run((t, now) => Table.get(t, now, id)),
          (entry) => Taints.toHashSet(entry === undefined ? 0 : entry.taints)
        ),
      decideAndRecord: (id, tool, decide) => {
        let recorded = false
        const step = run((t, now) =>
          Table.decideAndRecord(t, now, id, tool, (before) => {
            const decision = decide(toState(before))
            recorded = decision.record
            return decision
          })
        )
        return Effect.map(
          Effect.flatMap(step, (outcome) => settle(outcome, () => recorded && observer.callRecorded())),
          ({ value, entry }) => {
            // Built on first read: a caller that only needs the value (the engine) never pays
            // for the snapshot. The record is immutable, so the snapshot is the same whenever.
            let state: SessionState | undefined
            return {
              value,
              get state() {
                if (state === undefined) state = toState(entry)
                return state
              }
            }
          }
        )
      },
      clearTaints: (id) => run((t, now) => Table.clearTaints(t, now, id)),
      remove: (id) => run((t, now) => Table.remove(t, now, id)),
      cleanup: run(Table.cleanup),
      stats: Effect.map(run(Table.stats), (figures) => new SessionStats(figures, true)),
      subscribe: observer.subscribe,
      events: observer.events
    }

    const instrumented = observer.instrument(service)
    // Returns the memory of expired sessions even when no call arrives; stops with the scope.
    if (sweepInterval !== undefined) yield* Observe.forkSweep(sweepInterval, instrumented.cleanup)
    return instrumented
  })
