/**
 * The SessionManager service with the sessions in Redis, shared by every replica that uses the
 * same Redis and key prefix (`policyshield-effect/redis`). This module loads `ioredis`, an
 * optional peer dependency; the main entry never does.
 */
import { type Config, type ConfigError, Effect, Either, Layer } from "effect"
import * as Options from "./internal/shell/options.js"
import * as RedisStore from "./internal/shell/redis.js"
import * as Service from "./internal/shell/service.js"
import type { SessionStoreUnavailable } from "./SessionError.js"
import { SessionManager } from "./SessionManager.js"

/**
 * Options of the Redis layer: those of the in-memory layer, plus `url`, `keyPrefix`, `clock`
 * and `commandTimeout`.
 */
export type SessionManagerRedisOptions = Options.RedisSessionOptions

/**
 * A SessionManager with the sessions in Redis. Scoped: the connection opens (and is pinged)
 * when the layer is built and closes with its scope; an unreachable Redis fails the layer with
 * SessionStoreUnavailable. Every operation is one atomic script call; see docs/redis.md.
 * Invalid options make the layer die, naming the option.
 */
export const layerRedis = (
  options: SessionManagerRedisOptions
): Layer.Layer<SessionManager, SessionStoreUnavailable> =>
  Layer.scoped(
    SessionManager,
    Effect.flatMap(
      Either.match(Options.decodeRedis(options), { onLeft: Effect.dieMessage, onRight: Effect.succeed }),
      inRedis
    )
  )

/**
 * The options `layerRedisConfig` reads by default, as a `Config.Wrap`: `POLICYSHIELD_REDIS_URL`
 * (required), `POLICYSHIELD_REDIS_KEY_PREFIX` (default `policyshield`) and the variables of
 * `SessionManager.config`.
 */
export const redisConfig: Config.Config.Wrap<SessionManagerRedisOptions> = Options.redisConfig

/**
 * A Redis-backed manager with options from Effect's `Config` (by default from the environment,
 * see `redisConfig`), checked by the same decoder as `layerRedis`'s options. A bad value fails
 * the layer with a ConfigError that names it.
 */
export const layerRedisConfig = (
  config: Config.Config.Wrap<SessionManagerRedisOptions> = Options.redisConfig
): Layer.Layer<SessionManager, ConfigError.ConfigError | SessionStoreUnavailable> =>
  Layer.scoped(SessionManager, Effect.flatMap(Options.fromConfig(config, Options.decodeRedis), inRedis))

const inRedis = (resolved: Options.ResolvedRedis) =>
  Service.make(resolved, (reporter) => RedisStore.make(resolved, reporter))
