/**
 * W5: retained heap per live session, 5 tools counted and 2 taints each, and per parked session
 * beside what the parking budget counts for it; and a flood of new ids against the default
 * options, which must leave the parked tier within its budget. Heap bytes do not depend on what
 * else the machine runs, so the implementations are measured one after another.
 */
import { Effect, HashMap } from "effect"
import { SessionManager } from "../../src/index.js"
import { RECORD_BYTES, TOOL_BYTES } from "../../src/internal/core/sessionTable.js"
import { FLOOD_IDS, MEMORY_SESSIONS } from "./config.js"
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
  const measure = (key: string, build: () => unknown): number => {
    gc()
    const before = process.memoryUsage().heapUsed
    let kept: unknown = build()
    gc()
    const after = process.memoryUsage().heapUsed
    out[key] = (after - before) / MEMORY_SESSIONS
    log(`W5 ${key}: ${out[key]!.toFixed(0)} bytes/session`)
    // Held until measured; released before the next measurement.
    kept = undefined
    return kept === undefined ? out[key]! : Number.NaN
  }
  /** A manager of the library holding MEMORY_SESSIONS sessions, `live` of them in its live table. */
  const library = (live: number) => {
    const sm = Effect.runSync(
      SessionManager.make({ maxSessions: live, maxParkedBytes: Number.MAX_SAFE_INTEGER })
    )
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
  }
  if (only("effect")) {
    measure("effect", () => library(MEMORY_SESSIONS))
    // The same sessions with all but 1,000 parked: what a parked session really takes, beside
    // what the parking budget counts for it.
    const live = 1_000
    const total = measure("effectAllButFewParked", () => library(live))
    out.parked = (total * MEMORY_SESSIONS - live * out.effect!) / (MEMORY_SESSIONS - live)
    out.parkedCounted =
      RECORD_BYTES +
      2 * sessionId(MEMORY_SESSIONS).length +
      TOOLS.reduce((n, t) => n + TOOL_BYTES + 2 * t.length, 0)
    log(`W5 parked: ${out.parked.toFixed(0)} bytes/session, counted as ${out.parkedCounted}`)
    // A flood of new ids against the default options: the parked tier stays within its budget.
    gc()
    const before = process.memoryUsage().heapUsed
    const sm = Effect.runSync(SessionManager.make())
    const stats = Effect.runSync(
      Effect.gen(function* () {
        for (let i = 0; i < FLOOD_IDS; i++) yield* Effect.orDie(sm.getOrCreate(sessionId(10_000_000 + i)))
        return yield* Effect.orDie(sm.stats)
      })
    )
    gc()
    out.floodIds = FLOOD_IDS
    out.floodParkedBytes = stats.parkedBytes
    out.floodMaxParkedBytes = stats.maxParkedBytes
    out.floodParkedSessions = stats.parkedSessions
    out.floodEvicted = stats.evicted
    out.floodHeapBytes = process.memoryUsage().heapUsed - before
    log(`W5 flood: ${stats.parkedBytes} of ${stats.maxParkedBytes} parked bytes, heap +${out.floodHeapBytes}`)
    if (stats.activeSessions + stats.parkedSessions === 0) throw new Error("the flood left nothing")
  }
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
