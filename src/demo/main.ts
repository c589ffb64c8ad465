/**
 * `npm start`: a scripted agent run on the in-memory layer. Three conversations call tools;
 * the shield limits one, taints another from a tool's result and then blocks its outgoing
 * tools, and leaves the third alone. Prints each call with its verdict, then the statistics.
 */
import { readFileSync } from "node:fs"
import { Console, Effect, Layer } from "effect"
import { PIIDetector, SessionId, SessionManager, ShieldEngine, ShieldPolicy } from "../index.js"

interface Step {
  readonly sessionId: string
  readonly tool: string
  readonly args: unknown
  /** What the tool returns when it is allowed to run. */
  readonly result?: unknown
}

const script: ReadonlyArray<Step> = [
  { sessionId: "telegram:alice", tool: "web_fetch", args: { url: "https://example.com/a" } },
  { sessionId: "telegram:alice", tool: "web_fetch", args: { url: "https://example.com/b" } },
  { sessionId: "telegram:alice", tool: "web_fetch", args: { url: "https://example.com/c" } },
  { sessionId: "telegram:alice", tool: "web_fetch", args: { url: "https://example.com/d" } },
  {
    sessionId: "slack:bob",
    tool: "read_file",
    args: { path: "crm/customers.csv" },
    result: "name,email\nJane Roe,jane.roe@example.org\n"
  },
  { sessionId: "slack:bob", tool: "send_message", args: { to: "#general", text: "summary ready" } },
  { sessionId: "slack:bob", tool: "read_file", args: { path: "notes.txt" }, result: "nothing personal" },
  { sessionId: "discord:carol", tool: "send_message", args: { to: "#general", text: "hello" } },
  { sessionId: "discord:carol", tool: "exec", args: { cmd: "charge 4111 1111 1111 1111" } },
  { sessionId: "discord:carol", tool: "exec", args: { cmd: "ls" } },
  { sessionId: "discord:carol", tool: "email_send", args: { to: "boss", body: "badge EMP-123456" } },
  { sessionId: "telegram:alice", tool: "send_message", args: { to: "alice", text: "here is your summary" } }
]

// Width 0 is the last column, printed whole.
const pad = (text: string, width: number) =>
  width === 0 ? text : text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width)

const row = (cells: ReadonlyArray<readonly [string, number]>) =>
  cells.map(([text, width]) => pad(text, width)).join(" ")

const columns = [
  ["#", 3],
  ["session", 15],
  ["tool", 13],
  ["verdict", 8],
  ["rule", 22],
  ["PII in args", 12],
  ["PII in result", 14],
  ["message", 0]
] as const

const program = Effect.gen(function* () {
  const engine = yield* ShieldEngine
  const sessions = yield* SessionManager
  yield* Console.log(row(columns))
  yield* Console.log(row(columns.map(([, width]) => ["-".repeat(width || 7), width] as const)))
  for (const [index, step] of script.entries()) {
    const verdict = yield* engine.check(step)
    let resultPii = ""
    if (verdict.decision === "ALLOW" && step.result !== undefined) {
      const found = yield* engine.postCheck({
        sessionId: step.sessionId,
        tool: step.tool,
        result: step.result
      })
      resultPii = found.join(", ")
    }
    yield* Console.log(
      row([
        [String(index + 1), 3],
        [step.sessionId, 15],
        [step.tool, 13],
        [verdict.decision, 8],
        [verdict.ruleId ?? "(default)", 22],
        [verdict.piiDetected.join(", "), 12],
        [resultPii, 14],
        [verdict.message, 0]
      ])
    )
  }
  const stats = yield* sessions.stats
  yield* Console.log("")
  yield* Console.log(
    `sessions: ${stats.activeSessions} live (${stats.taintedSessions} tainted), ${stats.totalCalls} calls counted, ` +
      `${stats.evicted} evicted, ${stats.expired} expired`
  )
  for (const id of ["telegram:alice", "slack:bob", "discord:carol"]) {
    const taints = yield* sessions.getTaints(SessionId.make(id))
    yield* Console.log(`  ${id}: taints [${[...taints].sort().join(", ")}]`)
  }
})

const policyText = readFileSync(new URL("./policy.yaml", import.meta.url), "utf8")

const main = Effect.gen(function* () {
  const policy = yield* ShieldPolicy.fromYaml(policyText)
  yield* Console.log(`PolicyShield demo: policy "${policy.shieldName}", ${policy.rules.length} rules\n`)
  const sessionsLayer = SessionManager.layer({ ttl: "30 minutes", maxSessions: 1000 })
  const app = ShieldEngine.layer(policy).pipe(
    Layer.provideMerge(sessionsLayer),
    Layer.provide(PIIDetector.Default)
  )
  yield* Effect.provide(program, app)
})

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
