/**
 * W5: retained heap per live session, 5 tools counted and 2 taints each. Heap bytes do not
 * depend on what else the machine runs, so the implementations are measured one after another.
 */
import { Effect, HashMap } from "effect"
import { SessionManager } from "../../src/index.js"
import { MEMORY_SESSIONS } from "./config.js"
import { gc } from "./measure.js"
import { sessionId, TOOLS } from "./sequence.js"
import { LruSessionStore } from "./stores.js"
import type { SubjectKey } from "./subjects.js"

/** Bytes per session of (1), of (3), and of an Effect HashMap of 5 counts alone. */
export const memoryWorkload = (
  only: (key: SubjectKey) => boolean,
  log: (line: string) => void
): Record<string, number> => {
  const out: Record<string, number> = {}
  const measure = (key: string, build: () => unknown) => {
    gc()
    const before = process.memoryUsage().heapUsed
    let kept: unknown = build()
    gc()
    const after = process.memoryUsage().heapUsed
    out[key] = (after - before) / MEMORY_SESSIONS
    log(`W5 ${key}: ${out[key]!.toFixed(0)} bytes/session`)
    kept = undefined
    return kept
  }
  if (only("effect"))
    measure("effect", () => {
      const sm = Effect.runSync(SessionManager.make({ maxSessions: MEMORY_SESSIONS }))
      Effect.runSync(
        Effect.gen(function* () {
          for (let i = 0; i < MEMORY_SESSIONS; i++) {
            const id = sessionId(i)
            for (const tool of TOOLS) yield* Effect.orDie(sm.increment(id, tool))
            yield* Effect.orDie(sm.addTaint(id, "EMAIL"))
            yield* Effect.orDie(sm.addTaint(id, "PHONE"))
          }
        })
      )
      return sm
    })
  if (only("lruEffect"))
    measure("lruEffect", () => {
      const store = new LruSessionStore(MEMORY_SESSIONS, 3_600_000)
      Effect.runSync(
        Effect.gen(function* () {
          for (let i = 0; i < MEMORY_SESSIONS; i++) {
            const id = sessionId(i)
            for (const tool of TOOLS) yield* Effect.sync(() => store.increment(id, tool))
            yield* Effect.sync(() => store.addTaint(id, "EMAIL"))
            yield* Effect.sync(() => store.addTaint(id, "PHONE"))
          }
        })
      )
      return store
    })
  // Not an implementation: what keeping each session's counts as a ready-made Effect HashMap
  // (so a snapshot would not have to build one) would add per session.
  if (only("effect"))
    measure("countsHashMap", () =>
      Array.from({ length: MEMORY_SESSIONS }, () => {
        let counts = HashMap.empty<string, number>()
        for (const tool of TOOLS) counts = HashMap.set(counts, tool, 1)
        return counts
      })
    )
  return out
}
