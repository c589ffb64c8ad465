/**
 * The round robin that lets implementations be compared on a shared, noisy machine: chunk k of
 * every implementation runs before chunk k + 1 of any, so a burst of load from another process
 * lands on all of them within a few milliseconds, and the ratio of their chunk-k times barely
 * moves.
 */
import { type Sample, timed } from "./measure.js"

export interface Lane {
  readonly key: string
  /** The batches this lane runs, in order; a lane with fewer batches drops out earlier. */
  readonly batches: ReadonlyArray<() => void>
}

/**
 * Runs batch k of every lane, then batch k + 1, each round starting one lane further on, so no
 * lane always runs right after the same other one (and inherits its garbage to collect).
 * Returns each lane's samples, in batch order.
 */
export const interleave = (lanes: ReadonlyArray<Lane>): ReadonlyMap<string, ReadonlyArray<Sample>> => {
  const samples = new Map<string, Array<Sample>>(lanes.map((lane) => [lane.key, []]))
  const rounds = Math.max(0, ...lanes.map((lane) => lane.batches.length))
  for (let k = 0; k < rounds; k++) {
    for (let j = 0; j < lanes.length; j++) {
      const lane = lanes[(k + j) % lanes.length]!
      const batch = lane.batches[k]
      if (batch !== undefined) samples.get(lane.key)!.push(timed(batch))
    }
  }
  return samples
}

/** `items` in consecutive chunks of `size`. */
export const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
