import { Buffer } from "node:buffer"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, HashSet, Layer, Option, Stream, TestClock } from "effect"
import {
  ARGS_TOO_LARGE_RULE_ID,
  ARGS_UNREADABLE_RULE_ID,
  CAPACITY_RULE_ID,
  InvalidToolCall,
  PIIDetector,
  type PIIType,
  SessionId,
  SessionManager,
  type SessionManagerOptions,
  SessionStoreUnavailable,
  ShieldEngine,
  type ShieldEngineOptions,
  ShieldPolicy,
  STORE_RULE_ID,
  TAINT_RULE_ID,
  ToolName
} from "../src/index.js"
import { falsePositiveCorpus } from "./support/falsePositiveCorpus.js"
import { runTs } from "./support/runNode.js"

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
  (yaml: string = policyYaml, options: SessionManagerOptions = {}, engineOptions?: ShieldEngineOptions) =>
  <A, E>(body: (engine: ShieldEngine["Type"], sessions: SessionManager["Type"]) => Effect.Effect<A, E>) =>
    Effect.gen(function* () {
      const policy = yield* ShieldPolicy.fromYaml(yaml)
      const layer = ShieldEngine.layer(policy, engineOptions).pipe(
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

  it.effect("arrays and maps are read as JSON sees them too: their toJSON counts", () =>
    withEngine()((engine) =>
      Effect.gen(function* () {
        const cases: ReadonlyArray<unknown> = [
          { list: Object.assign(["x"], { toJSON: () => "john@example.com" }) },
          { map: Object.assign(new Map([["k", "v"]]), { toJSON: () => ({ to: "john@example.com" }) }) },
          Object.assign(["x"], { toJSON: () => ["john@example.com"] }),
          // What JSON leaves out is read too: an array's other properties, an Error's message.
          { list: Object.assign(["x"], { note: "john@example.com" }) },
          { error: new Error("no mailbox john@example.com") },
          { error: new Error("wrapped", { cause: { to: "john@example.com" } }) }
        ]
        for (const [i, args] of cases.entries()) {
          expect((yield* engine.check(call(`s${i}`, "search", args))).piiDetected, String(i)).toEqual([
            "EMAIL"
          ])
        }
      })
    )
  )

  it.effect("arguments that throw while being read are blocked as unreadable, naming where", () =>
    withEngine()((engine, sessions) =>
      Effect.gen(function* () {
        const { proxy: revoked, revoke } = Proxy.revocable({}, {})
        revoke()
        const cases: ReadonlyArray<readonly [unknown, string]> = [
          [
            {
              user: {
                get email() {
                  throw new Error("no")
                }
              }
            },
            "args.user.email"
          ],
          [
            {
              user: new Proxy(
                { email: "x" },
                {
                  get: () => {
                    throw new Error("get")
                  }
                }
              )
            },
            // Every read of it throws, the lookup of its toJSON first.
            "args.user"
          ],
          [
            {
              user: new Proxy(
                {},
                {
                  ownKeys: () => {
                    throw new Error("keys")
                  }
                }
              )
            },
            "args.user"
          ],
          [{ items: [1, revoked] }, "args.items[1]"],
          [
            {
              date: {
                toJSON: () => {
                  throw new Error("json")
                }
              }
            },
            "args.date.toJSON()"
          ]
        ]
        for (const [i, [args, path]] of cases.entries()) {
          const verdict = yield* engine.check(call(`u${i}`, "search", args))
          expect([verdict.decision, verdict.ruleId, verdict.severity], path).toEqual([
            "BLOCK",
            ARGS_UNREADABLE_RULE_ID,
            "high"
          ])
          expect(verdict.message).toContain(path)
          // The session was not touched: the call is neither counted nor recorded.
          expect(Option.isNone(yield* sessions.get(SessionId.make(`u${i}`))), path).toBe(true)
          const failure = yield* Effect.flip(
            engine.postCheck({ sessionId: `r${i}`, tool: "read_file", result: args })
          )
          expect(failure, path).toBeInstanceOf(InvalidToolCall)
          expect((failure as InvalidToolCall).field, path).toBe("result")
          expect(failure.message).toContain(path.replace(/^args/, "result"))
        }
        // The call itself may be hostile: its fields are read as carefully.
        const hostileCall = {
          sessionId: "s1",
          tool: "search",
          get args(): unknown {
            throw new Error("no")
          }
        }
        const verdict = yield* engine.check(hostileCall)
        expect([verdict.ruleId, verdict.message.startsWith("args ")]).toEqual([ARGS_UNREADABLE_RULE_ID, true])
        const badId = yield* Effect.flip(
          engine.check({
            get sessionId(): string {
              throw new Error("no")
            },
            tool: "search",
            args: {}
          })
        )
        expect(badId.field).toBe("sessionId")
      })
    )
  )

  it.effect("over the scan budget a call is blocked and a result refused, never scanned in part", () =>
    Effect.gen(function* () {
      const budget = { maxScanNodes: 4, maxScanDepth: 2, maxScanBytes: 32 }
      const cases: ReadonlyArray<readonly [unknown, boolean, string]> = [
        // The input itself, the array and its two items: four values.
        [{ a: ["x", "y"] }, true, ""],
        [{ a: ["x", "y", "z"] }, false, "more than 4 values (maxScanNodes)"],
        [{ a: { b: "x" } }, true, ""],
        [{ a: { b: { c: "x" } } }, false, "nested more than 2 levels deep (maxScanDepth)"],
        // Keys count as text: "a" and 31 characters are 32 bytes; "é" is two.
        [{ a: "x".repeat(31) }, true, ""],
        [{ a: "x".repeat(32) }, false, "more than 32 bytes of text (maxScanBytes)"],
        [{ a: "é".repeat(16) }, false, "more than 32 bytes of text (maxScanBytes)"],
        // The data past the budget is never taken for absent: an address after it still blocks.
        [{ a: ["x", "y", "jane@example.org"] }, false, "(maxScanNodes)"]
      ]
      for (const [i, [args, within, message]] of cases.entries()) {
        yield* withEngine(
          policyYaml,
          {},
          budget
        )((engine, sessions) =>
          Effect.gen(function* () {
            const verdict = yield* engine.check(call("s1", "search", args))
            const post = yield* Effect.either(engine.postCheck({ sessionId: "s2", tool: "x", result: args }))
            if (within) {
              expect(verdict.decision, String(i)).toBe("ALLOW")
              expect(post._tag, String(i)).toBe("Right")
            } else {
              expect([verdict.decision, verdict.ruleId, verdict.severity], String(i)).toEqual([
                "BLOCK",
                ARGS_TOO_LARGE_RULE_ID,
                "high"
              ])
              expect(verdict.message, String(i)).toContain(message)
              expect(Option.isNone(yield* sessions.get(SessionId.make("s1"))), String(i)).toBe(true)
              if (post._tag === "Right") throw new Error(`postCheck scanned ${i} in part`)
              expect([post.left._tag, (post.left as InvalidToolCall).field]).toEqual([
                "InvalidToolCall",
                "result"
              ])
              expect(post.left.message, String(i)).toContain(message)
            }
          })
        )
      }
    })
  )

  it.effect("within the default budget a result of several megabytes is scanned whole", () =>
    withEngine()((engine) =>
      Effect.gen(function* () {
        const result = { page: `${"lorem ipsum ".repeat(300_000)}card 4111 1111 1111 1111` }
        expect(result.page.length).toBeGreaterThan(3_000_000)
        expect(yield* engine.postCheck({ sessionId: "s1", tool: "web_fetch", result })).toEqual([
          "CREDIT_CARD"
        ])
      })
    )
  )

  it.effect("invalid scan budget options make the layer die, naming the option", () =>
    Effect.gen(function* () {
      const policy = yield* ShieldPolicy.fromYaml(policyYaml)
      for (const [options, name] of [
        [{ maxScanNodes: 0 }, "maxScanNodes"],
        [{ maxScanDepth: 1.5 }, "maxScanDepth"],
        [{ maxScanBytes: Number.POSITIVE_INFINITY }, "maxScanBytes"],
        [{ maxScanBytes: "8 MiB" as unknown as number }, "maxScanBytes"]
      ] as const) {
        const exit = yield* Effect.exit(
          Effect.provide(
            ShieldEngine,
            ShieldEngine.layer(policy, options).pipe(
              Layer.provide(SessionManager.Default),
              Layer.provide(PIIDetector.Default)
            )
          )
        )
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause), name).toBe(true)
        if (Exit.isFailure(exit)) expect(Cause.pretty(exit.cause)).toContain(`"${name}"`)
      }
    })
  )

  // Each through check: found in the verdict, and the session tainted so that an outgoing tool
  // is blocked next.
  const evasions: ReadonlyArray<readonly [PIIType, unknown]> = [
    ["CREDIT_CARD", { text: "4111.1111.1111.1111" }],
    ["CREDIT_CARD", { text: "4111/1111/1111/1111" }],
    ["CREDIT_CARD", { text: "4111  1111  1111  1111" }],
    ["CREDIT_CARD", { text: "4111\u00a01111\u00a01111\u00a01111" }],
    ["CREDIT_CARD", { text: "4111\t1111\t1111\t1111" }],
    ["CREDIT_CARD", { text: "4111\n1111\n1111\n1111" }],
    ["CREDIT_CARD", { text: "４１１１ １１１１ １１１１ １１１１" }],
    ["CREDIT_CARD", { text: "٤١١١ ١١١١ ١١١١ ١١١١" }],
    ["CREDIT_CARD", { text: "4111\u200b1111\u200b1111\u200b1111" }],
    ["CREDIT_CARD", { text: "4111 \u200b1111 \u200b1111 \u200b1111" }],
    ["CREDIT_CARD", { amount: 12, card: 4111111111111111 }],
    ["IBAN", { text: "gb82 west 1234 5698 7654 32" }],
    ["IBAN", { text: "gb82-west-1234-5698-7654-32" }],
    ["SSN", { text: "ssn 123 45 6789" }],
    ["EMAIL", { to: "john＠example.com" }],
    ["EMAIL", { to: "john@exämple.com" }],
    ["EMAIL", { url: "https://x.test/?to=john%40example.com" }],
    ["EMAIL", { body: Buffer.from("write to john@example.com", "utf16le") }],
    ["CREDIT_CARD", { body: Buffer.from("card 4111 1111 1111 1111", "utf16le") }],
    ["INN", { client: { inn: "7707083893" } }],
    ["INN", { clientInn: 500100732259 }],
    ["SNILS", { snils: "11223344595" }],
    ["PASSPORT", { passport: { number: "533380006" } }],
    ["RU_PASSPORT", { document: "паспорт 4506 123456" }],
    ["DATE_OF_BIRTH", { person: { dateOfBirth: "1990-05-17" } }],
    ["DATE_OF_BIRTH", { fields: new Map([["dob", "17.05.1990"]]) }],
    ["RU_PHONE", { phone: "8 (912) 345-67-89" }]
  ]

  it.effect("personal data written to evade the detector still taints the session", () =>
    withEngine()((engine, sessions) =>
      Effect.gen(function* () {
        for (const [i, [type, args]] of evasions.entries()) {
          const id = `e${i}`
          const verdict = yield* engine.check(call(id, "search", args))
          expect(verdict.piiDetected, `${i} ${type}`).toContain(type)
          expect(HashSet.has(yield* sessions.getTaints(SessionId.make(id)), type), `${i} ${type}`).toBe(true)
          const next = yield* engine.check(call(id, "send_message", { text: "hello" }))
          expect([next.decision, next.ruleId], `${i} ${type}`).toEqual(["BLOCK", TAINT_RULE_ID])
        }
      })
    )
  )

  it.effect("ordinary tool arguments taint nothing", () =>
    withEngine()((engine, sessions) =>
      Effect.gen(function* () {
        const args = {
          lines: falsePositiveCorpus,
          byKey: Object.fromEntries(falsePositiveCorpus.map((text, i) => [`field_${i}`, text])),
          numbers: [1700000000, 1700000000000, 4111, 7707083893, 12.5, 2024]
        }
        const verdict = yield* engine.check(call("s1", "send_message", args))
        expect(verdict.piiDetected).toEqual([])
        expect(verdict.decision).toBe("ALLOW")
        expect(HashSet.size(yield* sessions.getTaints(SessionId.make("s1")))).toBe(0)
      })
    )
  )

  it.effect("custom patterns match the text as written and as normalized", () =>
    withEngine()((engine) =>
      Effect.gen(function* () {
        for (const badge of ["EMP-123456", "EMP-１２３４５６", "EMP\u200b-123456"]) {
          expect((yield* engine.check(call("s1", "search", { badge }))).piiDetected, badge).toEqual([
            "CUSTOM"
          ])
        }
      })
    )
  )

  // The hostile shapes run in a child process (see support/hostileArgs.ts): a regression that
  // hangs or runs out of memory is killed and named after a generous limit instead of stalling
  // the test run. Nothing here measures how fast they are.
  it("no argument or result can make check or postCheck die, hang or run out of memory", async () => {
    const script = fileURLToPath(new URL("./support/hostileArgs.ts", import.meta.url))
    const run = await runTs(script, { timeout: 120_000, flags: ["--max-old-space-size=1024"] })
    const lines = run.stdout.trim().split("\n")
    if (run.status !== 0) throw new Error(`stopped at: ${lines.at(-1)}\n${run.stderr}`)
    const results = new Map(
      lines
        .filter((l) => l.startsWith("done "))
        .map((l) => {
          const [name, verdict, post] = l.slice("done ".length).split(" | ")
          return [name!, [verdict, post]] as const
        })
    )
    const unreadable = [`BLOCK ${ARGS_UNREADABLE_RULE_ID} high`, "fail InvalidToolCall result"]
    const tooLarge = [`BLOCK ${ARGS_TOO_LARGE_RULE_ID} high`, "fail InvalidToolCall result"]
    expect(Object.fromEntries(results)).toEqual({
      "a throwing getter": unreadable,
      "a Proxy whose get trap throws": unreadable,
      "a Proxy whose ownKeys trap throws": unreadable,
      "a Proxy whose getPrototypeOf trap throws": unreadable,
      "a revoked Proxy": unreadable,
      "a toJSON that throws": unreadable,
      "a getter that overflows the stack": unreadable,
      "a Promise": unreadable,
      "a fresh object from toJSON each time": tooLarge,
      "a fresh object from a getter each time": tooLarge,
      "a Proxy with a fresh object on every get": tooLarge,
      "an object with a million keys": tooLarge,
      "250,000 one-character strings": tooLarge,
      "an array claiming 2^32 - 1 items": tooLarge,
      "a Map of a million entries": tooLarge,
      "nesting 100,000 deep": tooLarge,
      "a 9 MiB string": tooLarge,
      "a million numbers in a Float64Array": tooLarge,
      "a cycle holding an address": [`BLOCK ${TAINT_RULE_ID} high`, "ok [EMAIL]"],
      "5 MB of text with an address at its end": [`BLOCK ${TAINT_RULE_ID} high`, "ok [EMAIL]"],
      "4 MiB of bytes with a card number at their end": [`BLOCK ${TAINT_RULE_ID} high`, "ok [CREDIT_CARD]"],
      "100,000 strings within the budget": ["ALLOW - low", "ok []"]
    })
    expect(lines[0]).toBe(`inputs ${results.size}`)
  }, 130_000)

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
