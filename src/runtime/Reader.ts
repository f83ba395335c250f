/**
 * The read path: bytes from the socket, decoded into frames, handed to the driver in order.
 *
 * Contract:
 * - {@link loop} acquires the socket's reader (for a dialled socket: the dial) and runs until the connection
 *   ends. A socket whose stream is at hand (a Node stream, an in-memory link's {@link Pipe.Pipe}) is read
 *   synchronously where its bytes arrive: one read takes everything that arrived, is decoded, and its frames are
 *   stepped (at most a turn's worth at once, the rest in the next turn), then the output is written as one batch.
 *   Any other socket is pulled by the connection's fiber, one read at a time.
 * - Reading waits while the driver says not to read (frozen, output stuck above the mark, the backlog for the
 *   application held); frames already read wait too (at most one read's worth). Frames before a malformed one are
 *   all handled first.
 * - Bytes of a partial frame are charged to an optional {@link Budget} shared by many connections; a connection
 *   whose partial frame would exceed it ends with `BufferLimit`.
 * - The socket closing ends the connection with `PeerClosed` (saying whether mid-frame), a socket error with
 *   `SocketFailure`, bad framing with `MalformedFrame`. Once the driver has ended the connection, the error that
 *   wakes the fiber (its socket destroyed) is expected and ends the loop quietly.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type * as Latch from "effect/Latch"
import * as Socket from "effect/socket/Socket"
import * as ForeignProtocol from "../wire/ForeignProtocol.ts"
import * as Frame from "../wire/Frame.ts"
import * as FrameDecoder from "../wire/FrameDecoder.ts"
import * as Errors from "./ConnectionError.ts"
import type * as Pipe from "./Pipe.ts"
import type * as Signal from "./Signal.ts"
import * as Transport from "./Transport.ts"
import type { Outbox } from "./Writer.ts"

/**
 * Bytes of partial frames across the connections that share it (a server option).
 *
 * @since 0.2.0
 * @category models
 */
export interface Budget {
  readonly limit: number
  used: number
}

/**
 * A budget of `limit` bytes.
 *
 * @since 0.2.0
 * @category constructors
 */
export const budget = (limit: number): Budget => ({ limit, used: 0 })

/**
 * What the loop drives.
 *
 * @since 0.2.0
 * @category models
 */
export interface Sink {
  readonly ended: boolean
  readonly gate: Latch.Latch
  /** Opened when the loop has work off the read path: reading may go on again, calls wait for a handler, or the end. */
  readonly wake: Signal.Signal
  readonly out: Outbox
  readonly options: { readonly budget?: Budget | undefined }
  readonly mayRead: () => boolean
  /** The socket is open (its reader acquired): from now on, ending the connection destroys it. */
  readonly socketOpened: () => void
  /** Waits until reading may go on. */
  readonly waitReadable: () => Effect.Effect<void>
  readonly now: () => number
  /** Steps `frames` from `from` on, before `until`, while it may; the index of the first frame not stepped. */
  readonly received: (frames: ReadonlyArray<Frame.Frame>, from: number, now: number, until: number) => number
  readonly end: (exit: Exit.Exit<void, Errors.ConnectionError>, flush: boolean) => void
  /** Starts the calls waiting for a handler (server), between steps. */
  readonly startWaiting: () => void
}

/**
 * The connection's fiber. Socket resources are acquired in `scope`.
 *
 * @since 0.2.0
 * @category running
 */
export const loop = (socket: Socket.Socket, sink: Sink, scope: Scope.Scope): Effect.Effect<void> => new ReadLoop(sink).run(socket, scope)

const NO_FRAMES: ReadonlyArray<Frame.Frame> = []

/** The loop's state: the decoder, the frames read but not yet stepped, and the bytes charged to the budget. */
class ReadLoop {
  decoder = FrameDecoder.initial
  charged = 0
  // frames read but not yet stepped (the driver stops at the call limit, or when frozen), and the framing error
  // that followed them
  backlog: ReadonlyArray<Frame.Frame> = NO_FRAMES
  next = 0
  malformed: FrameDecoder.FrameError | undefined
  head: Uint8Array | undefined // the stream's first bytes, to name a peer that speaks another protocol
  closeReason: Errors.CloseReasonName | undefined // what the peer's CONNECT_EVENT_CONNECTION_CLOSED said
  readonly sink: Sink

  constructor(sink: Sink) {
    this.sink = sink
  }

  fail(error: Errors.ConnectionError) {
    this.sink.end(Exit.fail(error), false)
  }

  /** One read: decode every chunk up to the first framing error; charge the partial frame to the budget. */
  decode(chunks: ReadonlyArray<Uint8Array>) {
    const frames: Array<Frame.Frame> = []
    for (const bytes of chunks) {
      this.head = ForeignProtocol.keep(this.head, bytes)
      const step = FrameDecoder.feed(this.decoder, bytes)
      this.decoder = step.state
      for (const f of step.frames) {
        frames.push(f)
        this.closeReason = Errors.closeReasonOf(f) ?? this.closeReason
      }
      if (step.error !== undefined) {
        this.malformed = step.error
        break
      }
    }
    this.backlog = frames
    this.next = 0
    const budget = this.sink.options.budget
    if (budget === undefined || this.malformed !== undefined) return
    const held = FrameDecoder.buffered(this.decoder)
    budget.used += held - this.charged
    this.charged = held
    if (budget.used > budget.limit) this.fail(Errors.withoutStack(() => new Errors.BufferLimit({ buffered: held, limit: budget.limit })))
  }

  /** Steps what the driver accepts, at most `limit` frames; the answers to the frames before a malformed one still go out. */
  stepBacklog(limit = Infinity) {
    const sink = this.sink
    this.next = sink.received(this.backlog, this.next, sink.now(), Math.min(this.backlog.length, this.next + limit))
    if (this.next < this.backlog.length) return
    // all stepped: let go of the frames (and the read's bytes under their payloads) while the connection idles
    this.backlog = NO_FRAMES
    this.next = 0
    if (this.malformed === undefined || sink.ended) return
    sink.end(Exit.fail(Errors.malformedFrame(this.malformed, this.head)), true)
  }

  closedBy(error: Socket.SocketError): Errors.ConnectionError {
    const held = FrameDecoder.buffered(this.decoder)
    return Errors.withoutStack(() =>
      error.reason._tag === "SocketCloseError"
        ? new Errors.PeerClosed({ midFrame: held > 0, buffered: held, ...(this.closeReason === undefined ? {} : { closeReason: this.closeReason }) })
        : Errors.socketEnd(error)
    )
  }

  release() {
    const budget = this.sink.options.budget
    if (budget !== undefined) budget.used -= this.charged
    this.charged = 0
  }

  run(socket: Socket.Socket, scope: Scope.Scope): Effect.Effect<void> {
    const sink = this.sink
    // no generator stays parked for the connection's life: the read path runs outside the fiber
    return Effect.flatMap(Scope.provide(Socket.readerBytes(socket), scope), (pull) => {
      sink.socketOpened()
      const source = Transport.sourceOf(sink.out.raw?.())
      return source !== undefined ? new DirectRead(this, source).run() : this.pullLoop(pull)
    }).pipe(
      Effect.catch((error) => Effect.sync(() => sink.ended || this.fail(this.closedBy(error)))),
      Effect.ensuring(Effect.sync(() => this.release()))
    )
  }

  /** A socket with no stream at hand (a child process's, a TLS client's): one fiber resume per read. */
  private pullLoop(pull: Effect.Effect<ReadonlyArray<Uint8Array>, Socket.SocketError>): Effect.Effect<void, Socket.SocketError> {
    const self = this
    const sink = this.sink
    return Effect.gen(function*() {
      while (!sink.ended) {
        if (self.next >= self.backlog.length) {
          if (!sink.mayRead()) {
            yield* sink.waitReadable()
            continue
          }
          self.decode(yield* pull)
        }
        self.stepBacklog()
        sink.startWaiting()
        yield* sink.out.flush()
        if (self.next < self.backlog.length && !sink.ended) yield* sink.waitReadable()
      }
    })
  }
}

/**
 * Frames one connection steps in one turn of the event loop: past it, the rest waits for the next turn, so that a
 * flooding peer delays the others by a bounded amount (about a millisecond) however much it sent.
 */
const TURN_FRAMES = 128

/**
 * Reading a socket synchronously, as its bytes arrive (a Node stream's `readable` events, an in-memory link's
 * delivery): what arrived is decoded, the session stepped for every frame and the answers written, all in that
 * call, with no fiber resumed. The connection's fiber only waits for work off that path: reading resumed after a
 * stop, the end. How the stream ended is acted on once the frames read before it are stepped, as the pull would.
 * At most {@link TURN_FRAMES} frames are stepped in one turn, the rest in the next: the first frames of every read
 * are stepped at once, so the peer's receipt (its life) still counts when it is read.
 */
class DirectRead {
  private pumping = false
  private deferred = false
  readonly loop: ReadLoop
  readonly source: Pipe.Source

  constructor(loop: ReadLoop, source: Pipe.Source) {
    this.loop = loop
    this.source = source
  }

  /** Reads and steps while the driver lets it; then writes the output. */
  pump = () => {
    if (this.pumping) return
    this.pumping = true
    this.deferred = false
    const loop = this.loop
    const sink = loop.sink
    let budget = TURN_FRAMES
    while (!sink.ended) {
      if (loop.next < loop.backlog.length || loop.malformed !== undefined) {
        const from = loop.next
        loop.stepBacklog(budget)
        budget -= loop.next - from
        sink.startWaiting()
        if (sink.ended) break
        if (loop.next < loop.backlog.length) {
          if (budget <= 0) this.nextTurn()
          break
        }
        continue
      }
      if (!sink.mayRead()) break
      if (budget <= 0) {
        this.nextTurn()
        break
      }
      // one read takes everything that arrived, as a pull does; the bounds are checked between reads
      const chunks: Array<Uint8Array> = []
      for (let c = this.source.read(); c !== null; c = this.source.read()) chunks.push(c)
      if (chunks.length > 0) {
        loop.decode(chunks)
        continue
      }
      const ended = this.source.ended
      if (ended !== undefined) loop.fail(loop.closedBy(ended))
      break
    }
    sink.out.kick()
    this.pumping = false
  }

  /** Goes on in the next turn, when this one's budget is spent. */
  private nextTurn() {
    if (this.deferred) return
    this.deferred = true
    this.source.later(this.pump)
  }

  run(): Effect.Effect<void> {
    const stop = this.source.listen(this.pump)
    return Effect.ensuring(this.waitForWork, Effect.sync(stop))
  }

  /** The fiber's part: read what is there, then sleep until woken (reading may go on again, or the end). */
  private readonly waitForWork: Effect.Effect<void> = Effect.suspend(() => {
    const sink = this.loop.sink
    if (sink.ended) return Effect.void
    sink.wake.lower()
    this.pump()
    return sink.ended ? Effect.void : Effect.andThen(sink.wake.wait, this.waitForWork)
  })
}
