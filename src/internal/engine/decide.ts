/**
 * The engine's decision on one call, as a pure function of the policy, the tool, the session's
 * state before the call and the personal data found in the call. It runs inside the session
 * manager's atomic decide-and-record step, so it must stay pure.
 */
import { allPIITypes, type PIIType } from "../../PIIType.js"
import type { SessionState } from "../../SessionState.js"
import type { Comparison, Rule, SessionCondition, ShieldPolicy } from "../../ShieldPolicy.js"
import type { ToolName } from "../../ToolName.js"
import { TAINT_RULE_ID, Verdict } from "../../Verdict.js"

/**
 * The verdict: the first matching block rule (in file order); else the taint chain (a tainted
 * session, or a call carrying personal data, calling an outgoing tool); else the first
 * matching allow rule; else the default. An allow rule never overrides a block or the taint
 * chain.
 */
export const decide = (
  policy: ShieldPolicy,
  tool: ToolName,
  before: SessionState,
  piiDetected: ReadonlyArray<PIIType>
): Verdict => {
  const verdict = (
    decision: "ALLOW" | "BLOCK",
    ruleId: string | null,
    message: string,
    severity: Verdict["severity"]
  ) => new Verdict({ decision, ruleId, message, severity, piiDetected }, true)
  const taints = taintsOf(before, piiDetected)
  const block = policy.rules.find((rule) => rule.verdict === "block" && matches(rule, tool, before, taints))
  if (block !== undefined) {
    return verdict("BLOCK", block.id, block.message ?? `blocked by rule ${block.id}`, block.severity)
  }
  if (policy.taintChain.enabled && policy.taintChain.outgoingTools.includes(tool) && taints.length > 0) {
    return verdict("BLOCK", TAINT_RULE_ID, taintMessage(before, piiDetected), "high")
  }
  const allow = policy.rules.find((rule) => rule.verdict === "allow" && matches(rule, tool, before, taints))
  if (allow !== undefined) {
    return verdict("ALLOW", allow.id, allow.message ?? `allowed by rule ${allow.id}`, allow.severity)
  }
  return policy.defaultVerdict === "allow"
    ? verdict("ALLOW", null, "no rule matched; the default verdict allows", "low")
    : verdict("BLOCK", null, "no rule matched; the default verdict blocks", "low")
}

/**
 * PolicyShield's message for a taint-chain block, which users match on: `Session tainted: `,
 * what was found where, then `Outgoing calls blocked until reviewed.` The kinds of this call's
 * arguments are told as such, the others as already in the session.
 */
const taintMessage = (before: SessionState, piiDetected: ReadonlyArray<PIIType>): string => {
  const inCall = allPIITypes.filter((pii) => piiDetected.includes(pii))
  const inSession = allPIITypes.filter((pii) => before.hasTaint(pii) && !inCall.includes(pii))
  const found = [
    ...(inSession.length > 0 ? [`${inSession.join(", ")} already in the session`] : []),
    ...(inCall.length > 0 ? [`${inCall.join(", ")} in this call's arguments`] : [])
  ]
  return `Session tainted: ${found.join("; ")}. Outgoing calls blocked until reviewed.`
}

const compare = (value: number, c: Comparison): boolean =>
  (c.gt === undefined || value > c.gt) &&
  (c.gte === undefined || value >= c.gte) &&
  (c.lt === undefined || value < c.lt) &&
  (c.lte === undefined || value <= c.lte) &&
  (c.eq === undefined || value === c.eq)

/**
 * The taints that count for this decision: the session's, and the personal data of this very
 * call. The engine has added the latter to the session already, but decides on it itself too,
 * so that a taint that vanished in between (cleared, removed, evicted, expired) cannot let the
 * call that carries the data through.
 */
const taintsOf = (before: SessionState, piiDetected: ReadonlyArray<PIIType>): ReadonlyArray<PIIType> =>
  allPIITypes.filter((pii) => before.hasTaint(pii) || piiDetected.includes(pii))

const holds = (
  condition: SessionCondition,
  before: SessionState,
  taints: ReadonlyArray<PIIType>
): boolean => {
  switch (condition._tag) {
    case "ToolCount":
      return compare(before.toolCount(condition.tool), condition.comparison)
    case "TotalCalls":
      return compare(before.totalCalls, condition.comparison)
    case "HasTaint":
      return condition.anyOf.some((pii) => taints.includes(pii))
  }
}

const matches = (
  rule: Rule,
  tool: ToolName,
  before: SessionState,
  taints: ReadonlyArray<PIIType>
): boolean => {
  if (!rule.enabled) return false
  // A rule without `when` has neither selector nor conditions, so it matches every call.
  const selector = rule.when.tool
  if (selector !== undefined && selector !== "*") {
    if (typeof selector === "string" ? selector !== tool : !selector.includes(tool)) return false
  }
  return (rule.when.session ?? []).every((condition) => holds(condition, before, taints))
}
