/**
 * The runtime: one libvirt connection driven by Effect. A thin drain loop around the pure {@link Session}.
 *
 * Contract:
 * - {@link make} is scoped: it owns the socket. A reader fiber pulls bytes, decodes frames and queues them; a
 *   writer fiber writes what the session transmits; one driver fiber feeds every input to the session in arrival
 *   order and carries out its commands. Time comes from `Clock` (monotonic, in ms), so the same code runs on real
 *   sockets and under `TestClock`.
 * - One timer. The driver keeps a single sleeping fiber aimed at the session's next deadline. It is replaced
 *   only when the deadline moves earlier; when the deadline moves later (the usual case, after a receipt) the
 *   sleeper wakes at the old time, sees that nothing is due, and sleeps on for the rest without waking the
 *   driver. It queues a Tick only when the deadline is due. There is no polling loop.
 * - Input already received is fed before a due timer: the driver drains all queued events, feeds every received
 *   frame and request first, and ticks last; and a firing timer yields once before it queues its tick, so bytes
 *   that arrived during our own stall are read first. Our stall never blames the peer.
 * - The connection ends exactly once, with {@link ConnectionEnd}: success for an orderly close, or a typed
 *   {@link ConnectionError} (keepalive timeout with the silence and the PINGs sent, the peer closing, a socket
 *   failure, a malformed frame, a refused or failed open). Then the socket is closed, the frame stream ends, and
 *   every fiber and the timer are released. Closing the enclosing scope does the same at any time.
 *
 * @since 0.1.0
 */
import { Array as Arr, Clock, Data, Deferred, Duration, Effect, Exit, Fiber, Latch, LogLevel, Metric, Queue, References, Scope, Stream } from "effect"
import type { Cause } from "effect"
import * as Socket from "effect/socket/Socket"
import * as Frame from "../wire/Frame.ts"
import * as FrameDecoder from "../wire/FrameDecoder.ts"
import type * as Keepalive from "../core/Keepalive.ts"
import * as Observability from "./Observability.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import * as Session from "../session/Session.ts"
import type * as Trace from "../tools/Trace.ts"

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * Our keepalive gave up on the peer: `pingsSent` PINGs went unanswered over `silence` ms.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeepaliveTimeout extends Data.TaggedError("KeepaliveTimeout")<{
  readonly silence: number
  readonly pingsSent: number
}> {
  override get message(): string {
    return `connection closed due to keepalive timeout: ${this.pingsSent} PINGs unanswered, ${Math.round(this.silence)} ms of silence`
  }
}

/**
 * The peer closed the connection. `midFrame` when it did so in the middle of a frame (`buffered` bytes of it).
 *
 * @since 0.1.0
 * @category errors
 */
export class PeerClosed extends Data.TaggedError("PeerClosed")<{
  readonly midFrame: boolean
  readonly buffered: number
}> {
  override get message(): string {
    return this.midFrame
      ? `the peer closed the connection in the middle of a frame (${this.buffered} bytes of it received)`
      : "the peer closed the connection"
  }
}

/**
 * The socket failed (open, read or write).
 *
 * @since 0.1.0
 * @category errors
 */
export class SocketFailure extends Data.TaggedError("SocketFailure")<{
  readonly cause: Socket.SocketError
}> {
  override get message(): string {
    return `socket failure: ${this.cause.message}`
  }
}

/**
 * The peer sent bytes that are not a libvirt frame.
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedFrame extends Data.TaggedError("MalformedFrame")<{
  readonly error: FrameDecoder.FrameError
}> {
  override get message(): string {
    return `malformed frame from the peer: ${this.error.message}`
  }
}

/**
 * The server refused the connection: the client did not advertise keepalive under policy `required`.
 *
 * @since 0.1.0
 * @category errors
 */
export class Refused extends Data.TaggedError("Refused")<{}> {
  override get message(): string {
    return "the connection was refused: keepalive is required and the client did not advertise it"
  }
}

/**
 * The peer flooded us with PINGs: more than the allowed strikes of PINGs closer together than `minInterval` ms.
 *
 * @since 0.1.0
 * @category errors
 */
export class PingFlood extends Data.TaggedError("PingFlood")<{
  readonly strikes: number
  readonly minInterval: number
}> {
  override get message(): string {
    return `connection closed: the peer sent ${this.strikes} PINGs in a row less than ${this.minInterval} ms apart (too many pings)`
  }
}

/**
 * A request on a connection that has already ended.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionClosed extends Data.TaggedError("ConnectionClosed")<{}> {
  override get message(): string {
    return "the connection is closed"
  }
}

/**
 * Why a connection ended badly.
 *
 * @since 0.1.0
 * @category errors
 */
export type ConnectionError =
  | KeepaliveTimeout
  | PeerClosed
  | SocketFailure
  | MalformedFrame
  | Refused
  | PingFlood
  | Session.HandshakeFailed

/**
 * The end of a connection: `closed` (orderly) on success.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionEnd = Effect.Effect<"closed", ConnectionError>

// ---------------------------------------------------------------------------------------------------------------
// The connection handle
// ---------------------------------------------------------------------------------------------------------------

/**
 * A live status snapshot.
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  /** False once the connection has ended. */
  readonly alive: boolean
  /** Monotonic time (ms) of the last frame received. */
  readonly lastReceived: number
  /** Our PINGs sent since the last receipt. */
  readonly pingsOutstanding: number
  /** Whether we send PINGs of our own. */
  readonly pinging: boolean
  /** Round-trip time (ms) of our last PING answered by a PONG, if any. */
  readonly rtt: number | undefined
  /** Bytes waiting to be written to the socket. */
  readonly queuedBytes: number
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
  /** Writes a frame. */
  readonly send: (frame: Frame.Frame) => Effect.Effect<void, ConnectionClosed>
  /**
   * virConnectSetKeepAlive: `interval` in ms (≤ 0 stops) and `count`. Answers `started`, `stopped` or
   * `unsupported`; invalid values fail with `InvalidKeepaliveConfig`.
   */
  readonly setKeepAlive: (
    interval: number,
    count: number
  ) => Effect.Effect<Session.KeepAliveOutcome, Keepalive.InvalidKeepaliveConfig | Session.NotAllowed | ConnectionClosed>
  /** A remote-program call (client only): resolves with the reply frame, or fails with libvirt's error. */
  readonly call: (
    proc: number,
    payload?: Uint8Array
  ) => Effect.Effect<Frame.Frame, Remote.RemoteCallError | Session.NotAllowed | ConnectionClosed | ConnectionError>
  readonly status: Effect.Effect<Status>
  /**
   * Waits until the connection is open (a client's handshake done, or a server's client sent CONNECT_OPEN).
   * Client: whether the server supports keepalive; server: whether the client advertised it.
   */
  readonly opened: Effect.Effect<boolean, ConnectionError | ConnectionClosed>
  /** Waits for the end of the connection. */
  readonly closed: ConnectionEnd
  /** Asks for an orderly close (a client sends CONNECT_CLOSE first) and waits for the end. */
  readonly close: ConnectionEnd
  /**
   * Test switch: a frozen connection keeps its socket open but processes nothing (no reads, no timers, no
   * requests) until thawed, like a SIGSTOP'd process.
   */
  readonly freeze: Effect.Effect<void>
  readonly thaw: Effect.Effect<void>
  /** Test switch: `true` drops our PONGs instead of sending them (the peer's PINGs go unanswered). */
  readonly muteReplies: (mute: boolean) => Effect.Effect<void>
  /** Session-level inputs for the role-specific layers (Client, Server). */
  readonly request: (input: (now: number) => Session.Input) => Effect.Effect<ReadonlyArray<Session.Command>, ConnectionClosed>
}

// ---------------------------------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------------------------------

interface Outgoing {
  readonly bytes: Uint8Array
  readonly keepalive: "ping" | "pong" | undefined
}

type CallReply = Deferred.Deferred<Frame.Frame, Remote.RemoteCallError | ConnectionClosed | ConnectionError>

type Event =
  | { readonly _tag: "Frame"; readonly frame: Frame.Frame }
  | { readonly _tag: "Ended"; readonly error: ConnectionError }
  | {
    readonly _tag: "Request"
    readonly input: (now: number) => Session.Input
    readonly reply: Deferred.Deferred<ReadonlyArray<Session.Command>, ConnectionClosed>
    readonly call: CallReply | undefined
  }
  | { readonly _tag: "Tick"; readonly armedFor: number }
  | { readonly _tag: "Freeze"; readonly frozen: boolean }

const millis = (clock: Clock.Clock): number => Number(clock.monotonicTimeNanosUnsafe()) / 1e6

const isPing = (frame: Frame.Frame) => Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Ping
const isPong = (frame: Frame.Frame) => Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Pong

const endOf = (
  reason: Session.CloseReason,
  peerDead: KeepaliveTimeout | undefined,
  openFailure: Session.HandshakeFailed | undefined,
  flood: PingFlood | undefined
): Exit.Exit<"closed", ConnectionError> => {
  switch (reason) {
    case "ping-flood":
      return Exit.fail(flood ?? new PingFlood({ strikes: 0, minInterval: 0 }))
    case "closed":
      return Exit.succeed("closed")
    case "keepalive-timeout":
      return Exit.fail(peerDead ?? new KeepaliveTimeout({ silence: 0, pingsSent: 0 }))
    case "refused":
      return Exit.fail(new Refused())
    case "open-failed":
      return Exit.fail(openFailure ?? new Session.HandshakeFailed({ step: "open", reason: "unknown", remote: undefined }))
  }
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * High-water mark of bytes queued for a peer that does not read (default 1 MiB). Past it, keepalive frames
   * are not queued and `send` waits until the queue drains; at most one PING and one PONG ever wait.
   */
  readonly maxQueuedBytes?: number
  /**
   * Called with every frame written and received and every session event, stamped with the monotonic time in
   * ms: what `Trace.arrows` draws. It runs on the driver fiber, so keep it quick.
   */
  readonly trace?: (event: Trace.TraceEvent) => Effect.Effect<void>
}

/**
 * Runs a session over a socket. The session must be fresh (created with the same clock); a client still needs
 * `Open` (see `Client.connect`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  socket: Socket.Socket,
  initial: (now: number) => Session.State,
  options: Options = {}
): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const outer = yield* Effect.scope
    const scope = yield* Scope.fork(outer, "sequential")
    const events = yield* Queue.unbounded<Event>()
    const outbound = yield* Queue.unbounded<Outgoing, Cause.Done>()
    const maxQueued = options.maxQueuedBytes ?? 1024 * 1024
    // bytes written to the queue but not yet to the socket, and keepalive frames among them (by procedure)
    let queuedBytes = 0
    const keepaliveQueued = { ping: 0, pong: 0 }
    const writable = yield* Latch.make(true)
    const inbound = yield* Queue.unbounded<Frame.Frame, Cause.Done>()
    const done = yield* Deferred.make<"closed", ConnectionError>()
    const opened = yield* Deferred.make<boolean, ConnectionError | ConnectionClosed>()
    const readable = yield* Latch.make(true)
    const pendingCalls = new Map<number, CallReply>()

    let state = initial(millis(clock))
    let finished = false
    let frozen = false
    let mute = false
    let held: Array<Event> = []
    let armedFor: number | undefined
    let timer: Fiber.Fiber<void> | undefined
    let lastPingAt: number | undefined
    let rtt: number | undefined
    let peerDead: KeepaliveTimeout | undefined
    let openFailure: Session.HandshakeFailed | undefined
    let flood: PingFlood | undefined
    const role = state.role
    const trace = options.trace
    // debug logs cost an allocation per frame even when filtered out: decide once
    const debug = LogLevel.isGreaterThanOrEqualTo("Debug", yield* References.MinimumLogLevel)
    let shown = Session.countdown(state)

    yield* Metric.modify(Observability.sessionsLive, 1)

    // ---- reader: bytes → frames → events -------------------------------------------------------------------
    const reader = Effect.gen(function*() {
      const pull = yield* Socket.readerBytes(socket).pipe(Scope.provide(scope))
      let decoder = FrameDecoder.initial
      while (true) {
        yield* readable.await
        const chunks = yield* pull.pipe(
          Effect.catchReason("SocketError", "SocketCloseError", () =>
            Effect.fail(new PeerClosed({ midFrame: FrameDecoder.buffered(decoder) > 0, buffered: FrameDecoder.buffered(decoder) })))
        )
        const batch: Array<Event> = []
        for (const chunk of chunks) {
          const step = FrameDecoder.feed(decoder, chunk)
          decoder = step.state
          for (const frame of step.frames) batch.push({ _tag: "Frame", frame })
          if (step.error !== undefined) {
            batch.push({ _tag: "Ended", error: new MalformedFrame({ error: step.error }) })
            yield* Queue.offerAll(events, batch)
            return
          }
        }
        yield* Queue.offerAll(events, batch)
      }
    }).pipe(
      Effect.catch((error) =>
        Queue.offer(events, { _tag: "Ended", error: Socket.isSocketError(error) ? new SocketFailure({ cause: error }) : error })
      ),
      Effect.asVoid
    )

    // ---- writer: one fiber, batches whatever is queued ----------------------------------------------------
    const writer = Effect.gen(function*() {
      const write = yield* socket.writer.pipe(Scope.provide(scope))
      while (true) {
        const batch = yield* Queue.takeAll(outbound)
        yield* write.writeAll(Arr.map(batch, (o) => o.bytes))
        for (const o of batch) {
          queuedBytes -= o.bytes.length
          if (o.keepalive !== undefined) keepaliveQueued[o.keepalive]--
        }
        if (queuedBytes < maxQueued) yield* writable.open
      }
    }).pipe(
      Effect.catchIf((e): e is Cause.Done => !Socket.isSocketError(e), () => Effect.void),
      Effect.catch((error) => Queue.offer(events, { _tag: "Ended", error: new SocketFailure({ cause: error as Socket.SocketError }) })),
      Effect.asVoid
    )

    // ---- the timer: one sleeping fiber aimed at the next deadline ------------------------------------------
    // When it wakes and the deadline has moved later meanwhile (a frame arrived: the usual case), it sleeps on for
    // the rest without waking the driver; it queues a Tick only for a deadline that is due.
    const sleeper = (first: number) =>
      Effect.gen(function*() {
        let target = first
        while (true) {
          // whole milliseconds, rounded up: a timer that fires early would cost a second wake-up
          yield* Effect.sleep(Duration.millis(Math.max(0, Math.ceil(target - millis(clock)))))
          const current = finished || frozen ? undefined : Session.nextDeadline(state)
          if (current === undefined) {
            armedFor = undefined
            timer = undefined
            return
          }
          if (current <= millis(clock)) break
          target = current
          armedFor = current
        }
        yield* Effect.yieldNow
        yield* Queue.offer(events, { _tag: "Tick", armedFor: target })
      })

    const arm = (deadline: number) =>
      Effect.gen(function*() {
        if (timer !== undefined) yield* Fiber.interrupt(timer)
        armedFor = deadline
        timer = yield* Effect.forkIn(sleeper(deadline), scope)
      })

    const rearm = Effect.suspend(() => {
      if (finished || frozen) return Effect.void
      const deadline = Session.nextDeadline(state)
      if (deadline === undefined) return Effect.void // an armed timer may still fire: a spurious Tick is harmless
      if (armedFor !== undefined && armedFor <= deadline) return Effect.void
      return arm(deadline)
    })

    // ---- carrying out the session's commands ---------------------------------------------------------------
    const run = (commands: ReadonlyArray<Session.Command>, now: number, call: Event & { _tag: "Request" } | undefined) =>
      Effect.gen(function*() {
        for (const command of commands) {
          if (trace !== undefined && command._tag !== "Transmit" && command._tag !== "Deliver" && command._tag !== "Rejected") {
            yield* trace({ at: now, kind: "event", side: role, command })
          }
          switch (command._tag) {
            case "Transmit": {
              const frame = command.frame
              const keepalive = isPong(frame) ? "pong" : isPing(frame) ? "ping" : undefined
              // A peer that does not read must not make us queue without bound: one PING and one PONG waiting
              // for the socket are enough, and none at all past the high-water mark.
              if (keepalive !== undefined && (keepaliveQueued[keepalive] > 0 || queuedBytes >= maxQueued)) continue
              if (keepalive === "pong") {
                if (mute) continue
                yield* Metric.update(Observability.pongsSent, 1)
              } else if (keepalive === "ping") {
                lastPingAt = now
                yield* Metric.update(Observability.pingsSent, 1)
                if (debug) yield* Effect.logDebug("keepalive PING sent").pipe(Effect.annotateLogs({ probe: "send", pingsOutstanding: state.keepalive.pingsSent }))
              }
              if (trace !== undefined) yield* trace({ at: now, kind: "transmit", from: role, frame })
              if (call?.call !== undefined && frame.header.type === Frame.MessageType.Call) {
                pendingCalls.set(frame.header.serial, call.call)
              }
              const bytes = Frame.encode(frame)
              queuedBytes += bytes.length
              if (keepalive !== undefined) keepaliveQueued[keepalive]++
              if (queuedBytes >= maxQueued) yield* writable.close
              yield* Queue.offer(outbound, { bytes, keepalive })
              break
            }
            case "Deliver": {
              const h = command.frame.header
              const pending = h.type === Frame.MessageType.Reply && h.prog === Remote.REMOTE_PROGRAM ? pendingCalls.get(h.serial) : undefined
              if (pending !== undefined) {
                pendingCalls.delete(h.serial)
                yield* h.status === Frame.MessageStatus.Error
                  ? Deferred.fail(pending, Remote.RemoteCallError.fromPayload(h.proc, command.frame.payload))
                  : Deferred.succeed(pending, command.frame)
              } else {
                yield* Queue.offer(inbound, command.frame)
              }
              break
            }
            case "PeerDead":
              peerDead = new KeepaliveTimeout({ silence: command.silence, pingsSent: command.pingsSent })
              yield* Metric.update(Observability.peersDead, 1)
              yield* Effect.logWarning(peerDead.message).pipe(Effect.annotateLogs({ probe: "timeout", role }))
              break
            case "OpenFailed":
              openFailure = command.error
              break
            case "PingFlood":
              flood = new PingFlood({ strikes: command.strikes, minInterval: command.minInterval })
              yield* Effect.logWarning(flood.message).pipe(Effect.annotateLogs({ role }))
              break
            case "KeepAlive":
              yield* Effect.logDebug(`keepalive ${command.outcome}`).pipe(
                Effect.annotateLogs({ probe: command.outcome === "stopped" ? "stop" : "start", role })
              )
              break
            case "Close":
              yield* finish(endOf(command.reason, peerDead, openFailure, flood), command.reason === "closed" || command.reason === "refused")
              break
            case "Opened":
              yield* Deferred.succeed(opened, command.keepalive)
              break
            case "Rejected":
              break
          }
        }
      })

    const feed = (input: Session.Input, call?: Event & { _tag: "Request" }) =>
      Effect.gen(function*() {
        if (finished) return [] as ReadonlyArray<Session.Command>
        const before = state
        const [next, commands] = Session.step(state, input)
        state = next
        if (input._tag === "Received") {
          const frame = input.frame
          if (trace !== undefined) yield* trace({ at: input.now, kind: "receive", side: role, frame })
          if (isPing(frame)) yield* Metric.update(Observability.pingsReceived, 1)
          else if (isPong(frame)) {
            yield* Metric.update(Observability.pongsReceived, 1)
            if (lastPingAt !== undefined) {
              rtt = input.now - lastPingAt
              lastPingAt = undefined
            }
          }
          if (debug && Frame.isKeepalive(frame.header)) {
            yield* Effect.logDebug("keepalive message received").pipe(Effect.annotateLogs({ probe: "received", proc: frame.header.proc }))
          }
        }
        if (before.role === "server" && !before.keepalive.phase.startsWith("run") && state.keepalive.phase === "running") {
          yield* Effect.logDebug("keepalive started").pipe(Effect.annotateLogs({ probe: "start", role }))
        }
        if (trace !== undefined) {
          const c = Session.countdown(state)
          if (c.pingsLeft !== shown.pingsLeft || c.deadline !== shown.deadline || c.count !== shown.count) {
            shown = c
            yield* trace({ at: input.now, kind: "countdown", side: role, ...c })
          }
        }
        yield* run(commands, input.now, call)
        return commands
      })

    // ---- ending -------------------------------------------------------------------------------------------
    // Uninterruptible, and `done` last: completing `done` releases the connection's scope, which interrupts the
    // driver fiber that runs this.
    const finish = (exit: Exit.Exit<"closed", ConnectionError>, flush: boolean) =>
      Effect.uninterruptible(Effect.gen(function*() {
        if (finished) return
        finished = true
        yield* Queue.end(outbound)
        if (flush) yield* Fiber.join(writerFiber).pipe(Effect.timeoutOption(Duration.seconds(2)), Effect.ignore)
        yield* Deferred.done(opened, Exit.isFailure(exit) ? exit as Exit.Exit<never, ConnectionError> : Exit.fail(new ConnectionClosed()))
        yield* Queue.end(inbound)
        const closed = new ConnectionClosed()
        for (const pending of pendingCalls.values()) {
          yield* Exit.isFailure(exit) ? Deferred.done(pending, exit as Exit.Exit<never, ConnectionError>) : Deferred.fail(pending, closed)
        }
        pendingCalls.clear()
        for (const e of held) if (e._tag === "Request") yield* Deferred.fail(e.reply, closed)
        held = []
        yield* Metric.modify(Observability.sessionsLive, -1)
        yield* Effect.logDebug("connection ended").pipe(Effect.annotateLogs({ probe: "stop", role }))
        yield* Deferred.done(done, exit)
      }))

    // ---- the drain loop -----------------------------------------------------------------------------------
    const handle = (event: Event, now: number) =>
      Effect.gen(function*() {
        switch (event._tag) {
          case "Frame":
            yield* feed(Session.Input.Received(now, event.frame))
            return
          case "Request": {
            if (finished) return yield* Deferred.fail(event.reply, new ConnectionClosed())
            const commands = yield* feed(event.input(now), event)
            yield* Deferred.succeed(event.reply, commands)
            return
          }
          case "Ended":
            yield* finish(Exit.fail(event.error), false)
            return
          case "Tick":
          case "Freeze":
            return
        }
      })

    const driver = Effect.gen(function*() {
      while (!finished) {
        const batch = yield* Queue.takeAll(events)
        let tick = false
        const now = millis(clock)
        for (const event of batch) {
          if (event._tag === "Freeze") {
            frozen = event.frozen
            if (trace !== undefined) yield* trace({ at: now, kind: frozen ? "freeze" : "thaw", side: role })
            yield* frozen ? readable.close : readable.open
            if (!frozen) {
              const waiting = held
              held = []
              for (const e of waiting) {
                if (e._tag === "Tick") tick = true
                else yield* handle(e, now)
              }
              armedFor = undefined
            }
            continue
          }
          if (frozen) {
            held.push(event)
            continue
          }
          if (event._tag === "Tick") {
            if (event.armedFor === armedFor) {
              armedFor = undefined
              timer = undefined
            }
            tick = true
            continue
          }
          yield* handle(event, now)
          if (finished) break
        }
        if (tick && !finished && !frozen) yield* feed(Session.Input.Tick(now))
        yield* rearm
      }
    })

    yield* Effect.forkIn(reader, scope)
    const writerFiber = yield* Effect.forkIn(writer, scope)
    yield* Effect.forkIn(driver, scope)
    yield* Scope.addFinalizer(scope, Effect.suspend(() => finished ? Effect.void : finish(Exit.succeed("closed"), false)))
    // When the connection ends, release the socket and every fiber at once.
    yield* Deferred.await(done).pipe(
      Effect.exit,
      Effect.andThen(Scope.close(scope, Exit.void)),
      Effect.forkIn(outer)
    )

    const request = (input: (now: number) => Session.Input, call?: CallReply) =>
      Effect.gen(function*() {
        if (finished) return yield* new ConnectionClosed()
        const reply = yield* Deferred.make<ReadonlyArray<Session.Command>, ConnectionClosed>()
        yield* Queue.offer(events, { _tag: "Request", input, reply, call })
        return yield* Deferred.await(reply)
      })

    const rejectedOr = <A>(commands: ReadonlyArray<Session.Command>, pick: (c: Session.Command) => A | undefined) => {
      for (const c of commands) {
        if (c._tag === "Rejected") return Effect.fail(c.error)
        const value = pick(c)
        if (value !== undefined) return Effect.succeed(value)
      }
      return Effect.fail(new Session.NotAllowed({ input: "SetKeepAlive", reason: "no answer from the session" }))
    }

    const connection: Connection = {
      role,
      frames: Stream.fromQueue(inbound),
      send: (frame) => writable.await.pipe(Effect.andThen(request((now) => Session.Input.Send(now, frame))), Effect.asVoid),
      setKeepAlive: (interval, count) =>
        request((now) => Session.Input.SetKeepAlive(now, interval, count)).pipe(
          Effect.flatMap((commands) => rejectedOr(commands, (c) => (c._tag === "KeepAlive" ? c.outcome : undefined)))
        ),
      call: (proc, payload) =>
        Effect.gen(function*() {
          const answer: CallReply = yield* Deferred.make<Frame.Frame, Remote.RemoteCallError | ConnectionClosed | ConnectionError>()
          const commands = yield* request((now) => Session.Input.Call(now, proc, payload), answer)
          for (const c of commands) if (c._tag === "Rejected" && c.error._tag === "NotAllowed") return yield* Effect.fail(c.error)
          return yield* Deferred.await(answer)
        }),
      status: Effect.sync(() => ({
        alive: !finished,
        lastReceived: state.keepalive.lastReceived,
        pingsOutstanding: state.keepalive.pingsSent,
        pinging: state.keepalive.phase === "running",
        rtt,
        queuedBytes
      })),
      opened: Deferred.await(opened),
      closed: Deferred.await(done),
      close: Effect.gen(function*() {
        if (!finished) yield* request((now) => Session.Input.Close(now)).pipe(Effect.ignore)
        return yield* Deferred.await(done)
      }),
      freeze: Queue.offer(events, { _tag: "Freeze", frozen: true }).pipe(Effect.asVoid),
      thaw: Queue.offer(events, { _tag: "Freeze", frozen: false }).pipe(Effect.asVoid),
      muteReplies: (m) => Effect.sync(() => {
        mute = m
      }),
      request: (input) => request(input)
    }
    return connection
  })
