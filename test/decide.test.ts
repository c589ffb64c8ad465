import { describe, expect, it } from "@effect/vitest"
import { DateTime, Effect, HashMap, HashSet } from "effect"
import { type PIIType, SessionId, SessionState, ShieldPolicy, TAINT_RULE_ID, ToolName } from "../src/index.js"
import { decide } from "../src/internal/engine/decide.js"

const tool = (name: string) => ToolName.make(name)

/**
 * The state of session s1 before a call: how often each tool was called (as entries, since an
 * object literal cannot hold a `__proto__` key), and its taints.
 */
const session = (
  counts: ReadonlyArray<readonly [string, number]> = [],
  taints: ReadonlyArray<PIIType> = []
) =>
  new SessionState({
    sessionId: SessionId.make("s1"),
    createdAt: DateTime.unsafeMake(0),
    lastAccessedAt: DateTime.unsafeMake(0),
    toolCounts: HashMap.fromIterable(counts.map(([name, n]) => [tool(name), n] as const)),
    totalCalls: counts.reduce((sum, [, n]) => sum + n, 0),
    taints: HashSet.fromIterable(taints)
  })

const taintChain = ShieldPolicy.fromYaml(`
shield_name: t
taint_chain:
  enabled: true
  outgoing_tools: [send_message]
`)

describe("decide", () => {
  describe("the taint chain's message reads as PolicyShield's", () => {
    const cases: ReadonlyArray<readonly [string, ReadonlyArray<PIIType>, ReadonlyArray<PIIType>, string]> = [
      ["a session tainted earlier", ["EMAIL", "SSN"], [], "EMAIL, SSN already in the session"],
      ["a call carrying personal data", [], ["PHONE"], "PHONE in this call's arguments"],
      [
        "both, the call's own kinds told as the call's",
        ["EMAIL", "CREDIT_CARD"],
        ["CREDIT_CARD", "IBAN"],
        "EMAIL already in the session; CREDIT_CARD, IBAN in this call's arguments"
      ]
    ]
    for (const [name, inSession, inCall, found] of cases) {
      it.effect(`${name}: Session tainted: ${found}. Outgoing calls blocked until reviewed.`, () =>
        Effect.gen(function* () {
          const policy = yield* taintChain
          const verdict = decide(policy, tool("send_message"), session([], inSession), inCall)
          expect(verdict.decision).toBe("BLOCK")
          expect(verdict.ruleId).toBe(TAINT_RULE_ID)
          expect(verdict.message).toBe(`Session tainted: ${found}. Outgoing calls blocked until reviewed.`)
          expect(verdict.message.startsWith("Session tainted: ")).toBe(true)
          expect(verdict.message.endsWith("Outgoing calls blocked until reviewed.")).toBe(true)
        })
      )
    }

    it.effect("a tool that is not outgoing is not blocked by the chain", () =>
      Effect.gen(function* () {
        const policy = yield* taintChain
        const verdict = decide(policy, tool("read_file"), session([], ["EMAIL"]), ["SSN"])
        expect([verdict.decision, verdict.ruleId]).toEqual(["ALLOW", null])
      })
    )
  })

  it.effect("a rule without when matches every call", () =>
    Effect.gen(function* () {
      const policy = yield* ShieldPolicy.fromYaml(`
shield_name: t
rules:
  - id: everything
    then: block
    message: closed for maintenance
`)
      for (const name of ["web_fetch", "read_file", "__proto__", "mcp:github/create_issue"]) {
        const verdict = decide(policy, tool(name), session([[name, 3]], ["EMAIL"]), [])
        expect([verdict.decision, verdict.ruleId, verdict.message]).toEqual([
          "BLOCK",
          "everything",
          "closed for maintenance"
        ])
      }
    })
  )

  it.effect("a tool_count condition on a tool named __proto__ counts that tool", () =>
    Effect.gen(function* () {
      const policy = yield* ShieldPolicy.fromYaml(`
shield_name: t
rules:
  - id: proto-limit
    when:
      tool: __proto__
      session:
        tool_count.__proto__: { gte: 2 }
    then: block
`)
      const proto = tool("__proto__")
      expect(decide(policy, proto, session([["__proto__", 1]]), []).decision).toBe("ALLOW")
      expect(decide(policy, proto, session([["__proto__", 2]]), []).ruleId).toBe("proto-limit")
      // Other tools' counts do not count for it.
      expect(decide(policy, proto, session([["constructor", 5]]), []).decision).toBe("ALLOW")
    })
  )

  it.effect("bounds are compared with the count before the call", () =>
    Effect.gen(function* () {
      const policy = yield* ShieldPolicy.fromObject({
        shield_name: "t",
        rules: [{ id: "window", when: { session: { "tool_count.x": { gt: 1, lte: 3 } } }, then: "block" }]
      })
      const decisions = [0, 1, 2, 3, 4].map(
        (n) => decide(policy, tool("x"), session([["x", n]]), []).decision
      )
      expect(decisions).toEqual(["ALLOW", "ALLOW", "BLOCK", "BLOCK", "ALLOW"])
    })
  )
})
