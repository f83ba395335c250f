/**
 * Metrics of the keepalive runtime, and the names of libvirt's probe points used in its logs.
 *
 * Contract:
 * - Counters count frames and events across every connection of the process (or of the `MetricRegistry` in
 *   scope): PINGs and PONGs sent and received, and peers declared dead. The gauge counts live sessions.
 * - Log lines carry the annotation `probe` with one of {@link Probe}'s values, mirroring libvirt's
 *   RPC_KEEPALIVE_* probes, at Debug level except `timeout` (Warning). The per-frame probes (`send`,
 *   `received`) are not logged: the counters and a connection's `trace` hook cover them at no cost when unused.
 *
 * @since 0.1.0
 */
import { Metric } from "effect"

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
 * Sessions currently running.
 *
 * @since 0.1.0
 * @category metrics
 */
export const sessionsLive = Metric.gauge("keepalive_sessions_live", { description: "live keepalive sessions" })

/**
 * libvirt's keepalive probe points (RPC_KEEPALIVE_START, _STOP, _SEND, _RECEIVED, _TIMEOUT).
 *
 * @since 0.1.0
 * @category models
 */
export type Probe = "start" | "stop" | "send" | "received" | "timeout"
