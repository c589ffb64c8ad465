export { TAINT_RULE_ID } from "./internal/decide.js"
export { PIIDetector, type PIIDetectorService, PIIMatch } from "./PIIDetector.js"
export { allPIITypes, PIIType } from "./PIIType.js"
export { SessionCapacityExceeded, SessionStoreUnavailable } from "./SessionError.js"
export {
  SessionCreated,
  SessionEvent,
  SessionEvicted,
  SessionExpired,
  SessionRemoved,
  SessionTainted,
  SessionTaintsCleared
} from "./SessionEvent.js"
export { SessionId } from "./SessionId.js"
export {
  type MakeRequirements,
  SessionManager,
  type SessionManagerOptions,
  type SessionManagerRedisOptions,
  type SessionManagerService
} from "./SessionManager.js"
export * as SessionMetrics from "./SessionMetrics.js"
export { SessionState, SessionStats } from "./SessionState.js"
export {
  CAPACITY_RULE_ID,
  InvalidToolCall,
  ShieldEngine,
  type ShieldEngineService,
  STORE_RULE_ID,
  type ToolCall,
  type ToolResult
} from "./ShieldEngine.js"
export {
  type Comparison,
  type CustomPattern,
  PolicyError,
  type Rule,
  type SessionCondition,
  ShieldPolicy
} from "./ShieldPolicy.js"
export { ToolName } from "./ToolName.js"
export { Severity, Verdict } from "./Verdict.js"
