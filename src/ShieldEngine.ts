import { Context, Effect, Either, Layer, ParseResult, Schema } from "effect"
import { decide } from "./internal/engine/decide.js"
import { textsOf } from "./internal/engine/scanValue.js"
import { PIIDetector } from "./PIIDetector.js"
import { allPIITypes, type PIIType } from "./PIIType.js"
import type { SessionCapacityExceeded, SessionStoreUnavailable } from "./SessionError.js"
import { SessionId } from "./SessionId.js"
import { SessionManager } from "./SessionManager.js"
import type { ShieldPolicy } from "./ShieldPolicy.js"
import { ToolName } from "./ToolName.js"
import { CAPACITY_RULE_ID, STORE_RULE_ID, Verdict } from "./Verdict.js"

/** A tool call whose session id or tool name is not valid. */
export class InvalidToolCall extends Schema.TaggedError<InvalidToolCall>()("InvalidToolCall", {
  field: Schema.Literal("sessionId", "tool"),
  message: Schema.String
}) {}

/** A tool call as the agent runtime reports it, before validation. */
export interface ToolCall {
  readonly sessionId: string
  readonly tool: string
  readonly args: unknown
}

/** A tool's result as the agent runtime reports it, before validation. */
export interface ToolResult {
  readonly sessionId: string
  readonly tool: string
  readonly result: unknown
}

/** The engine's operations. */
export interface ShieldEngineService {
  /**
   * Decides on a tool call before it runs. Personal data in `args` taints the session first;
   * then the decision is made on the session as it was before this call, and the call is
   * counted only when allowed, in one atomic step. A session that cannot be read or grown
   * gives a BLOCK verdict, never an ALLOW.
   */
  readonly check: (call: ToolCall) => Effect.Effect<Verdict, InvalidToolCall>
  /**
   * Scans a tool's result and taints the session with the personal data found; returns the
   * kinds found. When the taint cannot be recorded it fails, and the caller must then
   * withhold the result from the agent.
   */
  readonly postCheck: (
    result: ToolResult
  ) => Effect.Effect<
    ReadonlyArray<PIIType>,
    InvalidToolCall | SessionCapacityExceeded | SessionStoreUnavailable
  >
}

const decodeField = <A>(schema: Schema.Schema<A, string>, field: "sessionId" | "tool", raw: unknown) =>
  Either.mapLeft(
    Schema.decodeUnknownEither(schema)(raw),
    (error) =>
      new InvalidToolCall({
        field,
        message: `invalid ${field}: ${ParseResult.TreeFormatter.formatErrorSync(error)}`
      })
  )

const refused = (
  error: SessionCapacityExceeded | SessionStoreUnavailable,
  piiDetected: ReadonlyArray<PIIType>
) =>
  error._tag === "SessionCapacityExceeded"
    ? new Verdict(
        {
          decision: "BLOCK",
          ruleId: CAPACITY_RULE_ID,
          message: error.message,
          severity: "high",
          piiDetected
        },
        true
      )
    : new Verdict(
        {
          decision: "BLOCK",
          ruleId: STORE_RULE_ID,
          message: `session state unavailable, failing closed: ${error.message}`,
          severity: "critical",
          piiDetected
        },
        true
      )

const make = (
  policy: ShieldPolicy
): Effect.Effect<ShieldEngineService, never, SessionManager | PIIDetector> =>
  Effect.gen(function* () {
    const sessions = yield* SessionManager
    const detector = yield* PIIDetector

    /** The kinds of personal data anywhere in `value`, in a fixed order. */
    const piiIn = (value: unknown): ReadonlyArray<PIIType> => {
      const found = new Set<PIIType>()
      for (const text of textsOf(value)) {
        for (const match of detector.scan(text)) found.add(match.type)
        if (policy.customPatterns.some((p) => p.regex.matcher(text).find())) found.add("CUSTOM")
      }
      return allPIITypes.filter((pii) => found.has(pii))
    }

    const taint = (id: SessionId, pii: ReadonlyArray<PIIType>) =>
      Effect.forEach(pii, (type) => sessions.addTaint(id, type), { discard: true })

    return {
      check: (call) =>
        Effect.gen(function* () {
          const id = yield* decodeField(SessionId, "sessionId", call.sessionId)
          const tool = yield* decodeField(ToolName, "tool", call.tool)
          const pii = piiIn(call.args)
          const outcome = yield* Effect.either(
            Effect.zipRight(
              taint(id, pii),
              sessions.decideAndRecord(id, tool, (before) => {
                const verdict = decide(policy, tool, before, pii)
                return { record: verdict.decision === "ALLOW", value: verdict }
              })
            )
          )
          return Either.isRight(outcome) ? outcome.right.value : refused(outcome.left, pii)
        }),
      postCheck: (result) =>
        Effect.gen(function* () {
          const id = yield* decodeField(SessionId, "sessionId", result.sessionId)
          yield* decodeField(ToolName, "tool", result.tool)
          const pii = piiIn(result.result)
          yield* taint(id, pii)
          return pii
        })
    }
  })

/**
 * The session-aware part of the shield: it checks tool calls against a policy using the
 * session state that `SessionManager` keeps and the personal data that `PIIDetector` finds.
 * Its layer requires both, so the application chooses their layers:
 *
 * ```ts
 * ShieldEngine.layer(policy).pipe(
 *   Layer.provide(SessionManager.layer({ maxSessions: 10_000 })),
 *   Layer.provide(PIIDetector.Default)
 * )
 * ```
 */
export class ShieldEngine extends Context.Tag("policyshield/ShieldEngine")<
  ShieldEngine,
  ShieldEngineService
>() {
  /** The engine for a loaded policy. */
  static readonly layer = (
    policy: ShieldPolicy
  ): Layer.Layer<ShieldEngine, never, SessionManager | PIIDetector> =>
    Layer.effect(ShieldEngine, make(policy))
}
