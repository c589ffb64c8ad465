/**
 * W4: many fibers at once against the same operations run one after another. A run is one
 * Effect program, so it cannot be cut into chunks; instead the four runs (two implementations,
 * two modes) alternate, each on a fresh table, over several rounds.
 */
import { Effect } from "effect"
import { SessionManager, type SessionManagerService } from "../../src/index.js"
import { CONCURRENT_SESSIONS, FIBERS, OPS_PER_FIBER } from "./config.js"
import { type Figures, gc, timed } from "./measure.js"
import { type Call, fresh, TOOLS } from "./sequence.js"
import { LruSessionStore } from "./stores.js"
import type { SubjectKey } from "./subjects.js"

export type ConcurrencyMode = "sequential" | "concurrent"

export interface ConcurrencyRow {
  readonly subject: SubjectKey
  readonly mode: ConcurrencyMode
  /** ns per operation, round by round. */
  readonly figures: Figures
  /** The total calls the table counted after each round (it must be every call). */
  readonly counted: ReadonlyArray<number>
}

export interface ConcurrencyFigures {
  readonly operations: number
  readonly rows: ReadonlyArray<ConcurrencyRow>
}

/** Alternates every (implementation, mode) pair for `rounds` rounds. */
export const concurrencyWorkload = (
  only: (key: SubjectKey) => boolean,
  rounds: number,
  log: (line: string) => void
): ConcurrencyFigures => {
  const ids = fresh(0, CONCURRENT_SESSIONS)
  const plan = Array.from({ length: FIBERS }, (_, f) =>
    Array.from(
      { length: OPS_PER_FIBER },
      (_, k): Call => ({
        id: ids[(f * 31 + k * 7) % CONCURRENT_SESSIONS]!,
        tool: TOOLS[(f + k) % TOOLS.length]!
      })
    )
  )
  const total = FIBERS * OPS_PER_FIBER
  const runs = variants
    .filter((v) => only(v.subject))
    .flatMap((variant) =>
      (["sequential", "concurrent"] as const).map((mode) => ({
        variant,
        mode,
        wall: [] as Array<number>,
        cpu: [] as Array<number>,
        counted: [] as Array<number>
      }))
    )
  for (let round = 0; round < rounds; round++) {
    for (let j = 0; j < runs.length; j++) {
      const run = runs[(round + j) % runs.length]!
      gc()
      const target = run.variant.make()
      const program =
        run.mode === "sequential"
          ? Effect.gen(function* () {
              for (const calls of plan) for (const c of calls) yield* target.increment(c)
            })
          : Effect.forEach(
              plan,
              (calls) =>
                Effect.gen(function* () {
                  for (const c of calls) yield* target.increment(c)
                }),
              { concurrency: "unbounded", discard: true }
            )
      const sample = timed(() => Effect.runSync(program))
      run.wall.push(sample.wallNs / total)
      run.cpu.push(sample.cpuNs / total)
      run.counted.push(target.totalCalls())
      log(
        `W4 ${run.mode} ${run.variant.subject} round ${round + 1}/${rounds}: ` +
          `${(sample.wallNs / total).toFixed(0)} ns/op wall, counted ${target.totalCalls()} of ${total}`
      )
    }
  }
  return {
    operations: total,
    rows: runs.map((run) => ({
      subject: run.variant.subject,
      mode: run.mode,
      figures: { wall: run.wall, cpu: run.cpu },
      counted: run.counted
    }))
  }
}

interface Target {
  readonly increment: (c: Call) => Effect.Effect<unknown>
  readonly totalCalls: () => number
}

const variants: ReadonlyArray<{ readonly subject: SubjectKey; readonly make: () => Target }> = [
  {
    subject: "effect",
    make: () => {
      const sm: SessionManagerService = Effect.runSync(
        SessionManager.make({ maxSessions: CONCURRENT_SESSIONS })
      )
      return {
        increment: (c) => Effect.orDie(sm.increment(c.id, c.tool)),
        totalCalls: () => Effect.runSync(Effect.orDie(sm.stats)).totalCalls
      }
    }
  },
  {
    subject: "lruEffect",
    make: () => {
      const store = new LruSessionStore(CONCURRENT_SESSIONS, 3_600_000)
      return {
        increment: (c) => Effect.sync(() => store.increment(c.id, c.tool)),
        totalCalls: () => {
          let sum = 0
          for (const s of store.cache.values()) sum += s.totalCalls
          return sum
        }
      }
    }
  }
]
