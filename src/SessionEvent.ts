import { Schema } from "effect"
import { PIIType } from "./PIIType.js"
import { SessionId } from "./SessionId.js"

const common = { sessionId: SessionId, at: Schema.DateTimeUtc }

/** A session was created. */
export class SessionCreated extends Schema.TaggedClass<SessionCreated>()("Created", common) {}

/**
 * A session's state was dropped to make room: the live table was full and the parked tier had
 * no room to keep it, or a parked session was dropped to make room for another. `tainted` when
 * it carried taints. Its counts and taints are gone.
 */
export class SessionEvicted extends Schema.TaggedClass<SessionEvicted>()("Evicted", {
  ...common,
  tainted: Schema.Boolean
}) {}

/**
 * A session was parked: moved out of the full live table to make room, with its taints, counts
 * and times kept. It is the same session to every operation; the next one that touches it
 * resumes it. `tainted` when it carries taints.
 */
export class SessionParked extends Schema.TaggedClass<SessionParked>()("Parked", {
  ...common,
  tainted: Schema.Boolean
}) {}

/** A parked session was touched and came back into the live table. */
export class SessionResumed extends Schema.TaggedClass<SessionResumed>()("Resumed", common) {}

/** An expired session was dropped (by whichever operation or sweep found it). */
export class SessionExpired extends Schema.TaggedClass<SessionExpired>()("Expired", common) {}

/** A session was removed with `remove`. */
export class SessionRemoved extends Schema.TaggedClass<SessionRemoved>()("Removed", common) {}

/** A session gained a taint it did not have. */
export class SessionTainted extends Schema.TaggedClass<SessionTainted>()("Tainted", {
  ...common,
  pii: PIIType
}) {}

/** A session's taints were cleared with `clearTaints`. */
export class SessionTaintsCleared extends Schema.TaggedClass<SessionTaintsCleared>()(
  "TaintsCleared",
  common
) {}

/**
 * The shared store lost its state (it was flushed, or restarted without persistence, or
 * replaced by an empty replica), noticed by this replica at `at` (its Effect clock). It names no
 * session: every session's taints and counts are gone. See `onStoreLoss` of the Redis layer.
 */
export class SessionStoreLost extends Schema.TaggedClass<SessionStoreLost>()("StoreLost", {
  at: Schema.DateTimeUtc
}) {}

/**
 * A lifecycle event, tagged by `_tag`; `at` is the manager's time of the event. Every event but
 * `StoreLost` concerns one session, named by `sessionId`.
 */
export const SessionEvent = Schema.Union(
  SessionCreated,
  SessionEvicted,
  SessionParked,
  SessionResumed,
  SessionExpired,
  SessionRemoved,
  SessionTainted,
  SessionTaintsCleared,
  SessionStoreLost
)

/** One lifecycle event. */
export type SessionEvent = typeof SessionEvent.Type
