import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Layer, Option, TestClock } from "effect"
import { SessionId, SessionManager, type SessionManagerOptions } from "../src/index.js"

const buildExit = (options: SessionManagerOptions) =>
  Effect.exit(Layer.build(SessionManager.layer(options)).pipe(Effect.scoped))

const defectMessage = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "(built)"
  const defect = Cause.dieOption(exit.cause)
  return Option.match(defect, {
    onNone: () => "(no defect)",
    onSome: (d) => (d instanceof Error ? d.message : String(d))
  })
}

describe("SessionManager options", () => {
  const invalid: ReadonlyArray<readonly [string, SessionManagerOptions]> = [
    ["ttl", { ttl: -5 }],
    ["ttl", { ttl: 0 }],
    ["ttl", { ttl: "0 seconds" }],
    ["maxParkedBytes", { maxParkedBytes: -1 }],
    ["maxParkedBytes", { maxParkedBytes: 1.5 }],
    ["ttl", { ttl: Number.NaN }],
    ["ttl", { ttl: "-5 seconds" as Duration.DurationInput }],
    ["ttl", { ttl: "5 parsecs" as Duration.DurationInput }],
    ["ttl", { ttl: -1n }],
    ["ttl", { ttl: [-1, 0] }],
    ["maxSessions", { maxSessions: 0 }],
    ["maxSessions", { maxSessions: 1.5 }],
    ["maxSessions", { maxSessions: Number.NaN }],
    ["maxSessions", { maxSessions: Number.POSITIVE_INFINITY }],
    ["protectTainted", { protectTainted: "yes" as unknown as boolean }],
    ["maxToolsPerSession", { maxToolsPerSession: 0 }],
    ["maxToolsPerSession", { maxToolsPerSession: -3 }]
  ]
  for (const [option, options] of invalid) {
    it.effect(
      `an invalid ${option} (${String(Object.values(options)[0])}) makes the layer die naming it`,
      () =>
        Effect.gen(function* () {
          const exit = yield* buildExit(options)
          expect(Exit.isFailure(exit)).toBe(true)
          expect(defectMessage(exit)).toContain(`"${option}"`)
        })
    )
  }

  const valid: ReadonlyArray<SessionManagerOptions> = [
    {},
    { ttl: "30 minutes" },
    { ttl: "1.5 seconds" },
    { ttl: Duration.infinity },
    { ttl: 10n },
    { ttl: [1, 0] },
    { maxSessions: 1, protectTainted: false, maxToolsPerSession: 1 },
    { maxParkedBytes: 0 },
    { ttl: "1 millis", maxParkedBytes: 1024 }
  ]
  for (const options of valid) {
    it.effect(`builds with ${JSON.stringify(options, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}`, () =>
      Effect.gen(function* () {
        const exit = yield* buildExit(options)
        expect(Exit.isSuccess(exit)).toBe(true)
      })
    )
  }

  it.effect("the defaults are 1 hour, 1000 live sessions, tainted sessions protected, 16 MiB parked", () =>
    Effect.gen(function* () {
      const sm = yield* SessionManager
      yield* sm.addTaint(SessionId.make("tainted"), "EMAIL")
      for (let i = 0; i < 1000; i++) yield* sm.getOrCreate(SessionId.make(`s${i}`))
      const stats = yield* sm.stats
      expect(stats.maxSessions).toBe(1000)
      expect(stats.activeSessions).toBe(1000)
      expect(stats.evicted).toBe(0)
      expect(stats.parked).toBe(1)
      expect(stats.maxParkedBytes).toBe(16 * 1024 * 1024)
      expect(Option.isSome(yield* sm.get(SessionId.make("tainted")))).toBe(true)
      yield* TestClock.adjust(Duration.hours(1))
      expect(Option.isSome(yield* sm.get(SessionId.make("tainted")))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      expect(Option.isNone(yield* sm.get(SessionId.make("tainted")))).toBe(true)
    }).pipe(Effect.provide(SessionManager.Default))
  )

  it.effect("make builds the service without a layer", () =>
    Effect.gen(function* () {
      const sm = yield* SessionManager.make({ maxSessions: 3 })
      expect((yield* sm.stats).maxSessions).toBe(3)
    })
  )
})
