/**
 * The driver of one connection: the mutable cell around the pure {@link Session}, and the synchronous code that
 * carries out its commands.
 *
 * Contract:
 * - Everything here is synchronous: the connection's fiber ({@link Reader}), the {@link Scheduler}'s alarm and the
 *   application's requests call in, step the session, and leave bytes in the {@link Writer} outbox.
 * - {@link Driver.end} ends the connection once and destroys the socket; {@link Driver.teardown} (on the
 *   connection's fiber, after its loop) settles everything that waits on the connection.
 *
 * @since 0.2.0
 */
import { Cause, Deferred, Effect, Exit, Latch, Queue, Scope } from "effect"
import type { Clock, Context, Tracer } from "effect"
import type * as Socket from "effect/socket/Socket"
import * as Session from "../session/Session.ts"
import * as Frame from "../wire/Frame.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import type { Connection, Options } from "./Connection.ts"
import * as Errors from "./ConnectionError.ts"
import * as Observability from "./Observability.ts"
import * as Policing from "./Policing.ts"
import type * as Reader from "./Reader.ts"
import * as Scheduler from "./Scheduler.ts"
import type * as Transport from "./Transport.ts"
import * as Writer from "./Writer.ts"

/** A reply to one of our calls: the frame, or libvirt's error. */
const replyExit = (frame: Frame.Frame): Exit.Exit<Frame.Frame, Remote.RemoteCallError> =>
  frame.header.status === Frame.MessageStatus.Error
    ? Exit.fail(Remote.RemoteCallError.fromPayload(frame.header.proc, frame.payload))
    : Exit.succeed(frame)

/**
 * One connection's driver.
 *
 * @since 0.2.0
 * @category models
 */
export class Driver implements Reader.Sink {
  timer: Scheduler.Timer | undefined
  exit: Exit.Exit<"closed", Errors.ConnectionError> | undefined
  frozen = false
  mute = false
  rtt: number | undefined
  lastPingAt: number | undefined
  inFlight = 0
  readonly out: Writer.Outbox
  readonly gate = Latch.makeUnsafe(true)
  readonly opened = Deferred.makeUnsafe<boolean, Errors.ConnectionError | Errors.ConnectionClosed>()
  readonly done = Deferred.makeUnsafe<"closed", Errors.ConnectionError>()
  readonly calls = new Map<number, Deferred.Deferred<Frame.Frame, any>>()
  readonly waiting: Array<Frame.Frame> = []
  readonly bucket: Policing.Bucket
  readonly metrics: Observability.RoleMetrics
  /** The connection's span, when it runs under one: handshake and keepalive death are its events. */
  span: Tracer.Span | undefined
  readonly handshakeAt: number | undefined
  /** The end recorded by the session's commands (PeerDead, OpenFailed, PingFlood) before its Close. */
  private cause: Errors.ConnectionError | undefined
  connection!: Connection

  readonly clock: Clock.Clock
  readonly context: Context.Context<never>
  state: Session.State
  readonly options: Options
  readonly frames: Queue.Queue<Frame.Frame, Cause.Done> | undefined

  constructor(
    clock: Clock.Clock,
    context: Context.Context<never>,
    writer: Socket.Writer,
    state: Session.State,
    options: Options,
    frames: Queue.Queue<Frame.Frame, Cause.Done> | undefined,
    raw: Transport.Raw | undefined
  ) {
    this.clock = clock
    this.context = context
    this.state = state
    this.options = options
    this.frames = frames
    if (options.trace !== undefined) this.shown = Session.countdown(state)
    this.metrics = Observability.roles[state.role]
    const now = Scheduler.millis(clock)
    this.out = new Writer.Outbox(writer, options.maxQueuedBytes ?? 1024 * 1024, this, raw)
    this.bucket = Policing.bucket(options.policing ?? Policing.defaults, now)
    this.handshakeAt = state.role === "server" && options.handshakeTimeout !== undefined ? now + options.handshakeTimeout : undefined
  }

  /** A span event, stamped with the clock's wall time. */
  event(name: string, attributes: Record<string, unknown>) {
    this.span?.event(name, this.clock.currentTimeNanosUnsafe(), attributes)
  }

  get ended() {
    return this.exit !== undefined
  }
  now() {
    return Scheduler.millis(this.clock)
  }
  /** Reading (and stepping what was read) waits while frozen, while output is stuck above the mark, or while calls are at the limit. */
  mayRead() {
    return this.ended || (!this.out.full() && this.mayStep())
  }
  /** Whether the socket was opened; one that never was has nothing to destroy (its dial is released with its scope). */
  private open = false
  socketOpened() {
    this.open = true
    if (this.ended) this.out.close(0, true)
  }

  waitReadable() {
    this.updateGate()
    return this.gate.await
  }
  updateGate() {
    if (this.mayRead()) this.gate.openUnsafe()
    else this.gate.closeUnsafe()
  }

  deadline(): number | undefined {
    if (this.ended || this.frozen) return undefined
    const d = Session.nextDeadline(this.state)
    const h = this.handshakeAt !== undefined && this.state.phase === "handshake" ? this.handshakeAt : undefined
    return h === undefined ? d : d === undefined ? h : Math.min(d, h)
  }
  /** The scheduler's callback: the deadline is due. */
  fire(now: number) {
    if (this.ended || this.frozen) return
    if (this.handshakeAt !== undefined && this.state.phase === "handshake" && now >= this.handshakeAt) {
      return this.end(Exit.fail(new Errors.HandshakeTimeout({ timeout: this.options.handshakeTimeout! })), false)
    }
    this.step(Session.Input.Tick(now))
    this.out.kick()
  }

  /** Frames of one read: policed, stepped in order, then stopped at a malformed one. */
  /** Whether the next received frame may be stepped now: not while frozen, nor while calls are at the limit. */
  mayStep() {
    const d = this.options.dispatch
    return !this.ended && !this.frozen && (d === undefined || this.inFlight + this.waiting.length < d.maxRequests)
  }
  /** Steps `frames` from `from` on, policed, while {@link mayStep}; returns the index of the first not stepped. */
  received(frames: ReadonlyArray<Frame.Frame>, from: number, now: number): number {
    const policing = this.options.policing ?? Policing.defaults
    let i = from
    for (; i < frames.length && this.mayStep(); i++) {
      if (!Policing.admit(policing, this.bucket, now, 1)) {
        this.end(Exit.fail(new Errors.FrameFlood({ rate: policing.rate, burst: policing.burst })), false)
        return frames.length
      }
      const frame = frames[i]!
      this.options.trace?.({ at: now, kind: "receive", side: this.state.role, frame })
      if (Frame.isKeepalive(frame.header)) this.keepaliveReceived(frame, now)
      this.step(Session.Input.Received(now, frame))
    }
    return i
  }
  private keepaliveReceived(frame: Frame.Frame, now: number) {
    if (frame.header.proc === Frame.KeepaliveProc.Ping) this.metrics.pingsReceived.updateUnsafe(1, this.context)
    else if (frame.header.proc === Frame.KeepaliveProc.Pong) {
      this.metrics.pongsReceived.updateUnsafe(1, this.context)
      if (this.lastPingAt !== undefined) {
        this.rtt = now - this.lastPingAt
        this.metrics.rtt.updateUnsafe(this.rtt, this.context)
      }
      this.lastPingAt = undefined
    }
  }

  step(input: Session.Input, call?: Deferred.Deferred<Frame.Frame, any>): ReadonlyArray<Session.Command> {
    if (this.ended) return []
    const [next, commands] = Session.step(this.state, input)
    this.state = next
    if (this.options.trace !== undefined) this.traceCountdown(input.now)
    for (const c of commands) this.carry(c, input.now, call)
    this.timer?.reschedule()
    return commands
  }

  /** Traces this side's countdown when it changed (what `Trace.timeline` draws). */
  private traceCountdown(now: number) {
    const c = Session.countdown(this.state)
    const shown = this.shown
    if (shown !== undefined && c.pingsLeft === shown.pingsLeft && c.deadline === shown.deadline && c.count === shown.count) return
    this.shown = c
    this.options.trace!({ at: now, kind: "countdown", side: this.state.role, ...c })
  }
  private shown: ReturnType<typeof Session.countdown> | undefined

  private carry(c: Session.Command, now: number, call: Deferred.Deferred<Frame.Frame, any> | undefined) {
    const trace = this.options.trace
    if (trace !== undefined && c._tag !== "Transmit" && c._tag !== "Deliver" && c._tag !== "Rejected") {
      trace({ at: now, kind: "event", side: this.state.role, command: c })
    }
    switch (c._tag) {
      case "Transmit":
        return this.transmit(c.frame, now, call)
      case "Deliver":
        return this.deliver(c.frame, now)
      case "PeerDead":
        this.metrics.peersDead.updateUnsafe(1, this.context)
        this.cause = new Errors.KeepaliveTimeout({ silence: c.silence, pingsSent: c.pingsSent })
        this.event("keepalive.peer_dead", { "keepalive.silence_ms": c.silence, "keepalive.pings_unanswered": c.pingsSent })
        return
      case "OpenFailed":
        this.cause = c.error
        return
      case "PingFlood":
        this.cause = new Errors.PingFlood({ strikes: c.strikes, minInterval: c.minInterval })
        return
      case "Opened":
        this.event("keepalive.open", { [this.state.role === "client" ? "keepalive.server_supports" : "keepalive.client_advertised"]: c.keepalive })
        Deferred.doneUnsafe(this.opened, Exit.succeed(c.keepalive))
        return
      case "Close":
        return this.end(c.reason === "closed" ? Exit.succeed("closed") : Exit.fail(this.endOf(c.reason)), c.reason === "closed" || c.reason === "refused")
    }
  }
  private endOf(reason: Exclude<Session.CloseReason, "closed">): Errors.ConnectionError {
    if (reason === "refused") return new Errors.Refused()
    const cause = this.cause
    // the server's refusal of CONNECT_OPEN (policy required): the same tag the server ends with
    if (cause?._tag === "HandshakeFailed" && cause.step === "open" && cause.remote?.code === Remote.ErrorCode.OperationDenied) {
      return new Errors.Refused({ remote: cause.remote })
    }
    return cause ?? new Session.HandshakeFailed({ step: "open", reason, remote: undefined })
  }

  private transmit(frame: Frame.Frame, now: number, call: Deferred.Deferred<Frame.Frame, any> | undefined) {
    const h = frame.header
    const kind = !Frame.isKeepalive(h) ? undefined : h.proc === Frame.KeepaliveProc.Ping ? "ping" : h.proc === Frame.KeepaliveProc.Pong ? "pong" : undefined
    if (kind === "pong" && this.mute) return
    // coalescing, only while the peer is not reading: one PING and one PONG waiting are enough
    if (kind !== undefined && this.out.stuck() && this.out.waiting(kind)) return
    if (kind === "ping") {
      this.lastPingAt = now
      this.metrics.pingsSent.updateUnsafe(1, this.context)
    } else if (kind === "pong") this.metrics.pongsSent.updateUnsafe(1, this.context)
    this.options.trace?.({ at: now, kind: "transmit", from: this.state.role, frame })
    if (call !== undefined && h.type === Frame.MessageType.Call) this.calls.set(h.serial, call)
    // the session's PING and PONG are shared constants: their bytes are too (a write never changes its bytes)
    this.out.push(frame === Frame.PING ? Frame.PING_BYTES : frame === Frame.PONG ? Frame.PONG_BYTES : Frame.encode(frame), kind)
  }

  private deliver(frame: Frame.Frame, now: number) {
    const h = frame.header
    const pending = h.type === Frame.MessageType.Reply ? this.calls.get(h.serial) : undefined
    if (pending !== undefined) {
      this.calls.delete(h.serial)
      return void Deferred.doneUnsafe(pending, replyExit(frame))
    }
    // a call answered synchronously: sent as the session would send it (Send is a plain Transmit)
    const answer = h.type === Frame.MessageType.Call ? this.options.dispatch?.answer?.(frame) : undefined
    if (answer !== undefined) return this.transmit(answer, now, undefined)
    this.waiting.push(frame)
  }

  /** Hands delivered frames to the application (on the connection's fiber): the queue or the call dispatcher. */
  deliverWaiting(scope: Scope.Scope): Effect.Effect<void> {
    if (this.waiting.length === 0) return Effect.void
    return Effect.suspend(() => this.options.dispatch === undefined ? this.enqueue() : this.dispatch(scope))
  }
  private enqueue() {
    const batch = this.waiting.splice(0)
    return Effect.forEach(batch, (f) => Queue.offer(this.frames!, f), { discard: true })
  }
  private dispatch(scope: Scope.Scope): Effect.Effect<void> {
    const d = this.options.dispatch!
    const start: Array<Frame.Frame> = []
    while (this.waiting.length > 0 && this.inFlight < d.maxRequests) {
      start.push(this.waiting.shift()!)
      this.inFlight++
    }
    this.updateGate()
    const finished = Effect.suspend(() => {
      this.inFlight--
      this.updateGate()
      return this.dispatch(scope)
    })
    return Effect.forEach(start, (call) => Effect.forkIn(Effect.ensuring(d.handle(call, this.connection), finished), scope), { discard: true })
  }

  /** Ends the connection once: records the exit and destroys the socket (after the last frames when `flush`). */
  end(exit: Exit.Exit<"closed", Errors.ConnectionError>, flush: boolean) {
    if (this.ended) return
    this.exit = exit
    this.timer?.cancel()
    this.gate.openUnsafe()
    if (this.frames !== undefined) Queue.endUnsafe(this.frames)
    this.out.close(flush ? (this.options.flushTimeout ?? 1000) : 0, this.open)
  }
  /** Output drained below the mark (or the socket failed). */
  drained(failure: Socket.SocketError | undefined) {
    if (failure !== undefined) this.end(Exit.fail(new Errors.SocketFailure({ cause: failure })), false)
    this.updateGate()
  }

  teardown(scope: Scope.Closeable): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.end(Exit.succeed("closed"), false)
      const exit = this.exit!
      Deferred.doneUnsafe(this.opened, Exit.isFailure(exit) ? exit as Exit.Exit<never, Errors.ConnectionError> : Exit.fail(new Errors.ConnectionClosed()))
      const closed = new Errors.ConnectionClosed()
      for (const pending of this.calls.values()) Deferred.doneUnsafe(pending, Exit.isFailure(exit) ? exit as Exit.Exit<never, Errors.ConnectionError> : Exit.fail(closed))
      this.calls.clear()
      this.metrics.sessionsLive.modifyUnsafe(-1, this.context)
      this.span?.attribute("keepalive.end", Exit.isSuccess(exit) ? "closed" : (Cause.squash(exit.cause) as { _tag?: string })._tag ?? "failed")
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) as Errors.ConnectionError : undefined
      const log = error === undefined ? Effect.void : error._tag === "KeepaliveTimeout"
        ? Effect.logWarning(error.message).pipe(Effect.annotateLogs({ probe: "timeout", role: this.state.role }))
        : Effect.logDebug(error.message).pipe(Effect.annotateLogs({ probe: "stop", role: this.state.role }))
      return log.pipe(
        Effect.andThen(this.out.closed()),
        Effect.andThen(Scope.close(scope, Exit.void)),
        Effect.andThen(Effect.sync(() => Deferred.doneUnsafe(this.done, exit)))
      )
    })
  }
}

