/**
 * The options of every SessionManager layer, decoded in one place. A layer's options from code
 * and the same options read from the environment go through the same field checks: from code a
 * bad value is a programming error naming the option; from the environment it is a ConfigError
 * naming the variable.
 */
import { Config, ConfigError, Duration, Either, Option } from "effect"
import type { TableConfig } from "../core/sessionTable.js"
import type { ObserveOptions } from "./observe.js"

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
  /**
   * The most bytes of parked sessions' state: sessions moved out of the full live table keep
   * their taints and counts within this budget (default 16 MiB).
   */
  readonly maxParkedBytes?: number | undefined
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
  /**
   * What to do when the store has lost its state (flushed, or restarted without persistence):
   * `"failClosed"` (default) fails every operation for one TTL after the loss is noticed, so
   * that no washed taint or reset limit is trusted; `"accept"` starts afresh at once.
   */
  readonly onStoreLoss?: "failClosed" | "accept" | undefined
  /**
   * The store's epoch this replica expects (from `HGET "{keyPrefix}:meta" epoch`): a replica
   * started after a loss notices it only when told what the store was. Default: none, and the
   * replica takes the store as it finds it at first use.
   */
  readonly expectedEpoch?: string | undefined
  /**
   * How long decide-and-record keeps retrying while other replicas keep changing the same
   * session, with backoff and jitter, before it fails (default 10 seconds).
   */
  readonly contentionTimeout?: Duration.DurationInput | undefined
}

/** Options checked and resolved. */
export interface Resolved {
  readonly table: TableConfig
  readonly observe: ObserveOptions
  readonly sweepInterval: Duration.Duration | undefined
}

/** Redis options checked and resolved. */
export interface ResolvedRedis extends Resolved {
  readonly url: string
  readonly keyPrefix: string
  readonly clock: "server" | "client"
  readonly commandTimeoutMillis: number
  readonly onStoreLoss: "failClosed" | "accept"
  readonly expectedEpoch: string | undefined
  readonly contentionTimeoutMillis: number
}

/** The options checked and resolved, or a message naming the first invalid option. */
export const decode = (options: SessionOptions): Either.Either<Resolved, string> => {
  const problems: Array<string> = []
  const take = <A>(name: keyof RedisSessionOptions, value: unknown, fallback: A, field: Field<A>): A =>
    check(name, value, fallback, field, problems)
  const ttl = take("ttl", options.ttl, Duration.hours(1), fields.ttl)
  const maxSessions = take("maxSessions", options.maxSessions, 1000, fields.positiveInteger)
  const protectTainted = take("protectTainted", options.protectTainted, true, fields.boolean)
  const maxToolsPerSession = take(
    "maxToolsPerSession",
    options.maxToolsPerSession,
    1024,
    fields.positiveInteger
  )
  const maxParkedBytes = take("maxParkedBytes", options.maxParkedBytes, 16 * 1024 * 1024, fields.byteCount)
  const sweepInterval = take("sweepInterval", options.sweepInterval, undefined, fields.interval)
  const metrics = take("metrics", options.metrics, true, fields.boolean)
  const tracing = take("tracing", options.tracing, false, fields.boolean)
  const traceSessionIds = take("traceSessionIds", options.traceSessionIds, false, fields.boolean)
  const eventBuffer = take("eventBuffer", options.eventBuffer, 1024, fields.positiveInteger)
  if (problems.length > 0) return Either.left(problems[0]!)
  return Either.right({
    table: {
      ttlMillis: Duration.toMillis(ttl),
      maxSessions,
      protectTainted,
      maxToolsPerSession,
      maxParkedBytes
    },
    observe: { metrics, eventBuffer, tracing, traceSessionIds },
    sweepInterval
  })
}

/** The Redis options checked and resolved, or a message naming the first invalid option. */
export const decodeRedis = (options: RedisSessionOptions): Either.Either<ResolvedRedis, string> =>
  Either.flatMap(decode(options), (resolved) => {
    const problems: Array<string> = []
    const url = check("url", options.url, undefined, fields.url, problems)
    const keyPrefix = check("keyPrefix", options.keyPrefix, "policyshield", fields.keyPrefix, problems)
    const clock = check("clock", options.clock, "server" as const, fields.clock, problems)
    const timeout = check(
      "commandTimeout",
      options.commandTimeout,
      Duration.seconds(2),
      fields.interval,
      problems
    )
    const onStoreLoss = check(
      "onStoreLoss",
      options.onStoreLoss,
      "failClosed" as const,
      fields.onStoreLoss,
      problems
    )
    const expectedEpoch = check("expectedEpoch", options.expectedEpoch, undefined, fields.epoch, problems)
    const contention = check(
      "contentionTimeout",
      options.contentionTimeout,
      Duration.seconds(10),
      fields.interval,
      problems
    )
    if (problems.length > 0 || url === undefined || timeout === undefined || contention === undefined) {
      return Either.left(problems[0] ?? 'SessionManager option "url" is required')
    }
    return Either.right({
      ...resolved,
      url,
      keyPrefix,
      clock,
      commandTimeoutMillis: Duration.toMillis(timeout),
      onStoreLoss,
      expectedEpoch,
      contentionTimeoutMillis: Duration.toMillis(contention)
    })
  })

/**
 * Options from a `Config.Wrap`, checked by the same decoder as a layer's options. A value that
 * the wrap's own configs let through but the decoder rejects fails as a ConfigError too: the
 * configuration is at fault, not the program.
 */
export const fromConfig = <O extends SessionOptions, R>(
  wrapped: Config.Config.Wrap<O>,
  resolve: (options: O) => Either.Either<R, string>
): Config.Config<R> =>
  Config.mapOrFail(Config.unwrap(wrapped), (options) =>
    Either.mapLeft(resolve(options), (message) => ConfigError.InvalidData([], message))
  )

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

/** One option: what it must be, how a value is checked, how the environment's text is read. */
interface Field<A> {
  readonly expected: string
  readonly check: (value: unknown) => A | undefined
  /** The value the text of an environment variable stands for, before `check`. */
  readonly read: (text: string) => unknown
}

const durationString = /^\d+(?:\.\d+)?\s+(?:nanos?|micros?|millis?|seconds?|minutes?|hours?|days?|weeks?)$/

const nonNegative = (n: unknown): boolean => typeof n === "number" && !Number.isNaN(n) && n >= 0

const positiveFinite = (input: unknown): Duration.Duration | undefined => {
  const duration = decodeDuration(input)
  return duration !== undefined && Duration.isFinite(duration) && Duration.toMillis(duration) > 0
    ? duration
    : undefined
}

const asText = (text: string): unknown => text

const fields = {
  // Zero would make every limit and taint vanish a millisecond after it was recorded.
  ttl: {
    expected: "a positive duration such as 30 minutes (or Duration.infinity)",
    check: (input) => {
      const duration = decodeDuration(input)
      return duration !== undefined && Duration.toMillis(duration) > 0 ? duration : undefined
    },
    read: asText
  } satisfies Field<Duration.Duration>,
  interval: {
    expected: "a positive, finite duration such as 1 minute",
    check: positiveFinite,
    read: asText
  } satisfies Field<Duration.Duration>,
  positiveInteger: {
    expected: "a positive integer",
    check: (n) => (Number.isSafeInteger(n) && (n as number) >= 1 ? (n as number) : undefined),
    read: (text) => (/^\s*\d+\s*$/.test(text) ? Number(text) : text)
  } satisfies Field<number>,
  byteCount: {
    expected: "a non-negative integer number of bytes",
    check: (n) => (Number.isSafeInteger(n) && (n as number) >= 0 ? (n as number) : undefined),
    read: (text) => (/^\s*\d+\s*$/.test(text) ? Number(text) : text)
  } satisfies Field<number>,
  boolean: {
    expected: "true or false",
    check: (b) => (typeof b === "boolean" ? b : undefined),
    read: (text) => (text === "true" ? true : text === "false" ? false : text)
  } satisfies Field<boolean>,
  url: {
    expected: "a redis:// or rediss:// URL",
    check: (url) => (typeof url === "string" && /^rediss?:\/\/./.test(url) ? url : undefined),
    read: asText
  } satisfies Field<string>,
  keyPrefix: {
    expected: "a non-empty string without braces or spaces",
    check: (p) => (typeof p === "string" && p.length > 0 && !/[{}\s]/.test(p) ? p : undefined),
    read: asText
  } satisfies Field<string>,
  clock: {
    expected: '"server" or "client"',
    check: (c) => (c === "server" || c === "client" ? c : undefined),
    read: asText
  } satisfies Field<"server" | "client">,
  onStoreLoss: {
    expected: '"failClosed" or "accept"',
    check: (c) => (c === "failClosed" || c === "accept" ? c : undefined),
    read: asText
  } satisfies Field<"failClosed" | "accept">,
  epoch: {
    expected: "a non-empty string of letters, digits and dashes",
    check: (e) => (typeof e === "string" && /^[A-Za-z0-9-]{1,64}$/.test(e) ? e : undefined),
    read: asText
  } satisfies Field<string>
}

const show = (value: unknown): string =>
  typeof value === "bigint" ? `${value}n` : String(JSON.stringify(value))

/** The option's value checked, or its default when it is undefined; a problem is noted. */
function check<A, D>(
  name: string,
  value: unknown,
  fallback: D,
  field: Field<A>,
  problems: Array<string>
): A | D {
  if (value === undefined) return fallback
  const checked = field.check(value)
  if (checked === undefined) {
    problems.push(`SessionManager option "${name}" must be ${field.expected}, got ${show(value)}`)
    return fallback
  }
  return checked
}

/** The value an environment variable's text stands for, checked by the option's field. */
function fromText<A>(field: Field<A>, text: string): Either.Either<A, ConfigError.ConfigError> {
  if (text.trim().length === 0) {
    return Either.left(ConfigError.InvalidData([], `is empty; it must be ${field.expected}`))
  }
  const checked = field.check(field.read(text))
  return checked === undefined
    ? Either.left(ConfigError.InvalidData([], `must be ${field.expected}, got ${JSON.stringify(text)}`))
    : Either.right(checked)
}

/** An optional variable: unset gives `undefined` (the option's default). */
function fromVariable<A>(name: string, field: Field<A>): Config.Config<A | undefined> {
  return Config.option(Config.string(name).pipe(Config.mapOrFail((text) => fromText(field, text)))).pipe(
    Config.map(Option.getOrUndefined)
  )
}

// The default configs are values built when the module loads, so they come after the fields.

/** The environment variables the default configs read, by option. */
export const variables = {
  ttl: "POLICYSHIELD_SESSION_TTL",
  maxSessions: "POLICYSHIELD_MAX_SESSIONS",
  protectTainted: "POLICYSHIELD_PROTECT_TAINTED",
  sweepInterval: "POLICYSHIELD_SWEEP_INTERVAL",
  maxParkedBytes: "POLICYSHIELD_MAX_PARKED_BYTES",
  url: "POLICYSHIELD_REDIS_URL",
  keyPrefix: "POLICYSHIELD_REDIS_KEY_PREFIX",
  onStoreLoss: "POLICYSHIELD_REDIS_ON_STORE_LOSS",
  expectedEpoch: "POLICYSHIELD_REDIS_EXPECTED_EPOCH"
} as const

/**
 * The options read from the environment, as a `Config.Wrap`: each variable is optional (unset
 * means the option's default) and is checked by the option's own field, so a bad value fails
 * with a ConfigError at that variable.
 */
export const config: Config.Config.Wrap<SessionOptions> = {
  ttl: fromVariable(variables.ttl, fields.ttl),
  maxSessions: fromVariable(variables.maxSessions, fields.positiveInteger),
  protectTainted: fromVariable(variables.protectTainted, fields.boolean),
  sweepInterval: fromVariable(variables.sweepInterval, fields.interval),
  maxParkedBytes: fromVariable(variables.maxParkedBytes, fields.byteCount)
}

/** The Redis options read from the environment: `config`, the URL (required) and the key prefix. */
export const redisConfig: Config.Config.Wrap<RedisSessionOptions> = {
  ...config,
  url: Config.string(variables.url).pipe(Config.mapOrFail((text) => fromText(fields.url, text))),
  keyPrefix: fromVariable(variables.keyPrefix, fields.keyPrefix),
  onStoreLoss: fromVariable(variables.onStoreLoss, fields.onStoreLoss),
  expectedEpoch: fromVariable(variables.expectedEpoch, fields.epoch)
}
