import { Schema } from "effect"
import { PIIType } from "./PIIType.js"

/** How severe a verdict is. */
export const Severity = Schema.Literal("low", "medium", "high", "critical")

/** One severity level. */
export type Severity = typeof Severity.Type

/**
 * The shield's decision on one tool call. `ruleId` names the rule that decided (`null` when
 * the policy's default verdict applied); `piiDetected` lists the kinds of personal data found
 * in the call's arguments.
 */
export class Verdict extends Schema.Class<Verdict>("Verdict")({
  decision: Schema.Literal("ALLOW", "BLOCK"),
  ruleId: Schema.NullOr(Schema.String),
  message: Schema.String,
  severity: Severity,
  piiDetected: Schema.Array(PIIType)
}) {}

/** The rule id of a block by the taint chain: a tainted session calling an outgoing tool. */
export const TAINT_RULE_ID = "__pii_taint__"

/** The rule id of a block because the session table is full of protected sessions. */
export const CAPACITY_RULE_ID = "__session_capacity__"

/** The rule id of a block because the session store cannot be reached or lost its state. */
export const STORE_RULE_ID = "__session_store__"

/** The rule id of a block because the call's arguments throw while being read. */
export const ARGS_UNREADABLE_RULE_ID = "__args_unreadable__"

/** The rule id of a block because the call's arguments exceed the engine's scan budget. */
export const ARGS_TOO_LARGE_RULE_ID = "__args_too_large__"
