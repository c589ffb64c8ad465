/**
 * Timing and the statistics of ratios. Every figure is kept per unit of measurement (a turn of
 * interleaved implementations in one process, or a round of child processes), so that a ratio
 * is taken between two implementations measured in the same unit, under the same machine
 * conditions, and its spread over the units shows how far the machine moved it.
 */
import { readFileSync } from "node:fs"
import { cpus } from "node:os"

/** The cost of one timed batch: wall clock and process CPU time (all threads, GC helpers too). */
export interface Sample {
  readonly wallNs: number
  readonly cpuNs: number
}

/** ns per operation, one value per unit, aligned by unit with the other implementations'. */
export interface Figures {
  readonly wall: ReadonlyArray<number>
  readonly cpu: ReadonlyArray<number>
}

/**
 * How a spread is taken: the interquartile range over turns (twenty of them, among which a
 * major GC or a burst of load lands in a few), or the full range over rounds (five or so).
 */
export type SpreadKind = "p25–p75" | "min–max"

export interface Summary {
  readonly median: number
  readonly low: number
  readonly high: number
  readonly kind: SpreadKind
  readonly units: number
}

/** A ratio in both clocks. */
export interface RatioSummary {
  readonly wall: Summary
  readonly cpu: Summary
}

/** Runs `run` once and reports its wall clock and process CPU time. */
export const timed = (run: () => void): Sample => {
  const cpuBefore = process.cpuUsage()
  const start = process.hrtime.bigint()
  run()
  const wallNs = Number(process.hrtime.bigint() - start)
  const cpu = process.cpuUsage(cpuBefore)
  return { wallNs, cpuNs: (cpu.user + cpu.system) * 1_000 }
}

/**
 * The samples of consecutive chunks (`operations[i]` operations each), summed over blocks of
 * `perBlock` chunks, as ns per operation: one block per turn in one process, one block for a
 * whole round in a child process.
 */
export const perOperation = (
  samples: ReadonlyArray<Sample>,
  operations: ReadonlyArray<number>,
  perBlock: number
): Figures => {
  const wall: Array<number> = []
  const cpu: Array<number> = []
  for (let i = 0; i < samples.length; i += perBlock) {
    let ops = 0
    let wallNs = 0
    let cpuNs = 0
    for (let j = i; j < Math.min(i + perBlock, samples.length); j++) {
      ops += operations[j]!
      wallNs += samples[j]!.wallNs
      cpuNs += samples[j]!.cpuNs
    }
    wall.push(wallNs / ops)
    cpu.push(cpuNs / ops)
  }
  return { wall, cpu }
}

export const summarize = (values: ReadonlyArray<number>, kind: SpreadKind): Summary => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return { median: Number.NaN, low: Number.NaN, high: Number.NaN, kind, units: 0 }
  return {
    median: quantile(sorted, 0.5),
    low: kind === "p25–p75" ? quantile(sorted, 0.25) : sorted[0]!,
    high: kind === "p25–p75" ? quantile(sorted, 0.75) : sorted[sorted.length - 1]!,
    kind,
    units: sorted.length
  }
}

/** `a / b` unit by unit (both measured in the same chunk or round), summarized. */
export const pairedRatio = (a: Figures, b: Figures, kind: SpreadKind): RatioSummary => ({
  wall: summarize(divide(a.wall, b.wall), kind),
  cpu: summarize(divide(a.cpu, b.cpu), kind)
})

/**
 * `a / b` for figures that were not measured side by side (two table sizes): the ratio of the
 * medians, with the widest interval the two spreads allow (a's low over b's high, a's high over
 * b's low), so the spread owns up to both runs' noise.
 */
export const unpairedRatio = (a: Summary, b: Summary): Summary => ({
  median: a.median / b.median,
  low: a.low / b.high,
  high: a.high / b.low,
  kind: a.kind === b.kind ? a.kind : "min–max",
  units: Math.min(a.units, b.units)
})

/** Two full collections, so that what a previous phase left behind is gone before the next. */
export const gc = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("run with node --expose-gc (npm run bench does)")
  collect()
  collect()
}

/** What the rest of the machine did while a phase ran: the figures mean little without it. */
export interface MachineLoad {
  /** Cores' worth of CPU time that other processes used, on average, during the phase. */
  readonly othersCores: number
  readonly cores: number
}

/**
 * Starts a meter of the machine's CPU time (Linux's /proc; elsewhere it reports nothing);
 * the returned function stops it. This process and its children are subtracted.
 */
export const machineMeter = (): (() => MachineLoad | undefined) => {
  const start = readTicks()
  const startWall = process.hrtime.bigint()
  return () => {
    const end = readTicks()
    if (start === undefined || end === undefined) return undefined
    const wallSeconds = Number(process.hrtime.bigint() - startWall) / 1e9
    const others = (end.busy - start.busy - (end.own - start.own)) / TICKS_PER_SECOND
    return { othersCores: Math.max(0, others / wallSeconds), cores: cpus().length }
  }
}

// USER_HZ, the unit of /proc/stat, is 100 on every Linux Node supports.
const TICKS_PER_SECOND = 100

/** The machine's busy ticks and this process's, its waited-for children's included. */
const readTicks = (): { readonly busy: number; readonly own: number } | undefined => {
  try {
    const cpu = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal: idle and iowait are not work.
    const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - cpu[3]! - cpu[4]!
    const self = readFileSync("/proc/self/stat", "utf8")
    // The fields after the command name, which may itself hold spaces and parentheses.
    const fields = self
      .slice(self.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number)
    // utime, stime, cutime, cstime are fields 14 to 17, so 11 to 14 here.
    const own = fields[11]! + fields[12]! + fields[13]! + fields[14]!
    return { busy, own }
  } catch {
    return undefined
  }
}

/** Linear interpolation between the closest ranks of a sorted, non-empty array. */
const quantile = (sorted: ReadonlyArray<number>, q: number): number => {
  const at = (sorted.length - 1) * q
  const below = Math.floor(at)
  const above = Math.ceil(at)
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (at - below)
}

const divide = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): Array<number> =>
  a.slice(0, Math.min(a.length, b.length)).map((x, i) => x / b[i]!)
