/**
 * What a run covers, from the environment. BENCH_QUICK=1 runs smaller sizes and counts, for
 * checking the harness itself (`npm run bench:check`). For profiling one part
 * (`node --cpu-prof`), BENCH_WORKLOADS (e.g. "W1,W3"; "W2" comes with "W1"), BENCH_SIZES (e.g.
 * "100000") and BENCH_SUBJECTS (e.g. "effect,floor") narrow the run; without the floor, the
 * ratios to it are not reported. BENCH_ROUNDS sets the rounds at the large size.
 */
import type { Subject } from "./subjects.js"

export const quick = process.env.BENCH_QUICK === "1"

export const onlyWorkloads = list("BENCH_WORKLOADS")
export const onlySubjects = list("BENCH_SUBJECTS")
export const onlySizes = list("BENCH_SIZES")?.map(Number)

export const runs = (workload: string): boolean =>
  onlyWorkloads === undefined || onlyWorkloads.includes(workload)
export const included = (key: Subject["key"]): boolean =>
  onlySubjects === undefined || onlySubjects.includes(key)

/**
 * Table sizes up to this one run interleaved in this process (steady.ts); larger ones, whose
 * tables would not all fit in one heap without distorting its collections, in child processes
 * one after another, round after round (separate.ts).
 */
export const INTERLEAVED_MAX = quick ? 10_000 : 100_000
/** The size measured in child processes; in the quick form it stands in for 1,000,000. */
export const LARGE = quick ? 30_000 : 1_000_000
export const SIZES: ReadonlyArray<number> =
  onlySizes ?? [1_000, 10_000, INTERLEAVED_MAX, LARGE].filter(unique)
/** The sizes the targets are tracked at: the smallest, the largest interleaved, the large one. */
export const TRACKED_SIZES: ReadonlyArray<number> = [1_000, INTERLEAVED_MAX, LARGE]

/**
 * Operations per turn: the implementations take turns, each running the next chunk of the same
 * sequence on its own table. A turn must be short, so that a burst of load lands on every
 * implementation alike, but each switch costs the next implementation caches left cold and the
 * previous one's collector threads still running, a cost that a cheap implementation's short
 * turn carries as a large share. Measured at N = 1,000, nine implementations taking turns (CPU
 * time per operation): the ratio (1) / (0) on W1 came out 3.8-3.9 in turns of 2,000
 * operations (the floor 1,550-1,680 ns against 880-1,090 alone), 5.2-6.2 in turns of 10,000,
 * and 5.2-6.6 from each implementation measured alone in its own process. A turn of 10,000
 * lasts 10 ms for the floor and 70 ms for (1), still well inside a burst of load, and is long
 * enough to carry its share of garbage collection, so it is also the unit of the figures.
 */
export const CHUNK = 10_000
export const MEASURED = quick ? 30_000 : 200_000
export const WARMUP = quick ? 10_000 : 20_000
/**
 * Child-process rounds at the large size: each round runs every implementation once.
 * BENCH_ROUNDS=1 shortens a profiling run.
 */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (quick ? 2 : 5))

/** (5) scans the whole table on every eviction; beyond this size it would take minutes. */
export const SPEC_PORT_MAX = 100_000
export const FLOOD_SIZE = quick ? 10_000 : 100_000
export const TAINTED_IN_FLOOD = 10
/** (5) floods for one short turn only, for the same reason. */
export const SPEC_PORT_FLOOD_CALLS = 2_000

export const FIBERS = quick ? 1_000 : 10_000
export const OPS_PER_FIBER = 20
export const CONCURRENT_SESSIONS = 1_000
export const CONCURRENCY_ROUNDS = quick ? 2 : 5

export const MEMORY_SESSIONS = quick ? 50_000 : 1_000_000
/** New ids thrown at a manager with the default options, to show the parked tier's bound. */
export const FLOOD_IDS = quick ? 100_000 : 1_000_000
export const REDIS_OPERATIONS = quick ? 2_000 : 20_000

/** Whether `subject` runs at table size `n`. */
export const runsAt = (subject: Subject, n: number): boolean => {
  if (!included(subject.key)) return false
  if (subject.key === "specPort" && n > SPEC_PORT_MAX) return false
  if (subject.variant === true) return n === Math.min(...SIZES) || n === INTERLEAVED_MAX
  return true
}

function list(name: string): ReadonlyArray<string> | undefined {
  return process.env[name]?.split(",").map((s) => s.trim())
}

function unique(n: number, i: number, all: ReadonlyArray<number>): boolean {
  return all.indexOf(n) === i
}
