import { Duration, Either, Option } from "effect"
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
}

export const defaults = {
  ttl: Duration.hours(1),
  maxSessions: 1000,
  protectTainted: true,
  maxToolsPerSession: 1024
} as const

const durationString = /^\d+(?:\.\d+)?\s+(?:nanos?|micros?|millis?|seconds?|minutes?|hours?|days?|weeks?)$/

const nonNegative = (n: unknown): boolean => typeof n === "number" && !Number.isNaN(n) && n >= 0

/**
 * The TTL as a Duration, or undefined when the input is not a non-negative duration. The raw
 * input is checked first: `Duration.decode` turns `-5`, `NaN` and `"-5 seconds"` into zero.
 */
const decodeTtl = (input: unknown): Duration.Duration | undefined => {
  if (Duration.isDuration(input)) return input
  if (typeof input === "number" && !nonNegative(input)) return undefined
  if (typeof input === "bigint" && input < 0n) return undefined
  if (typeof input === "string" && !durationString.test(input)) return undefined
  if (Array.isArray(input) && !(input.length === 2 && input.every(nonNegative))) return undefined
  return Option.getOrUndefined(Duration.decodeUnknown(input))
}

const positiveInteger = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 1

const show = (value: unknown): string =>
  typeof value === "bigint" ? `${value}n` : String(JSON.stringify(value))

/** The options checked and resolved, or a message naming the first invalid option. */
export const decode = (options: SessionOptions): Either.Either<TableConfig, string> => {
  const ttl = decodeTtl(options.ttl ?? defaults.ttl)
  if (ttl === undefined) {
    return Either.left(
      `SessionManager option "ttl" must be a non-negative duration, got ${show(options.ttl)}`
    )
  }
  const maxSessions = options.maxSessions ?? defaults.maxSessions
  if (!positiveInteger(maxSessions)) {
    return Either.left(
      `SessionManager option "maxSessions" must be a positive integer, got ${show(maxSessions)}`
    )
  }
  const protectTainted = options.protectTainted ?? defaults.protectTainted
  if (typeof protectTainted !== "boolean") {
    return Either.left(
      `SessionManager option "protectTainted" must be a boolean, got ${show(protectTainted)}`
    )
  }
  const maxToolsPerSession = options.maxToolsPerSession ?? defaults.maxToolsPerSession
  if (!positiveInteger(maxToolsPerSession)) {
    return Either.left(
      `SessionManager option "maxToolsPerSession" must be a positive integer, got ${show(maxToolsPerSession)}`
    )
  }
  return Either.right({ ttlMillis: Duration.toMillis(ttl), maxSessions, protectTainted, maxToolsPerSession })
}
