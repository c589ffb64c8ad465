import type { DateTime, HashMap, HashSet } from "effect"
import type { PIIType } from "../../PIIType.js"
import type { SessionId } from "../../SessionId.js"
import { SessionState } from "../../SessionState.js"
import type { ToolName } from "../../ToolName.js"
import type { SessionRecord } from "../core/sessionTable.js"
import * as Taints from "../core/taints.js"
import * as ToolCounts from "../core/toolCounts.js"

/** The fields of a snapshot, writable while it is built. */
interface Fields {
  sessionId: SessionId
  createdAt: DateTime.Utc
  lastAccessedAt: DateTime.Utc
  toolCounts: HashMap.HashMap<ToolName, number>
  totalCalls: number
  taints: HashSet.HashSet<PIIType>
}

/**
 * The public snapshot of a session record, whichever store it came from. The record is valid by
 * construction, so the snapshot is made from the class's prototype with the same own fields, in
 * the same order, as its constructor would give it (equal, hashed, encoded and matched alike):
 * the constructor runs the schema's machinery even with validation off, which was an eighth of
 * the cost of a counted call.
 */
export const toState = (record: SessionRecord): SessionState => {
  const state = Object.create(SessionState.prototype) as Fields
  state.sessionId = record.id
  state.createdAt = record.createdAt
  state.lastAccessedAt = record.lastAccessedAt
  state.toolCounts = ToolCounts.toHashMap(record.tools)
  state.totalCalls = record.totalCalls
  state.taints = Taints.toHashSet(record.taints)
  return state as unknown as SessionState
}
