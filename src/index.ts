export { PIIDetector, type PIIDetectorService, PIIMatch } from "./PIIDetector.js"
export { allPIITypes, PIIType } from "./PIIType.js"
export { SessionCapacityExceeded, SessionStoreUnavailable } from "./SessionError.js"
export {
  SessionCreated,
  SessionEvent,
  SessionEvicted,
  SessionExpired,
  SessionParked,
  SessionRemoved,
  SessionResumed,
  SessionStoreLost,
  SessionTainted,
  SessionTaintsCleared
} from "./SessionEvent.js"
export { SessionId } from "./SessionId.js"
export {
  type MakeRequirements,
  SessionManager,
  type SessionManagerOptions,
  type SessionManagerService
} from "./SessionManager.js"
export * as SessionMetrics from "./SessionMetrics.js"
export { SessionState, SessionStats } from "./SessionState.js"
export {
  InvalidToolCall,
  ShieldEngine,
  type ShieldEngineOptions,
  type ShieldEngineService,
  type ToolCall,
  type ToolResult
} from "./ShieldEngine.js"
export {
  type Comparison,
  type CustomPattern,
  PolicyError,
  type PolicyIssue,
  type Rule,
  type SessionCondition,
  ShieldPolicy
} from "./ShieldPolicy.js"
export { ToolName } from "./ToolName.js"
export {
  ARGS_TOO_LARGE_RULE_ID,
  ARGS_UNREADABLE_RULE_ID,
  CAPACITY_RULE_ID,
  Severity,
  STORE_RULE_ID,
  TAINT_RULE_ID,
  Verdict
} from "./Verdict.js"
