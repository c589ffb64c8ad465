import { Buffer } from "node:buffer"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Stream, TestClock } from "effect"
import {
  CAPACITY_RULE_ID,
  InvalidToolCall,
  PIIDetector,
  SessionId,
  SessionManager,
  type SessionManagerOptions,
  SessionStoreUnavailable,
  ShieldEngine,
  ShieldPolicy,
  STORE_RULE_ID,
  TAINT_RULE_ID,
  ToolName
} from "../src/index.js"

const policyYaml = `
shield_name: test
default_verdict: allow
rules:
  - id: rate-limit-web
    when:
      tool: web_fetch
      session:
        tool_count.web_fetch: { gte: 10 }
    then: block
    severity: medium
    message: web_fetch limit reached
  - id: total-budget
    when:
      tool: "*"
      session:
        total_calls: { gte: 50 }
    then: block
    severity: high
  - id: no-exec-after-card
    when:
      tool: [exec, shell]
      session:
        has_taint: [CREDIT_CARD]
    then: block
    severity: critical
  - id: allow-mail-to-self
    when:
      tool: email_send
    then: allow
    severity: low
  - id: allow-search
    when:
      tool: search
    then: allow
    severity: low
taint_chain:
  enabled: true
  outgoing_tools: [send_message, web_fetch, email_send]
pii_patterns:
  - name: EMPLOYEE_ID
    pattern: "EMP-\\\\d{6}"
`

const withEngine =
  (yaml: string = policyYaml, options: SessionManagerOptions = {}) =>
  <A, E>(body: (engine: ShieldEngine["Type"], sessions: SessionManager["Type"]) => Effect.Effect<A, E>) =>
    Effect.gen(function* () {
      const policy = yield* ShieldPolicy.fromYaml(yaml)
      const layer = ShieldEngine.layer(policy).pipe(
        Layer.provideMerge(SessionManager.layer(options)),
        Layer.provide(PIIDetector.Default)
      )
      return yield* Effect.provide(
        Effect.flatMap(Effect.all([ShieldEngine, SessionManager]), ([engine, sessions]) =>
          body(engine, sessions)
        ),
        layer
      )
    })

const call = (sessionId: string, tool: string, args: unknown = {}) => ({ sessionId, tool, args })

describe("ShieldEngine", () => {
  it.effect("a per-session limit blocks the call after the limit, and only allowed calls count", () =>
    withEngine()((engine, sessions) =>
      Effect.gen(function* () {
        const verdicts = []
        for (let i = 0; i < 12; i++)
          verdicts.push(yield* engine.check(call("s1", "web_fetch", { url: "https://a.b" })))
        expect(verdicts.slice(0, 10).every((v) => v.decision === "ALLOW")).toBe(true)
        expect(verdicts[10]?.decision).toBe("BLOCK")
        expect(verdicts[10]?.ruleId).toBe("rate-limit-web")
        expect(verdicts[10]?.message).toBe("web_fetch limit reached")
        expect(verdicts[10]?.severity).toBe("medium")
        const state = Option.getOrThrow(yield* sessions.get(SessionId.make("s1")))
        expect(state.toolCount(ToolName.make("web_fetch"))).toBe(10)
        expect(state.totalCalls).toBe(10)
      })
    )
  )

  it.effect("100 concurrent checks against a limit of 10 allow exactly 10", () =>
    withEngine()((engine) =>
      Effect.gen(function* () {
        const verdicts = yield* Effect.all(
          Array.from({ length: 100 }, () => engine.check(call("s1", "web_fetch"))),
          { concurrency: "unbounded" }
        )
        expect(verdicts.filter((v) => v.decision === "ALLOW")).toHaveLength(10)
        expect(verdicts.filter((v) => v.ruleId === "rate-limit-web")).toHaveLength(90)
      })
    )
  )

  it.effect("every checked call touches its session, blocked or not", () =>
    withEngine(policyYaml, { ttl: Duration.seconds(10) })((engine, sessions) =>
      Effect.gen(function* () {
        for (let i = 0; i < 10; i++) yield* engine.check(call("s1", "web_fetch"))
        yield* TestClock.adjust(Duration.seconds(8))
        expect((yield* engine.check(call("s1", "web_fetch"))).decision).toBe("BLOCK")
        yield* TestClock.adjust(Duration.seconds(8))
        // Still live: the blocked call at 8 s touched it.
        expect(Option.isSome(yield* sessions.get(SessionId.make("s1")))).toBe(true)
        expect((yield* engine.check(call("s1", "web_fetch"))).decision).toBe("BLOCK")
      })
    )
  )

  it.effect("after the TTL an idle session starts over: counts and taints are gone", () =>
    withEngine(policyYaml, { ttl: Duration.minutes(30) })((engine) =>
      Effect.gen(function* () {
        for (let i = 0; i < 10; i++) yield* engine.check(call("s1", "web_fetch"))
        yield* engine.postCheck({ sessionId: "s1", tool: "read_file", result: "jane@example.org" })
        expect((yield* engine.check(call("s1", "send_message"))).ruleId).toBe(TAINT_RULE_ID)
        yield* TestClock.adjust(Duration.minutes(31))
        expect((yield* engine.check(call("s1", "send_message"))).decision).toBe("ALLOW")
        expect((yield* engine.check(call("s1", "web_fetch"))).decision).toBe("ALLOW")
      })
    )
  )

  it.effect("PII in a tool result taints the session and then blocks its outgoing tools only", () =>
    withEngine()((engine) =>
      Effect.gen(function* () {
        expect((yield* engine.check(call("s1", "read_file"))).decision).toBe("ALLOW")
        const found = yield* engine.postCheck({
          sessionId: "s1",
          tool: "read_file",
          result: { rows: [{ name: "Jane", contact: "jane@example.org", phone: "+1 415 555 2671" }] }
        })
        expect(found).toEqual(["EMAIL", "PHONE"])
        const blocked = yield* engine.check(call("s1", "send_message", { text: "hi" }))
        expect(blocked.decision).toBe("BLOCK")
        expect(blocked.ruleId).toBe(TAINT_RULE_ID)
        expect(blocked.message).toContain("EMAIL")
        // A tool that is not outgoing still runs; another session is unaffected.
        expect((yield* engine.check(call("s1", "read_file"))).decision).toBe("ALLOW")
        expect((yield* engine.check(call("s2", "send_message", { text: "hi" }))).decision).toBe("ALLOW")
      })
    )
  )

  it.effect("PII in the arguments taints the session before the decision", () =>
    withEngine()((engine, sessions) =>
      Effect.gen(function* () {
        const verdict = yield* engine.check(
          call("s1", "send_message", { text: "my card is 4111 1111 1111 1111" })
        )
        expect(verdict.decision).toBe("BLOCK")
        expect(verdict.ruleId).toBe(TAINT_RULE_ID)
        expect(verdict.piiDetected).toEqual(["CREDIT_CARD"])
        const exec = yield* engine.check(call("s1", "exec", { cmd: "ls" }))
        expect(exec.ruleId).toBe("no-exec-after-card")
        expect(exec.severity).toBe("critical")
        expect([...(yield* sessions.getTaints(SessionId.make("s1")))]).toEqual(["CREDIT_CARD"])
      })
    )
  )

  it.effect("a call carrying PII is judged tainted even if the session lost the taint in between", () =>
    Effect.gen(function* () {
      // A session store that drops every taint, as if each were cleared, evicted or expired
      // between the engine adding it and the decision.
      const forgetful = Layer.effect(
        SessionManager,
        Effect.map(SessionManager, (sessions) => ({
          ...sessions,
          addTaint: (id: SessionId) => sessions.getOrCreate(id)
        }))
      ).pipe(Layer.provide(SessionManager.layer()))
      const policy = yield* ShieldPolicy.fromYaml(policyYaml)
      const engine = yield* Effect.provide(
        ShieldEngine,
        ShieldEngine.layer(policy).pipe(Layer.provide(forgetful), Layer.provide(PIIDetector.Default))
      )
      const outgoing = yield* engine.check(call("s1", "send_message", { text: "jane@example.org" }))
      expect([outgoing.decision, outgoing.ruleId]).toEqual(["BLOCK", TAINT_RULE_ID])
      const exec = yield* engine.check(call("s1", "exec", { cmd: "pay 4111 1111 1111 1111" }))
      expect([exec.decision, exec.ruleId]).toEqual(["BLOCK", "no-exec-after-card"])
    })
  )

  it.effect("arguments are scanned whole: nested values, object keys, numbers and custom patterns", () =>
    withEngine()((engine) =>
      Effect.gen(function* () {
        const verdict = yield* engine.check(
          call("s1", "search", {
            deep: [{ deeper: { list: ["x", { "jane@example.org": true }] } }],
            card: 4111111111111111,
            badge: `${"padding ".repeat(100_000)}EMP-123456`
          })
        )
        expect(verdict.piiDetected).toEqual(["EMAIL", "CREDIT_CARD", "CUSTOM"])
        expect(verdict.decision).toBe("ALLOW")
      })
    )
  )

  it.effect("arguments that are not plain JSON are read too: bytes, URLs, boxed strings, Dates", () =>
    withEngine()((engine) =>
      Effect.gen(function* () {
        const cases: ReadonlyArray<readonly [unknown, string]> = [
          [{ body: Buffer.from("contact jane@example.org") }, "EMAIL"],
          [{ body: new TextEncoder().encode("ssn 123-45-6789") }, "SSN"],
          [{ link: new URL("https://example.com/?mail=jane@example.org") }, "EMAIL"],
          [{ note: new String("card 4111 1111 1111 1111") }, "CREDIT_CARD"],
          [{ when: new Date(0), ip: "10.0.0.7" }, "IP_ADDRESS"]
        ]
        for (const [args, pii] of cases) {
          const verdict = yield* engine.check(call("s1", "search", args))
          expect(verdict.piiDetected, String(pii)).toContain(pii)
        }
      })
    )
  )

  it.effect("a block rule wins over the taint chain, which wins over an allow rule", () =>
    withEngine()((engine) =>
      Effect.gen(function* () {
        yield* engine.postCheck({ sessionId: "s1", tool: "read_file", result: "SSN 123-45-6789" })
        // email_send matches the allow rule, but the session is tainted and email_send is outgoing.
        const mail = yield* engine.check(call("s1", "email_send"))
        expect(mail.decision).toBe("BLOCK")
        expect(mail.ruleId).toBe(TAINT_RULE_ID)
        for (let i = 0; i < 10; i++) yield* engine.check(call("s2", "web_fetch"))
        yield* engine.postCheck({ sessionId: "s2", tool: "read_file", result: "jane@example.org" })
        // Both the limit and the taint chain apply: the block rule comes first.
        expect((yield* engine.check(call("s2", "web_fetch"))).ruleId).toBe("rate-limit-web")
        // An untainted session gets the allow rule, and other tools the default.
        const allowed = yield* engine.check(call("s3", "email_send"))
        expect([allowed.decision, allowed.ruleId, allowed.severity]).toEqual([
          "ALLOW",
          "allow-mail-to-self",
          "low"
        ])
        const fallback = yield* engine.check(call("s3", "read_file"))
        expect([fallback.decision, fallback.ruleId, fallback.severity]).toEqual(["ALLOW", null, "low"])
      })
    )
  )

  it.effect("rules in file order: the first matching block rule decides", () =>
    withEngine()((engine) =>
      Effect.gen(function* () {
        for (let i = 0; i < 10; i++) yield* engine.check(call("s1", "web_fetch"))
        for (let i = 0; i < 40; i++) yield* engine.check(call("s1", "search"))
        // Both rate-limit-web and total-budget match; rate-limit-web comes first.
        expect((yield* engine.check(call("s1", "web_fetch"))).ruleId).toBe("rate-limit-web")
        expect((yield* engine.check(call("s1", "search"))).ruleId).toBe("total-budget")
      })
    )
  )

  it.effect("a default verdict of block applies with no rule id and low severity", () =>
    withEngine(
      "shield_name: strict\ndefault_verdict: block\nrules:\n  - id: ok\n    when: { tool: search }\n    then: allow\n"
    )((engine, sessions) =>
      Effect.gen(function* () {
        const verdict = yield* engine.check(call("s1", "exec"))
        expect([verdict.decision, verdict.ruleId, verdict.severity]).toEqual(["BLOCK", null, "low"])
        expect((yield* engine.check(call("s1", "search"))).decision).toBe("ALLOW")
        expect(Option.getOrThrow(yield* sessions.get(SessionId.make("s1"))).totalCalls).toBe(1)
      })
    )
  )

  it.effect("invalid session ids and tool names are typed errors", () =>
    withEngine()((engine) =>
      Effect.gen(function* () {
        const badId = yield* Effect.flip(engine.check(call("", "web_fetch")))
        expect(badId).toBeInstanceOf(InvalidToolCall)
        expect(badId.field).toBe("sessionId")
        const badTool = yield* Effect.flip(engine.check(call("s1", "web fetch")))
        expect(badTool.field).toBe("tool")
        expect(badTool.message).toContain("tool")
        const badResult = yield* Effect.flip(engine.postCheck({ sessionId: "a\nb", tool: "x", result: null }))
        expect(badResult._tag).toBe("InvalidToolCall")
      })
    )
  )

  it.effect(
    "a full table of protected sessions, with no room to park one, gives a BLOCK, never an ALLOW",
    () =>
      withEngine(policyYaml, { maxSessions: 2, maxParkedBytes: 0 })((engine) =>
        Effect.gen(function* () {
          yield* engine.postCheck({ sessionId: "t1", tool: "read_file", result: "jane@example.org" })
          yield* engine.postCheck({ sessionId: "t2", tool: "read_file", result: "jane@example.org" })
          const verdict = yield* engine.check(call("new", "search"))
          expect(verdict.decision).toBe("BLOCK")
          expect(verdict.ruleId).toBe(CAPACITY_RULE_ID)
          const error = yield* Effect.flip(
            engine.postCheck({ sessionId: "new", tool: "read_file", result: "a@example.org" })
          )
          expect(error._tag).toBe("SessionCapacityExceeded")
        })
      )
  )

  it.effect("an unreachable session store fails closed: BLOCK, and postCheck fails", () =>
    Effect.gen(function* () {
      const down = new SessionStoreUnavailable({ operation: "test", message: "connection refused" })
      const failing = Effect.fail(down)
      const unavailable = Layer.succeed(SessionManager, {
        getOrCreate: () => failing,
        get: () => failing,
        increment: () => failing,
        addTaint: () => failing,
        getTaints: () => failing,
        decideAndRecord: () => failing,
        clearTaints: () => failing,
        remove: () => failing,
        cleanup: failing,
        stats: failing,
        subscribe: Effect.dieMessage("not used by the engine"),
        events: Stream.empty
      })
      const policy = yield* ShieldPolicy.fromYaml(policyYaml)
      const layer = ShieldEngine.layer(policy).pipe(
        Layer.provide(unavailable),
        Layer.provide(PIIDetector.Default)
      )
      const engine = yield* Effect.provide(ShieldEngine, layer)
      const verdict = yield* engine.check(call("s1", "search"))
      expect([verdict.decision, verdict.ruleId, verdict.severity]).toEqual([
        "BLOCK",
        STORE_RULE_ID,
        "critical"
      ])
      expect(verdict.message).toContain("connection refused")
      const error = yield* Effect.flip(
        engine.postCheck({ sessionId: "s1", tool: "x", result: "jane@example.org" })
      )
      expect(error).toBe(down)
      // With nothing to record, postCheck has nothing to fail on.
      expect(yield* engine.postCheck({ sessionId: "s1", tool: "x", result: "nothing here" })).toEqual([])
    })
  )
})
