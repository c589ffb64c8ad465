/**
 * The markdown report and the targets. Ratios between implementations are taken unit by unit
 * (chunk or round, see measure.ts); only the growth from one table size to another compares
 * figures that were not measured side by side, and its spread says so.
 */

import type { ConcurrencyFigures } from "./concurrency.js"
import {
  CHUNK,
  CONCURRENT_SESSIONS,
  FIBERS,
  FLOOD_SIZE,
  INTERLEAVED_MAX,
  MEMORY_SESSIONS,
  OPS_PER_FIBER,
  TAINTED_IN_FLOOD,
  TRACKED_SIZES
} from "./config.js"
import type { FloodFigures } from "./flood.js"
import {
  type Figures,
  type MachineLoad,
  pairedRatio,
  type RatioSummary,
  type SpreadKind,
  type Summary,
  summarize,
  unpairedRatio
} from "./measure.js"
import type { RedisFigures } from "./redis.js"
import { STEADY_WORKLOADS, type SteadyFigures, type SteadyWorkload } from "./steady.js"
import { type SubjectKey, subjects } from "./subjects.js"

/** W1 and W2 at one size, and how they were run. */
export interface SteadyRun {
  readonly sessions: number
  /** Interleaved in one process, or rounds of child processes. */
  readonly how: "interleaved" | "rounds"
  readonly figures: SteadyFigures
}

export interface Results {
  readonly steady: ReadonlyArray<SteadyRun>
  readonly flood: FloodFigures | undefined
  readonly concurrency: ConcurrencyFigures | undefined
  readonly memory: Record<string, number> | undefined
  readonly redis: ReadonlyArray<RedisFigures> | undefined
  readonly machine: ReadonlyArray<Phase>
}

/** One phase of the run, with what the rest of the machine did meanwhile. */
export interface Phase {
  readonly phase: string
  readonly seconds: number
  readonly load: MachineLoad | undefined
}

/** One line of the Targets table (or of the one beside it, where `bound` may be absent). */
export interface TargetRow {
  readonly name: string
  readonly bound: number | undefined
  readonly wall: Summary | undefined
  readonly cpu: Summary | undefined
  /** What the spread is taken over. */
  readonly spread: string
  /** Read from the wall-clock median; undefined without a bound or a figure. */
  readonly met: boolean | undefined
}

/** The report as markdown, with the target rows for bench-results.json. */
export const report = (
  results: Results
): {
  readonly markdown: string
  readonly targets: ReadonlyArray<TargetRow>
  readonly beside: ReadonlyArray<TargetRow>
} => {
  const lines: Array<string> = []
  for (const workload of STEADY_WORKLOADS) lines.push(...steadyTables(results.steady, workload))
  if (results.flood !== undefined) lines.push(...floodTable(results.flood))
  if (results.concurrency !== undefined) lines.push(...concurrencyTable(results.concurrency))
  if (results.memory !== undefined) lines.push(...memoryTable(results.memory))
  if (results.redis !== undefined && results.redis.length > 0) lines.push(...redisTable(results.redis))
  lines.push(...machineTable(results.machine))

  const targets = trackedTargets(results.steady)
  const beside = besideTargets(results)
  lines.push(
    "**Targets** (ratios of this run: median [spread], wall clock, then process CPU; " +
      "met reads the wall-clock median, and says so when the CPU median disagrees)",
    "",
    ...targetTable(targets),
    "",
    "**Beside the targets**",
    "",
    ...targetTable(beside),
    ""
  )
  return { markdown: lines.join("\n"), targets, beside }
}

const LABEL = Object.fromEntries(subjects.map((s) => [s.key, s.label])) as Record<SubjectKey, string>

const TITLE: Record<SteadyWorkload, string> = {
  W1: "W1 increment",
  "W2 getTaints": "W2 getTaints",
  "W2 get": "W2 get (builds a snapshot)"
}

const kindOf = (run: { readonly how: SteadyRun["how"] }): SpreadKind =>
  run.how === "rounds" ? "min–max" : "p25–p75"

const spreadName = (s: Summary): string => {
  const unit = s.kind === "p25–p75" ? "turn" : "round"
  return s.units <= 1 ? `a single ${unit}` : `${s.kind} of ${s.units} ${unit}s`
}

const steadyTables = (runs: ReadonlyArray<SteadyRun>, workload: SteadyWorkload): Array<string> => {
  if (runs.length === 0) return []
  const header = `| Implementation | ${runs.map((r) => `N = ${count(r.sessions)}`).join(" | ")} |`
  const rule = `|---|${runs.map(() => "---").join("|")}|`
  const present = subjects.filter((s) => runs.some((r) => r.figures[workload][s.key] !== undefined))
  const lines = [
    `**${TITLE[workload]}** (ns per operation, wall clock / process CPU: the median turn of ` +
      `${count(CHUNK)} operations up to N = ${count(INTERLEAVED_MAX)}, the median round above)`,
    "",
    header,
    rule
  ]
  for (const s of present) {
    const cells = runs.map((r) => {
      const f = r.figures[workload][s.key]
      if (f === undefined) return "–"
      return `${ns(summarize(f.wall, kindOf(r)).median)} / ${ns(summarize(f.cpu, kindOf(r)).median)}`
    })
    lines.push(`| ${LABEL[s.key]} | ${cells.join(" | ")} |`)
  }
  lines.push("")
  if (!runs.some((r) => r.figures[workload].floor !== undefined)) return lines
  lines.push(
    `**${TITLE[workload]} ÷ (0) floor** (median [p25–p75] of the ratios turn by turn up to N = ` +
      `${count(INTERLEAVED_MAX)}, [min–max] round by round above; wall clock / process CPU)`,
    "",
    header,
    rule
  )
  for (const s of present.filter((s) => s.key !== "floor")) {
    const cells = runs.map((r) => {
      const ratio = ratioIn(r, workload, s.key, "floor")
      return ratio === undefined ? "–" : `${summary(ratio.wall)} / ${summary(ratio.cpu)}`
    })
    lines.push(`| ${LABEL[s.key]} | ${cells.join(" | ")} |`)
  }
  lines.push("")
  return lines
}

const floodTable = (flood: FloodFigures): Array<string> => {
  const lines = [
    `**W3 flood** (N = ${count(flood.sessions)}, every call a new id, ${TAINTED_IN_FLOOD} tainted sessions ` +
      "among the oldest; the implementations interleaved in one process, (1) on W1 beside them for " +
      "W3 / W1; ns per call, the median turn)",
    "",
    "| Implementation | wall / CPU ns per call | calls | tainted sessions lost |",
    "|---|---|---|---|"
  ]
  for (const s of subjects) {
    const f = flood.flood[s.key]
    if (f === undefined) continue
    lines.push(
      `| ${LABEL[s.key]} | ${medians(f)} | ${count(flood.calls[s.key] ?? 0)} | ` +
        `${flood.lost[s.key]} of ${TAINTED_IN_FLOOD} tainted sessions lost |`
    )
  }
  if (flood.steadyReference !== undefined) {
    lines.push(
      `| (for W3 / W1) (1) on W1, interleaved with the above | ${medians(flood.steadyReference)} | | |`
    )
  }
  lines.push("")
  return lines
}

const concurrencyTable = (figures: ConcurrencyFigures): Array<string> => {
  const rounds = figures.rows[0]?.figures.wall.length ?? 0
  const lines = [
    `**W4 concurrency** (${count(FIBERS)} fibers × ${OPS_PER_FIBER} increments over ` +
      `${count(CONCURRENT_SESSIONS)} sessions; each run is one Effect program, so whole runs alternate ` +
      `over ${rounds} rounds; ns per operation, wall median [min–max] / CPU median)`,
    "",
    "| Implementation | one after another | concurrent fibers | totals |",
    "|---|---|---|---|"
  ]
  for (const key of ["effect", "lruEffect"] as const) {
    const seq = figures.rows.find((r) => r.subject === key && r.mode === "sequential")
    const con = figures.rows.find((r) => r.subject === key && r.mode === "concurrent")
    if (seq === undefined || con === undefined) continue
    const cell = (f: Figures) => {
      const wall = summarize(f.wall, "min–max")
      return `${ns(wall.median)} [${ns(wall.low)}–${ns(wall.high)}] / ${ns(summarize(f.cpu, "min–max").median)}`
    }
    const counted = [...seq.counted, ...con.counted]
    const wrong = counted.filter((c) => c !== figures.operations)
    const totals =
      wrong.length === 0
        ? `exact: ${figures.operations} calls`
        : `LOST UPDATES: ${wrong.join(", ")} of ${figures.operations}`
    lines.push(`| ${LABEL[key]} | ${cell(seq.figures)} | ${cell(con.figures)} | ${totals} |`)
  }
  lines.push("")
  return lines
}

const memoryTable = (memory: Record<string, number>): Array<string> => [
  `**W5 memory** (${count(MEMORY_SESSIONS)} sessions, 5 tools and 2 taints each; heap bytes do not ` +
    "depend on the machine's load, so one after another)",
  "",
  "| Implementation | heap bytes per live session |",
  "|---|---|",
  ...(["effect", "lruEffect"] as const)
    .filter((key) => memory[key] !== undefined)
    .map((key) => `| ${LABEL[key]} | ${ns(memory[key]!)} |`),
  ...(memory.parked === undefined
    ? []
    : [
        `| (1) a parked session (all but 1,000 of them parked) | ${ns(memory.parked)} (counted against maxParkedBytes as ${ns(memory.parkedCounted!)}) |`
      ]),
  ...(memory.countsHashMap === undefined
    ? []
    : [`| (for comparison) an Effect HashMap of 5 tool counts, alone | ${ns(memory.countsHashMap)} |`]),
  "",
  ...(memory.floodIds === undefined
    ? []
    : [
        `A flood of ${count(memory.floodIds)} new ids against the default options (1,000 live sessions, ` +
          `maxParkedBytes ${count(memory.floodMaxParkedBytes!)}): ${count(memory.floodParkedSessions!)} sessions ` +
          `parked in ${count(memory.floodParkedBytes!)} bytes (${memory.floodParkedBytes! <= memory.floodMaxParkedBytes! ? "within" : "OVER"} ` +
          `the budget), ${count(memory.floodEvicted!)} dropped to make room, heap retained ${count(memory.floodHeapBytes!)} bytes.`,
        ""
      ])
]

const redisTable = (redis: ReadonlyArray<RedisFigures>): Array<string> => [
  `**W6 Redis** (${count(redis[0]!.operations)} increments over 100 sessions, private redis-server on ` +
    "loopback; server and client share the machine, so one run after another: read the lost " +
    "updates exactly and the rates roughly)",
  "",
  "| Implementation | fibers | operations/s | updates lost |",
  "|---|---|---|---|",
  ...redis.map((f) => `| ${f.variant} | ${f.fibers} | ${count(f.opsPerSecond)} | ${f.lostUpdates} |`),
  ""
]

const machineTable = (phases: ReadonlyArray<Phase>): Array<string> =>
  phases.length === 0 || phases.every((p) => p.load === undefined)
    ? []
    : [
        "**Machine during the run** (CPU time other processes used, in cores, from /proc/stat; " +
          "the more, the more the absolute figures moved, and the more the ratios lean on interleaving)",
        "",
        "| Phase | seconds | other processes, cores busy |",
        "|---|---|---|",
        ...phases.map(
          (p) =>
            `| ${p.phase} | ${count(p.seconds)} | ${p.load === undefined ? "–" : `${p.load.othersCores.toFixed(2)} of ${p.load.cores}`} |`
        ),
        ""
      ]

const trackedTargets = (runs: ReadonlyArray<SteadyRun>): Array<TargetRow> => {
  const [smallest] = TRACKED_SIZES
  const bounds: ReadonlyArray<readonly [SteadyWorkload, string, (n: number) => number]> = [
    ["W1", "W1 increment", (n) => (n === smallest ? 3.0 : 1.5)],
    ["W2 getTaints", "W2 getTaints", () => 1.5],
    ["W2 get", "W2 get", (n) => (n === smallest ? 3.0 : 2.0)]
  ]
  return bounds.flatMap(([workload, name, bound]) =>
    TRACKED_SIZES.map((n) =>
      row(
        `${name}: (1) / (0) floor, N = ${count(n)}`,
        bound(n),
        ratioAt(runs, workload, "effect", "floor", n)
      )
    )
  )
}

const besideTargets = (results: Results): Array<TargetRow> => {
  const runs = results.steady
  const out: Array<TargetRow> = runs.map((r) =>
    row(
      `W1 increment: (1) / (3) lru-cache in Effect.sync, N = ${count(r.sessions)}`,
      undefined,
      ratioIn(r, "W1", "effect", "lruEffect")
    )
  )
  const first = runs[0]
  const last = runs[runs.length - 1]
  if (first !== undefined && last !== undefined && first !== last) {
    const range = `N = ${count(first.sessions)} to ${count(last.sessions)}`
    for (const key of ["effect", "floor"] as const) {
      const a = perOp(last, "W1", key)
      const b = perOp(first, "W1", key)
      out.push(
        row(
          `W1 increment: growth of ${key === "effect" ? "(1)" : "(0) floor"}, ${range}`,
          undefined,
          a === undefined || b === undefined
            ? undefined
            : { wall: unpairedRatio(a.wall, b.wall), cpu: unpairedRatio(a.cpu, b.cpu) },
          GROWTH_SPREAD
        )
      )
    }
    const a = ratioIn(last, "W1", "effect", "floor")
    const b = ratioIn(first, "W1", "effect", "floor")
    out.push(
      row(
        `W1 increment: growth of (1) over the floor's, ${range}`,
        undefined,
        a === undefined || b === undefined
          ? undefined
          : { wall: unpairedRatio(a.wall, b.wall), cpu: unpairedRatio(a.cpu, b.cpu) },
        GROWTH_SPREAD
      )
    )
  }
  const flood = results.flood
  const floodOfLibrary = flood?.flood.effect
  out.push(
    row(
      `W3 flood / W1 increment of (1), N = ${count(FLOOD_SIZE)}`,
      2,
      floodOfLibrary === undefined || flood?.steadyReference === undefined
        ? undefined
        : pairedRatio(floodOfLibrary, flood.steadyReference, "p25–p75")
    )
  )
  for (const r of runs.filter((r) => r.figures.W1.effectNoMetrics !== undefined)) {
    out.push(
      row(
        `W1 increment: (1) / (1) with metrics off, N = ${count(r.sessions)}`,
        1.15,
        ratioIn(r, "W1", "effect", "effectNoMetrics")
      )
    )
  }
  const memory = results.memory
  const bytes =
    memory?.effect === undefined || memory.lruEffect === undefined
      ? undefined
      : memory.effect / memory.lruEffect
  const single = (v: number): Summary => ({ median: v, low: v, high: v, kind: "min–max", units: 1 })
  out.push(
    row(
      "W5 heap bytes per live session: (1) / (3)",
      1,
      bytes === undefined ? undefined : { wall: single(bytes), cpu: single(Number.NaN) },
      "a single measurement"
    )
  )
  return out
}

const targetTable = (rows: ReadonlyArray<TargetRow>): Array<string> => [
  "| Target | bound | wall clock | process CPU | spread | met |",
  "|---|---|---|---|---|---|",
  ...rows.map((r) => {
    if (r.wall === undefined) return `| ${r.name} | ${bound(r.bound)} | not run | | | |`
    const cpu = r.cpu === undefined || Number.isNaN(r.cpu.median) ? "–" : summary(r.cpu)
    return `| ${r.name} | ${bound(r.bound)} | ${summary(r.wall)} | ${cpu} | ${r.spread} | ${met(r)} |`
  })
]

/** "yes" or "no" from the wall-clock median, and the CPU median's verdict when it differs. */
const met = (r: TargetRow): string => {
  if (r.met === undefined || r.bound === undefined) return "–"
  const verdict = r.met ? "yes" : "**no**"
  if (r.cpu === undefined || Number.isNaN(r.cpu.median)) return verdict
  const cpuMet = r.cpu.median <= r.bound
  return cpuMet === r.met ? verdict : `${verdict} (CPU: ${cpuMet ? "yes" : "no"})`
}

const row = (
  name: string,
  bound: number | undefined,
  value: RatioSummary | undefined,
  spread = value === undefined ? "" : spreadName(value.wall)
): TargetRow => ({
  name,
  bound,
  wall: value?.wall,
  cpu: value?.cpu,
  spread,
  met: bound === undefined || value === undefined ? undefined : value.wall.median <= bound
})

const ratioAt = (
  runs: ReadonlyArray<SteadyRun>,
  workload: SteadyWorkload,
  a: SubjectKey,
  b: SubjectKey,
  n: number
): RatioSummary | undefined => {
  const run = runs.find((r) => r.sessions === n)
  return run === undefined ? undefined : ratioIn(run, workload, a, b)
}

const ratioIn = (
  run: SteadyRun,
  workload: SteadyWorkload,
  a: SubjectKey,
  b: SubjectKey
): RatioSummary | undefined => {
  const fa = run.figures[workload][a]
  const fb = run.figures[workload][b]
  return fa === undefined || fb === undefined ? undefined : pairedRatio(fa, fb, kindOf(run))
}

const perOp = (run: SteadyRun, workload: SteadyWorkload, key: SubjectKey): RatioSummary | undefined => {
  const f = run.figures[workload][key]
  return f === undefined
    ? undefined
    : { wall: summarize(f.wall, kindOf(run)), cpu: summarize(f.cpu, kindOf(run)) }
}

const medians = (f: Figures): string =>
  `${ns(summarize(f.wall, "p25–p75").median)} / ${ns(summarize(f.cpu, "p25–p75").median)}`

const GROWTH_SPREAD = "both sizes' spreads combined"

const count = (v: number): string => v.toLocaleString("en-US", { maximumFractionDigits: 0 })
const ns = count
const ratio = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : "–")
/** A single measurement has no spread to show. */
const summary = (s: Summary): string =>
  s.units <= 1 ? ratio(s.median) : `${ratio(s.median)} [${ratio(s.low)}–${ratio(s.high)}]`
const bound = (b: number | undefined): string => (b === undefined ? "–" : `≤ ${b.toFixed(2)}`)
