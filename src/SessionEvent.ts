import { Schema } from "effect"
import { PIIType } from "./PIIType.js"
import { SessionId } from "./SessionId.js"

const common = { sessionId: SessionId, at: Schema.DateTimeUtc }

/** A session was created. */
export class SessionCreated extends Schema.TaggedClass<SessionCreated>()("Created", common) {}

/** A session was evicted to make room for a new one; `tainted` when it carried taints. */
export class SessionEvicted extends Schema.TaggedClass<SessionEvicted>()("Evicted", {
  ...common,
  tainted: Schema.Boolean
}) {}

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

/** A lifecycle event of a session, tagged by `_tag`; `at` is the manager's time of the event. */
export const SessionEvent = Schema.Union(
  SessionCreated,
  SessionEvicted,
  SessionExpired,
  SessionRemoved,
  SessionTainted,
  SessionTaintsCleared
)

/** One lifecycle event. */
export type SessionEvent = typeof SessionEvent.Type
