/**
 * What a connection tells the world about itself: metrics, the trace and the span events, behind one
 * {@link Observer.observe}. The driver reports events; it does not know who listens.
 *
 * Contract:
 * - {@link Observer.observe} is synchronous and never fails; with no trace and no span installed, an event costs
 *   a metric update at most.
 * - Keepalive frames sent and received update the PING/PONG counters; a PONG received after our PING sets the
 *   round-trip time ({@link Observer.rtt}) and its histogram. A dead peer counts in `keepalive_peers_dead` and is
 *   a span event; so are the opening, a stall and a resume.
 * - The trace sees every frame written and received, every session command but transmissions (traced as they are
 *   written, after coalescing), and this side's countdown whenever it changed.
 *
 * @since 0.3.0
 */
import type * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import type * as Tracer from "effect/Tracer"
import * as Session from "../session/Session.ts"
import * as Trace from "../trace/Trace.ts"
import * as Frame from "../wire/Frame.ts"
import * as Observability from "./Observability.ts"

/**
 * What a driver reports.
 *
 * @since 0.3.0
 * @category models
 */
export type Event =
  | { readonly _tag: "Received"; readonly now: number; readonly frame: Frame.Frame }
  | { readonly _tag: "Sent"; readonly now: number; readonly frame: Frame.Frame }
  | { readonly _tag: "Command"; readonly now: number; readonly command: Session.Command }
  | { readonly _tag: "Stepped"; readonly now: number; readonly state: Session.State }
  | { readonly _tag: "Stall"; readonly now: number; readonly stalled: boolean; readonly pending: number }
  | { readonly _tag: "Dropped"; readonly now: number; readonly dropped: number }
  | { readonly _tag: "Freeze"; readonly now: number; readonly frozen: boolean }

/**
 * One connection's observer.
 *
 * @since 0.3.0
 * @category models
 */
export class Observer {
  /** Round-trip time of our last PING answered by a PONG, in ms. */
  rtt: number | undefined
  private lastPingAt: number | undefined
  private shown: ReturnType<typeof Session.countdown> | undefined
  /** The connection's span, when it runs under one. */
  span: Tracer.Span | undefined
  readonly role: "client" | "server"
  readonly metrics: Observability.RoleMetrics
  readonly trace: ((event: Trace.TraceEvent) => void) | undefined
  readonly clock: Clock.Clock
  readonly context: Context.Context<never>

  constructor(state: Session.State, trace: ((event: Trace.TraceEvent) => void) | undefined, clock: Clock.Clock, context: Context.Context<never>) {
    this.role = state.role
    this.metrics = Observability.roles[state.role]
    this.trace = trace
    this.clock = clock
    this.context = context
    if (trace !== undefined) this.shown = Session.countdown(state)
  }

  observe(e: Event) {
    switch (e._tag) {
      case "Received":
        this.trace?.({ at: e.now, kind: "receive", side: this.role, frame: e.frame })
        return this.keepaliveReceived(Frame.keepaliveKind(e.frame.header), e.now)
      case "Sent":
        this.trace?.(Trace.ofCommand(e.now, this.role, { _tag: "Transmit", frame: e.frame }))
        return this.keepaliveSent(Frame.keepaliveKind(e.frame.header), e.now)
      case "Command":
        return this.command(e.now, e.command)
      case "Stepped":
        return this.countdown(e.now, e.state)
      case "Stall":
        return this.stall(e)
      case "Dropped":
        this.metrics.framesDropped.updateUnsafe(1, this.context)
        if (e.dropped === 1 || e.dropped % 1000 === 0) {
          this.trace?.({ at: e.now, kind: "note", text: `client dropped a frame for the application (${e.dropped} so far): its backlog is full` })
        }
        return
      case "Freeze":
        return this.trace?.({ at: e.now, kind: e.frozen ? "freeze" : "thaw", side: this.role })
    }
  }

  /** A span event, stamped with the clock's wall time. */
  private event(name: string, attributes: Record<string, unknown>) {
    this.span?.event(name, this.clock.currentTimeNanosUnsafe(), attributes)
  }

  private keepaliveReceived(kind: Frame.KeepaliveKind | undefined, now: number) {
    if (kind === "ping") return this.metrics.pingsReceived.updateUnsafe(1, this.context)
    if (kind !== "pong") return
    this.metrics.pongsReceived.updateUnsafe(1, this.context)
    if (this.lastPingAt !== undefined) {
      this.rtt = now - this.lastPingAt
      this.metrics.rtt.updateUnsafe(this.rtt, this.context)
    }
    this.lastPingAt = undefined
  }

  private keepaliveSent(kind: Frame.KeepaliveKind | undefined, now: number) {
    if (kind === "ping") {
      this.lastPingAt = now
      this.metrics.pingsSent.updateUnsafe(1, this.context)
    } else if (kind === "pong") this.metrics.pongsSent.updateUnsafe(1, this.context)
  }

  private command(now: number, c: Session.Command) {
    if (this.trace !== undefined && c._tag !== "Transmit" && c._tag !== "Deliver" && c._tag !== "Rejected") {
      this.trace(Trace.ofCommand(now, this.role, c))
    }
    if (c._tag === "PeerDead") {
      this.metrics.peersDead.updateUnsafe(1, this.context)
      this.event("keepalive.peer_dead", { "keepalive.silence_ms": c.silence, "keepalive.pings_unanswered": c.pingsSent })
    } else if (c._tag === "Opened") {
      this.event("keepalive.open", { [this.role === "client" ? "keepalive.server_supports" : "keepalive.client_advertised"]: c.keepalive })
    }
  }

  /** Traces this side's countdown when it changed (what `Trace.timeline` draws). */
  private countdown(now: number, state: Session.State) {
    if (this.trace === undefined) return
    const c = Session.countdown(state)
    const shown = this.shown
    if (shown !== undefined && c.pingsLeft === shown.pingsLeft && c.deadline === shown.deadline && c.count === shown.count) return
    this.shown = c
    this.trace({ at: now, kind: "countdown", side: this.role, ...c })
  }

  private stall(e: Extract<Event, { readonly _tag: "Stall" }>) {
    this.trace?.({
      at: e.now,
      kind: "note",
      text: e.stalled
        ? `${this.role} stopped reading: ${e.pending} frames wait for the application (keepalive paused)`
        : `${this.role} reads again (keepalive resumed)`
    })
    this.event(e.stalled ? "keepalive.pause" : "keepalive.resume", { "keepalive.pending_frames": e.pending })
    if (e.stalled) this.metrics.stalls.updateUnsafe(1, this.context)
  }
}
