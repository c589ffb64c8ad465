/**
 * A language model that answers from a script instead of a provider, for driving `@effect/ai`'s
 * real tool-call loop without a network: each request gets the next turn of the script, and every
 * prompt the model was sent is kept, so a test can read what the model was told.
 */
import { type Chat, LanguageModel, type Prompt, type Response, type Tool, type Toolkit } from "@effect/ai"
import { Effect, Layer, Ref, Stream } from "effect"

/** What a scripted model says: text, tool calls and the end of its answer. */
export type ScriptPart = Response.TextPartEncoded | Response.ToolCallPartEncoded | Response.FinishPartEncoded

/** One answer of the model: its parts, or an effect that gives them (to wait for another fiber). */
export type Turn = ReadonlyArray<ScriptPart> | Effect.Effect<ReadonlyArray<ScriptPart>>

export interface ScriptedModel {
  /** The model, as the layer an application provides. */
  readonly layer: Layer.Layer<LanguageModel.LanguageModel>
  /** Every prompt the model was sent, in order. */
  readonly prompts: Effect.Effect<ReadonlyArray<Prompt.Prompt>>
}

/** A model that answers the n-th request with the n-th turn, and with "done." after the last. */
export const scriptedModel = (turns: ReadonlyArray<Turn>): Effect.Effect<ScriptedModel> =>
  Effect.gen(function* () {
    const prompts = yield* Ref.make<ReadonlyArray<Prompt.Prompt>>([])
    const answer = (options: LanguageModel.ProviderOptions) =>
      Effect.flatMap(
        Ref.modify(prompts, (sent) => [sent.length, [...sent, options.prompt]]),
        (index): Effect.Effect<ReadonlyArray<ScriptPart>> => {
          const turn = turns[index] ?? [text("done."), finish("stop")]
          return Effect.isEffect(turn) ? turn : Effect.succeed(turn)
        }
      )
    const layer = Layer.effect(
      LanguageModel.LanguageModel,
      LanguageModel.make({
        generateText: (options) => Effect.map(answer(options), (parts) => [...parts]),
        streamText: (options) =>
          Stream.flatMap(answer(options), (parts) => Stream.fromIterable(parts.flatMap(streamed)))
      })
    )
    return { layer, prompts: Ref.get(prompts) }
  })

// A streamed answer sends its text as a start, one delta and an end.
const streamed = (part: ScriptPart): ReadonlyArray<Response.StreamPartEncoded> =>
  part.type === "text"
    ? [
        { type: "text-start", id: "text" },
        { type: "text-delta", id: "text", delta: part.text },
        { type: "text-end", id: "text" }
      ]
    : [part]

let nextCallId = 0

/** The model asks for a tool call. */
export const toolCall = (name: string, params: unknown): Response.ToolCallPartEncoded => ({
  type: "tool-call",
  id: `call_${++nextCallId}`,
  name,
  params
})

/** The model says something. */
export const text = (value: string): Response.TextPartEncoded => ({ type: "text", text: value })

/** The model ends its answer. */
export const finish = (reason: "stop" | "tool-calls"): Response.FinishPartEncoded => ({
  type: "finish",
  reason,
  usage: { inputTokens: undefined, outputTokens: undefined, totalTokens: undefined }
})

/** A turn in which the model asks for these tool calls. */
export const calls = (...parts: ReadonlyArray<Response.ToolCallPartEncoded>): ReadonlyArray<ScriptPart> => [
  ...parts,
  finish("tool-calls")
]

/** What the model was told about tool calls in one prompt: each tool result, in order. */
export const toolResultsIn = (prompt: Prompt.Prompt): ReadonlyArray<Prompt.ToolResultPart> =>
  prompt.content.flatMap((message) =>
    message.role === "tool" ? message.content.filter((part) => part.type === "tool-result") : []
  )

/**
 * Runs a conversation in `chat` with `toolkit`: the user's message, then one more request after
 * each answer that called tools (so the results go back to the model), `maxTurns` requests at most.
 */
export const converse = <Tools extends Record<string, Tool.Any>>(
  chat: Chat.Service,
  userMessage: string,
  toolkit: Toolkit.Toolkit<Tools>,
  maxTurns = 10
) =>
  Effect.gen(function* () {
    let response = yield* chat.generateText({ prompt: userMessage, toolkit })
    for (let turn = 1; turn < maxTurns && response.finishReason === "tool-calls"; turn++) {
      response = yield* chat.generateText({ prompt: [], toolkit })
    }
    return response
  })
