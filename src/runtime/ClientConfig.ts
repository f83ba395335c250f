/**
 * Client settings from configuration: the URI to connect to and the client's keepalive, with libvirt's names.
 *
 * Contract:
 * - Keys: `uri_default` (libvirt.conf's default URI; optional), `keepalive_interval` (seconds, as virsh's `-k`;
 *   default 5, ≤ 0 means the client never pings) and `keepalive_count` (as `-K`; default 5).
 * - {@link config} reads them from the current `ConfigProvider`, spelled as in the file or in constant case
 *   (`URI_DEFAULT`, `KEEPALIVE_INTERVAL`, `KEEPALIVE_COUNT` from the environment); `LibvirtConf.layer(path)`
 *   reads a real libvirt.conf. A key that is set but invalid fails with a `ConfigError` naming the key and value.
 * - The result plugs into `Client.connect`'s options (`keepalive`) and `Dial.connect` (the URI).
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as LibvirtConf from "./LibvirtConf.ts"
import * as ServerConfig from "./ServerConfig.ts"

/**
 * A client's settings.
 *
 * @since 0.2.0
 * @category models
 */
export interface ClientSettings {
  readonly uri: string | undefined
  /** setKeepAlive's arguments: interval in ms (≤ 0: never pings) and count. */
  readonly keepalive: { readonly interval: number; readonly count: number }
}

/**
 * Reads the client's settings from the current `ConfigProvider`.
 *
 * @since 0.2.0
 * @category config
 */
export const config: Config.Config<ClientSettings> = Config.all({
  uri: LibvirtConf.setting("uri_default", Schema.NonEmptyString, "string"),
  interval: LibvirtConf.setting("keepalive_interval", ServerConfig.IntervalSeconds, "number"),
  count: LibvirtConf.setting("keepalive_count", ServerConfig.Count, "number")
}).pipe(Config.map(({ uri, interval, count }) => ({
  uri: Option.getOrUndefined(uri),
  keepalive: { interval: Math.round(Option.getOrElse(interval, () => 5) * 1000), count: Option.getOrElse(count, () => 5) }
})))
