/**
 * W1 (increments on a full table, 1 call in 10 to a new id) and W2 (reads of live sessions) at
 * one table size. The same code runs every implementation at once, interleaved in this process,
 * and one implementation alone in a child process (`round.ts`): a single lane.
 */
import type { SessionId } from "../../src/index.js"
import { chunks, interleave, type Lane } from "./interleave.js"
import { type Figures, gc, perOperation, type Sample } from "./measure.js"
import { picks, steady, TOOLS } from "./sequence.js"
import type { Driver, Subject, SubjectKey } from "./subjects.js"

export const STEADY_WORKLOADS = ["W1", "W2 getTaints", "W2 get"] as const
export type SteadyWorkload = (typeof STEADY_WORKLOADS)[number]

/** Each workload's figures per implementation, block by block. */
export type SteadyFigures = Record<SteadyWorkload, Partial<Record<SubjectKey, Figures>>>

export interface SteadySpec {
  readonly sessions: number
  readonly warmup: number
  readonly measured: number
  readonly chunk: number
  /** Chunks per block, the unit figures and ratios are given in. */
  readonly perBlock: number
}

/**
 * Every subject on its own table of `spec.sessions`, filled, then each workload warmed up and
 * measured with the subjects taking turns chunk by chunk over the same operations. `log`
 * receives one line per workload and subject.
 */
export const steadyWorkloads = (
  spec: SteadySpec,
  subjects: ReadonlyArray<Subject>,
  log: (line: string) => void
): SteadyFigures => {
  const n = spec.sessions
  // The seeds depend on the size only, so every process generates the same sequences.
  const sequence = steady({
    sessions: n,
    warmup: spec.warmup,
    measured: spec.measured,
    newShare: 0.1,
    seed: n
  })
  const reads = picks(sequence.liveAtEnd, spec.warmup + spec.measured, n + 1)
  const tables = subjects.map((subject) => ({ subject, driver: subject.make(n) }))
  for (const { driver } of tables) driver.increments(sequence.fill.map((id) => ({ id, tool: TOOLS[0]! })))

  const figures: SteadyFigures = { W1: {}, "W2 getTaints": {}, "W2 get": {} }
  const measure = <A>(
    workload: SteadyWorkload,
    warmup: ReadonlyArray<A>,
    measured: ReadonlyArray<A>,
    run: (driver: Driver, batch: ReadonlyArray<A>) => void
  ) => {
    const lanes = (items: ReadonlyArray<A>): Array<Lane> => {
      const batches = chunks(items, spec.chunk)
      return tables.map(({ subject, driver }) => ({
        key: subject.key,
        batches: batches.map((batch) => () => run(driver, batch))
      }))
    }
    gc()
    interleave(lanes(warmup))
    const samples = interleave(lanes(measured))
    const sizes = chunks(measured, spec.chunk).map((batch) => batch.length)
    for (const { subject } of tables) {
      const own: ReadonlyArray<Sample> = samples.get(subject.key)!
      const perOp = perOperation(own, sizes, spec.perBlock)
      figures[workload][subject.key] = perOp
      log(`${workload} ${subject.key} N=${n}: ${describe(perOp)}`)
    }
  }

  measure("W1", sequence.warmup, sequence.measured, (driver, calls) => driver.increments(calls))
  for (const { subject, driver } of tables) {
    // Every subject, the floor too, must hold exactly N sessions, or the comparison is unfair.
    if (driver.liveSessions() !== n) {
      throw new Error(`${subject.key}: expected ${n} live sessions, found ${driver.liveSessions()}`)
    }
  }
  const warmReads = reads.slice(0, spec.warmup)
  const measuredReads = reads.slice(spec.warmup)
  measure("W2 getTaints", warmReads, measuredReads, (driver, ids: ReadonlyArray<SessionId>) =>
    driver.getTaints(ids)
  )
  measure("W2 get", warmReads, measuredReads, (driver, ids: ReadonlyArray<SessionId>) => driver.gets(ids))
  return figures
}

/** The median block, wall clock and CPU, for a progress line. */
const describe = (figures: Figures): string => {
  const median = (values: ReadonlyArray<number>) => values.slice().sort((a, b) => a - b)[values.length >> 1]!
  return `${median(figures.wall).toFixed(0)} ns/op wall, ${median(figures.cpu).toFixed(0)} CPU`
}
