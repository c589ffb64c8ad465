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
 * Table sizes up to this one run interleaved in this process; larger ones, whose tables would
 * not all fit in one heap without distorting its collections, in child processes.
 */
export const INTERLEAVED_MAX = quick ? 10_000 : 100_000
/** The size measured in child processes; in the quick form it stands in for 1,000,000. */
export const LARGE = quick ? 30_000 : 1_000_000
export const SIZES: ReadonlyArray<number> =
  onlySizes ?? [1_000, 10_000, INTERLEAVED_MAX, LARGE].filter(unique)
/** The sizes the targets are tracked at: the smallest, the largest interleaved, the large one. */
export const TRACKED_SIZES: ReadonlyArray<number> = [1_000, INTERLEAVED_MAX, LARGE]

/** Operations per chunk: every implementation runs one chunk in turn, round robin. */
export const CHUNK = 2_000
/** Chunks per block, the unit of figures and ratios in one process (see measure.ts). */
export const PER_BLOCK = quick ? 2 : 5
export const MEASURED = quick ? 20_000 : 200_000
export const WARMUP = quick ? 4_000 : 20_000
/**
 * Child-process rounds at the large size: each round runs every implementation once.
 * BENCH_ROUNDS=1 shortens a profiling run.
 */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (quick ? 2 : 5))

/** (5) scans the whole table on every eviction; beyond this size it would take minutes. */
export const SPEC_PORT_MAX = 100_000
export const FLOOD_SIZE = quick ? 10_000 : 100_000
export const TAINTED_IN_FLOOD = 10
/** (5) floods for one chunk only, for the same reason. */
export const SPEC_PORT_FLOOD_CALLS = CHUNK

export const FIBERS = quick ? 1_000 : 10_000
export const OPS_PER_FIBER = 20
export const CONCURRENT_SESSIONS = 1_000
export const CONCURRENCY_ROUNDS = quick ? 2 : 5

export const MEMORY_SESSIONS = quick ? 50_000 : 1_000_000
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
