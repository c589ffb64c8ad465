/**
 * What every session layer reports about itself: metrics, lifecycle events for subscribers,
 * warnings, and (opt in) spans. The layers feed it the lifecycle of each operation; nothing
 * here reads or changes session state.
 */
import {
  DateTime,
  type Duration,
  Effect,
  Metric,
  PubSub,
  type Queue,
  Schedule,
  type Scope,
  Stream
} from "effect"
import type { PIIType } from "../../PIIType.js"
import {
  SessionCreated,
  type SessionEvent,
  SessionEvicted,
  SessionExpired,
  SessionParked,
  SessionRemoved,
  SessionResumed,
  SessionStoreLost,
  SessionTainted,
  SessionTaintsCleared
} from "../../SessionEvent.js"
import type { SessionId } from "../../SessionId.js"
import * as Metrics from "../../SessionMetrics.js"
import type { Lifecycle } from "../core/sessionTable.js"

const ended = {
  capacity: Metric.tagged(Metrics.sessionsEnded, "reason", "capacity"),
  expired: Metric.tagged(Metrics.sessionsEnded, "reason", "expired"),
  removed: Metric.tagged(Metrics.sessionsEnded, "reason", "removed")
}
const rejectedFor = {
  sessions: Metric.tagged(Metrics.capacityRejections, "reason", "sessions"),
  tools: Metric.tagged(Metrics.capacityRejections, "reason", "tools")
}
const taintedWith = new Map<PIIType, Metric.Metric.Counter<number>>()
const taintCounter = (pii: PIIType) => {
  let counter = taintedWith.get(pii)
  if (counter === undefined) {
    counter = Metric.tagged(Metrics.taintsAdded, "pii", pii)
    taintedWith.set(pii, counter)
  }
  return counter
}

const toEvent = (event: Lifecycle, at: DateTime.Utc): SessionEvent => {
  switch (event._tag) {
    case "Created":
      return new SessionCreated({ sessionId: event.sessionId, at }, true)
    case "Evicted":
      return new SessionEvicted({ sessionId: event.sessionId, at, tainted: event.tainted }, true)
    case "Parked":
      return new SessionParked({ sessionId: event.sessionId, at, tainted: event.tainted }, true)
    case "Resumed":
      return new SessionResumed({ sessionId: event.sessionId, at }, true)
    case "Expired":
      return new SessionExpired({ sessionId: event.sessionId, at }, true)
    case "Removed":
      return new SessionRemoved({ sessionId: event.sessionId, at }, true)
    case "Tainted":
      return new SessionTainted({ sessionId: event.sessionId, at, pii: event.pii }, true)
    case "TaintsCleared":
      return new SessionTaintsCleared({ sessionId: event.sessionId, at }, true)
  }
}

export interface ObserveOptions {
  readonly metrics: boolean
  /** How many events each subscriber may fall behind before it loses the oldest. */
  readonly eventBuffer: number
  readonly tracing: boolean
  readonly traceSessionIds: boolean
}

export interface Observer {
  /**
   * Records what one operation did: metrics, and events published to the subscribers at once,
   * in this same step. A layer calls it in the step that applies the operation, so events are
   * published in the order of the operations, whatever fibers are preempted in between.
   * Warnings wait for `flush`.
   */
  readonly lifecycle: (events: ReadonlyArray<Lifecycle>, nowMillis: number) => void
  /** Publishes that the shared store lost its state, noticed at `nowMillis`, and counts it. */
  readonly storeLost: (nowMillis: number) => void
  readonly callRecorded: () => void
  readonly rejected: (reason: "sessions" | "tools") => void
  /** Whether `flush` has anything to do. */
  readonly pending: () => boolean
  /** Logs the queued warning (sessions' state dropped to make room); run after the operation. */
  readonly flush: Effect.Effect<void>
  readonly subscribe: Effect.Effect<Queue.Dequeue<SessionEvent>, never, Scope.Scope>
  readonly events: Stream.Stream<SessionEvent>
  /**
   * The operation in a span named `SessionManager.<name>` when tracing is on (with the session
   * id only when `traceSessionIds` is on); the operation itself otherwise.
   */
  readonly traced: <A, E>(
    name: string,
    attributes: Record<string, unknown>,
    sessionId: SessionId | undefined,
    effect: Effect.Effect<A, E>
  ) => Effect.Effect<A, E>
}

/** Runs `cleanup` every `interval` for the life of the scope; a failed run waits for the next. */
export const forkSweep = (
  interval: Duration.Duration,
  cleanup: Effect.Effect<number, unknown>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.forkScoped(Effect.repeat(Effect.ignore(cleanup), Schedule.spaced(interval))))

export const make = (options: ObserveOptions): Effect.Effect<Observer> =>
  Effect.map(PubSub.sliding<SessionEvent>(options.eventBuffer), (pubsub): Observer => {
    // Events are only built when someone listens: with no subscriber an operation pays a
    // comparison, not an allocation.
    let subscribers = 0
    // Dropping state to make room is logged, at most once per second of the manager's time, so
    // that a flood cannot turn into a flood of log lines; the metric counts every one.
    let evictedSinceWarning = 0
    let taintedSinceWarning = 0
    let lastEvicted: SessionId | undefined
    let warnedAt = Number.NEGATIVE_INFINITY
    let warning: string | undefined

    const subscribe = Effect.zipRight(
      Effect.acquireRelease(
        Effect.sync(() => {
          subscribers++
        }),
        () =>
          Effect.sync(() => {
            subscribers--
          })
      ),
      PubSub.subscribe(pubsub)
    )

    return {
      lifecycle: (happened, nowMillis) => {
        const at = subscribers > 0 ? DateTime.unsafeMake(nowMillis) : undefined
        const events: Array<SessionEvent> = []
        for (const event of happened) {
          if (options.metrics) {
            switch (event._tag) {
              case "Created":
                Metrics.sessionsCreated.unsafeUpdate(1, [])
                Metrics.liveSessions.unsafeModify(1, [])
                break
              case "Evicted":
                ended.capacity.unsafeUpdate(1, [])
                Metrics.liveSessions.unsafeModify(-1, [])
                break
              case "Expired":
                ended.expired.unsafeUpdate(1, [])
                Metrics.liveSessions.unsafeModify(-1, [])
                break
              case "Removed":
                ended.removed.unsafeUpdate(1, [])
                Metrics.liveSessions.unsafeModify(-1, [])
                break
              case "Tainted":
                taintCounter(event.pii).unsafeUpdate(1, [])
                break
              case "Parked":
                Metrics.sessionsParked.unsafeUpdate(1, [])
                break
              case "TaintsCleared":
              case "Resumed":
                break
            }
          }
          if (event._tag === "Evicted") {
            evictedSinceWarning++
            if (event.tainted) taintedSinceWarning++
            lastEvicted = event.sessionId
          }
          if (at !== undefined) events.push(toEvent(event, at))
        }
        if (evictedSinceWarning > 0 && nowMillis - warnedAt >= 1000) {
          warning =
            `${evictedSinceWarning} session(s) had their state dropped to make room (${taintedSinceWarning} tainted): ` +
            "the live table and the parked budget (maxParkedBytes) are full; their counts and taints are gone"
          warnedAt = nowMillis
          evictedSinceWarning = 0
          taintedSinceWarning = 0
        }
        // Published now, not queued: a sliding PubSub never suspends a publisher, so this
        // completes synchronously, and a subscriber that is full loses its oldest events.
        if (events.length > 0) Effect.runSync(PubSub.publishAll(pubsub, events))
      },
      storeLost: (nowMillis) => {
        if (options.metrics) Metrics.storeLosses.unsafeUpdate(1, [])
        if (subscribers > 0) {
          Effect.runSync(
            PubSub.publish(pubsub, new SessionStoreLost({ at: DateTime.unsafeMake(nowMillis) }, true))
          )
        }
      },
      callRecorded: () => {
        if (options.metrics) Metrics.toolCallsRecorded.unsafeUpdate(1, [])
      },
      rejected: (reason) => {
        if (options.metrics) rejectedFor[reason].unsafeUpdate(1, [])
      },
      pending: () => warning !== undefined,
      flush: Effect.suspend(() => {
        const message = warning
        const sessionId = lastEvicted
        warning = undefined
        if (message === undefined) return Effect.void
        return Effect.logWarning(message).pipe(
          Effect.annotateLogs(options.traceSessionIds && sessionId !== undefined ? { sessionId } : {})
        )
      }),
      subscribe,
      events: Stream.unwrapScoped(Effect.map(subscribe, (queue) => Stream.fromQueue(queue))),
      traced: options.tracing
        ? (name, attributes, sessionId, effect) =>
            Effect.withSpan(effect, `SessionManager.${name}`, {
              attributes:
                options.traceSessionIds && sessionId !== undefined ? { ...attributes, sessionId } : attributes
            })
        : (_name, _attributes, _sessionId, effect) => effect
    }
  })
