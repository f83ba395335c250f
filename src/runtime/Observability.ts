/**
 * Metrics of the keepalive runtime, and the names of libvirt's probe points used in its logs.
 *
 * Contract:
 * - Counters count frames and events across every connection of the process (or of the `MetricRegistry` in
 *   scope): PINGs and PONGs sent and received, and peers declared dead; the gauge counts connections not ended;
 *   the histogram holds the round-trip times of our PINGs. Every series carries the attribute `role` (`client`
 *   or `server`, see {@link roles}).
 * - {@link layerPrometheus} serves them for Prometheus through `effect/observability`; the HTTP server is loaded
 *   only when that layer is built.
 * - The library logs a connection's end once: a peer declared dead by keepalive at `Warn`, any other end at
 *   `Debug`, by default; {@link LogLevels} (and {@link layerLogLevels}) let the application choose each level, or
 *   `None` when it logs the ends itself.
 * - Log lines carry the annotation `probe` with one of {@link Probe}'s values, mirroring libvirt's
 *   RPC_KEEPALIVE_* probes, at Debug level except `timeout` (Warning). The per-frame probes (`send`,
 *   `received`) are not logged: the counters and a connection's `trace` hook cover them at no cost when unused.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as LogLevel from "effect/LogLevel"
import type * as HttpServerError from "effect/http/HttpServerError"

/**
 * PINGs we sent.
 *
 * @since 0.1.0
 * @category metrics
 */
export const pingsSent = Metric.counter("keepalive_pings_sent", { description: "keepalive PINGs sent" })

/**
 * PONGs we sent.
 *
 * @since 0.1.0
 * @category metrics
 */
export const pongsSent = Metric.counter("keepalive_pongs_sent", { description: "keepalive PONGs sent" })

/**
 * PINGs we received.
 *
 * @since 0.1.0
 * @category metrics
 */
export const pingsReceived = Metric.counter("keepalive_pings_received", { description: "keepalive PINGs received" })

/**
 * PONGs we received.
 *
 * @since 0.1.0
 * @category metrics
 */
export const pongsReceived = Metric.counter("keepalive_pongs_received", { description: "keepalive PONGs received" })

/**
 * Peers declared dead by keepalive.
 *
 * @since 0.1.0
 * @category metrics
 */
export const peersDead = Metric.counter("keepalive_peers_dead", { description: "peers declared dead by keepalive" })

/**
 * Times we stopped reading a peer because the frames for our own application filled their bound (keepalive is
 * paused meanwhile): a sign of slow handlers or an application that does not read.
 *
 * @since 0.2.0
 * @category metrics
 */
export const stalls = Metric.counter("keepalive_stalls", { description: "times reading a peer stopped because our application's backlog was full" })

/**
 * Frames for a client application dropped because its backlog was full (`slowConsumer: "drop"`).
 *
 * @since 0.2.0
 * @category metrics
 */
export const framesDropped = Metric.counter("keepalive_frames_dropped", { description: "frames for the application dropped because its backlog was full" })

/**
 * Connections that have not ended (a frozen one still counts: it has not ended).
 *
 * @since 0.1.0
 * @category metrics
 */
export const sessionsLive = Metric.gauge("keepalive_sessions_live", { description: "keepalive connections not ended" })

/**
 * Round-trip time of our PINGs answered by a PONG, in ms.
 *
 * @since 0.2.0
 * @category metrics
 */
export const rtt = Metric.histogram("keepalive_rtt_ms", {
  description: "round-trip time of our keepalive PINGs, ms",
  boundaries: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]
})

/**
 * The metrics of one role (attribute `role`: `client` or `server`), so a process that is both can tell whose
 * PINGs and whose dead peers they count. The peer's address is not an attribute (it would make one series per
 * peer); it is on the connection's span.
 *
 * @since 0.2.0
 * @category metrics
 */
export interface RoleMetrics {
  readonly pingsSent: Metric.Metric<number, unknown>
  readonly pongsSent: Metric.Metric<number, unknown>
  readonly pingsReceived: Metric.Metric<number, unknown>
  readonly pongsReceived: Metric.Metric<number, unknown>
  readonly peersDead: Metric.Metric<number, unknown>
  readonly stalls: Metric.Metric<number, unknown>
  readonly framesDropped: Metric.Metric<number, unknown>
  readonly sessionsLive: Metric.Metric<number, unknown>
  readonly rtt: Metric.Metric<number, unknown>
}

const tagged = (role: "client" | "server"): RoleMetrics => {
  const attributes = { role }
  return {
    pingsSent: Metric.withAttributes(pingsSent, attributes),
    pongsSent: Metric.withAttributes(pongsSent, attributes),
    pingsReceived: Metric.withAttributes(pingsReceived, attributes),
    pongsReceived: Metric.withAttributes(pongsReceived, attributes),
    peersDead: Metric.withAttributes(peersDead, attributes),
    stalls: Metric.withAttributes(stalls, attributes),
    framesDropped: Metric.withAttributes(framesDropped, attributes),
    sessionsLive: Metric.withAttributes(sessionsLive, attributes),
    rtt: Metric.withAttributes(rtt, attributes)
  }
}

/**
 * The metrics of each role.
 *
 * @since 0.2.0
 * @category metrics
 */
export const roles: { readonly client: RoleMetrics; readonly server: RoleMetrics } = { client: tagged("client"), server: tagged("server") }

/**
 * A counter's total over both roles (in the `MetricRegistry` in scope).
 *
 * @since 0.2.0
 * @category metrics
 */
export const totalCount = (pick: (m: RoleMetrics) => Metric.Metric<number, unknown>): Effect.Effect<number> =>
  Effect.map(
    Effect.all([Metric.value(pick(roles.client)), Metric.value(pick(roles.server))]),
    ([c, s]) => (c as Metric.CounterState<number>).count + (s as Metric.CounterState<number>).count
  )

/**
 * Connections not ended, both roles together.
 *
 * @since 0.2.0
 * @category metrics
 */
export const liveSessions: Effect.Effect<number> = Effect.map(
  Effect.all([Metric.value(roles.client.sessionsLive), Metric.value(roles.server.sessionsLive)]),
  ([c, s]) => (c as Metric.GaugeState<number>).value + (s as Metric.GaugeState<number>).value
)

/**
 * Serves the process's metrics for Prometheus at `http://host:port/metrics` (through `effect/observability`'s
 * `PrometheusMetrics`) for as long as the layer lives. Building it loads the HTTP server (`PrometheusServer`).
 *
 * @since 0.2.0
 * @category exporters
 */
export const layerPrometheus = (where: { readonly host: string; readonly port: number }): Layer.Layer<never, HttpServerError.ServeError> =>
  Layer.unwrap(Effect.map(Effect.promise(() => import("./PrometheusServer.ts")), (server) => server.layer(where)))

/**
 * libvirt's keepalive probe points (RPC_KEEPALIVE_START, _STOP, _SEND, _RECEIVED, _TIMEOUT).
 *
 * @since 0.1.0
 * @category models
 */
export type Probe = "start" | "stop" | "send" | "received" | "timeout"

/**
 * The levels of the library's own log lines: `peerDead`, a peer declared dead by keepalive (default `Warn`);
 * `ended`, any other end of a connection, and keepalive started or stopped (default `Debug`). `None` turns a line
 * off.
 *
 * @since 0.2.0
 * @category logging
 */
export interface Levels {
  readonly peerDead: LogLevel.LogLevel
  readonly ended: LogLevel.LogLevel
}

/**
 * The library's log levels in force (a `Context.Reference`: the defaults unless provided).
 *
 * @since 0.2.0
 * @category logging
 */
export const LogLevels: Context.Reference<Levels> = Context.Reference<Levels>("effect-keepalive/Observability/LogLevels", {
  defaultValue: () => ({ peerDead: "Warn", ended: "Debug" })
})

/**
 * Sets the library's log levels (what is not given keeps its default), e.g. `layerLogLevels({ peerDead: "None" })`
 * when the application logs deaths itself.
 *
 * @since 0.2.0
 * @category logging
 */
export const layerLogLevels = (levels: Partial<Levels>): Layer.Layer<never> =>
  Layer.succeed(LogLevels)({ peerDead: levels.peerDead ?? "Warn", ended: levels.ended ?? "Debug" })

/**
 * Logs `message` at the level `pick` chooses from {@link LogLevels}; nothing at `None`.
 *
 * @since 0.2.0
 * @category logging
 */
export const logAt = (pick: (levels: Levels) => LogLevel.LogLevel, message: string): Effect.Effect<void> =>
  Effect.flatMap(LogLevels, (levels) => {
    const level = pick(levels)
    return level === "None" || level === "All" ? Effect.void : Effect.logWithLevel(level)(message)
  })
