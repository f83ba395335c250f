/**
 * Server keepalive configuration with libvirtd.conf's keys and meaning, validated with Schema and loadable
 * through Effect `Config`.
 *
 * Contract:
 * - Keys: `keepalive_interval` (seconds, default 5; ≤ 0 means the server never pings but still answers; fractions
 *   are allowed down to whole milliseconds), `keepalive_count` (default 5; 0 closes after one silent interval
 *   with no PING), `keepalive_policy` (`disabled`, the default, `if-supported` or `required`).
 * - {@link config} reads the three keys from the current `ConfigProvider`, spelled as in libvirtd.conf or in
 *   constant case: the default provider reads `KEEPALIVE_INTERVAL`, `KEEPALIVE_COUNT` and `KEEPALIVE_POLICY`
 *   from the environment, and `LibvirtConf.layer(path)` reads a real libvirtd.conf. {@link fromEnv} reads a given
 *   record. A key that is set but invalid fails with a `ConfigError` naming the key and the value.
 * - {@link decode} validates a plain object with the same keys (e.g. parsed from a file) and fails with a
 *   `SchemaError` naming the key.
 * - The result is `Session.ServerOptions`, in milliseconds.
 * - {@link limits} reads the server limits the same way: libvirtd.conf's `max_clients` and `max_client_requests`,
 *   and keys of our own for what libvirtd does not bound (`handshake_timeout` in seconds, `max_buffered_bytes`,
 *   `max_queued_bytes`, `max_frame_rate`, `max_frame_burst`, `max_pending_calls` and `max_stall` in seconds). Missing keys keep `Server.defaultLimits`.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Keepalive from "../core/Keepalive.ts"
import type * as Session from "../session/Session.ts"
import * as LibvirtConf from "./LibvirtConf.ts"
import * as Policing from "./Policing.ts"

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
  interval: LibvirtConf.setting("keepalive_interval", IntervalSeconds, "number"),
  count: LibvirtConf.setting("keepalive_count", Count, "number"),
  policy: LibvirtConf.setting("keepalive_policy", Policy, "string")
}).pipe(
  Config.map(({ count, interval, policy }) =>
    toOptions(Option.getOrElse(interval, () => 5), Option.getOrElse(count, () => 5), Option.getOrElse(policy, (): Session.Policy => "disabled"))
  )
)

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

/**
 * A whole number of at least 1.
 *
 * @since 0.2.0
 * @category schemas
 */
export const Positive = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

/**
 * The server limits, as `Server.ServeOptions` fields (milliseconds, bytes, frames). Absent keys are absent.
 *
 * @since 0.2.0
 * @category models
 */
export interface Limits {
  readonly maxClients?: number
  readonly maxClientRequests?: number
  readonly maxPendingCalls?: number
  readonly maxStall?: number
  readonly handshakeTimeout?: number
  readonly maxBufferedBytes?: number
  readonly maxQueuedBytes?: number
  readonly policing?: Policing.FramePolicing
}

const optional = <A>(schema: Schema.Decoder<A>, key: string) => LibvirtConf.setting(key, schema, "number")

/**
 * Reads the server limits from the current `ConfigProvider` (see the module header for the keys).
 *
 * @since 0.2.0
 * @category config
 */
export const limits: Config.Config<Limits> = Config.all({
  maxClients: optional(Positive, "max_clients"),
  maxClientRequests: optional(Positive, "max_client_requests"),
  maxPendingCalls: optional(Positive, "max_pending_calls"),
  maxStall: optional(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)), "max_stall"),
  handshakeTimeout: optional(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)), "handshake_timeout"),
  maxBufferedBytes: optional(Positive, "max_buffered_bytes"),
  maxQueuedBytes: optional(Positive, "max_queued_bytes"),
  rate: optional(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)), "max_frame_rate"),
  burst: optional(Positive, "max_frame_burst")
}).pipe(Config.map((c) => {
  const out: { -readonly [K in keyof Limits]: Limits[K] } = {}
  if (c.maxClients._tag === "Some") out.maxClients = c.maxClients.value
  if (c.maxClientRequests._tag === "Some") out.maxClientRequests = c.maxClientRequests.value
  if (c.maxPendingCalls._tag === "Some") out.maxPendingCalls = c.maxPendingCalls.value
  if (c.maxStall._tag === "Some") out.maxStall = Math.round(c.maxStall.value * 1000)
  if (c.handshakeTimeout._tag === "Some") out.handshakeTimeout = Math.round(c.handshakeTimeout.value * 1000)
  if (c.maxBufferedBytes._tag === "Some") out.maxBufferedBytes = c.maxBufferedBytes.value
  if (c.maxQueuedBytes._tag === "Some") out.maxQueuedBytes = c.maxQueuedBytes.value
  if (c.rate._tag === "Some" || c.burst._tag === "Some") {
    const rate = c.rate._tag === "Some" ? c.rate.value : Policing.defaults.rate
    out.policing = { rate, burst: c.burst._tag === "Some" ? c.burst.value : Math.max(1, 2 * rate) }
  }
  return out
}))

/**
 * Reads the server limits from environment variables in constant case (`MAX_CLIENTS`, …), or from the given record.
 *
 * @since 0.2.0
 * @category config
 */
export const limitsFromEnv = (env?: Record<string, string>): Effect.Effect<Limits, Config.ConfigError> =>
  limits.parse(ConfigProvider.constantCase(env === undefined ? ConfigProvider.fromEnv() : ConfigProvider.fromEnv({ env })))
