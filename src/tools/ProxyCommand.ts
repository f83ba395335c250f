/**
 * The `keepalive proxy` subcommand: flags and output around {@link Proxy.listen}.
 *
 * Contract:
 * - `--listen HOST:PORT` is required, and the upstream URI (`--upstream`, or `upstream_uri` in `--config FILE`, a
 *   libvirtd.conf-style file read by {@link ProxyConfig}); a flag overrides the file, the file the default shown in
 *   `--help`. A bad value is refused with a message naming the flag or key, before anything listens (exit code 2
 *   for an invalid option, key or URI).
 * - Prints one line when it listens, then one line per client event (accepted, opened, open failed, ended, rejected)
 *   on stdout, with the time since start. Runs until interrupted (Ctrl-C).
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Commands from "./Commands.ts"
import * as LibvirtConf from "../runtime/LibvirtConf.ts"
import type * as Session from "../session/Session.ts"
import * as Proxy from "./Proxy.ts"
import * as ProxyConfig from "./ProxyConfig.ts"
import { parseDuration, parseHostPort } from "./Flags.ts"

/** An optional flag whose help shows the default it falls back to (from the config file first, when given). */
const durationFlag = (name: string, fallback: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withDescription(`${description} (default: ${fallback})`),
    Flag.mapTryCatch(parseDuration, (e) => `--${name}: ${e instanceof Error ? e.message : String(e)}`),
    Flag.optional
  )

const wholeFlag = (name: string, fallback: number, min: number, description: string) =>
  Flag.Int(name).pipe(
    Flag.withDescription(`${description} (default: ${fallback})`),
    Flag.filter((n) => n >= min, (n) => `--${name} must be at least ${min}, not ${n}`),
    Flag.optional
  )

/** The proxy's defaults, where neither a flag nor the config file says otherwise. */
const DEFAULTS = {
  policy: "required" as Session.Policy,
  interval: 5000,
  count: 5,
  maxClients: 5000,
  upstreamMaxClientRequests: 5,
  maxPendingFrames: 256,
  handshakeTimeout: 60_000,
  upstreamTimeout: 30_000
}

/** Reads the config file (or nothing) into the proxy's settings. */
const fileSettings = (path: Option.Option<string>) =>
  Option.isNone(path)
    ? Effect.succeed(undefined)
    : LibvirtConf.fromFile(path.value).pipe(Effect.flatMap((provider) => ProxyConfig.config.parse(provider)))

/**
 * One line for an event, `ms` after the start.
 *
 * @since 0.2.0
 * @category rendering
 */
export const formatEvent = (event: Proxy.ProxyEvent, ms: number): string => {
  const at = `${(ms / 1000).toFixed(3).padStart(9)}s`
  switch (event._tag) {
    case "Accepted":
      return `${at}  client ${event.client}: accepted`
    case "Rejected":
      return `${at}  a client was turned away: ${event.reason}`
    case "Opened":
      return `${at}  client ${event.client}: opened ${event.name ?? "(default)"}${event.flags & 1 ? " read-only" : ""} upstream; client keepalive ${
        event.advertised ? "advertised" : "not advertised"
      }, daemon keepalive ${event.upstreamKeepalive ? "supported" : "unsupported"}`
    case "OpenFailed":
      return `${at}  client ${event.client}: open of ${event.name ?? "(default)"} failed: ${event.error}`
    case "Ended":
      return `${at}  client ${event.client}: ended by the ${event.by} (${event.reason}); relayed ${event.relayed.up} frames up, ${event.relayed.down} down`
  }
}

/**
 * `keepalive proxy`.
 *
 * @since 0.2.0
 * @category commands
 */
export const proxy = Command.make("proxy", {
  config: Flag.String("config").pipe(
    Flag.withDescription(
      "a libvirtd.conf-style file: keepalive_interval, keepalive_count, keepalive_policy, max_clients, upstream_uri, upstream_max_client_requests, max_pending_frames, handshake_timeout, upstream_timeout (flags override it)"
    ),
    Flag.optional
  ),
  listen: Flag.String("listen").pipe(
    Flag.withDescription("where clients connect, HOST:PORT (e.g. 127.0.0.1:16510); required, also with --config"),
    Flag.mapTryCatch(parseHostPort, (e) => `--listen: ${e instanceof Error ? e.message : String(e)}`)
  ),
  upstream: Flag.String("upstream").pipe(
    Flag.withDescription("the daemon behind the proxy, a libvirt URI (e.g. qemu+tcp://127.0.0.1:16509/system); or upstream_uri in the config file"),
    Flag.optional
  ),
  policy: Flag.Literals("policy", ["disabled", "if-supported", "required"] as const).pipe(
    Flag.withDescription("keepalive policy toward clients: required refuses clients that do not advertise keepalive (default: required)"),
    Flag.optional
  ),
  interval: durationFlag("interval", "5s", "keepalive interval on both legs: a PING after this much silence"),
  count: wholeFlag("count", 5, 0, "unanswered PINGs before a peer is declared dead, at (count+1)·interval of silence"),
  maxClients: wholeFlag("max-clients", 5000, 1, "clients served at once; more are closed at once"),
  upstreamMaxClientRequests: wholeFlag(
    "upstream-max-client-requests",
    5,
    1,
    "the daemon's max_client_requests: the proxy keeps one call fewer in flight on each daemon leg, so the daemon never stops reading it"
  ),
  maxPendingFrames: wholeFlag(
    "max-pending-frames",
    256,
    1,
    "frames of one client waiting in the proxy, each direction (calls beyond those in flight wait here)"
  ),
  handshakeTimeout: durationFlag("handshake-timeout", "60s", "a client that has not opened within this time is closed"),
  upstreamTimeout: durationFlag("upstream-timeout", "30s", "how long dialling the daemon, TLS and its open handshake may take")
}, (o) =>
  Effect.gen(function*() {
    const start = performance.now()
    const file = yield* fileSettings(o.config)
    const pick = <A>(flag: Option.Option<A>, key: keyof ProxyConfig.Settings, fallback: A): A =>
      ProxyConfig.resolve(flag, file === undefined ? Option.none() : file[key] as Option.Option<A>, fallback)
    const upstream = pick(o.upstream, "upstream", "")
    if (upstream === "") return yield* Effect.fail(new Error("no upstream: give --upstream URI, or upstream_uri in the --config file"))
    const policy = pick(o.policy, "policy", DEFAULTS.policy)
    const interval = pick(o.interval, "interval", DEFAULTS.interval)
    const count = pick(o.count, "count", DEFAULTS.count)
    const listening = yield* Proxy.listen(o.listen, {
      upstream,
      keepalive: { interval, count, policy },
      maxClients: pick(o.maxClients, "maxClients", DEFAULTS.maxClients),
      upstreamMaxClientRequests: pick(o.upstreamMaxClientRequests, "upstreamMaxClientRequests", DEFAULTS.upstreamMaxClientRequests),
      maxPendingFrames: pick(o.maxPendingFrames, "maxPendingFrames", DEFAULTS.maxPendingFrames),
      handshakeTimeout: Math.round(pick(o.handshakeTimeout, "handshakeTimeout", DEFAULTS.handshakeTimeout)),
      upstreamTimeout: Math.max(1, Math.round(pick(o.upstreamTimeout, "upstreamTimeout", DEFAULTS.upstreamTimeout))),
      onEvent: (event) => Effect.sync(() => console.log(formatEvent(event, performance.now() - start)))
    })
    console.log(`PROXY ${o.listen.host}:${listening.port} -> ${upstream}: policy ${policy}, keepalive ${interval} ms x ${count} on both legs`)
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.catch((e) =>
      Effect.sync(() => {
        console.error(`keepalive proxy: ${e.message}`)
        process.exitCode = 2
      })
    )
  )).pipe(
    Command.withDescription(Commands.describe("proxy"))
  )
