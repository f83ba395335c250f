/**
 * The driver of one connection: the mutable cell around the pure {@link Session}, and the synchronous code that
 * carries out its commands. It keeps step, deadline, fire and end; its collaborators keep the rest: the
 * {@link Calls.CallTable} (a client's calls), the {@link Delivery.Delivery} (frames and calls for the application),
 * the {@link Writer.Outbox} (bytes for the peer) and the {@link Observer.Observer} (metrics, trace, spans).
 *
 * Contract:
 * - Everything here is synchronous: the read path ({@link Reader}), the {@link Scheduler}'s alarm and the
 *   application's requests call in, step the session, and leave bytes in the outbox.
 * - Liveness comes from what the peer sends: every frame read is stepped into the session when read (a read of
 *   more than a turn's frames goes on in the next turn; see {@link Reader}), so a PING gets its PONG and a PONG
 *   counts when read, whatever waits behind it. While the backlog for the application is
 *   held we stop reading and the session is paused (no keepalive deadline runs), and reading again resumes it. A
 *   pause longer than `maxStall` ends the connection with `SlowConsumer`, never a keepalive death.
 * - The session's `Close` says how the connection ends (its cause travels with it).
 * - {@link Driver.end} ends the connection once and destroys the socket; {@link Driver.teardown} (on the
 *   connection's fiber, after its loop) settles everything that waits on the connection.
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Latch from "effect/Latch"
import type * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import * as Session from "../session/Session.ts"
import * as Frame from "../wire/Frame.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import * as Calls from "./Calls.ts"
import type { Connection, Options } from "./Connection.ts"
import * as Errors from "./ConnectionError.ts"
import * as Delivery from "./Delivery.ts"
import * as Observability from "./Observability.ts"
import * as Observer from "./Observer.ts"
import * as Policing from "./Policing.ts"
import type * as Reader from "./Reader.ts"
import * as Scheduler from "./Scheduler.ts"
import * as Signal from "./Signal.ts"
import type * as Transport from "./Transport.ts"
import * as Writer from "./Writer.ts"

/** The earlier of two optional times. */
const earliest = (a: number | undefined, b: number | undefined): number | undefined => a === undefined ? b : b === undefined ? a : Math.min(a, b)

/** The defaults of the bounds the driver keeps. */
export const defaults = {
  maxPendingFrames: 256,
  maxPendingBytes: 4 * 1024 * 1024,
  slowConsumer: "drop",
  maxStall: 60_000,
  maxCallsInFlight: 4,
  maxQueuedCalls: 1024
} as const

/** The delivery's options from the connection's: a server's calls and a server session's frames default to `pause`. */
const deliveryOptions = (options: Options, role: "client" | "server", handle: (call: Frame.Frame) => Effect.Effect<void>): Delivery.Options => ({
  maxPendingFrames: options.maxPendingFrames ?? defaults.maxPendingFrames,
  maxPendingBytes: options.maxPendingBytes ?? defaults.maxPendingBytes,
  slowConsumer: options.slowConsumer ?? (role === "server" ? "pause" : defaults.slowConsumer),
  dispatch: options.dispatch === undefined ? undefined : { maxRequests: options.dispatch.maxRequests, handle }
})

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
  /** Client: the server's answer while opening, whether it supports keepalive. */
  serverKeepalive = false
  /** Since when we have stopped reading because the backlog is held (the session is paused meanwhile). */
  stalledAt: number | undefined
  readonly out: Writer.Outbox
  /** Raised when the read path's fiber has work: reading may go on again, or the end. */
  readonly wake = new Signal.Signal()
  /** Open while reading may go on; made on first need (the pull path, a frozen connection's requests). */
  private latch: Latch.Latch | undefined
  readonly opened = Deferred.makeUnsafe<boolean, Errors.ConnectionError | Errors.ConnectionClosed>()
  readonly done = Deferred.makeUnsafe<void, Errors.ConnectionError>()
  readonly calls: Calls.CallTable
  readonly delivery: Delivery.Delivery
  readonly observer: Observer.Observer
  readonly bucket: Policing.Bucket
  connection!: Connection
  state: Session.State
  readonly clock: Clock.Clock
  readonly context: Context.Context<never>
  readonly options: Options
  /** Whether reading was allowed at the last {@link updateGate}: the loop is woken when it becomes so again. */
  private readable = true
  private wakePending = false
  /** Whether the socket was opened; one that never was has nothing to destroy (its dial is released with its scope). */
  private open = false

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
    this.observer = new Observer.Observer(state, options.trace, clock, context)
    this.out = new Writer.Outbox(writer, options.maxQueuedBytes ?? 1024 * 1024, this, raw)
    this.bucket = Policing.bucket(options.policing ?? Policing.defaults, this.now())
    this.calls = new Calls.CallTable(options.maxCallsInFlight ?? defaults.maxCallsInFlight, options.maxQueuedCalls ?? defaults.maxQueuedCalls)
    const handle = (call: Frame.Frame) => options.dispatch!.handle(call, this.connection)
    this.delivery = new Delivery.Delivery(deliveryOptions(options, state.role, handle), frames, context, () => this.updateGate())
  }

  get ended() {
    return this.exit !== undefined
  }
  now() {
    return Scheduler.millis(this.clock)
  }
  /** Frames delivered and not yet taken by the application. */
  pending() {
    return this.delivery.pending()
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reading: when the read path may go on
  // -------------------------------------------------------------------------------------------------------------

  /**
   * Reading waits while frozen, while our output is stuck above the mark (the peer does not read: no pause, its
   * keepalive runs), or while the backlog for the application is held (our own limit: the session is paused).
   */
  mayRead() {
    return this.ended || (!this.frozen && !this.out.full() && !this.delivery.holding())
  }
  socketOpened() {
    this.open = true
    if (this.ended) this.out.close(0, true)
  }
  /** Open while reading may go on. */
  get gate(): Latch.Latch {
    return this.latch ??= Latch.makeUnsafe(this.mayRead())
  }
  waitReadable() {
    this.updateGate()
    return this.gate.await
  }
  updateGate() {
    this.checkStall()
    const readable = this.mayRead()
    if (readable) this.latch?.openUnsafe()
    else this.latch?.closeUnsafe()
    if (readable && !this.readable) this.wakeSoon()
    this.readable = readable
  }
  /**
   * Wakes the connection's fiber once the current synchronous work is done (a latch resumes its waiter at once,
   * which must not happen in the middle of a step).
   */
  private wakeSoon() {
    if (this.wakePending) return
    this.wakePending = true
    queueMicrotask(() => {
      this.wakePending = false
      this.wake.raise()
    })
  }
  /**
   * Pauses the session when the backlog is held (we stop reading: the peer's silence is ours), resumes it when it
   * drains. Not while our output is stuck: a peer that does not read us takes none of our PINGs, and its keepalive
   * runs (the stall is then its own, not ours).
   */
  private checkStall() {
    if (this.ended || (this.delivery.holding() && !this.out.full()) === (this.stalledAt !== undefined)) return
    const now = this.now()
    const stalled = this.stalledAt === undefined
    this.stalledAt = stalled ? now : undefined
    this.observer.observe({ _tag: "Stall", now, stalled, pending: this.pending() })
    this.step(stalled ? Session.Input.Pause(now) : Session.Input.Resume(now))
  }
  /** When a stall becomes a slow consumer, if it lasts. */
  private stallDeadline(): number | undefined {
    const max = this.options.maxStall ?? defaults.maxStall
    return this.stalledAt === undefined || !(max > 0 && max < Infinity) ? undefined : this.stalledAt + max
  }

  // -------------------------------------------------------------------------------------------------------------
  // Time: the deadline and its firing
  // -------------------------------------------------------------------------------------------------------------

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
    return Errors.withoutStack(() =>
      new Errors.SlowConsumer({
        consumer: this.options.dispatch === undefined ? "application" : "handlers",
        stalled,
        pendingFrames: this.pending(),
        pendingBytes: this.delivery.bytes
      })
    )
  }

  // -------------------------------------------------------------------------------------------------------------
  // Stepping: frames read, and the commands that come out
  // -------------------------------------------------------------------------------------------------------------

  /** Whether the next received frame may be stepped now: not once ended, nor while frozen (nothing runs). */
  mayStep() {
    return !this.ended && !this.frozen
  }
  /**
   * Steps `frames` from `from` on, policed, while {@link mayStep}; returns the index of the first not stepped.
   * Every frame is stepped when read (its receipt is life), whatever waits for the application.
   */
  received(frames: ReadonlyArray<Frame.Frame>, from: number, now: number, until = frames.length): number {
    const policing = this.options.policing ?? Policing.defaults
    let i = from
    for (; i < until && this.mayStep(); i++) {
      if (!Policing.admit(policing, this.bucket, now, 1)) {
        this.end(Exit.fail(Errors.withoutStack(() => new Errors.FrameFlood({ rate: policing.rate, burst: policing.burst }))), false)
        return frames.length
      }
      const frame = frames[i]!
      this.observer.observe({ _tag: "Received", now, frame })
      this.step(Session.Input.Received(now, frame))
    }
    this.sendQueuedCalls(now)
    this.updateGate()
    return i
  }

  /** Steps the session and carries out its commands; a call's reply is awaited on `call`. */
  step(input: Session.Input, call?: Calls.Reply): ReadonlyArray<Session.Command> {
    if (this.ended) return []
    const [next, commands] = (this.options.step ?? Session.step)(this.state, input)
    this.state = next
    this.observer.observe({ _tag: "Stepped", now: input.now, state: next })
    for (const c of commands) this.carry(c, input.now, call)
    this.timer?.reschedule()
    return commands
  }

  private carry(c: Session.Command, now: number, call: Calls.Reply | undefined) {
    this.observer.observe({ _tag: "Command", now, command: c })
    switch (c._tag) {
      case "Transmit":
        return this.transmit(c.frame, now, call)
      case "Deliver":
        return this.deliver(c.frame, now)
      case "Opened":
        if (this.state.role === "client") this.serverKeepalive = c.keepalive
        Deferred.doneUnsafe(this.opened, Exit.succeed(c.keepalive))
        return
      case "Close":
        return this.end(
          c.reason === "closed" ? Exit.void : Exit.fail(Errors.withoutStack(() => this.endOf(c))),
          c.reason === "closed" || c.reason === "refused"
        )
    }
  }

  /** The end a `Close` stands for, from its reason and cause. */
  private endOf(close: Extract<Session.Command, { readonly _tag: "Close" }>): Errors.ConnectionError {
    const cause = close.cause
    switch (close.reason) {
      case "refused":
        return new Errors.Refused()
      case "handshake-timeout":
        return new Errors.HandshakeTimeout({ timeout: this.options.handshakeTimeout ?? 0 })
    }
    if (cause?._tag === "PeerDead") return new Errors.KeepaliveTimeout({ silence: cause.silence, pingsSent: cause.pingsSent })
    if (cause?._tag === "PingFlood") return new Errors.PingFlood({ strikes: cause.strikes, minInterval: cause.minInterval })
    const error = cause?._tag === "OpenFailed" ? cause.error : undefined
    // the server's refusal of CONNECT_OPEN (policy required): the same tag the server ends with
    if (error?.step === "open" && error.remote?.code === Remote.ErrorCode.OperationDenied) return new Errors.Refused({ remote: error.remote })
    return error ?? new Session.HandshakeFailed({ step: "open", reason: close.reason, remote: undefined })
  }

  private transmit(frame: Frame.Frame, now: number, call: Calls.Reply | undefined) {
    const h = frame.header
    const keepalive = Frame.keepaliveKind(h)
    const kind = keepalive === "ping" || keepalive === "pong" ? keepalive : undefined
    if (kind === "pong" && this.mute) return
    // coalescing, only while the peer is not reading: one PING and one PONG waiting are enough
    if (kind !== undefined && this.out.stuck() && this.out.waiting(kind)) return
    this.observer.observe({ _tag: "Sent", now, frame })
    if (call !== undefined && h.type === Frame.MessageType.Call) this.calls.started(h.serial, call)
    // the session's PING and PONG are shared constants: their bytes are too (a write never changes its bytes)
    this.out.push(frame === Frame.PING ? Frame.PING_BYTES : frame === Frame.PONG ? Frame.PONG_BYTES : Frame.encode(frame), kind)
  }

  /**
   * A frame for the application: a reply to one of our calls settles it; a server answers a call at once when it
   * can, or hands it to its handlers; anything else goes to the application, as the slow-consumer policy says.
   */
  private deliver(frame: Frame.Frame, now: number) {
    if (this.calls.settle(frame)) return
    const h = frame.header
    // a server's handlers answer calls; libvirtd drops any other frame a client sends (a stream frame with no
    // stream, a reply, an unknown type) without a word
    if (this.options.dispatch !== undefined && h.type !== Frame.MessageType.Call) return
    // a call answered synchronously: sent as the session would send it (Send is a plain Transmit)
    const answer = h.type === Frame.MessageType.Call ? this.options.dispatch?.answer?.(frame) : undefined
    if (answer !== undefined) return this.transmit(answer, now, undefined)
    const outcome = this.delivery.deliver(frame)
    if (outcome === "full") return this.end(Exit.fail(this.slowConsumer(0)), false)
    if (outcome === "dropped") this.observer.observe({ _tag: "Dropped", now, dropped: this.delivery.dropped })
  }

  /** Server: starts the calls that wait for a handler (between steps). */
  startWaiting() {
    if (!this.ended) this.delivery.startWaiting()
  }

  // -------------------------------------------------------------------------------------------------------------
  // Client calls
  // -------------------------------------------------------------------------------------------------------------

  /**
   * Client: a call goes out at once while fewer than `maxCallsInFlight` are unanswered and none waits before it;
   * otherwise it waits its turn (at most `maxQueuedCalls`). Returns the session's refusal or the full queue.
   */
  call(proc: number, payload: Uint8Array | undefined, reply: Calls.Reply): Session.NotAllowed | Errors.TooManyCalls | undefined {
    if (!this.calls.mayStart()) return this.calls.enqueue({ proc, payload, reply })
    const refused = this.sendCall(proc, payload, reply, this.now())
    this.out.kick()
    this.updateGate()
    return refused
  }
  private sendCall(proc: number, payload: Uint8Array | undefined, reply: Calls.Reply, now: number) {
    for (const c of this.step(Session.Input.Call(now, proc, payload), reply)) {
      if (c._tag === "Rejected" && c.error._tag === "NotAllowed") return c.error
    }
    return undefined
  }
  /** Sends queued calls while slots are free (after replies came in). */
  private sendQueuedCalls(now: number) {
    for (let q = this.ended ? undefined : this.calls.next(); q !== undefined; q = this.ended ? undefined : this.calls.next()) {
      const refused = this.sendCall(q.proc, q.payload, q.reply, now)
      if (refused !== undefined) Deferred.doneUnsafe(q.reply, Exit.fail(refused))
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // The end
  // -------------------------------------------------------------------------------------------------------------

  /** Ends the connection once: records the exit and destroys the socket (after the last frames when `flush`). */
  end(exit: Exit.Exit<void, Errors.ConnectionError>, flush: boolean) {
    if (this.ended) return
    this.exit = exit
    this.timer?.cancel()
    this.latch?.openUnsafe()
    this.wakeSoon()
    this.delivery.close()
    this.out.close(flush ? (this.options.flushTimeout ?? 1000) : 0, this.open)
  }
  /** Output drained below the mark (or the socket failed). */
  drained(failure: Socket.SocketError | undefined) {
    if (failure !== undefined) this.end(Exit.fail(Errors.withoutStack(() => Errors.socketEnd(failure))), false)
    this.updateGate()
  }

  /** Settles everything that waits on the connection, logs its end, and releases its scope. */
  teardown(scope: Scope.Closeable): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.end(Exit.void, false)
      const exit = this.exit!
      const failed = Exit.isFailure(exit)
        ? exit as Exit.Exit<never, Errors.ConnectionError>
        : Exit.fail(Errors.withoutStack(() => new Errors.ConnectionClosed()))
      Deferred.doneUnsafe(this.opened, failed)
      this.calls.failAll(failed)
      Observability.roles[this.state.role].sessionsLive.modifyUnsafe(-1, this.context)
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) as Errors.ConnectionError : undefined
      this.observer.span?.attribute("keepalive.end", error === undefined ? "closed" : error._tag ?? "failed")
      return this.logEnd(error).pipe(
        Effect.andThen(this.delivery.stop()),
        Effect.andThen(this.out.closed()),
        Effect.andThen(Scope.close(scope, Exit.void)),
        Effect.andThen(Effect.sync(() => Deferred.doneUnsafe(this.done, exit)))
      )
    })
  }
  private logEnd(error: Errors.ConnectionError | undefined): Effect.Effect<void> {
    if (error === undefined) return Effect.void
    const role = this.state.role
    return error._tag === "KeepaliveTimeout"
      ? Observability.logAt((l) => l.peerDead, error.message).pipe(Effect.annotateLogs({ probe: "timeout", role }))
      : Observability.logAt((l) => l.ended, error.message).pipe(Effect.annotateLogs({ probe: "stop", role }))
  }
}
