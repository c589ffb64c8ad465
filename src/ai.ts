/**
 * The shield around an `@effect/ai` toolkit (`policyshield-effect/ai`): `guardToolkit(toolkit)`
 * checks every tool call the model makes against the policy before its handler runs, and scans
 * every result for personal data before the model sees it. This module loads `@effect/ai`, an
 * optional peer dependency; the main entry never does. See docs/ai.md.
 */
import { Tool, Toolkit } from "@effect/ai"
import { Context, Effect, Either, Option, Schema } from "effect"
import { dual } from "effect/Function"
import type { SessionId } from "./SessionId.js"
import { ShieldEngine, type ShieldEngineService } from "./ShieldEngine.js"

/**
 * What a guarded tool returns to the model instead of running, or instead of a result it must not
 * see: `ruleId` names the rule that refused (`null` when the policy's default verdict did).
 */
export class ShieldRefusal extends Schema.TaggedClass<ShieldRefusal>()("ShieldRefusal", {
  decision: Schema.Literal("BLOCK"),
  ruleId: Schema.NullOr(Schema.String),
  message: Schema.String
}) {}

/** The rule id of a refusal because no conversation session was set (see `withSession`). */
export const NO_SESSION_RULE_ID = "__no_session__"

/** The rule id of a refusal because the personal data in a tool's result could not be recorded. */
export const RESULT_WITHHELD_RULE_ID = "__result_withheld__"

/** The rule id of a refusal because the shield could not read the call (an invalid tool name). */
export const INVALID_CALL_RULE_ID = "__invalid_tool_call__"

/**
 * The session of the conversation running in this fiber, read by every guarded tool call; none
 * by default, and a guarded call without one is refused. Set it with `withSession`.
 */
export class CurrentSession extends Context.Reference<CurrentSession>()(
  "policyshield-effect/ai/CurrentSession",
  {
    defaultValue: (): Option.Option<SessionId> => Option.none()
  }
) {}

/** Runs `self` (a conversation, or one turn of it) as the session `id`. */
export const withSession: {
  (id: SessionId): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, id: SessionId): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, id: SessionId): Effect.Effect<A, E, R> =>
    Effect.provideService(self, CurrentSession, Option.some(id))
)

/**
 * A user-defined tool as `guardToolkit` re-makes it: the same name, description, parameters,
 * success schema and annotations; the failure widened with `ShieldRefusal`; failures returned to
 * the model (`failureMode: "return"`); and `ShieldEngine` among its requirements. A
 * provider-defined tool stays as it is, unguarded.
 */
export type GuardedTool<T extends Tool.Any> = T extends Tool.Tool.ProviderDefinedProto
  ? T
  : T extends Tool.Tool<infer Name, infer Config, infer Requirements>
    ? Tool.Tool<
        Name,
        {
          readonly parameters: Config["parameters"]
          readonly success: Config["success"]
          readonly failure: Schema.Union<[Config["failure"], typeof ShieldRefusal]>
          readonly failureMode: "return"
        },
        Requirements | ShieldEngine
      >
    : never

/** The tools of a guarded toolkit, by name. */
export type GuardedTools<Tools extends Record<string, Tool.Any>> = {
  readonly [Name in keyof Tools]: GuardedTool<Tools[Name]>
}

/**
 * The same toolkit with the shield in front of every user-defined tool. Provide its handlers as
 * usual, with `toLayer` of the guarded toolkit or of the original one: the guard is in the
 * toolkit, so it holds whichever way the handlers come. Each call made through it is checked
 * with `ShieldEngine.check` under the `CurrentSession`; a BLOCK returns a `ShieldRefusal` to the
 * model and never runs the handler; an ALLOW runs it and `postCheck`s what it returns (its
 * failures too, which now reach the model) before the model sees it, and withholds it behind a
 * refusal when that fails. Guard after merging: a toolkit merged from a guarded one is not
 * guarded.
 */
export const guardToolkit = <Tools extends Record<string, Tool.Any>>(
  toolkit: Toolkit.Toolkit<Tools>
): Toolkit.Toolkit<GuardedTools<Tools>> => {
  const tools = Object.values(toolkit.tools).map(guardTool)
  const unguarded = Toolkit.make(...tools)
  // The guard replaces the effect that resolves the handlers, which generateText, streamText and
  // Chat all run: every call they make goes through `guardHandle`, while `toLayer` and the rest
  // of the toolkit stay @effect/ai's own.
  const guarded = Object.assign(Toolkit.make(...tools), {
    commit: () => Effect.map(unguarded, (resolved) => guardHandle(resolved as unknown as Resolved))
  })
  return guarded as unknown as Toolkit.Toolkit<GuardedTools<Tools>>
}

// What the toolkit gives once its handlers are resolved, seen without the tools' own types: the
// guard treats every tool alike and the public signature restores the precise types.
interface Resolved {
  readonly tools: Readonly<Record<string, Tool.Any>>
  readonly handle: (name: string, params: unknown) => Effect.Effect<HandlerResult, unknown, unknown>
}

interface HandlerResult {
  readonly isFailure: boolean
  readonly result: unknown
  readonly encodedResult: unknown
}

const guardTool = (tool: Tool.Any): Tool.Any =>
  Tool.isProviderDefined(tool)
    ? tool
    : Tool.make(tool.name, {
        description: tool.description,
        success: tool.successSchema,
        failure: Schema.Union(tool.failureSchema, ShieldRefusal),
        failureMode: "return"
      })
        .setParameters(tool.parametersSchema)
        .annotateContext(tool.annotations)

const guardHandle = (resolved: Resolved): Resolved => ({
  tools: resolved.tools,
  handle: (name, params) =>
    Effect.gen(function* () {
      const tool = resolved.tools[name]
      // An unknown tool fails in the toolkit's own way; a provider-defined one is not guarded.
      if (tool === undefined || Tool.isProviderDefined(tool)) return yield* resolved.handle(name, params)
      // The toolkit decodes the parameters again before the handler; a schema is pure, so the
      // handler gets what was checked. Parameters that do not decode fail there, unhandled.
      const decoded = yield* Effect.either(decodeParameters(tool)(params))
      if (Either.isLeft(decoded)) return yield* resolved.handle(name, params)
      const session = yield* CurrentSession
      if (Option.isNone(session)) {
        return yield* refusal(
          NO_SESSION_RULE_ID,
          `no conversation session is set, so the shield refuses ${tool.name}: run the conversation inside withSession(sessionId)`
        )
      }
      const engine = yield* ShieldEngine
      const sessionId = session.value
      const verdict = yield* Effect.either(engine.check({ sessionId, tool: tool.name, args: decoded.right }))
      if (Either.isLeft(verdict)) {
        return yield* refusal(
          INVALID_CALL_RULE_ID,
          `the shield cannot check this call (invalid ${verdict.left.field}), so it is refused`
        )
      }
      if (verdict.right.decision === "BLOCK")
        return yield* refusal(verdict.right.ruleId, verdict.right.message)
      const outcome = yield* resolved.handle(name, params)
      const recorded = yield* Effect.either(recordPersonalData(engine, sessionId, tool.name, outcome))
      if (Either.isRight(recorded)) return outcome
      // The reason is named by its tag only: an error's message may quote the result it withholds.
      return yield* refusal(
        RESULT_WITHHELD_RULE_ID,
        `the result of ${tool.name} is withheld: the personal data in it could not be recorded (${recorded.left._tag})`
      )
    })
})

const decodeParameters = (tool: Tool.Any) =>
  Schema.decodeUnknown(tool.parametersSchema as Schema.Schema<unknown, unknown, never>)

const refusal = (ruleId: string | null, message: string): Effect.Effect<HandlerResult> => {
  const result = new ShieldRefusal({ decision: "BLOCK", ruleId, message })
  return Effect.map(Effect.orDie(Schema.encode(ShieldRefusal)(result)), (encodedResult) => ({
    isFailure: true,
    result,
    encodedResult
  }))
}

// Both forms are scanned: the model reads the encoded one, and a schema may hide in either
// (base64 in the encoded form, a redacted value in the decoded one) what the other shows.
const recordPersonalData = (
  engine: ShieldEngineService,
  sessionId: SessionId,
  tool: string,
  outcome: HandlerResult
) =>
  Effect.forEach(
    outcome.encodedResult === outcome.result ? [outcome.result] : [outcome.encodedResult, outcome.result],
    (result) => engine.postCheck({ sessionId, tool, result }),
    { discard: true }
  )
