/**
 * W3: every call a new id against a full table, with a few tainted sessions among the oldest,
 * which a protecting design must keep. The implementations take turns chunk by chunk in this
 * one process; beside them runs (1) on W1's steady sequence at the same size, so W3 / W1 of (1)
 * is a ratio of two turns measured side by side. One heap is good enough here: the one ratio
 * taken compares (1) with itself, whose two tables make garbage alike, and of the others only
 * what they lose of the tainted sessions matters.
 */
import { FLOOD_SIZE, SPEC_PORT_FLOOD_CALLS, TAINTED_IN_FLOOD } from "./config.js"
import { chunks, interleave, type Lane } from "./interleave.js"
import { type Figures, gc, perOperation } from "./measure.js"
import { type Call, fresh, steady, TOOLS } from "./sequence.js"
import type { Subject, SubjectKey } from "./subjects.js"

export interface FloodFigures {
  readonly sessions: number
  /** ns per call, chunk by chunk. */
  readonly flood: Partial<Record<SubjectKey, Figures>>
  readonly calls: Partial<Record<SubjectKey, number>>
  /** How many of the tainted sessions each implementation evicted. */
  readonly lost: Partial<Record<SubjectKey, number>>
  /** (1) on W1 in the same chunks as the flood: the denominator of W3 / W1. */
  readonly steadyReference?: Figures
}

/** Runs the flood for `subjects` (and W1 beside it for `reference`, the library, if given). */
export const floodWorkload = (
  subjects: ReadonlyArray<Subject>,
  reference: Subject | undefined,
  spec: {
    readonly warmup: number
    readonly measured: number
    readonly chunk: number
    readonly perBlock: number
  },
  log: (line: string) => void
): FloodFigures => {
  const n = FLOOD_SIZE
  const base = fresh(0, n)
  const tainted = base.slice(0, TAINTED_IN_FLOOD)
  const toCalls = (ids: ReadonlyArray<(typeof base)[number]>) =>
    ids.map((id, i): Call => ({ id, tool: TOOLS[i % TOOLS.length]! }))
  const warm = toCalls(fresh(n, spec.warmup))
  const measured = toCalls(fresh(n + spec.warmup, spec.measured))
  const callsOf = (subject: Subject) =>
    subject.key === "specPort" ? measured.slice(0, SPEC_PORT_FLOOD_CALLS) : measured

  const tables = subjects.map((subject) => {
    const driver = subject.make(n)
    driver.increments(base.map((id) => ({ id, tool: TOOLS[0]! })))
    driver.addTaints(tainted, "EMAIL")
    return { subject, driver }
  })
  const steadyLane =
    reference === undefined
      ? undefined
      : (() => {
          const sequence = steady({
            sessions: n,
            warmup: spec.warmup,
            measured: spec.measured,
            newShare: 0.1,
            seed: n
          })
          const driver = reference.make(n)
          driver.increments(sequence.fill.map((id) => ({ id, tool: TOOLS[0]! })))
          return { driver, sequence }
        })()
  const REFERENCE = "(1) on W1"
  const lanes = (phase: "warmup" | "measured"): Array<Lane> => {
    const out: Array<Lane> = tables.map(({ subject, driver }) => {
      // (5) scans the table on every call here: no warm-up, and one chunk only.
      const calls = phase === "warmup" ? (subject.key === "specPort" ? [] : warm) : callsOf(subject)
      return {
        key: subject.key,
        batches: chunks(calls, spec.chunk).map((batch) => () => driver.increments(batch))
      }
    })
    if (steadyLane !== undefined) {
      const calls = phase === "warmup" ? steadyLane.sequence.warmup : steadyLane.sequence.measured
      out.push({
        key: REFERENCE,
        batches: chunks(calls, spec.chunk).map((batch) => () => steadyLane.driver.increments(batch))
      })
    }
    return out
  }
  gc()
  interleave(lanes("warmup"))
  const samples = interleave(lanes("measured"))

  const figures: FloodFigures = {
    sessions: n,
    flood: {},
    calls: {},
    lost: {},
    ...(steadyLane === undefined
      ? {}
      : {
          steadyReference: perOperation(
            samples.get(REFERENCE)!,
            chunks(steadyLane.sequence.measured, spec.chunk).map((b) => b.length),
            spec.perBlock
          )
        })
  }
  for (const { subject, driver } of tables) {
    const calls = callsOf(subject)
    const perOp = perOperation(
      samples.get(subject.key)!,
      chunks(calls, spec.chunk).map((b) => b.length),
      spec.perBlock
    )
    figures.flood[subject.key] = perOp
    figures.calls[subject.key] = calls.length
    figures.lost[subject.key] = TAINTED_IN_FLOOD - driver.stillTainted(tainted)
    log(
      `W3 ${subject.key} N=${n}: median turn ${median(perOp.wall).toFixed(0)} ns/call wall, ` +
        `${figures.lost[subject.key]} of ${TAINTED_IN_FLOOD} tainted sessions lost`
    )
  }
  return figures
}

const median = (values: ReadonlyArray<number>) => values.slice().sort((a, b) => a - b)[values.length >> 1]!
