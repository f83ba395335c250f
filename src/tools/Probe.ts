/**
 * `keepalive probe`: ping for libvirtd. Connects to a URI as libvirt's client does (advertising keepalive), runs
 * our keepalive at `interval` and reports every PONG with its round-trip time, every PING from the daemon, and a
 * summary in `ping`'s style.
 *
 * Contract:
 * - {@link run} never fails: it reports {@link ProbeEvent}s through `onEvent`, in order, then the {@link Summary}
 *   through `onSummary`, exactly once, also when the probe is interrupted (as `ping` does on Ctrl-C). The
 *   summary's `exitCode` is 0 when the daemon was alive throughout, 1 when it was declared dead (or closed the
 *   connection) during the probe, 2 when it could not be reached, refused the connection, or did not open it within
 *   the open timeout (`connectTimeout`, default 30 seconds: `Unreachable` with kind `OpenTimeout` and the phase).
 * - The probe ends after `stop` (a duration, or N answered PINGs), or when the connection ends. A PING counts as
 *   answered by the next PONG (keepalive PONGs carry no serial; PINGs are answered in order).
 * - One PING goes out every `interval` (cadence `fixed`, the default), whatever the daemon sends, so a probe for N
 *   PINGs always ends; with cadence `after-silence` only when the link has been silent for `interval` (libvirt's
 *   rule). Either way, after `count` unanswered PINGs the daemon is declared dead, at (count+1)·interval of
 *   silence (our keepalive's countdown).
 * - Metrics (`keepalive_probe_*`) are updated through `effect`'s `Metric`; {@link serveMetrics} serves them for
 *   Prometheus with `effect/observability`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type * as Cause from "effect/Cause"
import type * as Scope from "effect/Scope"
import type * as FileSystem from "effect/FileSystem"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import type * as Connection from "../runtime/Connection.ts"
import * as Dial from "../runtime/Dial.ts"
import * as Observability from "../runtime/Observability.ts"
import * as Uri from "../runtime/Uri.ts"
import * as Frame from "../wire/Frame.ts"
import type * as Trace from "../trace/Trace.ts"

// ---------------------------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------------------------

/**
 * What the probe reports. `at` is milliseconds since the probe started.
 *
 * @since 0.1.0
 * @category models
 */
export type ProbeEvent =
  | { readonly _tag: "Connected"; readonly at: number; readonly address: string; readonly serverKeepalive: boolean }
  | { readonly _tag: "Pong"; readonly at: number; readonly seq: number; readonly rtt: number }
  | { readonly _tag: "DaemonPing"; readonly at: number }
  | { readonly _tag: "Dead"; readonly at: number; readonly silence: number; readonly pingsUnanswered: number }
  | { readonly _tag: "Closed"; readonly at: number; readonly reason: string }
  | { readonly _tag: "Unreachable"; readonly at: number; readonly error: string; readonly kind: string }

/**
 * The end of a probe, as `ping` summarises it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly uri: string
  readonly sent: number
  readonly answered: number
  /** Percentage of PINGs without a PONG. */
  readonly loss: number
  readonly rtt: { readonly min: number; readonly avg: number; readonly max: number; readonly mdev: number } | undefined
  /** Milliseconds from the start to the end. */
  readonly elapsed: number
  readonly exitCode: 0 | 1 | 2
}

/**
 * When to stop: after a duration (ms), after N answered PINGs, or only when the connection ends.
 *
 * @since 0.1.0
 * @category models
 */
export type Stop = { readonly _tag: "For"; readonly ms: number } | { readonly _tag: "Pings"; readonly count: number } | undefined

/**
 * Options of {@link run}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProbeOptions {
  readonly uri: string
  /** Keepalive interval in ms. */
  readonly interval: number
  /**
   * When PINGs go out: `fixed` (default), one every `interval` whatever the daemon sends; `after-silence`, libvirt's
   * rule, only after `interval` of silence (a daemon that pings us more often than that then gets none).
   */
  readonly cadence?: "fixed" | "after-silence"
  /** PINGs left unanswered before the daemon is declared dead. */
  readonly count: number
  readonly stop: Stop
  /**
   * The open timeout: how long connecting, TLS and the open handshake may take (a number is ms). Default: the
   * dial options' `openTimeout`, else 30 seconds; past it the probe reports `Unreachable` with kind `OpenTimeout`.
   */
  readonly connectTimeout?: Duration.Input
  readonly dial?: Dial.Options
  readonly onEvent: (event: ProbeEvent) => Effect.Effect<void>
  readonly onSummary: (summary: Summary) => Effect.Effect<void>
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics (pure)
// ---------------------------------------------------------------------------------------------------------------

/**
 * `ping`'s statistics: loss and RTT min/avg/max/mdev (mdev = the standard deviation of the RTTs).
 *
 * @since 0.1.0
 * @category statistics
 */
export const summarize = (uri: string, sent: number, rtts: ReadonlyArray<number>, elapsed: number, exitCode: 0 | 1 | 2): Summary => {
  const answered = rtts.length
  const loss = sent === 0 ? 0 : ((sent - answered) / sent) * 100
  if (answered === 0) return { uri, sent, answered, loss, rtt: undefined, elapsed, exitCode }
  const avg = rtts.reduce((a, b) => a + b, 0) / answered
  const mean2 = rtts.reduce((a, b) => a + b * b, 0) / answered
  const rtt = { min: Math.min(...rtts), avg, max: Math.max(...rtts), mdev: Math.sqrt(Math.max(0, mean2 - avg * avg)) }
  return { uri, sent, answered, loss, rtt, elapsed, exitCode }
}

const ms = (n: number) => n.toFixed(3)

/**
 * One line of text per event, in `ping`'s manner.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatEvent = (event: ProbeEvent, target: string): string => {
  switch (event._tag) {
    case "Connected":
      return `connected to ${event.address} in ${event.at.toFixed(1)} ms; the daemon ${event.serverKeepalive ? "supports" : "does not support"} keepalive`
    case "Pong":
      return `PONG from ${target}: seq=${event.seq} time=${ms(event.rtt)} ms`
    case "DaemonPing":
      return `PING from ${target} (answered with a PONG)`
    case "Dead":
      return `DEAD: ${target} declared dead after ${event.pingsUnanswered} unanswered PINGs and ${event.silence.toFixed(0)} ms of silence`
    case "Closed":
      return `CLOSED: ${target} ended the connection: ${event.reason}`
    case "Unreachable":
      return `UNREACHABLE: ${event.error}`
  }
}

/**
 * The summary in `ping`'s words.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatSummary = (s: Summary): string =>
  [
    `--- ${s.uri} keepalive statistics ---`,
    `${s.sent} PINGs sent, ${s.answered} PONGs received, ${s.loss.toFixed(0)}% loss, time ${s.elapsed.toFixed(0)} ms`,
    ...(s.rtt === undefined ? [] : [`rtt min/avg/max/mdev = ${ms(s.rtt.min)}/${ms(s.rtt.avg)}/${ms(s.rtt.max)}/${ms(s.rtt.mdev)} ms`])
  ].join("\n")

/**
 * An event as one JSON object (`event` is the tag in lower case).
 *
 * @since 0.1.0
 * @category formatting
 */
export const eventJson = (event: ProbeEvent | ({ readonly _tag: "Summary" } & Summary)): string => {
  const { _tag, ...fields } = event
  return JSON.stringify({ event: _tag.toLowerCase(), ...fields }, (_, v) => (typeof v === "number" && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v))
}

/**
 * Who is probed, for the report lines: `host:port`, the socket path, `ssh [user@]host` or the ext command.
 *
 * @since 0.1.0
 * @category formatting
 */
export const target = (text: string): string => {
  const parsed = Uri.parse(text)
  if (Result.isFailure(parsed)) return text
  const uri = parsed.success
  switch (uri.transport) {
    case "tcp":
    case "tls":
      return `${Uri.host(uri)}:${Uri.port(uri)}`
    case "unix":
      return uri.params.socket ?? Uri.defaultSocket(uri)
    case "ssh":
      return `ssh ${uri.user === undefined ? "" : `${uri.user}@`}${Uri.host(uri)}`
    case "ext":
      return uri.params.command ?? "ext"
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------------------------

/**
 * The probe's metrics.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  pingsSent: Metric.counter("keepalive_probe_pings_sent", { description: "keepalive PINGs the probe sent" }),
  pongsReceived: Metric.counter("keepalive_probe_pongs_received", { description: "PONGs the probe received" }),
  daemonPings: Metric.counter("keepalive_probe_daemon_pings", { description: "PINGs the daemon sent to the probe" }),
  rtt: Metric.histogram("keepalive_probe_rtt_ms", {
    description: "round-trip time of keepalive PING/PONG, ms",
    boundaries: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500]
  }),
  alive: Metric.gauge("keepalive_probe_alive", { description: "1 while the daemon answers, 0 once it is dead or gone" })
}

/**
 * Serves the process's metrics for Prometheus at `http://host:port/metrics` until the scope closes.
 *
 * @since 0.1.0
 * @category metrics
 */
export const serveMetrics = (host: string, port: number) => Layer.build(Observability.layerPrometheus({ host, port })).pipe(Effect.asVoid)

// ---------------------------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------------------------

/**
 * Keepalive frames waiting for the watcher: more than the frame policing's burst (20 000 by default), past which a
 * flooding daemon's connection ends, so a flood is cut off before the watcher could lose an event to it.
 */
const TRACE_CAPACITY = 32_768

const isKeepalive = (frame: Frame.Frame, kind: Frame.KeepaliveKind) => Frame.keepaliveKind(frame.header) === kind

/** Turns the connection's trace into probe events: our PINGs (counted), their PONGs (timed), the daemon's PINGs. */
const watch = (
  trace: Queue.Dequeue<Trace.TraceEvent, Cause.Done>,
  started: number,
  report: (e: ProbeEvent) => Effect.Effect<void>,
  state: { readonly rtts: Array<number> }
) => {
  const outstanding: Array<number> = []
  return Stream.fromQueue(trace).pipe(
    Stream.runForEach((e) => {
      if (e.kind === "transmit" && isKeepalive(e.frame, "ping")) {
        outstanding.push(e.at)
        return Metric.update(metrics.pingsSent, 1)
      }
      if (e.kind !== "receive") return Effect.void
      if (isKeepalive(e.frame, "ping")) {
        return Metric.update(metrics.daemonPings, 1).pipe(Effect.andThen(report({ _tag: "DaemonPing", at: e.at - started })))
      }
      const sentAt = isKeepalive(e.frame, "pong") ? outstanding.shift() : undefined
      if (sentAt === undefined) return Effect.void
      const rtt = e.at - sentAt
      state.rtts.push(rtt)
      return Effect.all([Metric.update(metrics.pongsReceived, 1), Metric.update(metrics.rtt, rtt)]).pipe(
        Effect.andThen(report({ _tag: "Pong", at: e.at - started, seq: state.rtts.length, rtt }))
      )
    })
  )
}

const nowMs = Effect.map(Clock.monotonicTimeNanos, (ns) => Number(ns) / 1e6)

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error : undefined

/**
 * Dials and opens, feeding the connection's trace to `trace`, within the open timeout (a frozen daemon accepts TCP
 * but never answers: `OpenTimeout` names the phase).
 */
const open = (options: ProbeOptions, trace: Queue.Queue<Trace.TraceEvent, Cause.Done>, state: { lastPing: number; sent: number }) =>
  Dial.connect(options.uri, {
    ...options.dial,
    ...(options.connectTimeout === undefined ? {} : { openTimeout: options.connectTimeout }),
    trace: (e) => {
      // counted at once, not when the watcher gets to it: the fixed-cadence pinger must see our keepalive's PING
      // before its next tick, and `--pings N` must stop at N whoever sent them
      if (e.kind === "transmit" && isKeepalive(e.frame, "ping")) {
        state.lastPing = e.at
        state.sent += 1
      }
      if ((e.kind === "transmit" || e.kind === "receive") && Frame.keepaliveKind(e.frame.header) !== undefined) Queue.offerUnsafe(trace, e)
    }
  }).pipe(Effect.exit)

const isKeepaliveTimeout = (e: { readonly _tag: string } | undefined): e is Connection.KeepaliveTimeout => e?._tag === "KeepaliveTimeout"

/** How the connection ended during the probe: declared dead by our keepalive, or closed. */
const ending = (end: Exit.Exit<unknown, { readonly _tag: string; readonly message: string }>, at: number): ProbeEvent => {
  const failure = failureOf(end)
  return isKeepaliveTimeout(failure)
    ? { _tag: "Dead", at, silence: failure.silence, pingsUnanswered: failure.pingsSent }
    : { _tag: "Closed", at, reason: failure?.message ?? "closed" }
}

/**
 * How long before our keepalive's own PING is due the cadence leaves that PING to it: twice the last round trip,
 * at least 20 ms (timer lateness), at most half the interval. A PING of ours sent earlier than that is answered
 * before the keepalive's deadline, so the two never ping in the same interval.
 */
const guardOf = (status: Connection.Status, interval: number) =>
  Math.min(interval / 2, Math.max(20, 2 * (status.rtt === undefined ? 0 : Duration.toMillis(status.rtt))))

/**
 * One wake of the cadence at `now`: sends a PING when one is due and our keepalive will not send it, and answers
 * how long to sleep before the next wake.
 */
const cadenceTick = (client: Connection.Connection, interval: number, lastPing: () => number, more: () => boolean) =>
  Effect.gen(function*() {
    const now = yield* nowMs
    const due = lastPing() + interval
    if (now < due) return due - now
    const status = yield* client.status
    const guard = guardOf(status, interval)
    // silent: our keepalive pings on its own grid, and each of its PINGs moves `lastPing`
    if (status.pinging && status.pingsOutstanding > 0) return interval
    const keepaliveDue = status.lastReceived + interval
    if (status.pinging && keepaliveDue <= now + guard) return Math.max(keepaliveDue - now, 0) + guard
    if (more()) yield* client.send(Frame.PING).pipe(Effect.ignore)
    return interval
  })

/**
 * The fixed cadence: one PING every `interval` ms, whatever the peer sends, while `more()` says so. Our keepalive
 * pings after silence; a PING of either counts (`lastPing` is the last one's time, on the clock's monotonic ms), and
 * when the keepalive's is due within a guard the cadence leaves it to it, so there is one PING per interval. Runs
 * until interrupted.
 *
 * @since 0.2.0
 * @category running
 */
export const pingEvery = (
  client: Connection.Connection,
  interval: number,
  lastPing: () => number,
  more: () => boolean = () => true
): Effect.Effect<never> =>
  Effect.suspend(() => {
    let wait = interval
    return Effect.suspend(() => Effect.sleep(Duration.millis(wait))).pipe(
      Effect.andThen(cadenceTick(client, interval, lastPing, more)),
      Effect.tap((next) => Effect.sync(() => (wait = next))),
      Effect.forever
    )
  })

/**
 * Probes the daemon a URI names. Scoped (the connection and its watcher live in it).
 *
 * @since 0.1.0
 * @category running
 */
export const run = (options: ProbeOptions): Effect.Effect<Summary, never, Scope.Scope | FileSystem.FileSystem | ChildProcessSpawner> =>
  Effect.gen(function*() {
    const started = yield* nowMs
    const at = Effect.map(nowMs, (t) => t - started)
    // our own connection's keepalive frames (the only events the watcher reads), drained as they come
    const trace = yield* Queue.dropping<Trace.TraceEvent, Cause.Done>(TRACE_CAPACITY)
    const state = { sent: 0, lastPing: Number.NEGATIVE_INFINITY, rtts: [] as Array<number> }
    let reported = false
    const done = (code: 0 | 1 | 2) =>
      Effect.gen(function*() {
        const summary = summarize(options.uri, state.sent, state.rtts, yield* at, code)
        if (!reported) yield* options.onSummary(summary)
        reported = true
        return summary
      })
    yield* Effect.addFinalizer(() => done(0)) // interrupted: the summary so far
    const connected = yield* open(options, trace, state)
    if (Exit.isFailure(connected)) {
      const failure = failureOf(connected)
      yield* options.onEvent({ _tag: "Unreachable", at: yield* at, kind: failure?._tag ?? "Defect", error: failure?.message ?? String(connected.cause) })
      return yield* done(2)
    }
    const client = connected.value
    yield* options.onEvent({
      _tag: "Connected",
      at: (yield* client.status).lastReceived - started,
      address: target(options.uri),
      serverKeepalive: client.serverKeepalive
    })
    yield* Metric.update(metrics.alive, 1)
    const enough = yield* Deferred.make<void>()
    const report = (e: ProbeEvent) =>
      options.onEvent(e).pipe(
        Effect.andThen(options.stop?._tag === "Pings" && e._tag === "Pong" && e.seq >= options.stop.count ? Deferred.succeed(enough, undefined) : Effect.void)
      )
    const watcher = yield* watch(trace, started, report, state).pipe(Effect.forkScoped)
    yield* client.setKeepAlive(options.interval, options.count).pipe(Effect.ignore)
    // `--pings N`: exactly N PINGs of the cadence, however late their PONGs come back
    const more = () => options.stop?._tag !== "Pings" || state.sent < options.stop.count
    if (options.cadence !== "after-silence" && client.serverKeepalive) yield* Effect.forkScoped(pingEvery(client, options.interval, () => state.lastPing, more))
    const stopped = options.stop?._tag === "For" ? Effect.sleep(Duration.millis(options.stop.ms)) : Deferred.await(enough)
    const outcome = yield* Effect.raceFirst(Effect.map(stopped, () => "stopped" as const), Effect.exit(client.closed))
    yield* Queue.end(trace) // the watcher reports what the connection saw last, then ends
    yield* Fiber.join(watcher)
    if (outcome === "stopped") return yield* done(0)
    yield* Metric.update(metrics.alive, 0)
    yield* options.onEvent(ending(outcome, yield* at))
    return yield* done(1)
  })
