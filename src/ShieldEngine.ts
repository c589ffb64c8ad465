import { Context, Effect, Either, Layer, ParseResult, Schema } from "effect"
import { decide } from "./internal/engine/decide.js"
import { normalize } from "./internal/engine/normalize.js"
import * as Options from "./internal/engine/options.js"
import { type Budget, type Reading, read, type Text } from "./internal/engine/scanValue.js"
import { PIIDetector } from "./PIIDetector.js"
import { allPIITypes, type PIIType } from "./PIIType.js"
import type { SessionCapacityExceeded, SessionStoreUnavailable } from "./SessionError.js"
import { SessionId } from "./SessionId.js"
import { SessionManager } from "./SessionManager.js"
import type { ShieldPolicy } from "./ShieldPolicy.js"
import { ToolName } from "./ToolName.js"
import {
  ARGS_TOO_LARGE_RULE_ID,
  ARGS_UNREADABLE_RULE_ID,
  CAPACITY_RULE_ID,
  STORE_RULE_ID,
  Verdict
} from "./Verdict.js"

/**
 * A tool call whose session id or tool name is not valid, or a tool result that cannot be
 * scanned (`field: "result"`: it throws while being read, or exceeds the scan budget).
 */
export class InvalidToolCall extends Schema.TaggedError<InvalidToolCall>()("InvalidToolCall", {
  field: Schema.Literal("sessionId", "tool", "result"),
  message: Schema.String
}) {}

/**
 * Options of `ShieldEngine.layer`: the budget for reading one call's arguments or one tool's
 * result. Over budget, a call is blocked and a result refused, never scanned in part.
 */
export type ShieldEngineOptions = Options.EngineOptions

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
   * Decides on a tool call before it runs. `args` is read and scanned whole first: arguments
   * that cannot be read, or exceed the scan budget, give a BLOCK verdict and leave the session
   * untouched. Personal data in `args` then taints the session; the decision is made on the
   * session as it was before this call, and the call is counted only when allowed, in one atomic
   * step. A session that cannot be read or grown gives a BLOCK verdict, never an ALLOW.
   */
  readonly check: (call: ToolCall) => Effect.Effect<Verdict, InvalidToolCall>
  /**
   * Scans a tool's result and taints the session with the personal data found; returns the
   * kinds found. When the result cannot be read or exceeds the scan budget it fails with
   * `InvalidToolCall` (`field: "result"`), and when the taint cannot be recorded it fails too:
   * either way the caller must withhold the result from the agent.
   */
  readonly postCheck: (
    result: ToolResult
  ) => Effect.Effect<
    ReadonlyArray<PIIType>,
    InvalidToolCall | SessionCapacityExceeded | SessionStoreUnavailable
  >
}

const decodeField = <A>(
  schema: Schema.Schema<A, string>,
  field: "sessionId" | "tool",
  input: object,
  key: string
): Either.Either<A, InvalidToolCall> => {
  const invalid = (message: string) => new InvalidToolCall({ field, message: `invalid ${field}: ${message}` })
  let raw: unknown
  try {
    raw = (input as Record<string, unknown>)[key]
  } catch {
    return Either.left(invalid("it could not be read"))
  }
  return Either.mapLeft(Schema.decodeUnknownEither(schema)(raw), (error) =>
    invalid(ParseResult.TreeFormatter.formatErrorSync(error))
  )
}

/** Why an input is not scanned, as a sentence. */
const refusal = (reading: Exclude<Reading, { readonly _tag: "Read" }>): string =>
  reading._tag === "Unreadable"
    ? `${reading.path} could not be read (${reading.reason})`
    : `${reading.path} exceeds the scan budget: ${budgetLimits[reading.limit](reading.max)} (${reading.limit})`

const budgetLimits: Record<keyof Budget, (max: number) => string> = {
  maxScanNodes: (max) => `more than ${max} values`,
  maxScanDepth: (max) => `nested more than ${max} levels deep`,
  maxScanBytes: (max) => `more than ${max} bytes of text`
}

const unscannable = (reading: Exclude<Reading, { readonly _tag: "Read" }>): Verdict =>
  new Verdict(
    {
      decision: "BLOCK",
      ruleId: reading._tag === "Unreadable" ? ARGS_UNREADABLE_RULE_ID : ARGS_TOO_LARGE_RULE_ID,
      message: `${refusal(reading)}; the call is blocked`,
      severity: "high",
      piiDetected: []
    },
    true
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
  policy: ShieldPolicy,
  budget: Budget
): Effect.Effect<ShieldEngineService, never, SessionManager | PIIDetector> =>
  Effect.gen(function* () {
    const sessions = yield* SessionManager
    const detector = yield* PIIDetector

    const hasCustom = policy.customPatterns.length > 0
    const matchesCustom = (text: string) => policy.customPatterns.some((p) => p.regex.matcher(text).find())

    /** The kinds of personal data in the texts of an input, in a fixed order. */
    const piiIn = (texts: ReadonlyArray<Text>): ReadonlyArray<PIIType> => {
      const found = new Set<PIIType>()
      // One scan of all the texts, NUL between them, so that no recognizer joins two texts into
      // one value; the keys above a text go before it, so that `{ dob: "1990-05-17" }` reads as
      // a date of birth.
      const joined = texts
        .map(({ context, text }) => (context === "" ? text : `${context}\u0000${text}`))
        .join("\u0000")
      for (const match of detector.scan(joined)) found.add(match.type)
      // Custom patterns see each text alone (so that `^` and `$` mean its start and end), as
      // written and as normalized (full-width digits...).
      if (hasCustom && texts.some(({ text }) => matchesCustom(text) || matchesCustom(normalize(text).text))) {
        found.add("CUSTOM")
      }
      return allPIITypes.filter((pii) => found.has(pii))
    }

    const taint = (id: SessionId, pii: ReadonlyArray<PIIType>) =>
      Effect.forEach(pii, (type) => sessions.addTaint(id, type), { discard: true })

    return {
      check: (call) =>
        Effect.gen(function* () {
          const id = yield* decodeField(SessionId, "sessionId", call, "sessionId")
          const tool = yield* decodeField(ToolName, "tool", call, "tool")
          // Read and scan the whole input before the session is touched: a call that cannot be
          // scanned is blocked without counting it or tainting anything.
          const reading = read(call, "args", budget)
          if (reading._tag !== "Read") return unscannable(reading)
          const pii = piiIn(reading.texts)
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
          const id = yield* decodeField(SessionId, "sessionId", result, "sessionId")
          yield* decodeField(ToolName, "tool", result, "tool")
          const reading = read(result, "result", budget)
          if (reading._tag !== "Read") {
            return yield* new InvalidToolCall({
              field: "result",
              message: `${refusal(reading)}; withhold the result`
            })
          }
          const pii = piiIn(reading.texts)
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
  /**
   * The engine for a loaded policy. Options: the scan budget, `maxScanNodes` (default 100,000),
   * `maxScanDepth` (64) and `maxScanBytes` (8 MiB); an invalid option makes the layer die when
   * it is built, naming the option.
   */
  static readonly layer = (
    policy: ShieldPolicy,
    options?: ShieldEngineOptions
  ): Layer.Layer<ShieldEngine, never, SessionManager | PIIDetector> =>
    Layer.effect(
      ShieldEngine,
      Effect.flatMap(
        Either.match(Options.decode(options), { onLeft: Effect.dieMessage, onRight: Effect.succeed }),
        (budget) => make(policy, budget)
      )
    )
}
