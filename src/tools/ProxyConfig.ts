/**
 * The proxy's settings as a libvirtd.conf-style file (`keepalive proxy --config FILE`).
 *
 * Contract:
 * - {@link config} reads, from the current `ConfigProvider`, the keys libvirtd.conf has for the same things
 *   (`keepalive_interval` in seconds, `keepalive_count`, `max_clients`) and the proxy's own:
 *   `keepalive_policy` (`disabled`, `if-supported`, `required`), `upstream_uri`, `upstream_max_client_requests`
 *   (the daemon's `max_client_requests`: the proxy keeps one call fewer in flight on each daemon leg),
 *   `max_pending_frames`, `handshake_timeout` and `upstream_timeout` (seconds). Every key is optional; a key that
 *   is set but invalid fails with a `ConfigError` naming the key and the value.
 * - {@link resolve} merges, for each setting, the command-line flag, then the file, then the default.
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as LibvirtConf from "../runtime/LibvirtConf.ts"
import * as ServerConfig from "../runtime/ServerConfig.ts"
import type * as Session from "../session/Session.ts"

/**
 * The settings a file may give; each absent when the file does not set it. Times in milliseconds.
 *
 * @since 0.2.0
 * @category models
 */
export interface Settings {
  readonly upstream: Option.Option<string>
  readonly policy: Option.Option<Session.Policy>
  readonly interval: Option.Option<number>
  readonly count: Option.Option<number>
  readonly maxClients: Option.Option<number>
  readonly upstreamMaxClientRequests: Option.Option<number>
  readonly maxPendingFrames: Option.Option<number>
  readonly handshakeTimeout: Option.Option<number>
  readonly upstreamTimeout: Option.Option<number>
}

const Seconds = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
const number = <A>(key: string, schema: Schema.Decoder<A>) => LibvirtConf.setting(key, schema, "number")
const millis = (key: string) => Config.map(number(key, Seconds), Option.map((s) => Math.round(s * 1000)))

/**
 * The proxy's keys, read from the current `ConfigProvider` (see the module header).
 *
 * @since 0.2.0
 * @category config
 */
export const config: Config.Config<Settings> = Config.all({
  upstream: LibvirtConf.setting("upstream_uri", Schema.String, "string"),
  policy: LibvirtConf.setting("keepalive_policy", ServerConfig.Policy, "string"),
  interval: millis("keepalive_interval"),
  count: number("keepalive_count", ServerConfig.Count),
  maxClients: number("max_clients", ServerConfig.Positive),
  upstreamMaxClientRequests: number("upstream_max_client_requests", ServerConfig.Positive),
  maxPendingFrames: number("max_pending_frames", ServerConfig.Positive),
  handshakeTimeout: millis("handshake_timeout"),
  upstreamTimeout: millis("upstream_timeout")
})

/**
 * A setting's value: the flag when given, else the file's, else the default.
 *
 * @since 0.2.0
 * @category config
 */
export const resolve = <A>(flag: Option.Option<A>, file: Option.Option<A>, fallback: A): A => Option.getOrElse(Option.orElse(flag, () => file), () => fallback)
