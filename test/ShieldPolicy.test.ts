import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
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

const rejection = (value: unknown) => Effect.flip(ShieldPolicy.fromObject(value))

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
      expect((yield* Effect.flip(ShieldPolicy.fromYaml("rules: [1,"))).message).toContain("not valid YAML")
      const duplicate = yield* Effect.flip(ShieldPolicy.fromYaml("shield_name: a\nshield_name: b\n"))
      expect(duplicate.message).toContain("not valid YAML")
    })
  )
})
