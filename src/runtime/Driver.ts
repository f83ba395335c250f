/**
 * The driver of one connection: the mutable cell around the pure {@link Session}, and the synchronous code that
 * carries out its commands.
 *
 * Contract:
 * - Everything here is synchronous: the connection's fiber ({@link Reader}), the {@link Scheduler}'s alarm and the
 *   application's requests call in, step the session, and leave bytes in the {@link Writer} outbox.
 * - Liveness comes from what the peer sends: every frame read is stepped into the session at once (so a PING gets
 *   its PONG and a PONG counts when read), whatever waits behind it. Frames delivered to the application (a
 *   server's calls waiting for a handler slot, a client's frames waiting on `frames`) wait in a bounded backlog;
 *   while it is full we stop reading and the session is paused (no keepalive deadline runs), and reading again
 *   resumes it. A pause longer than `maxStall` ends the connection with `SlowConsumer`, never a keepalive death.
 * - Client calls: at most `maxCallsInFlight` unanswered at once; the rest wait in the caller's order, bounded by
 *   `maxQueuedCalls`.
 * - {@link Driver.end} ends the connection once and destroys the socket; {@link Driver.teardown} (on the
 *   connection's fiber, after its loop) settles everything that waits on the connection.
 *
 * @since 0.2.0
 */
import { Cause, Deferred, Effect, Exit, Fiber, Latch, Queue, Scope } from "effect"
import type { Clock, Context, Tracer } from "effect"
import type * as Socket from "effect/socket/Socket"
import * as Session from "../session/Session.ts"
import * as Trace from "../trace/Trace.ts"
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

/** A frame's size on the wire. */
const frameBytes = (frame: Frame.Frame): number => Frame.MIN_FRAME_SIZE + frame.payload.length

/** The earlier of two optional times. */
const earliest = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : Math.min(a, b)

/** A reply to one of our calls: the frame, or libvirt's error. */
const replyExit = (frame: Frame.Frame): Exit.Exit<Frame.Frame, Remote.RemoteCallError> =>
  frame.header.status === Frame.MessageStatus.Error
    ? Exit.fail(Remote.RemoteCallError.fromPayload(frame.header.proc, frame.payload))
    : Exit.succeed(frame)

/** A client call waiting for a slot: sent when an earlier call is answered. */
interface QueuedCall {
  readonly proc: number
  readonly payload: Uint8Array | undefined
  readonly reply: Deferred.Deferred<Frame.Frame, any>
}

/** The defaults of the bounds the driver keeps. */
export const defaults = {
  maxPendingFrames: 256,
  maxPendingBytes: 4 * 1024 * 1024,
  slowConsumer: "drop",
  maxStall: 60_000,
  maxCallsInFlight: 4,
  maxQueuedCalls: 1024
} as const

/**
 * One connection's driver.
 *
 * @since 0.2.0
 * @category models
 */
export class Driver implements Reader.Sink {
  timer: Scheduler.Timer | undefined
  exit: Exit.Exit<void, Errors.ConnectionError> | undefined
  frozen = false
  mute = false
  rtt: number | undefined
  /** Client: the server's answer while opening, whether it supports keepalive. */
  serverKeepalive = false
  lastPingAt: number | undefined
  inFlight = 0
  readonly out: Writer.Outbox
  readonly gate = Latch.makeUnsafe(true)
  readonly wake = Latch.makeUnsafe(false)
  /** Whether reading was allowed at the last {@link updateGate}: the loop is woken when it becomes so again. */
  private readable = true
  private wakePending = false
  /**
   * Wakes the connection's fiber once the current synchronous work is done (a latch resumes its waiter at once,
   * which must not happen in the middle of a step).
   */
  private wakeSoon() {
    if (this.wakePending) return
    this.wakePending = true
    queueMicrotask(() => {
      this.wakePending = false
      this.wake.openUnsafe()
    })
  }
  readonly opened = Deferred.makeUnsafe<boolean, Errors.ConnectionError | Errors.ConnectionClosed>()
  readonly done = Deferred.makeUnsafe<void, Errors.ConnectionError>()
  readonly calls = new Map<number, Deferred.Deferred<Frame.Frame, any>>()
  /** Client: calls waiting for one of the `maxCallsInFlight` slots, in the callers' order. */
  readonly queuedCalls: Array<QueuedCall> = []
  /** Server: calls waiting for a handler slot. Client: frames the application's queue had no room for yet. */
  readonly waiting: Array<Frame.Frame> = []
  /** Bytes of the frames delivered and not yet taken (by a handler, or from `frames`). */
  pendingBytes = 0
  /** Client: frames dropped because the application's backlog was full (`slowConsumer: "drop"`). */
  dropped = 0
  /** Since when we have stopped reading because the backlog is full (the session is paused meanwhile). */
  stalledAt: number | undefined
  readonly bucket: Policing.Bucket
  readonly metrics: Observability.RoleMetrics
  /** The connection's span, when it runs under one: handshake and keepalive death are its events. */
  span: Tracer.Span | undefined
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
  /**
   * Reading waits while frozen, while our output is stuck above the mark (the peer does not read: no pause, its
   * keepalive runs), or while the backlog for the application is full (our own limit: the session is paused).
   */
  mayRead() {
    return this.ended || (!this.frozen && !this.out.full() && !this.holding())
  }
  /** The backlog is full and we hold it by not reading (a server's calls; a client's frames under `pause`). */
  holding() {
    return this.backedUp() && (this.frames === undefined || this.slowConsumerPolicy() === "pause")
  }
  /** What a full backlog does to the next frame for `frames`: a server's frames are requests (never dropped), so `pause`. */
  private slowConsumerPolicy() {
    return this.options.slowConsumer ?? (this.state.role === "server" ? "pause" : defaults.slowConsumer)
  }
  /** Frames delivered and not yet taken by the application: a server's waiting calls, a client's queued frames. */
  pending() {
    return this.frames === undefined ? this.waiting.length : Queue.sizeUnsafe(this.frames) + this.waiting.length
  }
  /** The backlog for the application is full: at `maxPendingFrames` frames or `maxPendingBytes` bytes. */
  backedUp() {
    const o = this.options
    return this.pending() >= (o.maxPendingFrames ?? defaults.maxPendingFrames) || this.pendingBytes >= (o.maxPendingBytes ?? defaults.maxPendingBytes)
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
    this.checkStall()
    const readable = this.mayRead()
    if (readable) this.gate.openUnsafe()
    else this.gate.closeUnsafe()
    if (readable && !this.readable) this.wakeSoon()
    this.readable = readable
  }
  /**
   * Pauses the session when the backlog fills (we stop reading: the peer's silence is ours), resumes it when it
   * drains. Not while our output is stuck: a peer that does not read us takes none of our PINGs, and its keepalive
   * runs (the stall is then its own, not ours).
   */
  private checkStall() {
    if (this.ended || (this.holding() && !this.out.full()) === (this.stalledAt !== undefined)) return
    const now = this.now()
    const stalled = this.stalledAt === undefined
    this.stalledAt = stalled ? now : undefined
    this.options.trace?.({ at: now, kind: "note", text: stalled
      ? `${this.state.role} stopped reading: ${this.pending()} frames wait for the application (keepalive paused)`
      : `${this.state.role} reads again (keepalive resumed)` })
    this.event(stalled ? "keepalive.pause" : "keepalive.resume", { "keepalive.pending_frames": this.pending() })
    if (stalled) this.metrics.stalls.updateUnsafe(1, this.context)
    this.step(stalled ? Session.Input.Pause(now) : Session.Input.Resume(now))
  }
  /** When a stall becomes a slow consumer, if it lasts. */
  private stallDeadline(): number | undefined {
    const max = this.options.maxStall ?? defaults.maxStall
    return this.stalledAt === undefined || !(max > 0 && max < Infinity) ? undefined : this.stalledAt + max
  }

  deadline(): number | undefined {
    if (this.ended || this.frozen) return undefined
    return earliest(Session.nextDeadline(this.state), this.stallDeadline())
  }
  /** The scheduler's callback: the deadline is due. */
  fire(now: number) {
    if (this.ended || this.frozen) return
    const stall = this.stallDeadline()
    if (stall !== undefined && now >= stall) return this.end(Exit.fail(this.slowConsumer(now - this.stalledAt!)), false)
    this.step(Session.Input.Tick(now))
    this.out.kick()
    this.updateGate()
  }

  private slowConsumer(stalled: number): Errors.SlowConsumer {
    return new Errors.SlowConsumer({
      consumer: this.options.dispatch === undefined ? "application" : "handlers",
      stalled,
      pendingFrames: this.pending(),
      pendingBytes: this.pendingBytes
    })
  }

  /** Whether the next received frame may be stepped now: not once ended, nor while frozen (nothing runs). */
  mayStep() {
    return !this.ended && !this.frozen
  }
  /**
   * Steps `frames` from `from` on, policed, while {@link mayStep}; returns the index of the first not stepped.
   * Every frame is stepped when read (its receipt is life), whatever waits for the application.
   */
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
      const kind = Frame.keepaliveKind(frame.header)
      if (kind !== undefined) this.keepaliveReceived(kind, now)
      this.step(Session.Input.Received(now, frame))
    }
    this.sendQueuedCalls(now)
    this.updateGate()
    return i
  }
  private keepaliveReceived(kind: Frame.KeepaliveKind, now: number) {
    if (kind === "ping") this.metrics.pingsReceived.updateUnsafe(1, this.context)
    else if (kind === "pong") {
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
    const [next, commands] = (this.options.step ?? Session.step)(this.state, input)
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
      trace(Trace.ofCommand(now, this.state.role, c))
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
        if (this.state.role === "client") this.serverKeepalive = c.keepalive
        this.event("keepalive.open", { [this.state.role === "client" ? "keepalive.server_supports" : "keepalive.client_advertised"]: c.keepalive })
        Deferred.doneUnsafe(this.opened, Exit.succeed(c.keepalive))
        return
      case "Close":
        return this.end(c.reason === "closed" ? Exit.void : Exit.fail(this.endOf(c.reason)), c.reason === "closed" || c.reason === "refused")
    }
  }
  private endOf(reason: Exclude<Session.CloseReason, "closed">): Errors.ConnectionError {
    if (reason === "refused") return new Errors.Refused()
    if (reason === "handshake-timeout") return new Errors.HandshakeTimeout({ timeout: this.options.handshakeTimeout ?? 0 })
    const cause = this.cause
    // the server's refusal of CONNECT_OPEN (policy required): the same tag the server ends with
    if (cause?._tag === "HandshakeFailed" && cause.step === "open" && cause.remote?.code === Remote.ErrorCode.OperationDenied) {
      return new Errors.Refused({ remote: cause.remote })
    }
    return cause ?? new Session.HandshakeFailed({ step: "open", reason, remote: undefined })
  }

  private transmit(frame: Frame.Frame, now: number, call: Deferred.Deferred<Frame.Frame, any> | undefined) {
    const h = frame.header
    const keepalive = Frame.keepaliveKind(h)
    const kind = keepalive === "ping" || keepalive === "pong" ? keepalive : undefined
    if (kind === "pong" && this.mute) return
    // coalescing, only while the peer is not reading: one PING and one PONG waiting are enough
    if (kind !== undefined && this.out.stuck() && this.out.waiting(kind)) return
    if (kind === "ping") {
      this.lastPingAt = now
      this.metrics.pingsSent.updateUnsafe(1, this.context)
    } else if (kind === "pong") this.metrics.pongsSent.updateUnsafe(1, this.context)
    this.options.trace?.(Trace.ofCommand(now, this.state.role, { _tag: "Transmit", frame }))
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
    // a server's handlers answer calls; libvirtd drops any other frame a client sends (a stream frame with no
    // stream, a reply, an unknown type) without a word
    if (this.options.dispatch !== undefined && h.type !== Frame.MessageType.Call) return
    // a call answered synchronously: sent as the session would send it (Send is a plain Transmit)
    const answer = h.type === Frame.MessageType.Call ? this.options.dispatch?.answer?.(frame) : undefined
    if (answer !== undefined) return this.transmit(answer, now, undefined)
    if (this.frames !== undefined) return this.toApplication(this.frames, frame, now)
    this.pendingBytes += frameBytes(frame)
    this.waiting.push(frame)
  }

  /**
   * Client: a frame for `frames`. With room in the backlog it is queued; without, `slowConsumer` decides: drop it
   * (counted), end the connection (`SlowConsumer`), or queue it anyway and stop reading (`pause`).
   */
  private toApplication(queue: Queue.Queue<Frame.Frame, Cause.Done>, frame: Frame.Frame, now: number) {
    const policy = this.slowConsumerPolicy()
    if (policy !== "pause" && this.backedUp()) {
      if (policy === "end") return this.end(Exit.fail(this.slowConsumer(0)), false)
      this.dropped++
      this.metrics.framesDropped.updateUnsafe(1, this.context)
      if (this.dropped === 1 || this.dropped % 1000 === 0) {
        this.options.trace?.({ at: now, kind: "note", text: `client dropped a frame for the application (${this.dropped} so far): its backlog is full` })
      }
      return
    }
    this.pendingBytes += frameBytes(frame)
    // the queue takes what it has room for; the rest waits, in order, counted in the backlog
    if (this.waiting.length === 0 && Queue.offerUnsafe(queue, frame)) return
    this.waiting.push(frame)
  }

  /** The application took `taken` from `frames`: their bytes leave the backlog, and waiting frames move up. */
  taken(taken: ReadonlyArray<Frame.Frame>) {
    for (const f of taken) this.pendingBytes -= frameBytes(f)
    let moved = 0
    while (moved < this.waiting.length && Queue.offerUnsafe(this.frames!, this.waiting[moved]!)) moved++
    if (moved > 0) this.waiting.splice(0, moved)
    this.updateGate()
  }

  /**
   * Server: starts the calls that wait for a handler slot, each on a fiber of its own (interrupted when the
   * connection ends). Called between steps, never inside one: a handler that answers at once steps the session.
   */
  startWaiting() {
    const d = this.options.dispatch
    if (d === undefined || this.ended || this.starting) return
    this.starting = true
    while (this.waiting.length > 0 && this.inFlight < d.maxRequests && !this.ended) {
      const call = this.waiting.shift()!
      this.pendingBytes -= frameBytes(call)
      this.inFlight++
      const fiber = Effect.runForkWith(this.context)(d.handle(call, this.connection))
      this.handlers.add(fiber)
      fiber.addObserver(() => this.handlerDone(fiber))
    }
    this.starting = false
    this.updateGate()
  }
  /** Set while {@link startWaiting} runs: a handler that finishes at once frees its slot for the same loop. */
  private starting = false
  private handlerDone(fiber: Fiber.Fiber<void>) {
    if (!this.handlers.delete(fiber)) return
    this.inFlight--
    this.updateGate()
    this.startWaiting()
  }
  /** The handlers still running. */
  readonly handlers = new Set<Fiber.Fiber<void>>()

  /**
   * Client: a call goes out at once while fewer than `maxCallsInFlight` are unanswered and none waits before it;
   * otherwise it waits its turn (at most `maxQueuedCalls`). Returns the session's refusal or the full queue.
   */
  call(proc: number, payload: Uint8Array | undefined, reply: Deferred.Deferred<Frame.Frame, any>): Session.NotAllowed | Errors.TooManyCalls | undefined {
    const o = this.options
    if (this.queuedCalls.length === 0 && this.calls.size < (o.maxCallsInFlight ?? defaults.maxCallsInFlight)) {
      const refused = this.sendCall(proc, payload, reply, this.now())
      this.out.kick()
      this.updateGate()
      return refused
    }
    const max = o.maxQueuedCalls ?? defaults.maxQueuedCalls
    if (this.queuedCalls.length >= max) return new Errors.TooManyCalls({ inFlight: this.calls.size, queued: this.queuedCalls.length })
    this.queuedCalls.push({ proc, payload, reply })
    return undefined
  }
  /** A caller that stopped waiting gives up its place in the queue (a call already sent keeps its slot until its reply). */
  dropQueuedCall(reply: Deferred.Deferred<Frame.Frame, any>) {
    const i = this.queuedCalls.findIndex((q) => q.reply === reply)
    if (i >= 0) this.queuedCalls.splice(i, 1)
  }
  private sendCall(proc: number, payload: Uint8Array | undefined, reply: Deferred.Deferred<Frame.Frame, any>, now: number) {
    for (const c of this.step(Session.Input.Call(now, proc, payload), reply)) {
      if (c._tag === "Rejected" && c.error._tag === "NotAllowed") return c.error
    }
    return undefined
  }
  /** Sends queued calls while slots are free (after replies came in). */
  private sendQueuedCalls(now: number) {
    const max = this.options.maxCallsInFlight ?? defaults.maxCallsInFlight
    while (this.queuedCalls.length > 0 && this.calls.size < max && !this.ended) {
      const q = this.queuedCalls.shift()!
      const refused = this.sendCall(q.proc, q.payload, q.reply, now)
      if (refused !== undefined) Deferred.doneUnsafe(q.reply, Exit.fail(refused))
    }
  }

  /** Ends the connection once: records the exit and destroys the socket (after the last frames when `flush`). */
  end(exit: Exit.Exit<void, Errors.ConnectionError>, flush: boolean) {
    if (this.ended) return
    this.exit = exit
    this.timer?.cancel()
    this.gate.openUnsafe()
    this.wakeSoon()
    if (this.frames !== undefined) Queue.endUnsafe(this.frames)
    this.out.close(flush ? (this.options.flushTimeout ?? 1000) : 0, this.open)
  }
  /** Output drained below the mark (or the socket failed). */
  drained(failure: Socket.SocketError | undefined) {
    if (failure !== undefined) this.end(Exit.fail(Errors.socketEnd(failure)), false)
    this.updateGate()
  }

  teardown(scope: Scope.Closeable): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.end(Exit.void, false)
      const exit = this.exit!
      Deferred.doneUnsafe(this.opened, Exit.isFailure(exit) ? exit as Exit.Exit<never, Errors.ConnectionError> : Exit.fail(new Errors.ConnectionClosed()))
      const closed = new Errors.ConnectionClosed()
      const failed = Exit.isFailure(exit) ? exit as Exit.Exit<never, Errors.ConnectionError> : Exit.fail(closed)
      for (const pending of this.calls.values()) Deferred.doneUnsafe(pending, failed)
      for (const queued of this.queuedCalls) Deferred.doneUnsafe(queued.reply, failed)
      this.calls.clear()
      this.queuedCalls.length = 0
      this.metrics.sessionsLive.modifyUnsafe(-1, this.context)
      this.span?.attribute("keepalive.end", Exit.isSuccess(exit) ? "closed" : (Cause.squash(exit.cause) as { _tag?: string })._tag ?? "failed")
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) as Errors.ConnectionError : undefined
      const log = error === undefined ? Effect.void : error._tag === "KeepaliveTimeout"
        ? Observability.logAt((l) => l.peerDead, error.message).pipe(Effect.annotateLogs({ probe: "timeout", role: this.state.role }))
        : Observability.logAt((l) => l.ended, error.message).pipe(Effect.annotateLogs({ probe: "stop", role: this.state.role }))
      const handlers = Array.from(this.handlers)
      this.handlers.clear()
      return log.pipe(
        Effect.andThen(Fiber.interruptAll(handlers)),
        Effect.andThen(this.out.closed()),
        Effect.andThen(Scope.close(scope, Exit.void)),
        Effect.andThen(Effect.sync(() => Deferred.doneUnsafe(this.done, exit)))
      )
    })
  }
}

