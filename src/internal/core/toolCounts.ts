import { HashMap, Option } from "effect"
import type { ToolName } from "../../ToolName.js"
import { appended2, replaced } from "./arrays.js"

/**
 * The per-tool call counts of one session. Most sessions call a handful of tools, so up to
 * `SMALL` names are kept as a flat array `[name0, count0, name1, count1, ...]`, which costs a
 * fraction of a HashMap's memory and is copied in a few nanoseconds; past that they move to a
 * HashMap so that a session with hundreds of tools still updates in O(log n).
 */
export type ToolCounts = SmallCounts | HashMap.HashMap<ToolName, number>

type SmallCounts = ReadonlyArray<ToolName | number>

const SMALL = 8

/** No calls yet. */
export const empty: ToolCounts = []

const isSmall = (counts: ToolCounts): counts is SmallCounts => Array.isArray(counts)

/** How many distinct tools were counted. */
export const size = (counts: ToolCounts): number =>
  isSmall(counts) ? counts.length >> 1 : HashMap.size(counts)

/** The count of one tool, 0 when it was never called. */
export const get = (counts: ToolCounts, tool: ToolName): number => {
  if (!isSmall(counts)) return Option.getOrElse(HashMap.get(counts, tool), () => 0)
  for (let i = 0; i < counts.length; i += 2) {
    if (counts[i] === tool) return counts[i + 1] as number
  }
  return 0
}

/**
 * The counts with one more call of `tool`, or `undefined` when `tool` is new and the session
 * already counts `maxTools` distinct tools.
 */
export const increment = (counts: ToolCounts, tool: ToolName, maxTools: number): ToolCounts | undefined => {
  if (!isSmall(counts)) {
    const current = HashMap.get(counts, tool)
    if (Option.isNone(current)) {
      return HashMap.size(counts) >= maxTools ? undefined : HashMap.set(counts, tool, 1)
    }
    return HashMap.set(counts, tool, current.value + 1)
  }
  for (let i = 0; i < counts.length; i += 2) {
    if (counts[i] === tool) {
      return replaced(counts, i + 1, (counts[i + 1] as number) + 1)
    }
  }
  if (counts.length >> 1 >= maxTools) return undefined
  if (counts.length >> 1 < SMALL) return appended2<ToolName | number>(counts, tool, 1)
  return HashMap.set(toHashMap(counts), tool, 1)
}

/** Calls `f` with each counted tool and its count. */
export const forEach = (counts: ToolCounts, f: (tool: ToolName, count: number) => void): void => {
  if (!isSmall(counts)) {
    HashMap.forEach(counts, (count, tool) => f(tool, count))
    return
  }
  for (let i = 0; i < counts.length; i += 2) f(counts[i] as ToolName, counts[i + 1] as number)
}

/** Counts from (tool, count) pairs of distinct tools, in the same form `increment` builds. */
export const fromEntries = (entries: ReadonlyArray<readonly [ToolName, number]>): ToolCounts => {
  if (entries.length > SMALL) return HashMap.fromIterable(entries)
  const counts = new Array<ToolName | number>(entries.length * 2)
  for (let i = 0; i < entries.length; i++) {
    counts[2 * i] = entries[i]![0]
    counts[2 * i + 1] = entries[i]![1]
  }
  return counts
}

/** The counts as the immutable map a snapshot carries. */
export const toHashMap = (counts: ToolCounts): HashMap.HashMap<ToolName, number> => {
  if (!isSmall(counts)) return counts
  // A few plain sets: for a handful of entries cheaper than a mutable copy (measured).
  let map = HashMap.empty<ToolName, number>()
  for (let i = 0; i < counts.length; i += 2)
    map = HashMap.set(map, counts[i] as ToolName, counts[i + 1] as number)
  return map
}
