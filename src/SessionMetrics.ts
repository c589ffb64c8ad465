/**
 * The session layer's metrics, registered in Effect's global metric registry. Tags take only
 * bounded values (reasons and PII types), never session ids or tool names.
 */
import { Metric } from "effect"

/** Sessions created. */
export const sessionsCreated = Metric.counter("policyshield_sessions_created_total", {
  description: "Sessions created",
  incremental: true
})

/**
 * Sessions ended, tagged `reason`: `capacity` (state dropped to make room: evicted), `expired`
 * or `removed`.
 */
export const sessionsEnded = Metric.counter("policyshield_sessions_ended_total", {
  description: "Sessions ended, by reason: capacity, expired, removed",
  incremental: true
})

/** Sessions parked out of the full live table, with their state kept. */
export const sessionsParked = Metric.counter("policyshield_sessions_parked_total", {
  description: "Sessions parked out of the full live table, with their state kept",
  incremental: true
})

/** Operations refused for capacity, tagged `reason`: `sessions` or `tools`. */
export const capacityRejections = Metric.counter("policyshield_capacity_rejections_total", {
  description: "Operations refused because a bound was reached, by reason: sessions, tools",
  incremental: true
})

/** Tool calls counted in sessions. */
export const toolCallsRecorded = Metric.counter("policyshield_tool_calls_recorded_total", {
  description: "Tool calls counted in sessions",
  incremental: true
})

/** Taints added to sessions, tagged `pii` with the PII type. */
export const taintsAdded = Metric.counter("policyshield_taints_added_total", {
  description: "Taints added to sessions, by PII type",
  incremental: true
})

/** Sessions held by the managers of this process. */
export const liveSessions = Metric.gauge("policyshield_sessions_live", {
  description: "Sessions held by the session managers of this process"
})

/** Losses of a shared store's state noticed by this process (see `onStoreLoss`). */
export const storeLosses = Metric.counter("policyshield_store_losses_total", {
  description: "Losses of the shared session store's state noticed by this process",
  incremental: true
})
