/**
 * W6: the Redis layer on a private redis-server, increments from 1 and from 64 fibers, beside
 * a naive write-through design (read the session as JSON, change it, write it back with SETEX:
 * what the original design does with a shared store) under the same concurrency, with the
 * updates it lost.
 */
import { Effect } from "effect"
import { Redis } from "ioredis"
import { SessionId, SessionManager, ToolName } from "../../src/index.js"
import { layerRedis } from "../../src/redis.js"
import { redisServerAvailable, startRedis } from "../support/redisServer.js"

export interface RedisFigures {
  readonly variant: string
  readonly fibers: number
  readonly operations: number
  readonly opsPerSecond: number
  readonly lostUpdates: number
}

const SESSIONS = 100
const tool = ToolName.make("web_fetch")
const ids = Array.from({ length: SESSIONS }, (_, i) => SessionId.make(`redis-bench-${i}`))

/** `operations` calls, spread over the sessions, by `fibers` fibers at once. */
const plan = (operations: number, fibers: number) =>
  Array.from({ length: fibers }, (_, f) =>
    Array.from({ length: Math.floor(operations / fibers) }, (_, k) => ids[(f * 7 + k) % SESSIONS]!)
  )

const timed = <A>(effect: Effect.Effect<A>) =>
  Effect.gen(function* () {
    const start = process.hrtime.bigint()
    const value = yield* effect
    return { value, seconds: Number(process.hrtime.bigint() - start) / 1e9 }
  })

export const redisWorkload = (operations: number): Effect.Effect<ReadonlyArray<RedisFigures>> =>
  Effect.gen(function* () {
    if (!redisServerAvailable) {
      console.error("  W6 skipped: redis-server is not on PATH")
      return []
    }
    const server = yield* Effect.promise(() => startRedis())
    const figures: Array<RedisFigures> = []
    try {
      for (const fibers of [1, 64]) {
        const work = plan(operations, fibers)
        const total = work.reduce((n, calls) => n + calls.length, 0)

        // This library on Redis.
        const library = Effect.gen(function* () {
          const sessions = yield* SessionManager
          const { seconds } = yield* timed(
            Effect.forEach(
              work,
              (calls) =>
                Effect.forEach(calls, (id) => Effect.orDie(sessions.increment(id, tool)), { discard: true }),
              { concurrency: "unbounded", discard: true }
            )
          )
          const counted = (yield* Effect.orDie(sessions.stats)).totalCalls
          return { seconds, counted }
        }).pipe(
          Effect.provide(
            layerRedis({
              url: server.url,
              keyPrefix: `bench-${fibers}`,
              maxSessions: SESSIONS * 2
            })
          ),
          Effect.orDie
        )
        const lib = yield* library
        figures.push({
          variant: "this library (Redis layer)",
          fibers,
          operations: total,
          opsPerSecond: total / lib.seconds,
          lostUpdates: total - lib.counted
        })
        console.error(`  W6 library, ${fibers} fibers: ${(total / lib.seconds).toFixed(0)} ops/s`)

        // The naive write-through design, on its own client.
        const client = new Redis(server.url)
        const key = (id: string) => `naive-${fibers}:${id}`
        const writeThrough = (id: string) =>
          Effect.promise(async () => {
            const raw = await client.get(key(id))
            const session =
              raw === null ? { counts: {} as Record<string, number>, total: 0 } : JSON.parse(raw)
            session.counts[tool] = (session.counts[tool] ?? 0) + 1
            session.total += 1
            await client.setex(key(id), 3600, JSON.stringify(session))
          })
        const naive = yield* timed(
          Effect.forEach(work, (calls) => Effect.forEach(calls, writeThrough, { discard: true }), {
            concurrency: "unbounded",
            discard: true
          })
        )
        const stored = yield* Effect.promise(() => client.mget(...ids.map(key)))
        yield* Effect.promise(() => client.quit())
        const counted = stored.reduce((n, raw) => n + (raw === null ? 0 : JSON.parse(raw).total), 0)
        figures.push({
          variant: "naive write-through (GET, change, SETEX)",
          fibers,
          operations: total,
          opsPerSecond: total / naive.seconds,
          lostUpdates: total - counted
        })
        console.error(
          `  W6 naive, ${fibers} fibers: ${(total / naive.seconds).toFixed(0)} ops/s, lost ${total - counted}`
        )
      }
    } finally {
      yield* Effect.promise(() => server.stop())
    }
    return figures
  })
