import { SessionState } from "../../SessionState.js"
import type { SessionRecord } from "../core/sessionTable.js"
import * as Taints from "../core/taints.js"
import * as ToolCounts from "../core/toolCounts.js"

/**
 * The public snapshot of a session record, whichever store it came from. The record is valid by
 * construction, so the snapshot is built without running the schema's checks again.
 */
export const toState = (record: SessionRecord): SessionState =>
  new SessionState(
    {
      sessionId: record.id,
      createdAt: record.createdAt,
      lastAccessedAt: record.lastAccessedAt,
      toolCounts: ToolCounts.toHashMap(record.tools),
      totalCalls: record.totalCalls,
      taints: Taints.toHashSet(record.taints)
    },
    true
  )
