/**
 * `npm start`: an `@effect/ai` agent whose toolkit is guarded by the shield, on the in-memory
 * layer. A scripted model (no network, no key) holds three conversations through `Chat`: one hits
 * its `web_fetch` limit, one reads a file with an email address in it and is then refused
 * `send_message`, one sends a card number to `exec` and is refused the shell. Prints each tool
 * call the model makes, the shield's verdict and what the model was told, then the statistics.
 */
import { readFileSync } from "node:fs"
import { Chat, Tool, Toolkit } from "@effect/ai"
import { Console, Effect, HashSet, Layer, Schema } from "effect"
import { guardToolkit, ShieldRefusal, withSession } from "../ai.js"
import { PIIDetector, SessionId, SessionManager, ShieldEngine, ShieldPolicy } from "../index.js"
import { type Step, scriptedModel } from "./scriptedModel.js"

const Assistant = guardToolkit(
  Toolkit.make(
    Tool.make("web_fetch", {
      description: "Fetches a web page",
      parameters: { url: Schema.String },
      success: Schema.String
    }),
    Tool.make("read_file", {
      description: "Reads a file of the workspace",
      parameters: { path: Schema.String },
      success: Schema.String
    }),
    Tool.make("send_message", {
      description: "Posts a message to a chat",
      parameters: { to: Schema.String, text: Schema.String },
      success: Schema.String
    }),
    Tool.make("exec", {
      description: "Runs a shell command",
      parameters: { cmd: Schema.String },
      success: Schema.String
    }),
    Tool.make("email_send", {
      description: "Sends an email",
      parameters: { to: Schema.String, body: Schema.String },
      success: Schema.String
    })
  )
)

const files: Readonly<Record<string, string>> = {
  "crm/customers.csv": "name,email\nJane Roe,jane.roe@example.org\n",
  "notes.txt": "nothing personal"
}

// The application's handlers, written as for any toolkit: the guard is in `Assistant`.
const AssistantTools = Assistant.toLayer({
  web_fetch: ({ url }) => Effect.succeed(`<p>the page at ${url}</p>`),
  read_file: ({ path }) => Effect.succeed(files[path] ?? `no such file: ${path}`),
  send_message: ({ to }) => Effect.succeed(`posted to ${to}`),
  exec: ({ cmd }) => Effect.succeed(`ran ${cmd}`),
  email_send: ({ to }) => Effect.succeed(`mailed ${to}`)
})

interface Conversation {
  readonly sessionId: string
  readonly user: string
  readonly model: ReadonlyArray<Step>
}

const fetch = (page: string): Step => ({ call: "web_fetch", params: { url: `https://example.com/${page}` } })

const conversations: ReadonlyArray<Conversation> = [
  {
    sessionId: "telegram:alice",
    user: "Summarise pages a to d of example.com and send me the summary.",
    model: [
      fetch("a"),
      fetch("b"),
      fetch("c"),
      fetch("d"),
      { call: "send_message", params: { to: "alice", text: "here is your summary of pages a to c" } },
      { say: "I summarised pages a to c; page d was refused." }
    ]
  },
  {
    sessionId: "slack:bob",
    user: "Post a summary of the customer list to #general.",
    model: [
      { call: "read_file", params: { path: "crm/customers.csv" } },
      { call: "send_message", params: { to: "#general", text: "one customer: Jane Roe" } },
      { call: "read_file", params: { path: "notes.txt" } },
      { say: "The shield refused to let me post from this conversation." }
    ]
  },
  {
    sessionId: "discord:carol",
    user: "Say hello, charge my card and mail my badge number to my boss.",
    model: [
      { call: "send_message", params: { to: "#general", text: "hello" } },
      { call: "exec", params: { cmd: "charge 4111 1111 1111 1111" } },
      { call: "exec", params: { cmd: "ls" } },
      { call: "email_send", params: { to: "boss", body: "badge EMP-123456" } },
      { say: "I said hello; the rest was refused." }
    ]
  }
]

/** One conversation: the user's message, then the model's turns until it stops calling tools. */
const converse = (conversation: Conversation) =>
  Effect.gen(function* () {
    const sessions = yield* SessionManager
    const id = SessionId.make(conversation.sessionId)
    const log = (line: string) => Console.log(`[${id}] ${line}`)
    const taintsNow = Effect.map(sessions.getTaints(id), (taints) =>
      [...HashSet.values(taints)].sort().join(", ")
    )
    const chat = yield* Chat.empty
    yield* log(`user: ${conversation.user}`)
    let taints = yield* taintsNow
    let response = yield* chat.generateText({ prompt: conversation.user, toolkit: Assistant })
    for (let turn = 1; turn < 20 && response.finishReason === "tool-calls"; turn++) {
      for (const call of response.toolCalls) {
        const result = response.toolResults.find((part) => part.id === call.id)
        yield* log(`model calls ${call.name} ${JSON.stringify(call.params)}`)
        yield* log(
          result?.result instanceof ShieldRefusal
            ? `  shield: BLOCK ${result.result.ruleId ?? "(default)"}`
            : "  shield: ALLOW"
        )
        yield* log(`  model is told: ${JSON.stringify(result?.encodedResult)}`)
      }
      const now = yield* taintsNow
      if (now !== taints) yield* log(`  session tainted: ${now}`)
      taints = now
      response = yield* chat.generateText({ prompt: [], toolkit: Assistant })
    }
    yield* log(`model says: ${response.text}`)
    yield* Console.log("")
  }).pipe(
    withSession(SessionId.make(conversation.sessionId)),
    Effect.provide(scriptedModel(conversation.model))
  )

const program = Effect.gen(function* () {
  const sessions = yield* SessionManager
  for (const conversation of conversations) yield* converse(conversation)
  const stats = yield* sessions.stats
  yield* Console.log(
    `sessions: ${stats.activeSessions} live (${stats.taintedSessions} tainted), ${stats.totalCalls} calls counted, ` +
      `${stats.evicted} evicted, ${stats.expired} expired`
  )
  for (const { sessionId } of conversations) {
    const taints = yield* sessions.getTaints(SessionId.make(sessionId))
    yield* Console.log(`  ${sessionId}: taints [${[...taints].sort().join(", ")}]`)
  }
})

const policyText = readFileSync(new URL("./policy.yaml", import.meta.url), "utf8")

const main = Effect.gen(function* () {
  const policy = yield* ShieldPolicy.fromYaml(policyText)
  yield* Console.log(
    `PolicyShield demo: policy "${policy.shieldName}" (${policy.rules.length} rules) guarding an @effect/ai toolkit, ` +
      "driven by a scripted model\n"
  )
  const shield = ShieldEngine.layer(policy).pipe(
    Layer.provideMerge(SessionManager.layer({ ttl: "30 minutes", maxSessions: 1000 })),
    Layer.provide(PIIDetector.Default)
  )
  yield* Effect.provide(program, Layer.merge(shield, AssistantTools))
})

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
