import { SessionState } from "../SessionState.js"
import type { Entry } from "./sessionTable.js"
import * as Taints from "./taints.js"
import * as ToolCounts from "./toolCounts.js"

/**
 * The public snapshot of an internal record. The record is valid by construction, so the
 * snapshot is built without running the schema's checks again.
 */
export const toState = (entry: Entry): SessionState =>
  new SessionState(
    {
      sessionId: entry.id,
      createdAt: entry.createdAt,
      lastAccessedAt: entry.lastAccessedAt,
      toolCounts: ToolCounts.toHashMap(entry.tools),
      totalCalls: entry.totalCalls,
      taints: Taints.toHashSet(entry.taints)
    },
    true
  )
