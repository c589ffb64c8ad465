import { HashMap, HashSet, Option, Schema } from "effect"
import { PIIType } from "./PIIType.js"
import { SessionId } from "./SessionId.js"
import { ToolName } from "./ToolName.js"

/** A non-negative whole number of calls or sessions. */
const Count = Schema.NonNegativeInt

/**
 * An immutable snapshot of one session, as it was when an operation returned it.
 * `Schema.encodeSync(SessionState)` turns it into JSON-safe data (ISO dates, arrays).
 */
export class SessionState extends Schema.Class<SessionState>("SessionState")({
  sessionId: SessionId,
  createdAt: Schema.DateTimeUtc,
  lastAccessedAt: Schema.DateTimeUtc,
  toolCounts: Schema.HashMap({ key: ToolName, value: Count }),
  totalCalls: Count,
  taints: Schema.HashSet(PIIType)
}) {
  /** How many times `tool` was called in this session (0 when never). */
  toolCount(tool: ToolName): number {
    return Option.getOrElse(HashMap.get(this.toolCounts, tool), () => 0)
  }

  /** Whether this session carries the given taint. */
  hasTaint(pii: PIIType): boolean {
    return HashSet.has(this.taints, pii)
  }

  /** Whether this session carries any taint. */
  get isTainted(): boolean {
    return HashSet.size(this.taints) > 0
  }
}

/**
 * Figures over the sessions of one manager, in its two tiers (live, and parked to make room),
 * plus counters since it was built (for Redis: since its key prefix was first used).
 */
export class SessionStats extends Schema.Class<SessionStats>("SessionStats")({
  /** Live (unexpired) sessions in the live table. */
  activeSessions: Count,
  /** Live sessions that carry at least one taint. */
  taintedSessions: Count,
  /** Calls summed over live sessions. */
  totalCalls: Count,
  /** The configured bound on live sessions. */
  maxSessions: Count,
  /** Sessions whose state was dropped to make room (`Evicted` events). */
  evicted: Count,
  /** Expired sessions dropped, from either tier, by whichever operation dropped them. */
  expired: Count,
  /** Unexpired sessions parked out of the live table, with their state kept. */
  parkedSessions: Count,
  /** The bytes the parked sessions are taken to cost, within `maxParkedBytes`. */
  parkedBytes: Count,
  /** The configured budget of parked sessions, in bytes. */
  maxParkedBytes: Count,
  /** Sessions moved to the parked tier (`Parked` events). */
  parked: Count
}) {}
