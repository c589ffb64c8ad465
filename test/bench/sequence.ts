/**
 * The operation sequences every implementation runs, generated once per workload from a fixed
 * seed. "Existing" ids are chosen among the sessions that are live at that point under exact
 * LRU, which the generator simulates with a Map (insertion order is access order).
 */
import { SessionId, ToolName } from "../../src/index.js"

/** A small, fast, seeded PRNG (mulberry32), so every run generates the same sequences. */
export const random = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const TOOLS: ReadonlyArray<ToolName> = [
  "web_fetch",
  "exec",
  "read_file",
  "send_message",
  "search"
].map((t) => ToolName.make(t))

export const sessionId = (n: number): SessionId => SessionId.make(`session-${n.toString().padStart(9, "0")}`)

export interface Call {
  readonly id: SessionId
  readonly tool: ToolName
  /**
   * In a steady sequence, the session that exact LRU evicts to make room for this new id. Only
   * the floor reads it: it has no index to find the victim, so the sequence names it.
   */
  readonly evicts?: SessionId
}

export interface SteadySequence {
  /** Ids that fill the table, in creation order. */
  readonly fill: ReadonlyArray<SessionId>
  /** Calls before the measured ones, to warm the JIT up. */
  readonly warmup: ReadonlyArray<Call>
  readonly measured: ReadonlyArray<Call>
  /** Ids live at the end of `measured`, for the read workload. */
  readonly liveAtEnd: ReadonlyArray<SessionId>
}

/**
 * `fill` creates N sessions; then every call goes to a live session with probability
 * `1 - newShare` and to a new id otherwise (which evicts the least recently used session).
 */
export const steady = (options: {
  readonly sessions: number
  readonly warmup: number
  readonly measured: number
  readonly newShare: number
  readonly seed: number
}): SteadySequence => {
  const next = random(options.seed)
  const order = new Map<SessionId, true>()
  // A dense array of live ids with positions, for uniform picks and O(1) removal.
  const live: Array<SessionId> = []
  const position = new Map<SessionId, number>()
  let created = 0
  const add = (id: SessionId) => {
    position.set(id, live.length)
    live.push(id)
    order.set(id, true)
  }
  const evictOldest = (): SessionId => {
    const oldest = order.keys().next().value as SessionId
    order.delete(oldest)
    const at = position.get(oldest)!
    const last = live.pop()!
    if (last !== oldest) {
      live[at] = last
      position.set(last, at)
    }
    position.delete(oldest)
    return oldest
  }
  const fill: Array<SessionId> = []
  for (let i = 0; i < options.sessions; i++) {
    const id = sessionId(created++)
    fill.push(id)
    add(id)
  }
  const calls = (count: number): Array<Call> => {
    const out: Array<Call> = []
    for (let i = 0; i < count; i++) {
      const tool = TOOLS[Math.floor(next() * TOOLS.length)]!
      if (next() < options.newShare) {
        const id = sessionId(created++)
        const evicts = evictOldest()
        add(id)
        out.push({ id, tool, evicts })
      } else {
        const id = live[Math.floor(next() * live.length)]!
        order.delete(id)
        order.set(id, true)
        out.push({ id, tool })
      }
    }
    return out
  }
  const warmup = calls(options.warmup)
  const measured = calls(options.measured)
  return { fill, warmup, measured, liveAtEnd: live.slice() }
}

/** Picks `count` ids uniformly from `ids`. */
export const picks = (ids: ReadonlyArray<SessionId>, count: number, seed: number): Array<SessionId> => {
  const next = random(seed)
  return Array.from({ length: count }, () => ids[Math.floor(next() * ids.length)]!)
}

/** `count` ids never used before, starting after `from`. */
export const fresh = (from: number, count: number): Array<SessionId> =>
  Array.from({ length: count }, (_, i) => sessionId(from + i))
