import { Duration, Either, Option } from "effect"
import type { ObserveOptions } from "./observe.js"
import type { TableConfig } from "./sessionTable.js"

/** The options every SessionManager layer takes. */
export interface SessionOptions {
  /** How long a session may stay idle before it expires (default 1 hour). */
  readonly ttl?: Duration.DurationInput | undefined
  /** The most live sessions (default 1000). */
  readonly maxSessions?: number | undefined
  /** Never evict a tainted session to make room (default true). */
  readonly protectTainted?: boolean | undefined
  /** The most distinct tools one session counts (default 1024). */
  readonly maxToolsPerSession?: number | undefined
  /** Drop expired sessions every this often in a background fiber (default off). */
  readonly sweepInterval?: Duration.DurationInput | undefined
  /** Update the metrics of `SessionMetrics` (default true). */
  readonly metrics?: boolean | undefined
  /** A span per operation (default false: a span costs far more than an operation). */
  readonly tracing?: boolean | undefined
  /** Put session ids on spans and log annotations (default false: they can identify people). */
  readonly traceSessionIds?: boolean | undefined
  /** How many events a subscriber may fall behind before it loses the oldest (default 1024). */
  readonly eventBuffer?: number | undefined
}

/** Options checked and resolved. */
export interface Resolved {
  readonly table: TableConfig
  readonly observe: ObserveOptions
  readonly sweepInterval: Duration.Duration | undefined
}

export const defaults = {
  ttl: Duration.hours(1),
  maxSessions: 1000,
  protectTainted: true,
  maxToolsPerSession: 1024,
  eventBuffer: 1024
} as const

const durationString = /^\d+(?:\.\d+)?\s+(?:nanos?|micros?|millis?|seconds?|minutes?|hours?|days?|weeks?)$/

const nonNegative = (n: unknown): boolean => typeof n === "number" && !Number.isNaN(n) && n >= 0

/**
 * The input as a Duration, or undefined when it is not a non-negative duration. The raw input
 * is checked first: `Duration.decode` turns `-5`, `NaN` and `"-5 seconds"` into zero.
 */
export const decodeDuration = (input: unknown): Duration.Duration | undefined => {
  if (Duration.isDuration(input)) return input
  if (typeof input === "number" && !nonNegative(input)) return undefined
  if (typeof input === "bigint" && input < 0n) return undefined
  if (typeof input === "string" && !durationString.test(input.trim())) return undefined
  if (Array.isArray(input) && !(input.length === 2 && input.every(nonNegative))) return undefined
  return Option.getOrUndefined(Duration.decodeUnknown(typeof input === "string" ? input.trim() : input))
}

const positiveInteger = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 1

const show = (value: unknown): string =>
  typeof value === "bigint" ? `${value}n` : String(JSON.stringify(value))

const invalid = (option: string, expected: string, value: unknown) =>
  Either.left(`SessionManager option "${option}" must be ${expected}, got ${show(value)}`)

const isBoolean = (value: unknown): value is boolean => typeof value === "boolean"

/** The options checked and resolved, or a message naming the first invalid option. */
export const decode = (options: SessionOptions): Either.Either<Resolved, string> => {
  const ttl = decodeDuration(options.ttl ?? defaults.ttl)
  if (ttl === undefined) return invalid("ttl", "a non-negative duration", options.ttl)
  const maxSessions = options.maxSessions ?? defaults.maxSessions
  if (!positiveInteger(maxSessions)) return invalid("maxSessions", "a positive integer", maxSessions)
  const protectTainted = options.protectTainted ?? defaults.protectTainted
  if (!isBoolean(protectTainted)) return invalid("protectTainted", "a boolean", protectTainted)
  const maxToolsPerSession = options.maxToolsPerSession ?? defaults.maxToolsPerSession
  if (!positiveInteger(maxToolsPerSession))
    return invalid("maxToolsPerSession", "a positive integer", maxToolsPerSession)
  let sweepInterval: Duration.Duration | undefined
  if (options.sweepInterval !== undefined) {
    sweepInterval = decodeDuration(options.sweepInterval)
    if (
      sweepInterval === undefined ||
      !Duration.isFinite(sweepInterval) ||
      Duration.toMillis(sweepInterval) <= 0
    ) {
      return invalid("sweepInterval", "a positive, finite duration", options.sweepInterval)
    }
  }
  const metrics = options.metrics ?? true
  if (!isBoolean(metrics)) return invalid("metrics", "a boolean", metrics)
  const tracing = options.tracing ?? false
  if (!isBoolean(tracing)) return invalid("tracing", "a boolean", tracing)
  const traceSessionIds = options.traceSessionIds ?? false
  if (!isBoolean(traceSessionIds)) return invalid("traceSessionIds", "a boolean", traceSessionIds)
  const eventBuffer = options.eventBuffer ?? defaults.eventBuffer
  if (!positiveInteger(eventBuffer)) return invalid("eventBuffer", "a positive integer", eventBuffer)
  return Either.right({
    table: { ttlMillis: Duration.toMillis(ttl), maxSessions, protectTainted, maxToolsPerSession },
    observe: { metrics, eventBuffer, tracing, traceSessionIds },
    sweepInterval
  })
}

/** The options of the Redis layer: the in-memory ones, and where and how to reach Redis. */
export interface RedisSessionOptions extends SessionOptions {
  /** Where Redis is, such as `redis://127.0.0.1:6379/0` (`rediss://` for TLS). */
  readonly url: string
  /** Prefix of every key of this manager, used as its Cluster hash tag (default `policyshield`). */
  readonly keyPrefix?: string | undefined
  /**
   * Whose time decides expiry: `"server"` (default), Redis `TIME`, so replicas with skewed
   * clocks agree; or `"client"`, the caller's Effect `Clock` (so TestClock drives it), clamped
   * in Redis so that time never goes backwards.
   */
  readonly clock?: "server" | "client" | undefined
  /** How long one command may take before it fails (default 2 seconds). */
  readonly commandTimeout?: Duration.DurationInput | undefined
}

/** Redis options checked and resolved. */
export interface ResolvedRedis extends Resolved {
  readonly url: string
  readonly keyPrefix: string
  readonly clock: "server" | "client"
  readonly commandTimeoutMillis: number
}

/** The Redis options checked and resolved, or a message naming the first invalid option. */
export const decodeRedis = (options: RedisSessionOptions): Either.Either<ResolvedRedis, string> =>
  Either.flatMap(decode(options), (resolved) => {
    const url = options.url
    if (typeof url !== "string" || !/^rediss?:\/\/./.test(url)) {
      return Either.left(`SessionManager option "url" must be a redis:// or rediss:// URL, got ${show(url)}`)
    }
    const keyPrefix = options.keyPrefix ?? "policyshield"
    if (typeof keyPrefix !== "string" || keyPrefix.length === 0 || /[{}\s]/.test(keyPrefix)) {
      return invalid("keyPrefix", "a non-empty string without braces or spaces", keyPrefix)
    }
    const clock = options.clock ?? "server"
    if (clock !== "server" && clock !== "client") return invalid("clock", '"server" or "client"', clock)
    const timeout = decodeDuration(options.commandTimeout ?? "2 seconds")
    if (timeout === undefined || !Duration.isFinite(timeout) || Duration.toMillis(timeout) <= 0) {
      return invalid("commandTimeout", "a positive, finite duration", options.commandTimeout)
    }
    return Either.right({
      ...resolved,
      url,
      keyPrefix,
      clock,
      commandTimeoutMillis: Duration.toMillis(timeout)
    })
  })
