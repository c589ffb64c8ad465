/**
 * The demo's language model: it answers from a script instead of a provider, so `npm start` needs
 * no network and no key. Each request gets the next step of the script.
 */
import { LanguageModel, type Response } from "@effect/ai"
import { Effect, Layer, Ref, Stream } from "effect"

/** One answer of the model: a tool call, or its last words. */
export type Step =
  | { readonly call: string; readonly params: Readonly<Record<string, string>> }
  | { readonly say: string }

/** A model that answers the n-th request with the n-th step, and with "done." after the last. */
export const scriptedModel = (steps: ReadonlyArray<Step>): Layer.Layer<LanguageModel.LanguageModel> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function* () {
      const next = yield* Ref.make(0)
      const answer = Effect.map(
        Ref.getAndUpdate(next, (n) => n + 1),
        (n) => partsOf(steps[n] ?? { say: "done." }, n)
      )
      return yield* LanguageModel.make({
        generateText: () => answer,
        streamText: () => Stream.die("the demo model does not stream")
      })
    })
  )

const usage = { inputTokens: undefined, outputTokens: undefined, totalTokens: undefined }

const partsOf = (step: Step, n: number): Array<Response.PartEncoded> =>
  "call" in step
    ? [
        { type: "tool-call", id: `call_${n + 1}`, name: step.call, params: step.params },
        { type: "finish", reason: "tool-calls", usage }
      ]
    : [
        { type: "text", text: step.say },
        { type: "finish", reason: "stop", usage }
      ]
