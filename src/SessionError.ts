import { Schema } from "effect"
import { SessionId } from "./SessionId.js"

/**
 * A session could not be created or grown because a bound was reached: `"sessions"` when the
 * live table is full of tainted sessions and the parking budget cannot take one without dropping
 * a tainted session (with `protectTainted`), `"tools"` when the session already counts
 * `maxToolsPerSession` distinct tools.
 */
export class SessionCapacityExceeded extends Schema.TaggedError<SessionCapacityExceeded>()(
  "SessionCapacityExceeded",
  {
    reason: Schema.Literal("sessions", "tools"),
    sessionId: SessionId,
    limit: Schema.Number
  }
) {
  override get message(): string {
    return this.reason === "sessions"
      ? `cannot make room for session ${JSON.stringify(this.sessionId)}: all ${this.limit} live sessions are tainted, and parking one would drop a tainted session (maxParkedBytes is full of them)`
      : `session ${JSON.stringify(this.sessionId)} already counts ${this.limit} distinct tools (maxToolsPerSession)`
  }
}

/**
 * The backing store of the sessions could not be reached or answered with an error. The
 * in-memory layer never fails this way; a shared store (such as Redis) does.
 */
export class SessionStoreUnavailable extends Schema.TaggedError<SessionStoreUnavailable>()(
  "SessionStoreUnavailable",
  {
    operation: Schema.String,
    message: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {}
