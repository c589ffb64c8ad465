import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc } from "effect"
import { PolicyError, ShieldPolicy } from "../src/index.js"

const example = `
shield_name: demo
version: 1
default_verdict: allow
rules:
  - id: rate-limit-web
    when:
      tool: web_fetch
      session:
        tool_count.web_fetch: { gte: 10 }
        total_calls: { gte: 100 }
        has_taint: [EMAIL, CREDIT_CARD]
    then: block
    severity: medium
    message: "web_fetch limit reached for this session"
taint_chain:
  enabled: true
  outgoing_tools: [send_message, web_fetch, email_send]
pii_patterns:
  - name: EMPLOYEE_ID
    pattern: "EMP-\\\\d{6}"
`

const rule = (overrides: Record<string, unknown>) => ({
  shield_name: "test",
  rules: [{ id: "r1", when: { tool: "web_fetch" }, then: "block", ...overrides }]
})

/**
 * The PolicyError of a load that must fail. A policy that loads is a plain defect: the test
 * runner would otherwise report the policy itself, compiled patterns and all.
 */
const refused = (load: Effect.Effect<ShieldPolicy, PolicyError>) =>
  Effect.flip(Effect.flatMap(load, () => Effect.dieMessage("the policy loaded; expected a PolicyError")))
const rejection = (value: unknown) => refused(ShieldPolicy.fromObject(value))
const yamlRejection = (text: string) => refused(ShieldPolicy.fromYaml(text))

/** A session condition of rule r1 in a policy of one block rule. */
const condition = (key: string, value: unknown) => rule({ when: { session: { [key]: value } } })

/** The signature of a schema printed whole instead of a sentence. */
const schemaDump = /readonly|ReadonlyArray|Struct|Encoded side|\{ [a-z_]+\?:/

describe("ShieldPolicy", () => {
  it.effect("loads PolicyShield's rule vocabulary from YAML", () =>
    Effect.gen(function* () {
      const policy = yield* ShieldPolicy.fromYaml(example)
      expect(policy.shieldName).toBe("demo")
      expect(policy.version).toBe(1)
      expect(policy.defaultVerdict).toBe("allow")
      expect(policy.rules).toHaveLength(1)
      const [r] = policy.rules
      expect(r?.id).toBe("rate-limit-web")
      expect(r?.verdict).toBe("block")
      expect(r?.severity).toBe("medium")
      expect(r?.when.tool).toBe("web_fetch")
      expect(r?.when.session).toEqual([
        { _tag: "ToolCount", tool: "web_fetch", comparison: { gte: 10 } },
        { _tag: "TotalCalls", comparison: { gte: 100 } },
        { _tag: "HasTaint", anyOf: ["EMAIL", "CREDIT_CARD"] }
      ])
      expect(policy.taintChain).toEqual({
        enabled: true,
        outgoingTools: ["send_message", "web_fetch", "email_send"]
      })
      expect(policy.customPatterns.map((p) => [p.name, p.source])).toEqual([["EMPLOYEE_ID", "EMP-\\d{6}"]])
    })
  )

  it.effect("loads the same policy from a plain object, with defaults for what is left out", () =>
    Effect.gen(function* () {
      const policy = yield* ShieldPolicy.fromObject({
        shield_name: "minimal",
        rules: [{ id: "any", when: { tool: ["a", "b"] }, then: "allow" }]
      })
      expect(policy.defaultVerdict).toBe("allow")
      expect(policy.rules[0]?.severity).toBe("medium")
      expect(policy.taintChain.enabled).toBe(false)
      expect(policy.customPatterns).toHaveLength(0)
    })
  )

  const rejected: ReadonlyArray<readonly [string, unknown, string | undefined, string, string]> = [
    ["an unknown key in a rule", rule({ priority: 1 }), "r1", "priority", "unknown key"],
    [
      "args_match",
      rule({ when: { tool: "web_fetch", args_match: { url: "x" } } }),
      "r1",
      "args_match",
      "unknown key"
    ],
    ["the verdict approve", rule({ then: "approve" }), "r1", "then", "allow or block"],
    ["the verdict redact", rule({ then: "redact" }), "r1", "then", "allow or block"],
    [
      "a bad comparator",
      rule({ when: { session: { total_calls: { gtee: 3 } } } }),
      "r1",
      "gtee",
      "unknown key"
    ],
    [
      "a comparison that is a number",
      rule({ when: { session: { total_calls: 3 } } }),
      "r1",
      "total_calls",
      "comparison"
    ],
    [
      "an empty comparison",
      rule({ when: { session: { total_calls: {} } } }),
      "r1",
      "total_calls",
      "one of gt"
    ],
    [
      "a negative bound",
      rule({ when: { session: { total_calls: { lt: -1 } } } }),
      "r1",
      "lt",
      "non-negative"
    ],
    [
      "an unknown session condition",
      rule({ when: { session: { calls: { gt: 1 } } } }),
      "r1",
      "calls",
      "unknown"
    ],
    [
      "a tool count of an invalid tool name",
      rule({ when: { session: { "tool_count.web fetch": { gt: 1 } } } }),
      "r1",
      "tool_count.web fetch",
      "tool name"
    ],
    [
      "an unknown PII type",
      rule({ when: { session: { has_taint: ["NAME"] } } }),
      "r1",
      "has_taint",
      "PII types"
    ],
    ["an invalid tool name", rule({ when: { tool: "web fetch" } }), "r1", "tool", "tool name"],
    ["a bad severity", rule({ severity: "extreme" }), "r1", "severity", "low, medium"],
    ["a missing verdict", { shield_name: "t", rules: [{ id: "r1" }] }, "r1", "then", "missing"],
    [
      "an unknown top-level key",
      { shield_name: "t", rules: [], extra: true },
      undefined,
      "extra",
      "unknown key"
    ],
    [
      "an unknown key in the taint chain",
      { shield_name: "t", taint_chain: { enabled: true, tools: ["x"] } },
      undefined,
      "tools",
      "unknown key"
    ]
  ]
  for (const [name, value, ruleId, key, text] of rejected) {
    it.effect(`rejects ${name}, naming the rule and the key`, () =>
      Effect.gen(function* () {
        const error = yield* rejection(value)
        expect(error).toBeInstanceOf(PolicyError)
        expect(error.ruleId).toBe(ruleId)
        expect(error.key).toBe(key)
        expect(error.message).toContain(`"${key}"`)
        if (ruleId !== undefined) expect(error.message).toContain(`rule "${ruleId}"`)
        expect(error.message).toContain(text)
      })
    )
  }

  it.effect("rejects a duplicate rule id", () =>
    Effect.gen(function* () {
      const error = yield* rejection({
        shield_name: "t",
        rules: [
          { id: "same", then: "allow" },
          { id: "other", then: "allow" },
          { id: "same", then: "block" }
        ]
      })
      expect(error.ruleId).toBe("same")
      expect(error.key).toBe("id")
      expect(error.path).toBe("rules[2].id")
      expect(error.message).toContain("duplicate")
    })
  )

  for (const [name, pattern] of [
    ["a lookahead", "(?=EMP)EMP-\\d+"],
    ["a lookbehind", "(?<=x)EMP"],
    ["a backreference", "(\\d)\\1"],
    ["a malformed pattern", "EMP-[0-9"]
  ] as const) {
    it.effect(`rejects a custom pattern with ${name}, which RE2 cannot run in linear time`, () =>
      Effect.gen(function* () {
        const error = yield* rejection({ shield_name: "t", pii_patterns: [{ name: "EMPLOYEE_ID", pattern }] })
        expect(error.key).toBe("pattern")
        expect(error.message).toContain('pii pattern "EMPLOYEE_ID"')
        expect(error.message).toContain("RE2")
      })
    )
  }

  for (const pattern of ["x*", "\\b", "^", "$", "(?:)", "a?", "\\B"]) {
    it.effect(
      `rejects the custom pattern ${pattern}, which matches an empty span and would taint every text`,
      () =>
        Effect.gen(function* () {
          const error = yield* rejection({ shield_name: "t", pii_patterns: [{ name: "ANY", pattern }] })
          expect(error.key).toBe("pattern")
          expect(error.message).toContain("empty span")
        })
    )
  }

  it.effect("rejects a key set to undefined instead of ignoring the condition", () =>
    Effect.gen(function* () {
      const comparator = yield* rejection(
        rule({ when: { session: { "tool_count.exec": { lt: undefined } } } })
      )
      expect(comparator.key).toBe("lt")
      const selector = yield* rejection(rule({ when: { tool: undefined } }))
      expect(selector.key).toBe("tool")
    })
  )

  it.effect("rejects a taint chain that is enabled with no outgoing tools", () =>
    Effect.gen(function* () {
      const error = yield* rejection({ shield_name: "t", taint_chain: { enabled: true } })
      expect(error.key).toBe("outgoing_tools")
      expect(error.message).toContain("no outgoing tools")
      const disabled = yield* ShieldPolicy.fromObject({ shield_name: "t", taint_chain: { enabled: false } })
      expect(disabled.taintChain.enabled).toBe(false)
    })
  )

  it.effect("rejects text that is not YAML, and YAML with duplicate keys", () =>
    Effect.gen(function* () {
      expect((yield* yamlRejection("rules: [1,")).message).toContain("not valid YAML")
      const duplicate = yield* yamlRejection("shield_name: a\nshield_name: b\n")
      expect(duplicate.message).toContain("not valid YAML")
    })
  )

  describe("every key is seen, __proto__ and constructor included", () => {
    it.effect(
      "a __proto__ session condition from YAML is rejected, not dropped into an unconditional rule",
      () =>
        Effect.gen(function* () {
          const error = yield* yamlRejection(`
shield_name: t
rules:
  - id: r1
    when:
      tool: web_fetch
      session:
        __proto__: { gte: 10 }
    then: block
`)
          expect(error.ruleId).toBe("r1")
          expect(error.key).toBe("__proto__")
          expect(error.path).toBe("rules[0].when.session.__proto__")
          expect(error.message).toContain('unknown key "__proto__"')
        })
    )

    // The same document as JSON.parse builds it, where "__proto__" is an own key at each level.
    const levels: ReadonlyArray<readonly [string, (key: string) => string, string]> = [
      ["the policy", (k) => `{"shield_name":"t","${k}":{}}`, "$"],
      ["a rule", (k) => `{"shield_name":"t","rules":[{"id":"r1","then":"block","${k}":{}}]}`, "rules[0].$"],
      [
        "when",
        (k) => `{"shield_name":"t","rules":[{"id":"r1","then":"block","when":{"${k}":{}}}]}`,
        "rules[0].when.$"
      ],
      [
        "session",
        (k) =>
          `{"shield_name":"t","rules":[{"id":"r1","then":"block","when":{"session":{"${k}":{"gt":1}}}}]}`,
        "rules[0].when.session.$"
      ],
      [
        "a comparison",
        (k) =>
          `{"shield_name":"t","rules":[{"id":"r1","then":"block","when":{"session":{"total_calls":{"gt":1,"${k}":2}}}}]}`,
        "rules[0].when.session.total_calls.$"
      ],
      [
        "the taint chain",
        (k) => `{"shield_name":"t","taint_chain":{"enabled":true,"outgoing_tools":["x"],"${k}":{}}}`,
        "taint_chain.$"
      ],
      [
        "a pii pattern",
        (k) => `{"shield_name":"t","pii_patterns":[{"name":"P","pattern":"EMP-\\\\d+","${k}":{}}]}`,
        "pii_patterns[0].$"
      ]
    ]
    for (const [level, json, path] of levels) {
      for (const key of ["__proto__", "constructor"]) {
        it.effect(`rejects a ${key} key in ${level} of JSON.parse's output`, () =>
          Effect.gen(function* () {
            const error = yield* rejection(JSON.parse(json(key)))
            expect(error.key).toBe(key)
            expect(error.path).toBe(path.replace("$", key).replace(/^\./, ""))
            expect(error.message).toContain(`unknown key "${key}"`)
          })
        )
      }
    }

    it.effect("reads only own keys: an inherited rule field or a class instance is refused", () =>
      Effect.gen(function* () {
        const inherited = yield* rejection({
          shield_name: "t",
          rules: [Object.assign(Object.create({ then: "allow" }), { id: "r1" })]
        })
        expect(inherited.path).toBe("rules[0]")
        expect(inherited.message).toContain("prototype")
        const date = yield* rejection(rule({ when: new Date(0) }))
        expect([date.ruleId, date.key]).toEqual(["r1", "when"])
        expect(date.message).toContain("a Date")
      })
    )

    it.effect("refuses input that is not plain data with a reason, never a crash or a hang", () =>
      Effect.gen(function* () {
        const cyclic: Record<string, unknown> = { shield_name: "t" }
        cyclic.rules = [cyclic]
        expect((yield* rejection(cyclic)).message).toContain("contains itself")
        const getter = {
          shield_name: "t",
          get rules() {
            return []
          }
        }
        expect((yield* rejection(getter)).message).toContain("getter")
        expect((yield* rejection({ shield_name: "t", [Symbol("s")]: 1 })).message).toContain("symbol key")
        // A list of a billion slots holding one rule: refused at once, not walked.
        const sparse: Array<unknown> = []
        sparse[1e9] = { id: "r1", then: "block" }
        expect((yield* rejection({ shield_name: "t", rules: sparse })).message).toContain("holes")
        const throwing = new Proxy(
          {},
          {
            ownKeys: () => {
              throw new Error("trap")
            }
          }
        )
        expect((yield* rejection(throwing)).message).toContain("cannot be read")
        let deep: unknown = 1
        for (let i = 0; i < 100_000; i++) deep = [deep]
        expect((yield* rejection({ shield_name: "t", rules: deep })).message).toContain("nested")
        expect((yield* rejection({ shield_name: "t", rules: [() => 1] })).message).toContain("a function")
        // Sixty levels of two references to one object stand for 2^60 places: refused, not walked.
        let shared: unknown = { id: "r1", then: "block" }
        for (let i = 0; i < 60; i++) shared = { a: shared, b: shared }
        expect((yield* rejection({ shield_name: "t", rules: [shared] })).message).toContain("values")
      })
    )

    it.effect(
      "a tool named __proto__ or constructor is an ordinary tool, in a selector and in tool_count",
      () =>
        Effect.gen(function* () {
          const policy = yield* ShieldPolicy.fromObject(
            JSON.parse(
              '{"shield_name":"t","rules":[{"id":"r1","then":"block","when":{"tool":["__proto__","constructor"],"session":{"tool_count.__proto__":{"gte":2},"tool_count.constructor":{"lt":5}}}}]}'
            )
          )
          expect(policy.rules[0]?.when).toEqual({
            tool: ["__proto__", "constructor"],
            session: [
              { _tag: "ToolCount", tool: "__proto__", comparison: { gte: 2 } },
              { _tag: "ToolCount", tool: "constructor", comparison: { lt: 5 } }
            ]
          })
          const yaml = yield* ShieldPolicy.fromYaml(
            "shield_name: t\nrules:\n  - id: r1\n    when:\n      session:\n        tool_count.__proto__: { gte: 2 }\n    then: block\n"
          )
          expect(yaml.rules[0]?.when.session).toEqual([
            { _tag: "ToolCount", tool: "__proto__", comparison: { gte: 2 } }
          ])
        })
    )
  })

  describe("a comparison that can never hold is rejected", () => {
    for (const [comparison, why] of [
      [{ gt: 5, lt: 3 }, "> 5 and < 3"],
      [{ eq: 2, gt: 4 }, "> 4 and = 2"],
      [{ gte: 3, lte: 2 }, ">= 3 and <= 2"],
      [{ gt: 2, lt: 3 }, "> 2 and < 3"],
      [{ eq: 3, lt: 3 }, "< 3 and = 3"],
      [{ lt: 0 }, "< 0"]
    ] as const) {
      it.effect(`rejects ${JSON.stringify(comparison)}, naming the rule and the key`, () =>
        Effect.gen(function* () {
          const error = yield* rejection(condition("tool_count.web_fetch", comparison))
          expect(error.ruleId).toBe("r1")
          expect(error.key).toBe("tool_count.web_fetch")
          expect(error.message).toContain(`rule "r1": invalid "tool_count.web_fetch": no count is ${why}`)
          expect(error.message).toContain("can never hold")
        })
      )
    }

    for (const bound of [1.5, 0.5, 1e300, Number.NaN, Number.POSITIVE_INFINITY]) {
      it.effect(`rejects the bound ${bound}, which no whole count can equal`, () =>
        Effect.gen(function* () {
          const error = yield* rejection(condition("total_calls", { eq: bound }))
          expect([error.ruleId, error.key]).toEqual(["r1", "eq"])
          expect(error.path).toBe("rules[0].when.session.total_calls.eq")
          expect(error.message).toContain("whole number")
        })
      )
    }

    const bound = fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined })
    it.prop(
      "loads a comparison exactly when some count from 0 up meets it",
      [fc.record({ gt: bound, gte: bound, lt: bound, lte: bound, eq: bound }, { requiredKeys: [] })],
      ([raw]) => {
        const comparison = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined))
        if (Object.keys(comparison).length === 0) return
        const holdsFor = (n: number) =>
          (raw.gt === undefined || n > raw.gt) &&
          (raw.gte === undefined || n >= raw.gte) &&
          (raw.lt === undefined || n < raw.lt) &&
          (raw.lte === undefined || n <= raw.lte) &&
          (raw.eq === undefined || n === raw.eq)
        const possible = Array.from({ length: 12 }, (_, n) => n).some(holdsFor)
        const loaded = Effect.runSync(
          Effect.either(ShieldPolicy.fromObject(condition("total_calls", comparison)))
        )
        expect(Either.isRight(loaded)).toBe(possible)
      },
      { fastCheck: { numRuns: 400 } }
    )
  })

  it.effect("a rule without when matches every call, and says so by having no conditions", () =>
    Effect.gen(function* () {
      const policy = yield* ShieldPolicy.fromYaml("shield_name: t\nrules:\n  - id: all\n    then: block\n")
      expect(policy.rules[0]?.when).toEqual({})
    })
  )

  describe("the version", () => {
    for (const version of [1, "1"] as const) {
      it.effect(`accepts version ${JSON.stringify(version)}`, () =>
        Effect.gen(function* () {
          const policy = yield* ShieldPolicy.fromObject({ shield_name: "t", version })
          expect(policy.version).toBe(version)
        })
      )
    }
    for (const version of [2, "2", 0, "1.0", "v1", true, null, [1]]) {
      it.effect(`rejects version ${JSON.stringify(version)}, naming the key`, () =>
        Effect.gen(function* () {
          const error = yield* rejection({ shield_name: "t", version })
          expect(error.key).toBe("version")
          expect(error.message).toContain('invalid "version": expected 1')
        })
      )
    }
  })

  describe("messages are short sentences, never a dump of the schema", () => {
    for (const [name, text] of [
      ["an empty file", ""],
      ["a file that is only a comment", "# nothing here\n"],
      ["a list", "- shield_name: t\n"],
      ["a string", "hello\n"],
      ["a number", "42\n"],
      ["null", "~\n"],
      ["when: with nothing after it", "shield_name: t\nrules:\n  - id: r1\n    when:\n    then: block\n"],
      ["rules: with nothing after it", "shield_name: t\nrules:\n"],
      ["a rule that is a string", "shield_name: t\nrules:\n  - r1\n"],
      ["taint_chain: with nothing after it", "shield_name: t\ntaint_chain:\n"]
    ] as const) {
      it.effect(`${name} gives a short message`, () =>
        Effect.gen(function* () {
          const error = yield* yamlRejection(text)
          expect(error.message.length).toBeLessThan(200)
          expect(error.message).not.toMatch(schemaDump)
        })
      )
    }

    it.effect("an empty document says it is empty", () =>
      Effect.gen(function* () {
        expect((yield* yamlRejection("")).message).toContain("empty")
        expect((yield* yamlRejection("# only a comment\n")).message).toContain("empty")
      })
    )

    // Every field of a full policy, set to each kind of wrong value in turn.
    const fields: ReadonlyArray<ReadonlyArray<string | number>> = [
      [],
      ["shield_name"],
      ["version"],
      ["default_verdict"],
      ["rules"],
      ["rules", 0],
      ["rules", 0, "id"],
      ["rules", 0, "description"],
      ["rules", 0, "enabled"],
      ["rules", 0, "when"],
      ["rules", 0, "when", "tool"],
      ["rules", 0, "when", "session"],
      ["rules", 0, "when", "session", "tool_count.web_fetch"],
      ["rules", 0, "when", "session", "tool_count.web_fetch", "gte"],
      ["rules", 0, "when", "session", "total_calls"],
      ["rules", 0, "when", "session", "has_taint"],
      ["rules", 0, "then"],
      ["rules", 0, "severity"],
      ["rules", 0, "message"],
      ["taint_chain"],
      ["taint_chain", "enabled"],
      ["taint_chain", "outgoing_tools"],
      ["pii_patterns"],
      ["pii_patterns", 0],
      ["pii_patterns", 0, "name"],
      ["pii_patterns", 0, "pattern"]
    ]
    const wrongValues: ReadonlyArray<unknown> = [null, 42, -1, "x", "", true, [], [null], {}, { a: 1 }]
    const full = () => ({
      shield_name: "t",
      version: 1,
      default_verdict: "allow",
      rules: [
        {
          id: "r1",
          description: "d",
          enabled: true,
          when: {
            tool: "web_fetch",
            session: { "tool_count.web_fetch": { gte: 10 }, total_calls: { gte: 5 }, has_taint: ["EMAIL"] }
          },
          then: "block",
          severity: "high",
          message: "m"
        }
      ],
      taint_chain: { enabled: true, outgoing_tools: ["send_message"] },
      pii_patterns: [{ name: "EMPLOYEE_ID", pattern: "EMP-\\d{6}" }]
    })
    const withValue = (path: ReadonlyArray<string | number>, value: unknown): unknown => {
      if (path.length === 0) return value
      const root: Record<string | number, unknown> = full()
      let node = root
      for (const step of path.slice(0, -1)) node = node[step] as Record<string | number, unknown>
      node[path[path.length - 1]!] = value
      return root
    }
    it("every message, for every wrong value in every field, is short and names where", () => {
      expect(Either.isRight(Effect.runSync(Effect.either(ShieldPolicy.fromObject(full()))))).toBe(true)
      let failures = 0
      for (const path of fields) {
        for (const value of wrongValues) {
          const result = Effect.runSync(Effect.either(ShieldPolicy.fromObject(withValue(path, value))))
          if (Either.isRight(result)) continue
          failures++
          for (const issue of result.left.issues) {
            expect(issue.message.length, issue.message).toBeLessThan(200)
            expect(issue.message, issue.message).not.toMatch(schemaDump)
            if (path.length > 0) expect(issue.path, issue.message).toBeDefined()
          }
        }
      }
      expect(failures).toBeGreaterThan(fields.length * 5)
    })

    it.effect("a long value or id is quoted cut short", () =>
      Effect.gen(function* () {
        const long = "x".repeat(10_000)
        const error = yield* rejection({ shield_name: "t", rules: [{ id: long, then: long }] })
        expect(error.message.length).toBeLessThan(300)
        expect(error.ruleId).toBe(long)
      })
    )
  })

  describe("YAML problems show the line", () => {
    it.effect("a syntax error shows the line number and the line's text", () =>
      Effect.gen(function* () {
        const error = yield* yamlRejection("shield_name: t\nrules:\n  - id: r1\n   then: block\n")
        expect(error.message).toContain("line 4")
        expect(error.message).toContain('"   then: block"')
        const unclosed = yield* yamlRejection("shield_name: t\nrules: [1,\n")
        expect(unclosed.message).toContain("line 2")
        expect(unclosed.message).toContain('"rules: [1,"')
      })
    )

    for (const [key, text, line, quoted] of [
      [
        "then",
        "shield_name: t\nrules:\n  - id: r1\n    then: block\n    then: allow\n",
        5,
        "    then: allow"
      ],
      [
        "session",
        "shield_name: t\nrules:\n  - id: r1\n    when:\n      session:\n        total_calls: { gte: 5 }\n      session: {}\n    then: block\n",
        7,
        "      session: {}"
      ],
      [
        "gte",
        "shield_name: t\nrules:\n  - id: r1\n    when: { session: { total_calls: { gte: 5, gte: 0 } } }\n    then: block\n",
        4,
        "    when: { session: { total_calls: { gte: 5, gte: 0 } } }"
      ]
    ] as const) {
      it.effect(`a duplicated ${key}: key is an error at its line, not a silent override`, () =>
        Effect.gen(function* () {
          const error = yield* yamlRejection(text)
          expect(error.message).toContain("duplicate key")
          expect(error.message).toContain(`line ${line}`)
          expect(error.message).toContain(JSON.stringify(quoted))
        })
      )
    }

    for (const [name, text, says] of [
      ["an unknown tag", "shield_name: !custom t\n", "Unresolved tag"],
      [
        "a merge key",
        "%YAML 1.1\n---\nshield_name: t\nrules:\n  - <<: { id: r1, then: allow }\n    then: block\n",
        "merge keys"
      ],
      ["a key that is a number", "shield_name: t\n1: x\n", "a key must be a string"],
      ["a key that is a list", "shield_name: t\n? [a]\n: x\n", "a key must be a string"],
      ["two documents", "shield_name: t\n---\nshield_name: u\n", "multiple documents"]
    ] as const) {
      it.effect(`rejects ${name} with its line`, () =>
        Effect.gen(function* () {
          const error = yield* yamlRejection(text)
          expect(error.message).toContain(says)
          expect(error.message).toMatch(/at line \d+/)
        })
      )
    }

    it.effect("a value YAML types as a set, a date or bytes is not plain data", () =>
      Effect.gen(function* () {
        for (const value of ["!!set { a }", "!!timestamp 2001-12-14", "!!binary aGVsbG8="]) {
          const error = yield* yamlRejection(
            `shield_name: t\nrules:\n  - id: r1\n    then: block\n    message: ${value}\n`
          )
          expect([error.ruleId, error.key]).toEqual(["r1", "message"])
        }
      })
    )

    it.effect("JSON text loaded as YAML has its duplicate keys rejected too", () =>
      Effect.gen(function* () {
        const error = yield* yamlRejection(
          '{"shield_name":"t","rules":[{"id":"r1","then":"block","then":"allow"}]}'
        )
        expect(error.message).toContain("duplicate key")
        expect(error.message).toContain('then\\":\\"allow')
      })
    )

    it.effect("an alias that contains itself, or aliases that multiply, are refused", () =>
      Effect.gen(function* () {
        expect((yield* yamlRejection("shield_name: t\nrules: &r [*r]\n")).message).toContain(
          "contains itself"
        )
        let laughs = "shield_name: t\na0: &a0 [x, x]\n"
        for (let i = 1; i < 30; i++) laughs += `a${i}: &a${i} [*a${i - 1}, *a${i - 1}]\n`
        expect((yield* yamlRejection(laughs)).message).toContain("alias")
      })
    )

    it.effect("text that is not a string is refused", () =>
      Effect.gen(function* () {
        const error = yield* yamlRejection(42 as unknown as string)
        expect(error.message).toContain("expected YAML text")
      })
    )
  })

  describe("custom patterns RE2 cannot run are named in RE2's terms", () => {
    for (const pattern of ["(?<=x)EMP", "(?<!x)EMP", "EMP(?=-)", "EMP(?!-)"]) {
      it.effect(`${pattern}: RE2 has no lookaround`, () =>
        Effect.gen(function* () {
          const error = yield* rejection({ shield_name: "t", pii_patterns: [{ name: "P", pattern }] })
          expect(error.message).toContain("RE2 has no lookaround")
          expect(error.message).not.toContain("named capture")
        })
      )
    }
    for (const pattern of ["(\\d)\\1", "(?<n>a)\\k<n>"]) {
      it.effect(`${pattern}: RE2 has no backreferences`, () =>
        Effect.gen(function* () {
          const error = yield* rejection({ shield_name: "t", pii_patterns: [{ name: "P", pattern }] })
          expect(error.message).toContain("RE2 has no backreferences")
        })
      )
    }
    for (const pattern of ["[(?=]x", "\\(?=x", "\\Q(?<=\\Ex", "[\\]1]x", "\\\\1x"]) {
      it.effect(`${pattern}, which only looks like lookaround or a backreference, loads`, () =>
        Effect.gen(function* () {
          const policy = yield* ShieldPolicy.fromObject({
            shield_name: "t",
            pii_patterns: [{ name: "P", pattern }]
          })
          expect(policy.customPatterns[0]?.source).toBe(pattern)
        })
      )
    }
  })

  describe("every problem of a policy is reported", () => {
    const broken = `
shield_name: t
version: 2
rules:
  - id: first
    when:
      session:
        tool_count.web_fetch: { gt: 5, lt: 3 }
    then: approve
  - id: second
    priority: 1
    then: block
  - id: first
    then: allow
pii_patterns:
  - name: P
    pattern: "(?<=x)y"
`
    it.effect(
      "lists each problem with its rule and key, in document order, the first in ruleId, key, path",
      () =>
        Effect.gen(function* () {
          const error = yield* yamlRejection(broken)
          expect(error.issues.map((i) => [i.ruleId, i.key, i.path])).toEqual([
            [undefined, "version", "version"],
            ["first", "tool_count.web_fetch", "rules[0].when.session.tool_count.web_fetch"],
            ["first", "then", "rules[0].then"],
            ["second", "priority", "rules[1].priority"],
            ["first", "id", "rules[2].id"],
            [undefined, "pattern", "pii_patterns[0].pattern"]
          ])
          expect(error.message.split("\n")).toEqual(error.issues.map((i) => i.message))
          expect(error.message.split("\n")).toHaveLength(6)
          expect([error.ruleId, error.key, error.path]).toEqual([undefined, "version", "version"])
          for (const issue of error.issues) {
            if (issue.ruleId !== undefined) expect(issue.message).toContain(`rule "${issue.ruleId}"`)
            expect(issue.message).toContain(`"${issue.key}"`)
          }
        })
    )

    it.effect("a single problem is one issue, and its fields are the error's", () =>
      Effect.gen(function* () {
        const error = yield* rejection(rule({ then: "approve" }))
        expect(error.issues).toHaveLength(1)
        expect(error.issues[0]).toEqual({
          message: error.message,
          ruleId: error.ruleId,
          key: error.key,
          path: error.path
        })
      })
    )
  })

  it.effect("rejects a rule that takes the id of one of the engine's own verdicts", () =>
    Effect.gen(function* () {
      for (const id of ["__pii_taint__", "__session_capacity__", "__session_store__"]) {
        const error = yield* rejection({ shield_name: "t", rules: [{ id, then: "allow" }] })
        expect([error.ruleId, error.key]).toEqual([id, "id"])
        expect(error.message).toContain("reserved")
      }
    })
  )
})
