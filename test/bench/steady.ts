/**
 * W1 (increments on a full table, 1 call in 10 to a new id) and W2 (reads of live sessions) at
 * one table size, several implementations interleaved in this process (`round.ts` runs one
 * alone with it). The sequences come from seeds that depend on the size only, so every process
 * runs the same operations.
 */
import { chunks, interleave, type Lane } from "./interleave.js"
import { type Figures, gc, perOperation } from "./measure.js"
import { type Call, picks, steady, TOOLS } from "./sequence.js"
import type { Driver, Subject, SubjectKey } from "./subjects.js"

export const STEADY_WORKLOADS = ["W1", "W2 getTaints", "W2 get"] as const
export type SteadyWorkload = (typeof STEADY_WORKLOADS)[number]

/** Each workload's figures per implementation, unit by unit (turn or round). */
export type SteadyFigures = Record<SteadyWorkload, Partial<Record<SubjectKey, Figures>>>

export interface SteadySpec {
  readonly sessions: number
  readonly warmup: number
  readonly measured: number
  readonly chunk: number
  /** Chunks per figure: 1 for a figure per turn, more for fewer, longer units. */
  readonly perBlock: number
}

/**
 * Every subject on its own table of `spec.sessions` in this process, filled, then each
 * workload warmed up and measured with the subjects taking turns chunk by chunk over the same
 * operations (see CHUNK in config.ts for the length of a turn). `round.ts` runs one subject
 * alone with it. `log` receives one line per workload and subject.
 */
export const steadyWorkloads = (
  spec: SteadySpec,
  subjects: ReadonlyArray<Subject>,
  log: (line: string) => void
): SteadyFigures => {
  const n = spec.sessions
  const plan = steadyPlan(spec)
  const tables = subjects.map((subject) => ({ subject, driver: subject.make(n) }))
  for (const { driver } of tables) plan.fill(driver)

  const figures: SteadyFigures = { W1: {}, "W2 getTaints": {}, "W2 get": {} }
  for (const workload of STEADY_WORKLOADS) {
    const lanes = (phase: SteadyPhase): Array<Lane> =>
      tables.map(({ subject, driver }) => ({
        key: subject.key,
        batches: plan.layout[workload][phase].map((_, k) => () => plan.run(driver, workload, phase, k))
      }))
    gc()
    interleave(lanes("warmup"))
    const samples = interleave(lanes("measured"))
    for (const { subject } of tables) {
      const perOp = perOperation(samples.get(subject.key)!, plan.layout[workload].measured, spec.perBlock)
      figures[workload][subject.key] = perOp
      log(`${workload} ${subject.key} N=${n}: ${describe(perOp)}`)
    }
    if (workload === "W1") {
      for (const { subject, driver } of tables) checkLive(subject, driver.liveSessions(), n)
    }
  }
  return figures
}

type SteadyPhase = "warmup" | "measured"

type Layout = Record<SteadyWorkload, Record<SteadyPhase, ReadonlyArray<number>>>

/** The operations of the steady workloads at one size, cut into chunks. */
interface SteadyPlan {
  /** Fills a new table with N sessions, one call each. */
  readonly fill: (driver: Driver) => void
  /** The operations in each chunk of each phase of each workload. */
  readonly layout: Layout
  /** Runs chunk `k` of a phase of a workload on a table. */
  readonly run: (driver: Driver, workload: SteadyWorkload, phase: SteadyPhase, k: number) => void
}

const steadyPlan = (spec: SteadySpec): SteadyPlan => {
  const n = spec.sessions
  const sequence = steady({
    sessions: n,
    warmup: spec.warmup,
    measured: spec.measured,
    newShare: 0.1,
    seed: n
  })
  const reads = picks(sequence.liveAtEnd, spec.warmup + spec.measured, n + 1)
  const increments = {
    warmup: chunks(sequence.warmup, spec.chunk),
    measured: chunks(sequence.measured, spec.chunk)
  }
  const lookups = {
    warmup: chunks(reads.slice(0, spec.warmup), spec.chunk),
    measured: chunks(reads.slice(spec.warmup), spec.chunk)
  }
  const fill = sequence.fill.map((id): Call => ({ id, tool: TOOLS[0]! }))
  return {
    fill: (driver) => driver.increments(fill),
    layout: {
      W1: sizesOf(increments),
      "W2 getTaints": sizesOf(lookups),
      "W2 get": sizesOf(lookups)
    },
    run: (driver, workload, phase, k) => {
      if (workload === "W1") driver.increments(increments[phase][k]!)
      else if (workload === "W2 getTaints") driver.getTaints(lookups[phase][k]!)
      else driver.gets(lookups[phase][k]!)
    }
  }
}

const sizesOf = (batches: Record<SteadyPhase, ReadonlyArray<ReadonlyArray<unknown>>>) => ({
  warmup: batches.warmup.map((b) => b.length),
  measured: batches.measured.map((b) => b.length)
})

/** Every subject, the floor too, must hold exactly N sessions, or the comparison is unfair. */
const checkLive = (subject: Subject, live: number, n: number): void => {
  if (live !== n) throw new Error(`${subject.key}: expected ${n} live sessions, found ${live}`)
}

/** The median unit, wall clock and CPU, for a progress line. */
const describe = (figures: Figures): string => {
  const median = (values: ReadonlyArray<number>) => values.slice().sort((a, b) => a - b)[values.length >> 1]!
  return `${median(figures.wall).toFixed(0)} ns/op wall, ${median(figures.cpu).toFixed(0)} CPU`
}
