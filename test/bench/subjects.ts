/**
 * The implementations behind one driver interface. Each batch runs the way its kind of caller
 * would run it: the library and the Effect stores inside one Effect program, the others in a
 * plain loop. The harness times the batches (wall clock and process CPU), so a driver only runs.
 */
import { Effect, HashMap, HashSet, Option, Queue, Ref, Scope } from "effect"
import {
  type PIIType,
  type SessionEvent,
  type SessionId,
  SessionManager,
  type SessionManagerService
} from "../../src/index.js"
import type { Call } from "./sequence.js"
import { LruSessionStore, SpecPortStore } from "./stores.js"

export interface Driver {
  readonly increments: (calls: ReadonlyArray<Call>) => void
  readonly getTaints: (ids: ReadonlyArray<SessionId>) => void
  readonly gets: (ids: ReadonlyArray<SessionId>) => void
  readonly addTaints: (ids: ReadonlyArray<SessionId>, pii: PIIType) => void
  /** How many of `ids` still carry a taint. */
  readonly stillTainted: (ids: ReadonlyArray<SessionId>) => number
  readonly liveSessions: () => number
  readonly totalCalls: () => number
}

export type SubjectKey =
  | "effect"
  | "effectNoMetrics"
  | "effectSubscribed"
  | "effectTraced"
  | "runSync"
  | "lruEffect"
  | "lru"
  | "specPort"
  | "floor"

export interface Subject {
  readonly key: SubjectKey
  readonly label: string
  /**
   * Only for the steady and read workloads: it evicts only the victims a steady sequence names
   * (`Call.evicts`), so it cannot take part in a flood.
   */
  readonly steadyOnly?: true
  /**
   * A variant of (1), shown only at the smallest size and the largest interleaved one, where it
   * makes its point without doubling the run.
   */
  readonly variant?: true
  readonly make: (maxSessions: number) => Driver
}

// Every `make` is a function, so the helpers it calls may follow it.
export const subjects: ReadonlyArray<Subject> = [
  {
    key: "effect",
    label: "(1) this library, inside one Effect program",
    make: (n) => libraryDriver(makeLibrary(n), false)
  },
  {
    key: "effectNoMetrics",
    label: "(1) with metrics off",
    variant: true,
    make: (n) => libraryDriver(makeLibrary(n, false), false)
  },
  {
    key: "effectSubscribed",
    label: "(1) with an event subscriber reading along",
    variant: true,
    make: (n) => subscribed(n)
  },
  {
    key: "effectTraced",
    label: "(1) with tracing on (Effect's default tracer)",
    variant: true,
    make: (n) => libraryDriver(makeLibrary(n, true, true), false)
  },
  {
    key: "runSync",
    label: "(2) this library, Effect.runSync per operation",
    make: (n) => libraryDriver(makeLibrary(n), true)
  },
  {
    key: "lruEffect",
    label: "(3) lru-cache store, each operation in Effect.sync",
    make: (n) => lruDriver(new LruSessionStore(n, TTL_MS), true)
  },
  {
    key: "lru",
    label: "(4) lru-cache store, called directly",
    make: (n) => lruDriver(new LruSessionStore(n, TTL_MS), false)
  },
  {
    key: "specPort",
    label: "(5) a plain Map, scanned for the oldest session on eviction",
    make: (n) => specPortDriver(new SpecPortStore(n, TTL_MS))
  },
  {
    key: "floor",
    label: "(0) floor: Effect Ref over Effect HashMap, told its victims; no index, expiry or snapshot",
    steadyOnly: true,
    make: () => floorDriver()
  }
]

/** The subject with this key (the child processes receive only the key). */
export const subject = (key: string): Subject => {
  const found = subjects.find((s) => s.key === key)
  if (found === undefined) throw new Error(`no benchmark subject "${key}"`)
  return found
}

const TTL_MS = 3_600_000

// The library's operations can only fail here with a programming error in the harness.
const orDie = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A> => Effect.orDie(effect)

/**
 * `subscriber`: a subscription that the program drains every 64 operations, as an audit trail
 * reading along would.
 */
const libraryDriver = (
  sm: SessionManagerService,
  perOperation: boolean,
  subscriber?: Queue.Dequeue<SessionEvent>
): Driver => {
  const batch = <A>(items: ReadonlyArray<A>, op: (item: A) => Effect.Effect<unknown>): void => {
    if (perOperation) {
      for (const item of items) Effect.runSync(op(item))
      return
    }
    Effect.runSync(
      Effect.gen(function* () {
        let i = 0
        for (const item of items) {
          yield* op(item)
          if (subscriber !== undefined && ++i % 64 === 0) yield* Queue.takeAll(subscriber)
        }
      })
    )
  }
  return {
    increments: (calls) => batch(calls, (c) => orDie(sm.increment(c.id, c.tool))),
    getTaints: (ids) => batch(ids, (id) => orDie(sm.getTaints(id))),
    gets: (ids) => batch(ids, (id) => orDie(sm.get(id))),
    addTaints: (ids, pii) => {
      batch(ids, (id) => orDie(sm.addTaint(id, pii)))
    },
    stillTainted: (ids) =>
      ids.filter((id) => HashSet.size(Effect.runSync(orDie(sm.getTaints(id)))) > 0).length,
    liveSessions: () => Effect.runSync(orDie(sm.stats)).activeSessions,
    totalCalls: () => Effect.runSync(orDie(sm.stats)).totalCalls
  }
}

const lruDriver = (store: LruSessionStore, inEffect: boolean): Driver => {
  const batch = <A>(items: ReadonlyArray<A>, op: (item: A) => unknown): void => {
    if (!inEffect) {
      for (const item of items) op(item)
      return
    }
    Effect.runSync(
      Effect.gen(function* () {
        for (const item of items) yield* Effect.sync(() => op(item))
      })
    )
  }
  return {
    increments: (calls) => batch(calls, (c) => store.increment(c.id, c.tool)),
    getTaints: (ids) => batch(ids, (id) => store.getTaints(id)),
    gets: (ids) => batch(ids, (id) => store.get(id)),
    addTaints: (ids, pii) => {
      batch(ids, (id) => store.addTaint(id, pii))
    },
    stillTainted: (ids) => ids.filter((id) => store.getTaints(id).size > 0).length,
    liveSessions: () => store.size,
    totalCalls: () => {
      let sum = 0
      for (const session of store.cache.values()) sum += session.totalCalls
      return sum
    }
  }
}

const specPortDriver = (store: SpecPortStore): Driver => {
  const batch = <A>(items: ReadonlyArray<A>, op: (item: A) => unknown): void => {
    for (const item of items) op(item)
  }
  return {
    increments: (calls) => batch(calls, (c) => store.increment(c.id, c.tool)),
    getTaints: (ids) => batch(ids, (id) => store.getTaints(id)),
    gets: (ids) => batch(ids, (id) => store.sessions.get(id)),
    addTaints: (ids, pii) => {
      batch(ids, (id) => store.getOrCreate(id).taints.add(pii))
    },
    stillTainted: (ids) => ids.filter((id) => store.getTaints(id).size > 0).length,
    liveSessions: () => store.sessions.size,
    totalCalls: () => {
      let sum = 0
      for (const session of store.sessions.values()) sum += session.totalCalls
      return sum
    }
  }
}

/**
 * Not an alternative but a floor: the least any design of this library's shape (an Effect Ref over
 * an Effect HashMap, one immutable record per session) can cost here, with no access index, no
 * expiry and no snapshot. It shows how much of (1) is the HashMap itself.
 *
 * Its table holds N sessions, like everyone's. Left unbounded it would grow past N by every new
 * id (to 23 times N at N = 1,000 over a run), so every HashMap operation would walk a deeper trie
 * than (1)'s and the ratio would flatter (1) most where it costs most. So on a call to a new id
 * it also removes the session the sequence names as exact LRU's victim (`Call.evicts`), inside
 * the same `Ref.update`: still one atomic update per call, but one in ten calls makes two
 * HashMap changes instead of one. That is the least any bounded table must do (the victim has
 * to leave), and what it does not pay is finding the victim, which is exactly the index (1)
 * keeps. A run-time table without an oracle cannot do less, so the bound stays honest.
 */
const floorDriver = (): Driver => {
  interface Record {
    readonly totalCalls: number
    readonly tools: ReadonlyArray<string | number>
  }
  const ref = Ref.unsafeMake(HashMap.empty<SessionId, Record>())
  const count = (found: Option.Option<Record>, tool: string): Record => {
    if (Option.isNone(found)) return { totalCalls: 1, tools: [tool, 1] }
    const tools = found.value.tools.slice()
    const at = tools.indexOf(tool)
    if (at === -1) tools.push(tool, 1)
    else tools[at + 1] = (tools[at + 1] as number) + 1
    return { totalCalls: found.value.totalCalls + 1, tools }
  }
  const inProgram = <A>(items: ReadonlyArray<A>, op: (item: A) => Effect.Effect<unknown>): void =>
    Effect.runSync(
      Effect.gen(function* () {
        for (const item of items) yield* op(item)
      })
    )
  const read = (id: SessionId) => Effect.map(Ref.get(ref), (m) => HashMap.get(m, id))
  return {
    increments: (calls) =>
      inProgram(calls, (c) =>
        Ref.update(ref, (m) => {
          const next = HashMap.modifyAt(m, c.id, (o) => Option.some(count(o, c.tool)))
          return c.evicts === undefined ? next : HashMap.remove(next, c.evicts)
        })
      ),
    getTaints: (ids) => inProgram(ids, read),
    gets: (ids) => inProgram(ids, read),
    addTaints: () => {},
    stillTainted: () => 0,
    liveSessions: () => HashMap.size(Ref.get(ref).pipe(Effect.runSync)),
    totalCalls: () => 0
  }
}

const makeLibrary = (maxSessions: number, metrics = true, tracing = false) =>
  Effect.runSync(SessionManager.make({ maxSessions, ttl: TTL_MS, metrics, tracing }))

const subscribed = (maxSessions: number) => {
  const sm = makeLibrary(maxSessions)
  // The subscription lives as long as the driver; the scope is never closed.
  const queue = Effect.runSync(Effect.flatMap(Scope.make(), (scope) => Scope.extend(sm.subscribe, scope)))
  return libraryDriver(sm, false, queue)
}
