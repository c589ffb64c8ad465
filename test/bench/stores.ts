/**
 * The alternatives the library is compared with. Both keep the same state per session (counts
 * per tool, total calls, taints, creation and last access time) and return it from the
 * operations, as the library does.
 */
import { LRUCache } from "lru-cache"
import type { PIIType } from "../../src/index.js"

export interface PlainSession {
  readonly id: string
  readonly createdAt: number
  lastAccessedAt: number
  readonly counts: Map<string, number>
  readonly taints: Set<PIIType>
  totalCalls: number
}

const newSession = (id: string, now: number): PlainSession => ({
  id,
  createdAt: now,
  lastAccessedAt: now,
  counts: new Map(),
  taints: new Set(),
  totalCalls: 0
})

const noTaints: ReadonlySet<PIIType> = new Set()

/**
 * What an application would write by hand on `lru-cache`: `ttl` with `updateAgeOnGet` for the
 * operations that touch, `peek` for reads (which must not extend a session's life). It cannot
 * protect tainted sessions: the cache evicts whatever is least recently used.
 */
export class LruSessionStore {
  readonly cache: LRUCache<string, PlainSession>

  constructor(maxSessions: number, ttlMillis: number) {
    this.cache = new LRUCache({ max: maxSessions, ttl: ttlMillis, updateAgeOnGet: true })
  }

  private touch(id: string): PlainSession {
    let session = this.cache.get(id)
    if (session === undefined) {
      session = newSession(id, Date.now())
      this.cache.set(id, session)
    }
    session.lastAccessedAt = Date.now()
    return session
  }

  increment(id: string, tool: string): PlainSession {
    const session = this.touch(id)
    session.counts.set(tool, (session.counts.get(tool) ?? 0) + 1)
    session.totalCalls++
    return session
  }

  addTaint(id: string, pii: PIIType): PlainSession {
    const session = this.touch(id)
    session.taints.add(pii)
    return session
  }

  get(id: string): PlainSession | undefined {
    return this.cache.peek(id)
  }

  getTaints(id: string): ReadonlySet<PIIType> {
    return this.cache.peek(id)?.taints ?? noTaints
  }

  get size(): number {
    return this.cache.size
  }
}

/**
 * The plainest design: a Map of sessions with their last access time,
 * a linear scan for the oldest session when the table is full, and for expired sessions on
 * cleanup.
 */
export class SpecPortStore {
  readonly sessions = new Map<string, PlainSession>()

  constructor(
    readonly maxSessions: number,
    readonly ttlMillis: number
  ) {}

  getOrCreate(id: string): PlainSession {
    const now = performance.now()
    const existing = this.sessions.get(id)
    if (existing !== undefined) {
      if (now - existing.lastAccessedAt <= this.ttlMillis) return existing
      this.sessions.delete(id)
    }
    if (this.sessions.size >= this.maxSessions) {
      let oldest: PlainSession | undefined
      for (const session of this.sessions.values()) {
        if (oldest === undefined || session.lastAccessedAt < oldest.lastAccessedAt) oldest = session
      }
      if (oldest !== undefined) this.sessions.delete(oldest.id)
    }
    const session = newSession(id, now)
    this.sessions.set(id, session)
    return session
  }

  increment(id: string, tool: string): PlainSession {
    const session = this.getOrCreate(id)
    session.counts.set(tool, (session.counts.get(tool) ?? 0) + 1)
    session.totalCalls++
    session.lastAccessedAt = performance.now()
    return session
  }

  getTaints(id: string): ReadonlySet<PIIType> {
    return this.sessions.get(id)?.taints ?? noTaints
  }

  cleanup(): number {
    const now = performance.now()
    let removed = 0
    for (const [id, session] of this.sessions) {
      if (now - session.lastAccessedAt > this.ttlMillis) {
        this.sessions.delete(id)
        removed++
      }
    }
    return removed
  }
}
