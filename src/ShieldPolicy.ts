import { Array as Arr, Effect, Either, ParseResult, Schema } from "effect"
import type { ParseOptions } from "effect/SchemaAST"
import { RE2JS } from "re2js"
import { compilePattern } from "./internal/engine/customPattern.js"
import { type Problem, plainTree, readYaml, show } from "./internal/engine/policyInput.js"
import { PIIType } from "./PIIType.js"
import { ToolName } from "./ToolName.js"
import { CAPACITY_RULE_ID, Severity, STORE_RULE_ID, TAINT_RULE_ID } from "./Verdict.js"

const PolicyIssueSchema = Schema.Struct({
  message: Schema.String,
  ruleId: Schema.optional(Schema.String),
  key: Schema.optional(Schema.String),
  path: Schema.optional(Schema.String)
})

/**
 * One problem of a policy: `message` names the rule or pattern and the key, `ruleId` the rule
 * (when the problem is in one), `key` the offending key and `path` where it is, such as
 * `rules[0].when.args_match`.
 */
export interface PolicyIssue extends Schema.Schema.Type<typeof PolicyIssueSchema> {}

/**
 * A policy that cannot be loaded. `issues` lists every problem found, in document order;
 * `message` holds them all, one per line. `ruleId`, `key` and `path` are those of the first.
 */
export class PolicyError extends Schema.TaggedError<PolicyError>()("PolicyError", {
  message: Schema.String,
  ruleId: Schema.optional(Schema.String),
  key: Schema.optional(Schema.String),
  path: Schema.optional(Schema.String),
  issues: Schema.NonEmptyArray(PolicyIssueSchema)
}) {}

/** A comparison of a count with `gt`, `gte`, `lt`, `lte` and/or `eq`; all given must hold. */
export type Comparison = typeof Comparison.Type

/** One condition on the session's state before the call. */
export type SessionCondition = typeof SessionCondition.Type

/** One rule of a policy, decoded. */
export type Rule = typeof Rule.Type

/** A custom pattern of the policy, compiled by RE2 (linear time in the scanned text). */
export interface CustomPattern {
  readonly name: string
  readonly source: string
  readonly regex: RE2JS
}

/**
 * A shield policy: rules in PolicyShield's vocabulary, the taint chain and custom PII
 * patterns. Build one with `fromYaml` or `fromObject`; anything the engine would not enforce
 * exactly as written (an unknown key, an unsupported verdict, a comparison that can never
 * hold, a duplicate rule id, a pattern RE2 cannot run) is rejected there, never ignored, and
 * every such problem of the policy is reported at once.
 */
export class ShieldPolicy {
  private constructor(
    readonly shieldName: string,
    readonly version: 1 | "1" | undefined,
    readonly defaultVerdict: "allow" | "block",
    readonly rules: ReadonlyArray<Rule>,
    readonly taintChain: { readonly enabled: boolean; readonly outgoingTools: ReadonlyArray<ToolName> },
    readonly customPatterns: ReadonlyArray<CustomPattern>
  ) {}

  /** Decodes a policy from plain data: objects, arrays, strings, numbers, booleans (parsed JSON). */
  static fromObject(value: unknown): Effect.Effect<ShieldPolicy, PolicyError> {
    return Effect.suspend(() => {
      const copied = plainTree(value)
      if (copied.problems.length > 0) {
        const problems = copied.problems.map(({ path, problem }) => ({
          path,
          problem: invalid(path, problem)
        }))
        return Effect.fail(policyError(issuesOf(copied.tree, problems)))
      }
      const tree = copied.tree
      const decoded = decodePolicyFile(tree)
      const problems = [
        ...(Either.isLeft(decoded)
          ? ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map(
              (issue): Problem => ({ path: issue.path, problem: describeIssue(issue) })
            )
          : []),
        ...duplicateRuleIds(tree)
      ]
      if (problems.length > 0 || Either.isLeft(decoded)) {
        return Effect.fail(policyError(issuesOf(tree, problems)))
      }
      const file = decoded.right
      return Effect.succeed(
        new ShieldPolicy(
          file.shield_name,
          file.version,
          file.default_verdict,
          file.rules,
          { enabled: file.taint_chain.enabled, outgoingTools: file.taint_chain.outgoing_tools },
          file.pii_patterns.map(({ name, pattern }) => ({ name, source: pattern.pattern(), regex: pattern }))
        )
      )
    })
  }

  /**
   * Parses YAML and decodes the policy it holds. Syntax errors, duplicate keys, keys that are
   * not strings, merge keys and unknown tags are rejected with their line.
   */
  static fromYaml(text: string): Effect.Effect<ShieldPolicy, PolicyError> {
    return Effect.suspend(() => {
      const read = readYaml(text)
      return Either.isLeft(read)
        ? Effect.fail(policyError(read.left.map((message) => ({ message }))))
        : ShieldPolicy.fromObject(read.right)
    })
  }
}

// ---------------------------------------------------------------------------------------------
// The schema of a policy file. Its input is the plain tree that `plainTree` copied.

const actualOf = (issue: ParseResult.ParseIssue): unknown => ("actual" in issue ? issue.actual : undefined)

/** Replaces the schema's own error text, which for unions names only their first member. */
const expecting = <S extends Schema.Schema.Any>(schema: S, expected: string): S =>
  schema.annotations({
    message: (issue) => ({ message: `expected ${expected}, got ${show(actualOf(issue))}`, override: true })
  }) as S

/**
 * Says what a mapping or list should be when the input is not one, instead of the schema's
 * whole signature; problems inside it keep their own messages.
 */
const describing = <S extends Schema.Schema.Any>(schema: S, expected: string): S =>
  schema.annotations({ message: (issue) => `expected ${expected}, got ${show(actualOf(issue))}` }) as S

const isMapping = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** Any mapping of the plain tree, told as `expected` when the input is not one. */
const mappingOf = (expected: string) =>
  Schema.declare(isMapping, { message: (issue) => `expected ${expected}, got ${show(actualOf(issue))}` })

/**
 * A struct whose decoding transforms (defaults, renamed keys) reports a non-mapping input on
 * its encoded side, which `describing` cannot reach: check for a mapping first.
 */
const mapping = <A, I>(
  expected: string,
  struct: Schema.Schema<A, I>
): Schema.Schema<A, Readonly<Record<string, unknown>>> =>
  Schema.compose(mappingOf(expected), struct, { strict: false })

const Bound = expecting(Schema.NonNegativeInt, "a non-negative whole number (counts are whole)")

const Bounds = mapping(
  "a comparison such as { gte: 10 } (gt, gte, lt, lte, eq)",
  Schema.Struct({
    gt: Schema.optionalWith(Bound, { exact: true }),
    gte: Schema.optionalWith(Bound, { exact: true }),
    lt: Schema.optionalWith(Bound, { exact: true }),
    lte: Schema.optionalWith(Bound, { exact: true }),
    eq: Schema.optionalWith(Bound, { exact: true })
  })
)
type Bounds = typeof Bounds.Type

const Comparison = Bounds.pipe(
  Schema.filter((c) => Object.keys(c).length > 0 || "a comparison needs one of gt, gte, lt, lte, eq"),
  Schema.filter((c) => satisfiable(c) || `no count is ${comparisonText(c)}, so the condition can never hold`)
)

/** Whether some whole number of calls from 0 up meets every bound of `c`. */
const satisfiable = (c: Bounds): boolean => {
  const low = Math.max(0, c.gt === undefined ? 0 : c.gt + 1, c.gte ?? 0, c.eq ?? 0)
  const high = Math.min(c.lt === undefined ? Infinity : c.lt - 1, c.lte ?? Infinity, c.eq ?? Infinity)
  return low <= high
}

const OPERATORS = { gt: ">", gte: ">=", lt: "<", lte: "<=", eq: "=" } as const

const comparisonText = (c: Bounds): string =>
  (Object.keys(OPERATORS) as Array<keyof typeof OPERATORS>)
    .flatMap((op) => (c[op] === undefined ? [] : [`${OPERATORS[op]} ${c[op]}`]))
    .join(" and ")

const SessionCondition = Schema.Union(
  Schema.TaggedStruct("ToolCount", { tool: ToolName, comparison: Comparison }),
  Schema.TaggedStruct("TotalCalls", { comparison: Comparison }),
  Schema.TaggedStruct("HasTaint", { anyOf: Schema.NonEmptyArray(PIIType) })
)

const TOOL_COUNT = "tool_count."

const decodeComparison = ParseResult.decodeUnknownEither(Comparison)
const decodeToolName = ParseResult.decodeUnknownEither(ToolName)
const decodeTaints = ParseResult.decodeUnknownEither(
  // The kinds are named, but not all: a message names where it is and stays short.
  expecting(
    Schema.NonEmptyArray(PIIType),
    `a list of PII types such as [EMAIL, CREDIT_CARD] (one of the ${PIIType.literals.length} in PIIType)`
  )
)

/**
 * The `session:` block of a rule: keys `tool_count.<tool>`, `total_calls` and `has_taint`.
 * Every key is decoded or rejected by name, `__proto__` included; none is ignored.
 */
const SessionConditions = Schema.transformOrFail(
  mappingOf("a mapping of conditions (tool_count.<tool>, total_calls, has_taint)"),
  Schema.Array(SessionCondition),
  {
    strict: true,
    decode: (record, options, ast) => {
      const conditions: Array<SessionCondition> = []
      const issues: Array<ParseResult.ParseIssue> = []
      for (const key of Object.keys(record)) {
        const condition = sessionCondition(key, record[key], options, ast)
        if (Either.isLeft(condition)) issues.push(new ParseResult.Pointer(key, record, condition.left))
        else conditions.push(condition.right)
      }
      return Arr.isNonEmptyReadonlyArray(issues)
        ? ParseResult.fail(new ParseResult.Composite(ast, record, issues))
        : ParseResult.succeed(conditions)
    },
    encode: (_, __, ast, conditions) =>
      ParseResult.fail(new ParseResult.Forbidden(ast, conditions, "not encodable"))
  }
)

const sessionCondition = (
  key: string,
  value: unknown,
  options: ParseOptions,
  ast: Schema.Schema.Any["ast"]
): Either.Either<SessionCondition, ParseResult.ParseIssue> => {
  if (key === "total_calls") {
    return Either.map(decodeComparison(value, options), (comparison) =>
      SessionCondition.members[1].make({ comparison })
    )
  }
  if (key === "has_taint") {
    return Either.map(decodeTaints(value, options), (anyOf) => SessionCondition.members[2].make({ anyOf }))
  }
  if (key.startsWith(TOOL_COUNT)) {
    const tool = decodeToolName(key.slice(TOOL_COUNT.length), options)
    const comparison = decodeComparison(value, options)
    if (Either.isLeft(tool)) {
      return Either.left(
        Either.isLeft(comparison)
          ? new ParseResult.Composite(ast, value, [tool.left, comparison.left])
          : tool.left
      )
    }
    return Either.map(comparison, (c) =>
      SessionCondition.members[0].make({ tool: tool.right, comparison: c })
    )
  }
  return Either.left(
    new ParseResult.Unexpected(value, `${UNEXPECTED}tool_count.<tool>, total_calls or has_taint`)
  )
}

/** `tool:` of a rule: one name, a list of names, or `"*"` for every tool. */
const ToolSelector = expecting(
  Schema.Union(Schema.Literal("*"), ToolName, Schema.NonEmptyArray(ToolName)),
  'a tool name, a list of tool names, or "*"'
)

/** The ids of the engine's own verdicts: a rule named so would pass for the engine. */
const RESERVED_RULE_IDS: ReadonlyArray<string> = [TAINT_RULE_ID, CAPACITY_RULE_ID, STORE_RULE_ID]

const Rule = mapping(
  "a rule: a mapping with id, when and then",
  Schema.Struct({
    id: Schema.NonEmptyTrimmedString.pipe(
      Schema.filter(
        (id) =>
          !RESERVED_RULE_IDS.includes(id) ||
          `${show(id)} is reserved for the engine's own verdicts (${RESERVED_RULE_IDS.join(", ")})`
      )
    ),
    description: Schema.optionalWith(Schema.String, { exact: true }),
    enabled: Schema.optionalWith(Schema.Boolean, { exact: true, default: () => true }),
    // No `when` is no condition: the rule matches every call, as in PolicyShield.
    when: Schema.optionalWith(
      mapping(
        "conditions: a mapping with tool and/or session",
        Schema.Struct({
          tool: Schema.optionalWith(ToolSelector, { exact: true }),
          session: Schema.optionalWith(SessionConditions, { exact: true })
        })
      ),
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
)

/** A custom pattern's source, compiled by RE2, or the reason it cannot be. */
const CompiledPattern = Schema.transformOrFail(
  Schema.NonEmptyString,
  Schema.declare((u: unknown): u is RE2JS => u instanceof RE2JS),
  {
    strict: true,
    decode: (source, _, ast) => {
      const compiled = compilePattern(source)
      return Either.isRight(compiled)
        ? ParseResult.succeed(compiled.right)
        : ParseResult.fail(new ParseResult.Type(ast, source, compiled.left))
    },
    encode: (regex) => ParseResult.succeed(regex.pattern())
  }
)

const PolicyFile = mapping(
  "a mapping with shield_name, rules, taint_chain and pii_patterns",
  Schema.Struct({
    shield_name: Schema.String,
    version: Schema.optionalWith(
      expecting(Schema.Literal(1, "1"), '1 (or "1"), the only version of this format'),
      { exact: true }
    ),
    default_verdict: Schema.optionalWith(expecting(Schema.Literal("allow", "block"), "allow or block"), {
      exact: true,
      default: () => "allow" as const
    }),
    rules: Schema.optionalWith(describing(Schema.Array(Rule), "a list of rules"), {
      exact: true,
      default: () => []
    }),
    taint_chain: Schema.optionalWith(
      mapping(
        "a mapping with enabled and outgoing_tools",
        Schema.Struct({
          enabled: Schema.Boolean,
          outgoing_tools: Schema.optionalWith(expecting(Schema.Array(ToolName), "a list of tool names"), {
            exact: true,
            default: () => []
          })
        })
      ).pipe(
        Schema.filter(
          (chain) =>
            !chain.enabled ||
            chain.outgoing_tools.length > 0 || {
              path: ["outgoing_tools"],
              message: "the taint chain is enabled but lists no outgoing tools, so it would block nothing"
            }
        )
      ),
      { exact: true, default: () => ({ enabled: false, outgoing_tools: [] }) }
    ),
    pii_patterns: Schema.optionalWith(
      describing(
        Schema.Array(
          mapping(
            "a pattern: a mapping with name and pattern",
            Schema.Struct({ name: Schema.NonEmptyTrimmedString, pattern: CompiledPattern })
          )
        ),
        "a list of patterns"
      ),
      { exact: true, default: () => [] }
    )
  })
)

const decodePolicyFile = Schema.decodeUnknownEither(PolicyFile, { errors: "all", onExcessProperty: "error" })

// ---------------------------------------------------------------------------------------------
// Problems, told.

/** Effect's message for an unknown key starts so, then lists the expected keys. */
const UNEXPECTED = "is unexpected, expected: "

const describeIssue = (issue: ParseResult.ArrayFormatterIssue): string => {
  const key = lastKey(issue.path)
  switch (issue._tag) {
    case "Unexpected":
      return `unknown key ${show(key)}${
        issue.message.startsWith(UNEXPECTED)
          ? ` (expected ${issue.message.slice(UNEXPECTED.length).replaceAll('"', "").replaceAll(" | ", ", ")})`
          : ""
      }`
    case "Missing":
      return `missing key ${show(key)}`
    default:
      return invalid(issue.path, issue.message)
  }
}

/** `invalid "key": problem`, or `invalid rules[2]: problem` for an item of a list. */
const invalid = (path: ReadonlyArray<PropertyKey>, problem: string): string => {
  const key = lastKey(path)
  const last = path[path.length - 1]
  if (key === undefined) return problem
  return `invalid ${typeof last === "number" ? `${key}[${last}]` : show(key)}: ${problem}`
}

const duplicateRuleIds = (tree: unknown): Array<Problem> => {
  const rules = fieldOf(tree, "rules")
  if (!Array.isArray(rules)) return []
  const problems: Array<Problem> = []
  const seen = new Map<string, number>()
  rules.forEach((rule: unknown, index) => {
    const id = fieldOf(rule, "id")
    if (typeof id !== "string") return
    const earlier = seen.get(id)
    if (earlier === undefined) seen.set(id, index)
    else
      problems.push({
        path: ["rules", index, "id"],
        problem: invalid(["id"], `a duplicate rule id, first used by rules[${earlier}]`)
      })
  })
  return problems
}

/** A key of a mapping of the plain tree, which has no prototype to inherit from. */
const fieldOf = (node: unknown, key: PropertyKey): unknown =>
  typeof node === "object" && node !== null && !Array.isArray(node)
    ? (node as Record<PropertyKey, unknown>)[key]
    : Array.isArray(node) && typeof key === "number"
      ? node[key]
      : undefined

/** The issues of `problems`, in document order. */
const issuesOf = (tree: unknown, problems: ReadonlyArray<Problem>): Array<PolicyIssue> =>
  [...problems].sort(documentOrder(tree)).map((p) => policyIssue(tree, p))

const policyError = (issues: ReadonlyArray<PolicyIssue>): PolicyError => {
  if (!Arr.isNonEmptyReadonlyArray(issues)) {
    // Unreachable: a failed decode has at least one issue. Still a refusal, never a crash.
    return new PolicyError({ message: "policy: invalid", issues: [{ message: "policy: invalid" }] })
  }
  const first = issues[0]
  return new PolicyError({
    message: issues.map((issue) => issue.message).join("\n"),
    ...(first.ruleId !== undefined ? { ruleId: first.ruleId } : {}),
    ...(first.key !== undefined ? { key: first.key } : {}),
    ...(first.path !== undefined ? { path: first.path } : {}),
    issues
  })
}

const policyIssue = (tree: unknown, { path, problem }: Problem): PolicyIssue => {
  const [section, index] = path
  const owner =
    section !== undefined && typeof index === "number" ? fieldOf(fieldOf(tree, section), index) : undefined
  const ruleId = section === "rules" ? fieldOf(owner, "id") : undefined
  const patternName = section === "pii_patterns" ? fieldOf(owner, "name") : undefined
  const key = lastKey(path)
  const where =
    typeof ruleId === "string"
      ? `rule ${show(ruleId)}`
      : typeof patternName === "string"
        ? `pii pattern ${show(patternName)}`
        : "policy"
  const at = path.length > 0 ? ` (at ${pathText(path)})` : ""
  return {
    message: `${where}: ${problem}${at}`,
    ...(typeof ruleId === "string" ? { ruleId } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(path.length > 0 ? { path: pathText(path) } : {})
  }
}

const lastKey = (path: ReadonlyArray<PropertyKey>): string | undefined =>
  [...path].reverse().find((p): p is string => typeof p === "string")

const pathText = (path: ReadonlyArray<PropertyKey>): string =>
  path
    .map((p, i) =>
      typeof p === "number"
        ? `[${p}]`
        : `${i === 0 ? "" : "."}${/^[\w.<>-]+$/.test(String(p)) ? String(p) : show(String(p))}`
    )
    .join("")

/** Orders problems as their places appear in the input; missing keys come after present ones. */
const documentOrder =
  (tree: unknown) =>
  (a: Problem, b: Problem): number => {
    let node = tree
    for (let i = 0; i < Math.min(a.path.length, b.path.length); i++) {
      const x = a.path[i]
      const y = b.path[i]
      if (x === undefined || y === undefined) break
      if (x !== y) return rank(node, x) - rank(node, y)
      node = fieldOf(node, x)
    }
    return a.path.length - b.path.length
  }

const rank = (node: unknown, key: PropertyKey): number => {
  if (typeof key === "number") return key
  const keys = typeof node === "object" && node !== null && !Array.isArray(node) ? Object.keys(node) : []
  const index = typeof key === "string" ? keys.indexOf(key) : -1
  return index < 0 ? Number.MAX_SAFE_INTEGER : index
}
