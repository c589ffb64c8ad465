import { Effect, Either, ParseResult, Schema } from "effect"
import type { ParseOptions } from "effect/SchemaAST"
import { RE2JS } from "re2js"
import { parse as parseYaml } from "yaml"
import { PIIType } from "./PIIType.js"
import { ToolName } from "./ToolName.js"
import { Severity } from "./Verdict.js"

/**
 * A policy that cannot be loaded. `ruleId` names the rule (when the problem is in one), `key`
 * the offending key and `path` where it is, such as `rules[0].when.args_match`.
 */
export class PolicyError extends Schema.TaggedError<PolicyError>()("PolicyError", {
  message: Schema.String,
  ruleId: Schema.optional(Schema.String),
  key: Schema.optional(Schema.String),
  path: Schema.optional(Schema.String)
}) {}

/** Replaces the schema's own error text, which for unions names only their first member. */
const expecting = <S extends Schema.Schema.Any>(schema: S, expected: string): S =>
  schema.annotations({
    message: (issue) => ({ message: `expected ${expected}, got ${show(issue.actual)}`, override: true })
  }) as S

const show = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

const nonNegative = expecting(
  Schema.Number.pipe(Schema.nonNegative(), Schema.finite()),
  "a non-negative number"
)

/** A comparison of a count with `gt`, `gte`, `lt`, `lte` and/or `eq`; all given must hold. */
const Comparison = Schema.Struct({
  gt: Schema.optionalWith(nonNegative, { exact: true }),
  gte: Schema.optionalWith(nonNegative, { exact: true }),
  lt: Schema.optionalWith(nonNegative, { exact: true }),
  lte: Schema.optionalWith(nonNegative, { exact: true }),
  eq: Schema.optionalWith(nonNegative, { exact: true })
}).pipe(Schema.filter((c) => Object.keys(c).length > 0 || "a comparison needs one of gt, gte, lt, lte, eq"))
export type Comparison = typeof Comparison.Type

/** One condition on the session's state before the call. */
const SessionCondition = Schema.Union(
  Schema.TaggedStruct("ToolCount", { tool: ToolName, comparison: Comparison }),
  Schema.TaggedStruct("TotalCalls", { comparison: Comparison }),
  Schema.TaggedStruct("HasTaint", { anyOf: Schema.NonEmptyArray(PIIType) })
)
export type SessionCondition = typeof SessionCondition.Type

const TOOL_COUNT = "tool_count."

const decodeComparisonObject = ParseResult.decodeUnknown(Comparison)

const decodeComparison = (value: unknown, options: ParseOptions) =>
  typeof value === "object" && value !== null && !Array.isArray(value)
    ? decodeComparisonObject(value, options)
    : Effect.fail(
        new ParseResult.Type(
          Comparison.ast,
          value,
          `expected a comparison such as { gte: 10 } (gt, gte, lt, lte, eq), got ${show(value)}`
        )
      )
const decodeToolName = ParseResult.decodeUnknown(ToolName)
const decodeTaints = ParseResult.decodeUnknown(
  expecting(Schema.NonEmptyArray(PIIType), `a list of PII types (${PIIType.literals.join(", ")})`)
)

/**
 * The `session:` block of a rule: keys `tool_count.<tool>`, `total_calls` and `has_taint`.
 * Every key is decoded or rejected by name; none is ignored.
 */
const SessionConditions = Schema.transformOrFail(
  Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  Schema.Array(SessionCondition),
  {
    strict: true,
    decode: (record, options, ast) =>
      Effect.forEach(
        Object.entries(record),
        ([key, value]): Effect.Effect<SessionCondition, ParseResult.ParseIssue> => {
          const at = <A>(effect: Effect.Effect<A, ParseResult.ParseIssue>) =>
            Effect.mapError(effect, (issue) => new ParseResult.Pointer(key, record, issue))
          if (key === "total_calls") {
            return at(
              Effect.map(decodeComparison(value, options), (comparison) =>
                SessionCondition.members[1].make({ comparison })
              )
            )
          }
          if (key === "has_taint") {
            return at(
              Effect.map(decodeTaints(value, options), (anyOf) => SessionCondition.members[2].make({ anyOf }))
            )
          }
          if (key.startsWith(TOOL_COUNT)) {
            return at(
              Effect.zipWith(
                decodeToolName(key.slice(TOOL_COUNT.length), options),
                decodeComparison(value, options),
                (tool, comparison) => SessionCondition.members[0].make({ tool, comparison })
              )
            )
          }
          return Effect.fail(
            new ParseResult.Pointer(
              key,
              record,
              new ParseResult.Type(
                ast,
                value,
                `unknown session condition "${key}" (expected tool_count.<tool>, total_calls or has_taint)`
              )
            )
          )
        }
      ),
    encode: (_, __, ast, conditions) =>
      ParseResult.fail(new ParseResult.Forbidden(ast, conditions, "not encodable"))
  }
)

/** `tool:` of a rule: one name, a list of names, or `"*"` for every tool. */
const ToolSelector = expecting(
  Schema.Union(Schema.Literal("*"), ToolName, Schema.NonEmptyArray(ToolName)),
  'a tool name, a list of tool names, or "*"'
)

const Rule = Schema.Struct({
  id: Schema.NonEmptyTrimmedString,
  description: Schema.optionalWith(Schema.String, { exact: true }),
  enabled: Schema.optionalWith(Schema.Boolean, { exact: true, default: () => true }),
  when: Schema.optionalWith(
    Schema.Struct({
      tool: Schema.optionalWith(ToolSelector, { exact: true }),
      session: Schema.optionalWith(SessionConditions, { exact: true })
    }),
    { exact: true, default: () => ({}) }
  ),
  // Read from `then`, kept as `verdict`: an object with a `then` key looks like a promise.
  verdict: Schema.propertySignature(
    expecting(Schema.Literal("allow", "block"), "allow or block (this engine decides ALLOW or BLOCK only)")
  ).pipe(Schema.fromKey("then")),
  severity: Schema.optionalWith(expecting(Severity, "low, medium, high or critical"), {
    exact: true,
    default: () => "medium" as const
  }),
  message: Schema.optionalWith(Schema.String, { exact: true })
})

/** One rule of a policy, decoded. */
export type Rule = typeof Rule.Type

const PolicyFile = Schema.Struct({
  shield_name: Schema.String,
  version: Schema.optionalWith(Schema.Union(Schema.Number, Schema.String), { exact: true }),
  default_verdict: Schema.optionalWith(expecting(Schema.Literal("allow", "block"), "allow or block"), {
    exact: true,
    default: () => "allow" as const
  }),
  rules: Schema.optionalWith(Schema.Array(Rule), { exact: true, default: () => [] }),
  taint_chain: Schema.optionalWith(
    Schema.Struct({
      enabled: Schema.Boolean,
      outgoing_tools: Schema.optionalWith(expecting(Schema.Array(ToolName), "a list of tool names"), {
        exact: true,
        default: () => []
      })
    }),
    { exact: true, default: () => ({ enabled: false, outgoing_tools: [] }) }
  ),
  pii_patterns: Schema.optionalWith(
    Schema.Array(Schema.Struct({ name: Schema.NonEmptyTrimmedString, pattern: Schema.NonEmptyString })),
    { exact: true, default: () => [] }
  )
})

/** A custom pattern of the policy, compiled by RE2 (linear time in the scanned text). */
export interface CustomPattern {
  readonly name: string
  readonly source: string
  readonly regex: RE2JS
}

const pathText = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("")

/** The rule id or pattern name a path points into, read from the raw input. */
const ownerOf = (
  raw: unknown,
  path: ReadonlyArray<PropertyKey>
): { ruleId?: string; patternName?: string } => {
  const [section, index] = path
  if (typeof index !== "number" || typeof raw !== "object" || raw === null) return {}
  const list = (raw as Record<string, unknown>)[section as string]
  const item = Array.isArray(list) ? (list[index] as Record<string, unknown> | undefined) : undefined
  if (section === "rules" && typeof item?.id === "string") return { ruleId: item.id }
  if (section === "pii_patterns" && typeof item?.name === "string") return { patternName: item.name }
  return {}
}

const policyError = (raw: unknown, path: ReadonlyArray<PropertyKey>, problem: string): PolicyError => {
  const { ruleId, patternName } = ownerOf(raw, path)
  const key = [...path].reverse().find((p): p is string => typeof p === "string")
  const where =
    ruleId !== undefined
      ? `rule "${ruleId}"`
      : patternName !== undefined
        ? `pii pattern "${patternName}"`
        : "policy"
  const at = path.length > 0 ? ` (at ${pathText(path)})` : ""
  return new PolicyError({
    message: `${where}: ${problem}${at}`,
    ...(ruleId !== undefined ? { ruleId } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(path.length > 0 ? { path: pathText(path) } : {})
  })
}

const describeIssue = (issue: ParseResult.ArrayFormatterIssue): string => {
  const key = [...issue.path].reverse().find((p): p is string => typeof p === "string")
  switch (issue._tag) {
    case "Unexpected":
      return `unknown key "${key}"`
    case "Missing":
      return `missing key "${key}"`
    default:
      return key === undefined ? issue.message : `invalid "${key}": ${issue.message}`
  }
}

// Texts on which a pattern that can match an empty span does so: at the start, at the end, at
// a word boundary, between characters of each common class.
const EMPTY_SPAN_PROBES = ["", "a", " ", "0", "a b", "a-b", "ab", "00", "a\nb", "Aa0_ .-@"]

const matchesEmptySpan = (regex: RE2JS): boolean =>
  EMPTY_SPAN_PROBES.some((probe) => {
    const matcher = regex.matcher(probe)
    let from = 0
    while (from <= probe.length && matcher.find(from)) {
      if (matcher.start() === matcher.end()) return true
      from = matcher.end()
    }
    return false
  })

/**
 * A shield policy: rules in PolicyShield's vocabulary, the taint chain and custom PII
 * patterns. Build one with `fromYaml` or `fromObject`; anything the engine would not enforce
 * exactly as written (an unknown key, an unsupported verdict, a bad comparator, a duplicate
 * rule id, a pattern RE2 cannot run) is rejected there, never ignored.
 */
export class ShieldPolicy {
  private constructor(
    readonly shieldName: string,
    readonly version: number | string | undefined,
    readonly defaultVerdict: "allow" | "block",
    readonly rules: ReadonlyArray<Rule>,
    readonly taintChain: { readonly enabled: boolean; readonly outgoingTools: ReadonlyArray<ToolName> },
    readonly customPatterns: ReadonlyArray<CustomPattern>
  ) {}

  /** Decodes a policy from a plain object (for example parsed JSON). */
  static fromObject(value: unknown): Effect.Effect<ShieldPolicy, PolicyError> {
    return Effect.suspend(() => {
      const decoded = Schema.decodeUnknownEither(PolicyFile, { onExcessProperty: "error" })(value)
      if (Either.isLeft(decoded)) {
        const [first] = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
        return Effect.fail(
          first === undefined
            ? new PolicyError({ message: "policy: invalid" })
            : policyError(value, first.path, describeIssue(first))
        )
      }
      const file = decoded.right
      const seen = new Map<string, number>()
      for (const [index, rule] of file.rules.entries()) {
        const earlier = seen.get(rule.id)
        if (earlier !== undefined) {
          return Effect.fail(
            policyError(value, ["rules", index, "id"], `duplicate rule id, first used by rules[${earlier}]`)
          )
        }
        seen.set(rule.id, index)
      }
      if (file.taint_chain.enabled && file.taint_chain.outgoing_tools.length === 0) {
        return Effect.fail(
          policyError(
            value,
            ["taint_chain", "outgoing_tools"],
            "the taint chain is enabled but lists no outgoing tools, so it would block nothing"
          )
        )
      }
      const patterns: Array<CustomPattern> = []
      for (const [index, { name, pattern }] of file.pii_patterns.entries()) {
        let regex: RE2JS
        try {
          regex = RE2JS.compile(pattern)
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error)
          return Effect.fail(
            policyError(
              value,
              ["pii_patterns", index, "pattern"],
              `RE2 cannot compile this pattern: ${reason}`
            )
          )
        }
        if (matchesEmptySpan(regex)) {
          return Effect.fail(
            policyError(
              value,
              ["pii_patterns", index, "pattern"],
              "the pattern can match an empty span (such as ^, \\b or x*), so it would taint every text"
            )
          )
        }
        patterns.push({ name, source: pattern, regex })
      }
      return Effect.succeed(
        new ShieldPolicy(
          file.shield_name,
          file.version,
          file.default_verdict,
          file.rules,
          { enabled: file.taint_chain.enabled, outgoingTools: file.taint_chain.outgoing_tools },
          patterns
        )
      )
    })
  }

  /** Parses YAML and decodes the policy it holds. */
  static fromYaml(text: string): Effect.Effect<ShieldPolicy, PolicyError> {
    return Effect.suspend(() => {
      let value: unknown
      try {
        value = parseYaml(text)
      } catch (error) {
        const reason = error instanceof Error ? error.message.split("\n")[0] : String(error)
        return Effect.fail(new PolicyError({ message: `policy: not valid YAML: ${reason}` }))
      }
      return ShieldPolicy.fromObject(value)
    })
  }
}
