/**
 * The runtime: one libvirt connection around the pure {@link Session}.
 *
 * Contract:
 * - The read path is synchronous ({@link Reader}): where bytes arrive (a Node stream's `readable` event, an
 *   in-memory link's delivery) they are decoded, the session is stepped for every frame and the output written as
 *   one batch, with no fiber resumed. The connection's fiber ({@link run}) acquires the socket, then only waits for
 *   work off that path and tears the connection down. Application requests (`send`, `call`, `setKeepAlive`,
 *   `close`) step the same session synchronously in the caller's fiber. The session stays pure; only the cell that
 *   holds its state is mutable.
 * - Time comes from `Clock` (monotonic ms). Deadlines go to the shared {@link Scheduler}, which ticks the session
 *   without ever waiting on this socket, and yields before a tick so that input already received is fed first.
 * - Bounded whatever the peer does ({@link Options}): output waiting for a peer that does not read (past the
 *   high-water mark we stop reading; keepalive frames are coalesced only while a write is stuck), frames waiting
 *   for the application, calls in flight, bytes of partial frames (per connection and across a shared
 *   {@link Budget}), and the inbound frame rate ({@link Policing}).
 * - The connection ends exactly once, with {@link ConnectionEnd}: success for an orderly close, or a typed
 *   {@link ConnectionError}. Every end destroys the socket at once (an orderly close or a refusal first writes
 *   its last frames, for at most `flushTimeout`) and wakes the fiber; then pending calls fail, the frame stream
 *   ends, and the timer is cancelled. Closing the enclosing scope ends it too.
 * - Frames decoded before a malformed one in the same read are handled first.
 *
 * A socket must fail a pending read once a `CloseEvent` is written to it (Node sockets and {@link Transport}'s do).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as Socket from "effect/socket/Socket"
import type * as Keepalive from "../core/Keepalive.ts"
import * as Session from "../session/Session.ts"
import type * as Trace from "../trace/Trace.ts"
import * as Frame from "../wire/Frame.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import * as Errors from "./ConnectionError.ts"
import * as Controls from "./Controls.ts"
import { defaults, Driver } from "./Driver.ts"
import * as Durations from "./Durations.ts"
import * as Observability from "./Observability.ts"
import type * as Policing from "./Policing.ts"
import * as Reader from "./Reader.ts"
import * as Scheduler from "./Scheduler.ts"
import * as Transport from "./Transport.ts"

export * from "./ConnectionError.ts"
export type { Budget } from "./Reader.ts"

/**
 * A live status snapshot.
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  /** False once the connection has ended. */
  readonly alive: boolean
  /** Monotonic time (ms) from which the peer's silence counts: the last frame received, or the moment reading resumed after a stall. */
  readonly lastReceived: number
  /** Our PINGs sent since the last receipt. */
  readonly pingsOutstanding: number
  /** Whether we send PINGs of our own. */
  readonly pinging: boolean
  /** Round-trip time of our last PING answered by a PONG, if any. */
  readonly rtt: Duration.Duration | undefined
  /** Bytes written by the session but not yet taken by the socket. */
  readonly queuedBytes: number
  /** Frames delivered and not yet taken by the application (a client's `frames`, a server's waiting calls). */
  readonly pendingFrames: number
  /** Client: frames dropped because the application's backlog was full (see `Options.slowConsumer`). */
  readonly dropped: number
  /** Whether reading the peer is stopped by a full backlog (keepalive paused). */
  readonly stalled: boolean
}

/**
 * One connection, as the application sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  readonly role: "client" | "server"
  /** Frames for the application (everything the session does not handle). Ends when the connection ends. */
  readonly frames: Stream.Stream<Frame.Frame>
  /** Writes a frame; waits while our output to the peer is above the high-water mark. */
  readonly send: (frame: Frame.Frame) => Effect.Effect<void, Errors.ConnectionClosed>
  /**
   * virConnectSetKeepAlive: `interval` (a duration or a number of ms; ≤ 0 stops) and `count`. Answers `started`,
   * `stopped` or `unsupported`; an interval that is not a duration fails with `InvalidKeepaliveConfig`.
   */
  readonly setKeepAlive: (
    interval: Duration.Input,
    count: number
  ) => Effect.Effect<Session.KeepAliveOutcome, Keepalive.InvalidKeepaliveConfig | Session.NotAllowed | Errors.ConnectionClosed>
  /**
   * A remote-program call (client only): resolves with the reply frame, or fails with libvirt's error. At most
   * `maxCallsInFlight` calls are unanswered at once; later ones wait their turn in the callers' order.
   */
  readonly call: (
    proc: number,
    payload?: Uint8Array
  ) => Effect.Effect<Frame.Frame, Remote.RemoteCallError | Session.NotAllowed | Errors.TooManyCalls | Errors.ConnectionClosed | Errors.ConnectionError>
  readonly status: Effect.Effect<Status>
  /** Waits until the connection is open. Client: whether the server supports keepalive; server: whether the client advertised it. */
  readonly opened: Effect.Effect<boolean, Errors.ConnectionError | Errors.ConnectionClosed>
  /** Waits for the end of the connection. */
  readonly closed: Errors.ConnectionEnd
  /** Asks for an orderly close (a client sends CONNECT_CLOSE first) and waits for the end. */
  readonly close: Errors.ConnectionEnd
}

/**
 * A client's connection: the connection, and whether the server supports keepalive (its answer while opening;
 * false until then).
 *
 * @since 0.3.0
 * @category models
 */
export interface ClientConnection extends Connection {
  readonly serverKeepalive: boolean
}

/**
 * Options of a connection. Every bound has a default.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** High-water mark of our unsent output to the peer, in bytes (default 1 MiB): past it we stop reading. */
  readonly maxQueuedBytes?: number
  /**
   * Frames delivered and not yet taken (default 256): a client's frames waiting on `frames`, a server's calls
   * waiting for a handler slot. At the bound we stop reading the peer and pause its keepalive (our stall is not its
   * silence); reading resumes, and the countdown restarts, when the application catches up.
   */
  readonly maxPendingFrames?: number
  /** The same bound in bytes (default 4 MiB); one frame is always admitted. */
  readonly maxPendingBytes?: number
  /**
   * Client: what a full backlog does to the next frame for `frames` (reading the peer never stops for it unless
   * `pause`): `drop` it, counted in `Status.dropped` and the `keepalive_frames_dropped` metric (the default: calls
   * and keepalive go on); `end` the connection with `SlowConsumer`; or `pause`: keep it and stop reading the peer,
   * with keepalive paused, until the application catches up (lossless, but calls wait too, and a peer that pings
   * may give up on us). A server's calls always `pause`, and so does a server session's `frames` by default.
   */
  readonly slowConsumer?: "drop" | "end" | "pause"
  /**
   * How long reading may stay stopped by a full backlog (ms, default 60 000) before the connection ends with
   * `SlowConsumer`; 0 or Infinity: never.
   */
  readonly maxStall?: number
  /** Client: calls unanswered at once (default 4, below libvirtd's max_client_requests of 5); the rest wait. */
  readonly maxCallsInFlight?: number
  /** Client: calls waiting for a slot (default 1024); one more fails with `TooManyCalls`. */
  readonly maxQueuedCalls?: number
  /** Largest partial frame we hold, in bytes (default: libvirt's 32 MiB message maximum). */
  readonly maxFrameBytes?: number
  /** Bytes of partial frames across every connection that shares it. */
  readonly budget?: Reader.Budget
  /** Inbound flood policing over frames of every kind (default {@link Policing.defaults}). */
  readonly policing?: Policing.FramePolicing
  /** Server: end a connection that sends no CONNECT_OPEN within this many ms (a deadline of its session, see `Session.limitHandshake`). */
  readonly handshakeTimeout?: number
  /** How long an orderly close or a refusal may take to write its last frames (default 1000 ms). */
  readonly flushTimeout?: number
  /** Server: runs each call the session delivers, at most `maxRequests` at once (the rest wait, see `maxPendingFrames`). */
  readonly dispatch?: {
    readonly maxRequests: number
    /** A synchronous answer, tried first: a reply frame sends at once, with no fiber and no slot taken. */
    readonly answer?: (call: Frame.Frame) => Frame.Frame | undefined
    readonly handle: (call: Frame.Frame, connection: Connection) => Effect.Effect<void>
  }
  /** The peer's address, for the connection's span (`net.peer`). */
  readonly peer?: string | undefined
  /** Called with every frame written and received and every session event, with the monotonic time in ms. */
  readonly trace?: (event: Trace.TraceEvent) => void
  /**
   * Replaces `Session.step`: a deliberately broken session for the simulator's mutants, to show that the
   * properties catch it. Never set in production.
   */
  readonly step?: (state: Session.State, input: Session.Input) => Session.Step
}

/**
 * Runs a session over a socket on a fiber of its own, in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  socket: Socket.Socket,
  initial: (now: number) => Session.State,
  options: Options = {}
): Effect.Effect<Connection, never, Scope.Scope> => makeClient(socket, initial, options)

/**
 * {@link make}, typed for a client session: the connection also says whether the server supports keepalive.
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeClient = (
  socket: Socket.Socket,
  initial: (now: number) => Session.State,
  options: Options = {}
): Effect.Effect<ClientConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { connection, run: loop } = yield* prepare(socket, initial, options)
    yield* Effect.forkScoped(loop)
    return connection
  })

/**
 * Runs a session over a socket on the current fiber until the connection ends; `started` sees the handle first.
 *
 * @since 0.2.0
 * @category running
 */
export const run = (
  socket: Socket.Socket,
  initial: (now: number) => Session.State,
  options: Options,
  started: (connection: Connection) => Effect.Effect<void>
): Effect.Effect<Exit.Exit<void, Errors.ConnectionError>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { connection, run: loop, end } = yield* prepare(socket, initial, options)
    yield* started(connection)
    yield* loop
    return end()
  })

/** Builds the driver and the handle; `run` is the connection's fiber. */
const prepare = (socket: Socket.Socket, initial: (now: number) => Session.State, options: Options) =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const context = yield* Effect.context<never>()
    const scope = yield* Scope.fork(yield* Effect.scope, "sequential")
    const writer = yield* Scope.provide(socket.writer, scope)
    const frames = options.dispatch === undefined
      ? yield* Queue.bounded<Frame.Frame, Cause.Done>(options.maxPendingFrames ?? defaults.maxPendingFrames)
      : undefined
    const now = Scheduler.millis(clock)
    const state = Session.limitHandshake(initial(now), now, options.handshakeTimeout === undefined ? {} : { handshakeTimeout: options.handshakeTimeout })
    const driver = new Driver(clock, context, writer, state, options, frames, Transport.rawOf(socket))
    driver.timer = (yield* Scheduler.current).register(driver)
    driver.timer.reschedule()
    Observability.roles[driver.state.role].sessionsLive.modifyUnsafe(1, context)
    const traced = (yield* Tracer.Tracer) !== Tracer.nativeTracer
    const span = traced
      ? Effect.map(Effect.option(Effect.currentSpan), (s) => void (driver.observer.span = s._tag === "Some" ? s.value : undefined))
      : Effect.void
    const body = span.pipe(Effect.andThen(Reader.loop(socket, driver, scope)), Effect.ensuring(driver.teardown(scope)))
    // A span per connection when a tracer is installed (an exporter's): about 3.5 KiB per connection, so not for
    // the built-in tracer, which exports nothing.
    const loop = traced
      ? body.pipe(Effect.withSpan("keepalive.connection", {
        attributes: { "keepalive.role": driver.state.role, ...(options.peer === undefined ? {} : { "net.peer": options.peer }) }
      }))
      : body
    return { connection: handle(driver), run: loop, end: () => driver.exit! }
  })

const answer = <A>(commands: ReadonlyArray<Session.Command>, pick: (c: Session.Command) => A | undefined) => {
  for (const c of commands) {
    if (c._tag === "Rejected") return Effect.fail(c.error)
    const value = pick(c)
    if (value !== undefined) return Effect.succeed(value)
  }
  return Effect.fail(new Session.NotAllowed({ input: "SetKeepAlive", reason: "no answer from the session" }))
}

/**
 * The application's view of a driver. Its members live on the prototype (getters and methods), so a connection
 * costs one small object here, not a closure per method.
 */
class Handle implements ClientConnection, Controls.Source {
  readonly d: Driver
  constructor(d: Driver) {
    this.d = d
  }
  get serverKeepalive() {
    return this.d.serverKeepalive
  }
  controls(): Controls.Controls {
    return new HandleControls(this)
  }
  get role() {
    return this.d.state.role
  }
  get frames(): Stream.Stream<Frame.Frame> {
    const d = this.d
    const frames = d.delivery.frames
    if (frames === undefined) return Stream.empty
    // what the application takes leaves the backlog; reading resumes when it has room again
    return Stream.fromQueue(frames).pipe(Stream.mapArray((taken) => {
      d.delivery.taken(taken)
      return taken
    }))
  }
  /** Steps the session in the caller's fiber and starts a write for what it produced. */
  request(input: (now: number) => Session.Input, call?: Deferred.Deferred<Frame.Frame, any>) {
    return Effect.suspend(() => {
      const d = this.d
      if (d.ended) return Effect.fail(new Errors.ConnectionClosed())
      const commands = d.step(input(d.now()), call)
      d.out.kick()
      d.updateGate()
      return Effect.succeed(commands)
    })
  }
  /** Waits while the connection is frozen. */
  unfrozen<A, E>(effect: Effect.Effect<A, E>) {
    return Effect.suspend(() => (this.d.frozen ? this.d.gate.whenOpen(effect) : effect))
  }
  send(frame: Frame.Frame) {
    return this.unfrozen(Effect.suspend(() => this.d.out.writable()).pipe(Effect.andThen(this.request((now) => Session.Input.Send(now, frame))), Effect.asVoid))
  }
  setKeepAlive(interval: Duration.Input, count: number) {
    const role = this.d.state.role
    return this.unfrozen(this.request((now) => Session.Input.SetKeepAlive(now, Durations.toMillis(interval) ?? Number.NaN, count))).pipe(
      Effect.flatMap((commands) => answer(commands, (c) => (c._tag === "KeepAlive" ? c.outcome : undefined))),
      Effect.tap((outcome) => Effect.logDebug(`keepalive ${outcome}`).pipe(Effect.annotateLogs({ probe: outcome === "stopped" ? "stop" : "start", role })))
    )
  }
  call(proc: number, payload?: Uint8Array) {
    const d = this.d
    const reply = Deferred.makeUnsafe<Frame.Frame, Remote.RemoteCallError | Session.NotAllowed | Errors.ConnectionClosed | Errors.ConnectionError>()
    const send = Effect.suspend((): Effect.Effect<void, Session.NotAllowed | Errors.TooManyCalls | Errors.ConnectionClosed> => {
      if (d.ended) return Effect.fail(new Errors.ConnectionClosed())
      const refused = d.call(proc, payload, reply)
      return refused === undefined ? Effect.void : Effect.fail(refused)
    })
    return this.unfrozen(send).pipe(
      Effect.andThen(Deferred.await(reply).pipe(Effect.onInterrupt(() => Effect.sync(() => d.calls.drop(reply)))))
    )
  }
  get status(): Effect.Effect<Status> {
    return Effect.sync(() => {
      const d = this.d
      return {
        alive: !d.ended,
        lastReceived: d.state.keepalive.lastReceived,
        pingsOutstanding: d.state.keepalive.pingsSent,
        pinging: d.state.keepalive.phase === "running",
        rtt: d.observer.rtt === undefined ? undefined : Duration.millis(d.observer.rtt),
        queuedBytes: d.out.bytes,
        pendingFrames: d.pending(),
        dropped: d.delivery.dropped,
        stalled: d.stalledAt !== undefined
      }
    })
  }
  get opened() {
    return Deferred.await(this.d.opened)
  }
  get closed() {
    return Deferred.await(this.d.done)
  }
  get close() {
    return Effect.suspend(() => (this.d.ended ? Effect.void : this.request((now) => Session.Input.Close(now)).pipe(Effect.ignore))).pipe(
      Effect.andThen(Deferred.await(this.d.done))
    )
  }
  freeze(frozen: boolean) {
    return Effect.sync(() => {
      const d = this.d
      if (d.ended || d.frozen === frozen) return
      d.frozen = frozen
      d.observer.observe({ _tag: "Freeze", now: d.now(), frozen })
      d.updateGate()
      if (!frozen) d.timer?.reschedule()
    })
  }
}

/** What the layers above may do to a handle's connection (see {@link Controls.Controls}). */
class HandleControls implements Controls.Controls {
  readonly h: Handle
  constructor(h: Handle) {
    this.h = h
  }
  request(input: (now: number) => Session.Input) {
    return this.h.unfrozen(this.h.request(input))
  }
  freeze(frozen: boolean) {
    return this.h.freeze(frozen)
  }
  mute(mute: boolean) {
    return Effect.sync(() => void (this.h.d.mute = mute))
  }
  phase() {
    return this.h.d.state.phase
  }
  frozen() {
    return this.h.d.frozen
  }
}

/** The handle of a driver, with its controls registered. */
const handle = (d: Driver): Handle => {
  const h = new Handle(d)
  Controls.register(h, h)
  d.connection = h
  return h
}
