import { Buffer } from "node:buffer"
import { Chat, LanguageModel, type Prompt, Tool, Toolkit } from "@effect/ai"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, HashSet, Layer, Redacted, Ref, Schema, Stream } from "effect"
import {
  CurrentSession,
  type GuardedTool,
  guardToolkit,
  INVALID_CALL_RULE_ID,
  NO_SESSION_RULE_ID,
  RESULT_WITHHELD_RULE_ID,
  ShieldRefusal,
  withSession
} from "../src/ai.js"
import {
  InvalidToolCall,
  PIIDetector,
  SessionCapacityExceeded,
  SessionId,
  SessionManager,
  SessionStoreUnavailable,
  ShieldEngine,
  ShieldPolicy,
  TAINT_RULE_ID
} from "../src/index.js"
import {
  calls,
  converse,
  finish,
  scriptedModel,
  type Turn,
  text,
  toolCall,
  toolResultsIn
} from "./support/scriptedModel.js"

const policyYaml = `
shield_name: ai-test
default_verdict: allow
rules:
  - id: web-limit
    when:
      tool: web_fetch
      session:
        tool_count.web_fetch: { gte: 3 }
    then: block
    message: web_fetch limit reached
taint_chain:
  enabled: true
  outgoing_tools: [send_message, web_fetch]
`

class LookupFailed extends Schema.TaggedError<LookupFailed>()("LookupFailed", { message: Schema.String }) {}

const ReadFile = Tool.make("read_file", {
  description: "Reads a file of the workspace",
  parameters: { path: Schema.String },
  success: Schema.String
})
const SendMessage = Tool.make("send_message", {
  description: "Posts a message to a channel",
  parameters: { to: Schema.String, text: Schema.String },
  success: Schema.Literal("sent")
})
const WebFetch = Tool.make("web_fetch", { parameters: { url: Schema.String }, success: Schema.String })
const LookupUser = Tool.make("lookup_user", {
  parameters: { name: Schema.String },
  success: Schema.String,
  failure: LookupFailed
})

const Tools = Toolkit.make(ReadFile, SendMessage, WebFetch, LookupUser)
const Guarded = guardToolkit(Tools)

const files: Readonly<Record<string, string>> = {
  "crm/customers.csv": "name,email\nJane Roe,jane.roe@example.org\n",
  "notes.txt": "nothing personal here"
}

/** The application's plain handlers; each records that it ran, as `tool:argument`. */
const handlers = (ran: Ref.Ref<ReadonlyArray<string>>) => {
  const record = (entry: string) => Ref.update(ran, (entries) => [...entries, entry])
  return {
    read_file: ({ path }: { readonly path: string }) =>
      Effect.as(record(`read_file:${path}`), files[path] ?? ""),
    send_message: ({ to }: { readonly to: string }) =>
      Effect.as(record(`send_message:${to}`), "sent" as const),
    web_fetch: ({ url }: { readonly url: string }) => Effect.as(record(`web_fetch:${url}`), `page ${url}`),
    lookup_user: ({ name }: { readonly name: string }) =>
      Effect.zipRight(
        record(`lookup_user:${name}`),
        Effect.fail(new LookupFailed({ message: `no account for ${name}; ask jane.roe@example.org` }))
      )
  }
}

const sessionsLayer = SessionManager.layer({ maxSessions: 100 })

/** The engine on the test policy, with the session layer given (it stays visible to the test). */
const shieldOn = (sessions: Layer.Layer<SessionManager>) =>
  Layer.unwrapEffect(
    Effect.map(Effect.orDie(ShieldPolicy.fromYaml(policyYaml)), (policy) =>
      ShieldEngine.layer(policy).pipe(Layer.provideMerge(sessions), Layer.provide(PIIDetector.Default))
    )
  )

const bob = SessionId.make("slack:bob")
const carol = SessionId.make("slack:carol")

const taintsOf = (id: SessionId) =>
  Effect.flatMap(SessionManager, (sessions) => Effect.map(sessions.getTaints(id), HashSet.toValues))

/** What the model was told in its n-th prompt (0-based), as plain data. */
const toldIn = (prompts: ReadonlyArray<Prompt.Prompt>, n: number) =>
  toolResultsIn(prompts[n]!).map((part) => ({
    name: part.name,
    isFailure: part.isFailure,
    result: part.result
  }))

const refusalOf = (ruleId: string | null, message: unknown = expect.any(String)) => ({
  _tag: "ShieldRefusal",
  decision: "BLOCK",
  ruleId,
  message
})

/** Runs one scripted conversation with the guarded toolkit and the plain handlers, in one session. */
const conversation = (turns: ReadonlyArray<Turn>, session: SessionId | undefined) =>
  Effect.gen(function* () {
    const ran = yield* Ref.make<ReadonlyArray<string>>([])
    const model = yield* scriptedModel(turns)
    const talk = Effect.flatMap(Chat.empty, (chat) => converse(chat, "go", Guarded))
    const response = yield* (session === undefined ? talk : withSession(talk, session)).pipe(
      Effect.provide(Layer.merge(model.layer, Guarded.toLayer(handlers(ran))))
    )
    return { response, ran: yield* Ref.get(ran), prompts: yield* model.prompts }
  })

describe("guardToolkit", () => {
  it.effect(
    "a result with personal data taints the session, and the next outgoing call is refused unrun",
    () =>
      Effect.gen(function* () {
        const { response, ran, prompts } = yield* conversation(
          [
            calls(toolCall("read_file", { path: "crm/customers.csv" })),
            calls(toolCall("send_message", { to: "#general", text: "summary ready" })),
            [text("I could not post it."), finish("stop")]
          ],
          bob
        )
        expect(ran).toEqual(["read_file:crm/customers.csv"])
        expect(yield* taintsOf(bob)).toEqual(["EMAIL"])
        // The allowed read reached the model; the refusal took the place of send_message's result.
        expect(toldIn(prompts, 1)).toEqual([
          { name: "read_file", isFailure: false, result: files["crm/customers.csv"] }
        ])
        expect(toldIn(prompts, 2)).toEqual([
          { name: "read_file", isFailure: false, result: files["crm/customers.csv"] },
          { name: "send_message", isFailure: true, result: refusalOf(TAINT_RULE_ID) }
        ])
        expect(response.text).toBe("I could not post it.")
      }).pipe(Effect.provide(shieldOn(sessionsLayer)))
  )

  it.effect("calls past a tool_count limit are refused and their handler never runs", () =>
    Effect.gen(function* () {
      const fetch = (page: string) => toolCall("web_fetch", { url: `https://example.com/${page}` })
      const { ran, prompts } = yield* conversation(
        [calls(fetch("a"), fetch("b")), calls(fetch("c"), fetch("d"), fetch("e"))],
        bob
      )
      expect(ran).toEqual(["a", "b", "c"].map((page) => `web_fetch:https://example.com/${page}`))
      expect(toldIn(prompts, 2).slice(2)).toEqual([
        { name: "web_fetch", isFailure: false, result: "page https://example.com/c" },
        { name: "web_fetch", isFailure: true, result: refusalOf("web-limit") },
        { name: "web_fetch", isFailure: true, result: refusalOf("web-limit") }
      ])
    }).pipe(Effect.provide(shieldOn(sessionsLayer)))
  )

  it.effect("two conversations at once stay apart: only the tainted one is refused", () =>
    Effect.gen(function* () {
      // Carol sends only once Bob's session is tainted, so a shared session would refuse her too.
      const bobTainted = yield* Deferred.make<void>()
      const bobAsks = [
        calls(toolCall("read_file", { path: "crm/customers.csv" })),
        Effect.as(
          Deferred.succeed(bobTainted, undefined),
          calls(toolCall("send_message", { to: "#bob", text: "hi" }))
        )
      ]
      const carolAsks = [
        calls(toolCall("read_file", { path: "notes.txt" })),
        Effect.as(Deferred.await(bobTainted), calls(toolCall("send_message", { to: "#carol", text: "hi" })))
      ]
      const [forBob, forCarol] = yield* Effect.all(
        [conversation(bobAsks, bob), conversation(carolAsks, carol)],
        {
          concurrency: 2
        }
      )
      expect(forBob.ran).toEqual(["read_file:crm/customers.csv"])
      expect(forCarol.ran).toEqual(["read_file:notes.txt", "send_message:#carol"])
      expect(toldIn(forBob.prompts, 2)[1]).toEqual({
        name: "send_message",
        isFailure: true,
        result: refusalOf(TAINT_RULE_ID)
      })
      expect(yield* taintsOf(carol)).toEqual([])
    }).pipe(Effect.provide(shieldOn(sessionsLayer)))
  )

  it.effect("a call without a session is refused with a clear message, its handler unrun", () =>
    Effect.gen(function* () {
      const { ran, prompts } = yield* conversation(
        [calls(toolCall("read_file", { path: "notes.txt" }))],
        undefined
      )
      expect(ran).toEqual([])
      expect(toldIn(prompts, 1)).toEqual([
        {
          name: "read_file",
          isFailure: true,
          result: refusalOf(NO_SESSION_RULE_ID, expect.stringContaining("withSession(sessionId)"))
        }
      ])
      expect((yield* Effect.flatMap(SessionManager, (s) => s.stats)).activeSessions).toBe(0)
    }).pipe(Effect.provide(shieldOn(sessionsLayer)))
  )

  it.effect("a chat keeps the session it was created in, and a session set around a call comes first", () =>
    Effect.gen(function* () {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const model = yield* scriptedModel([
        calls(toolCall("read_file", { path: "crm/customers.csv" })),
        calls(toolCall("read_file", { path: "crm/customers.csv" }))
      ])
      yield* Effect.gen(function* () {
        const chat = yield* withSession(Chat.empty, bob)
        yield* chat.generateText({ prompt: "go", toolkit: Guarded })
        yield* withSession(chat.generateText({ prompt: "again", toolkit: Guarded }), carol)
      }).pipe(Effect.provide(Layer.merge(model.layer, Guarded.toLayer(handlers(ran)))))
      expect(yield* Ref.get(ran)).toHaveLength(2)
      expect(yield* taintsOf(bob)).toEqual(["EMAIL"])
      expect(yield* taintsOf(carol)).toEqual(["EMAIL"])
    }).pipe(Effect.provide(shieldOn(sessionsLayer)))
  )

  it.effect("a result whose taint cannot be recorded is withheld from the model", () =>
    Effect.gen(function* () {
      const { ran, prompts } = yield* conversation(
        [calls(toolCall("read_file", { path: "crm/customers.csv" })), [text("ok"), finish("stop")]],
        bob
      )
      expect(ran).toEqual(["read_file:crm/customers.csv"])
      expect(toldIn(prompts, 1)).toEqual([
        { name: "read_file", isFailure: true, result: refusalOf(RESULT_WITHHELD_RULE_ID) }
      ])
      expect(JSON.stringify(prompts)).not.toContain("jane.roe")
    }).pipe(Effect.provide(shieldOn(storeFailingTaints)))
  )

  for (const failure of [
    new InvalidToolCall({ field: "tool", message: "cannot read the result jane.roe@example.org" }),
    new SessionCapacityExceeded({ reason: "sessions", sessionId: bob, limit: 1 }),
    new SessionStoreUnavailable({ operation: "addTaint", message: "jane.roe@example.org: connection lost" })
  ]) {
    it.effect(`every postCheck failure withholds the result, without quoting it (${failure._tag})`, () =>
      Effect.gen(function* () {
        const { ran, prompts } = yield* conversation(
          [calls(toolCall("read_file", { path: "notes.txt" }))],
          bob
        )
        expect(ran).toEqual(["read_file:notes.txt"])
        expect(toldIn(prompts, 1)).toEqual([
          { name: "read_file", isFailure: true, result: refusalOf(RESULT_WITHHELD_RULE_ID) }
        ])
        expect(JSON.stringify(prompts)).not.toMatch(/nothing personal|jane\.roe/)
      }).pipe(Effect.provide(shieldOn(sessionsLayer).pipe(withPostCheckFailing(failure))))
    )
  }

  it.effect("a tool's own failure reaches the model, and its personal data taints the session", () =>
    Effect.gen(function* () {
      const { ran, prompts } = yield* conversation(
        [
          calls(toolCall("lookup_user", { name: "jane" })),
          calls(toolCall("send_message", { to: "#general", text: "found her" }))
        ],
        bob
      )
      expect(ran).toEqual(["lookup_user:jane"])
      expect(toldIn(prompts, 2)).toEqual([
        {
          name: "lookup_user",
          isFailure: true,
          result: { _tag: "LookupFailed", message: "no account for jane; ask jane.roe@example.org" }
        },
        { name: "send_message", isFailure: true, result: refusalOf(TAINT_RULE_ID) }
      ])
    }).pipe(Effect.provide(shieldOn(sessionsLayer)))
  )

  it.effect("personal data is found in a result's encoded form and in its decoded form", () =>
    Effect.gen(function* () {
      // The model reads base64 of the first, and the plain text behind the second's redaction.
      const AsBase64 = Tool.make("as_base64", { success: Schema.StringFromBase64 })
      const Redacting = Tool.make("redacting", { success: Schema.Redacted(Schema.String) })
      const guarded = guardToolkit(Toolkit.make(AsBase64, Redacting))
      const live = guarded.toLayer({
        as_base64: () => Effect.succeed("jane.roe@example.org"),
        redacting: () => Effect.succeed(Redacted.make("+1 415 555 0132 or 4111 1111 1111 1111"))
      })
      const model = yield* scriptedModel([calls(toolCall("as_base64", {}), toolCall("redacting", {}))])
      yield* Effect.flatMap(Chat.empty, (chat) => converse(chat, "go", guarded)).pipe(
        withSession(bob),
        Effect.provide(Layer.merge(model.layer, live))
      )
      const told = toldIn(yield* model.prompts, 1)
      expect(told.map((part) => part.result)).toEqual([
        Buffer.from("jane.roe@example.org").toString("base64"),
        "+1 415 555 0132 or 4111 1111 1111 1111"
      ])
      expect(yield* taintsOf(bob)).toEqual(expect.arrayContaining(["EMAIL", "CREDIT_CARD"]))
    }).pipe(Effect.provide(shieldOn(sessionsLayer)))
  )

  it.effect("handlers provided through the original toolkit are guarded all the same", () =>
    Effect.gen(function* () {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const model = yield* scriptedModel([
        calls(
          toolCall("read_file", { path: "crm/customers.csv" }),
          toolCall("send_message", { to: "#x", text: "y" })
        )
      ])
      yield* Effect.flatMap(Chat.empty, (chat) => converse(chat, "go", Guarded)).pipe(
        withSession(bob),
        Effect.provide(Layer.merge(model.layer, Tools.toLayer(handlers(ran))))
      )
      expect(yield* Ref.get(ran)).toEqual(["read_file:crm/customers.csv"])
    }).pipe(Effect.provide(shieldOn(sessionsLayer)))
  )

  it.effect("streamText is guarded too", () =>
    Effect.gen(function* () {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const model = yield* scriptedModel([
        calls(
          toolCall("read_file", { path: "crm/customers.csv" }),
          toolCall("send_message", { to: "#x", text: "y" })
        )
      ])
      const parts = yield* LanguageModel.streamText({ prompt: "go", toolkit: Guarded }).pipe(
        Stream.runCollect,
        withSession(bob),
        Effect.provide(Layer.merge(model.layer, Guarded.toLayer(handlers(ran))))
      )
      expect(yield* Ref.get(ran)).toEqual(["read_file:crm/customers.csv"])
      const results = Chunk.toArray(parts).filter((part) => part.type === "tool-result")
      expect(results.map((part) => part.result instanceof ShieldRefusal)).toEqual([false, true])
    }).pipe(Effect.provide(shieldOn(sessionsLayer)))
  )

  it.effect("a tool whose name the shield cannot read is refused, its handler unrun", () =>
    Effect.gen(function* () {
      const Spaced = Tool.make("send message", { parameters: { text: Schema.String } })
      const guarded = guardToolkit(Toolkit.make(Spaced))
      const ran = yield* Ref.make(0)
      const model = yield* scriptedModel([calls(toolCall("send message", { text: "hi" }))])
      yield* Effect.flatMap(Chat.empty, (chat) => converse(chat, "go", guarded)).pipe(
        withSession(bob),
        Effect.provide(
          Layer.merge(model.layer, guarded.toLayer({ "send message": () => Ref.update(ran, (n) => n + 1) }))
        )
      )
      expect(yield* Ref.get(ran)).toBe(0)
      expect(toldIn(yield* model.prompts, 1)).toEqual([
        { name: "send message", isFailure: true, result: refusalOf(INVALID_CALL_RULE_ID) }
      ])
    }).pipe(Effect.provide(shieldOn(sessionsLayer)))
  )

  it.effect(
    "a call whose parameters do not decode fails the generation, as in @effect/ai, and is not counted",
    () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(conversation([calls(toolCall("send_message", { to: 42 }))], bob))
        expect(error._tag).toBe("MalformedOutput")
        expect((yield* Effect.flatMap(SessionManager, (s) => s.stats)).totalCalls).toBe(0)
      }).pipe(Effect.provide(shieldOn(sessionsLayer)))
  )

  it.effect("a toolkit merged from a guarded one and guarded again checks each call once", () =>
    Effect.gen(function* () {
      const Ping = Tool.make("ping", { success: Schema.Literal("pong") })
      const merged = guardToolkit(Toolkit.merge(Guarded, Toolkit.make(Ping)))
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const fetch = (page: string) => toolCall("web_fetch", { url: page })
      const model = yield* scriptedModel([
        calls(fetch("a"), fetch("b"), fetch("c"), fetch("d"), toolCall("ping", {}))
      ])
      yield* Effect.flatMap(Chat.empty, (chat) => converse(chat, "go", merged)).pipe(
        withSession(bob),
        Effect.provide(
          Layer.merge(
            model.layer,
            merged.toLayer({
              ...handlers(ran),
              ping: () =>
                Effect.as(
                  Ref.update(ran, (r) => [...r, "ping"]),
                  "pong" as const
                )
            })
          )
        )
      )
      expect(yield* Ref.get(ran)).toEqual(["web_fetch:a", "web_fetch:b", "web_fetch:c", "ping"])
      expect(toldIn(yield* model.prompts, 1).map((part) => part.isFailure)).toEqual([
        false,
        false,
        false,
        true,
        false
      ])
      expect((yield* Effect.flatMap(SessionManager, (s) => s.stats)).totalCalls).toBe(4)
    }).pipe(Effect.provide(shieldOn(sessionsLayer)))
  )

  it("offers the model the same tools, returning their failures, and leaves provider-defined tools as they are", () => {
    const WebSearch = Tool.providerDefined({
      id: "test.web_search",
      toolkitName: "WebSearch",
      providerName: "web_search",
      args: {}
    })({})
    const guarded = guardToolkit(Toolkit.make(ReadFile, WebSearch, LookupUser))
    const refusal = new ShieldRefusal({ decision: "BLOCK", ruleId: null, message: "" })
    for (const [tool, original] of [
      [guarded.tools.read_file, ReadFile],
      [guarded.tools.lookup_user, LookupUser]
    ] as const) {
      expect(tool.name).toBe(original.name)
      expect(tool.description).toBe(original.description)
      expect(Tool.getJsonSchema(tool as Tool.Any as typeof ReadFile)).toEqual(
        Tool.getJsonSchema(original as Tool.Any as typeof ReadFile)
      )
      expect(tool.failureMode).toBe("return")
      expect(Schema.is(tool.failureSchema as Schema.Schema<unknown>)(refusal)).toBe(true)
    }
    expect(Schema.is(guarded.tools.lookup_user.failureSchema)(new LookupFailed({ message: "x" }))).toBe(true)
    expect(guarded.tools.WebSearch).toBe(WebSearch)
  })

  it("keeps the handlers' types precise", () => {
    type Handlers = Toolkit.HandlersFrom<Toolkit.Tools<typeof Guarded>>
    expectTypeOf<Parameters<Handlers["read_file"]>[0]>().toEqualTypeOf<{ readonly path: string }>()
    expectTypeOf<Effect.Effect.Success<ReturnType<Handlers["send_message"]>>>().toEqualTypeOf<"sent">()
    expectTypeOf<Effect.Effect.Error<ReturnType<Handlers["lookup_user"]>>>().toEqualTypeOf<
      LookupFailed | ShieldRefusal
    >()
    // A guarded tool's failures are returned to the model, never raised out of the generation.
    expectTypeOf<Tool.HandlerError<GuardedTool<typeof LookupUser>>>().toEqualTypeOf<never>()
    expectTypeOf<Tool.HandlerError<typeof LookupUser>>().toEqualTypeOf<LookupFailed>()
    expectTypeOf(CurrentSession).not.toBeAny()
    expect(Guarded.tools.read_file.name).toBe("read_file")
  })
})

/** A session store whose taints cannot be written: the engine's `postCheck` then fails. */
const storeFailingTaints = Layer.effect(
  SessionManager,
  Effect.map(SessionManager.make({ maxSessions: 100 }), (sessions) => ({
    ...sessions,
    addTaint: () =>
      Effect.fail(new SessionStoreUnavailable({ operation: "addTaint", message: "store is down" }))
  }))
)

/** The engine as it is, except that `postCheck` fails with `failure`. */
const withPostCheckFailing =
  (failure: InvalidToolCall | SessionCapacityExceeded | SessionStoreUnavailable) =>
  <E, R>(engine: Layer.Layer<ShieldEngine, E, R>) =>
    Layer.effect(
      ShieldEngine,
      Effect.map(ShieldEngine, (real) => ({ ...real, postCheck: () => Effect.fail(failure) }))
    ).pipe(Layer.provide(engine))
