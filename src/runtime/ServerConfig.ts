/**
 * Server keepalive configuration with libvirtd.conf's keys and meaning, validated with Schema and loadable
 * through Effect `Config`.
 *
 * Contract:
 * - Keys: `keepalive_interval` (seconds, default 5; ≤ 0 means the server never pings but still answers; fractions
 *   are allowed down to whole milliseconds), `keepalive_count` (default 5; 0 closes after one silent interval
 *   with no PING), `keepalive_policy` (`disabled`, the default, `if-supported` or `required`).
 * - {@link config} reads the three keys from the current `ConfigProvider`; {@link fromEnv} reads them from
 *   environment variables in constant case (`KEEPALIVE_INTERVAL`, `KEEPALIVE_COUNT`, `KEEPALIVE_POLICY`).
 *   A bad value fails with a `ConfigError` whose message names the key.
 * - {@link decode} validates a plain object with the same keys (e.g. parsed from a file) and fails with a
 *   `SchemaError` naming the key.
 * - The result is `Session.ServerOptions`, in milliseconds.
 *
 * @since 0.1.0
 */
import { Config, ConfigProvider, Effect, Schema } from "effect"
import * as Keepalive from "../core/Keepalive.ts"
import type * as Session from "../session/Session.ts"

/**
 * `keepalive_interval` in seconds: a finite number of whole milliseconds, at most libvirt's 2147483 s.
 *
 * @since 0.1.0
 * @category schemas
 */
export const IntervalSeconds = Schema.Finite.check(
  Schema.isLessThanOrEqualTo(2147483),
  Schema.makeFilter((s: number) => Number.isInteger(Math.round(s * 1e6) / 1e3) || "must be a whole number of milliseconds")
)

/**
 * `keepalive_count`: a whole number from 0 to 4294967295.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Count = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: Keepalive.MAX_COUNT }))

/**
 * `keepalive_policy`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Policy = Schema.Literals(["disabled", "if-supported", "required"])

/**
 * The three keys as a libvirtd.conf-style object; missing keys take libvirtd's defaults.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Settings = Schema.Struct({
  keepalive_interval: Schema.optional(IntervalSeconds),
  keepalive_count: Schema.optional(Count),
  keepalive_policy: Schema.optional(Policy)
})

const toOptions = (interval: number, count: number, policy: Session.Policy): Session.ServerOptions => ({
  interval: Math.round(interval * 1000),
  count,
  policy
})

/**
 * Reads the server's keepalive options from the current `ConfigProvider`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Session.ServerOptions> = Config.all({
  interval: Config.schema(IntervalSeconds, "keepalive_interval").pipe(Config.withDefault(5)),
  count: Config.schema(Count, "keepalive_count").pipe(Config.withDefault(5)),
  policy: Config.schema(Policy, "keepalive_policy").pipe(Config.withDefault<Session.Policy>("disabled"))
}).pipe(Config.map(({ count, interval, policy }) => toOptions(interval, count, policy)))

/**
 * Reads the server's keepalive options from environment variables (`KEEPALIVE_INTERVAL`, `KEEPALIVE_COUNT`,
 * `KEEPALIVE_POLICY`), or from the given record.
 *
 * @since 0.1.0
 * @category config
 */
export const fromEnv = (env?: Record<string, string>): Effect.Effect<Session.ServerOptions, Config.ConfigError> =>
  config.parse(ConfigProvider.constantCase(env === undefined ? ConfigProvider.fromEnv() : ConfigProvider.fromEnv({ env })))

/**
 * Validates a libvirtd.conf-style object.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (input: unknown): Effect.Effect<Session.ServerOptions, Schema.SchemaError> =>
  Schema.decodeUnknownEffect(Settings)(input).pipe(
    Effect.map((s) => toOptions(s.keepalive_interval ?? 5, s.keepalive_count ?? 5, s.keepalive_policy ?? "disabled"))
  )
