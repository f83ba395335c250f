/**
 * The `keepalive proxy` subcommand: flags and output around {@link Proxy.listen}.
 *
 * Contract:
 * - `--listen HOST:PORT` and `--upstream URI` are required; the rest have defaults shown in `--help`. A bad value is
 *   refused with a message naming the flag, before anything listens (exit code 2 for an invalid option or URI).
 * - Prints one line when it listens, then one line per client event (accepted, opened, open failed, ended, rejected)
 *   on stdout, with the time since start. Runs until interrupted (Ctrl-C).
 *
 * @since 0.2.0
 */
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import * as Proxy from "./Proxy.ts"
import { parseDuration, parseHostPort } from "./ProbeCommand.ts"

const durationFlag = (name: string, fallback: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withDescription(`${description} (default: ${fallback})`),
    Flag.withDefault(fallback),
    Flag.mapTryCatch(parseDuration, (e) => `--${name}: ${e instanceof Error ? e.message : String(e)}`)
  )

const wholeFlag = (name: string, fallback: number, min: number, description: string) =>
  Flag.Int(name).pipe(
    Flag.withDescription(`${description} (default: ${fallback})`),
    Flag.withDefault(fallback),
    Flag.filter((n) => n >= min, (n) => `--${name} must be at least ${min}, not ${n}`)
  )

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
      return `${at}  client ${event.client}: opened ${event.name ?? "(default)"}${event.flags & 1 ? " read-only" : ""} upstream; client keepalive ${event.advertised ? "advertised" : "not advertised"}, daemon keepalive ${event.upstreamKeepalive ? "supported" : "unsupported"}`
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
  listen: Flag.String("listen").pipe(
    Flag.withDescription("where clients connect, HOST:PORT (e.g. 127.0.0.1:16510)"),
    Flag.mapTryCatch(parseHostPort, (e) => `--listen: ${e instanceof Error ? e.message : String(e)}`)
  ),
  upstream: Flag.String("upstream").pipe(Flag.withDescription("the daemon behind the proxy, a libvirt URI (e.g. qemu+tcp://127.0.0.1:16509/system)")),
  policy: Flag.Literals("policy", ["disabled", "if-supported", "required"] as const).pipe(
    Flag.withDescription("keepalive policy toward clients: required refuses clients that do not advertise keepalive (default: required)"),
    Flag.withDefault("required" as const)
  ),
  interval: durationFlag("interval", "5s", "keepalive interval on both legs: a PING after this much silence"),
  count: wholeFlag("count", 5, 0, "unanswered PINGs before a peer is declared dead, at (count+1)·interval of silence"),
  maxClients: wholeFlag("max-clients", 5000, 1, "clients served at once; more are closed at once"),
  upstreamMaxClientRequests: wholeFlag("upstream-max-client-requests", 5, 1, "the daemon's max_client_requests: the proxy keeps one call fewer in flight on each daemon leg, so the daemon never stops reading it"),
  maxPendingFrames: wholeFlag("max-pending-frames", 256, 1, "frames of one client waiting in the proxy, each direction (calls beyond those in flight wait here)"),
  handshakeTimeout: durationFlag("handshake-timeout", "60s", "a client that has not opened within this time is closed"),
  upstreamTimeout: durationFlag("upstream-timeout", "30s", "how long dialling the daemon, TLS and its open handshake may take")
}, (o) =>
  Effect.gen(function*() {
    const start = performance.now()
    const listening = yield* Proxy.listen(o.listen, {
      upstream: o.upstream,
      keepalive: { interval: o.interval, count: o.count, policy: o.policy },
      maxClients: o.maxClients,
      upstreamMaxClientRequests: o.upstreamMaxClientRequests,
      maxPendingFrames: o.maxPendingFrames,
      handshakeTimeout: Math.round(o.handshakeTimeout),
      upstreamTimeout: Math.max(1, Math.round(o.upstreamTimeout)),
      onEvent: (event) => Effect.sync(() => console.log(formatEvent(event, performance.now() - start)))
    })
    console.log(`PROXY ${o.listen.host}:${listening.port} -> ${o.upstream}: policy ${o.policy}, keepalive ${o.interval} ms x ${o.count} on both legs`)
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
  Command.withDescription("Stand in front of a libvirt daemon: our keepalive policy, limits and keepalive toward clients, every remote-program frame relayed to the daemon.")
)
