/**
 * A connection's fiber: read a chunk, decode it, hand its frames to the driver, write the output, repeat.
 *
 * Contract:
 * - {@link loop} runs until the connection ends. Each turn waits while the driver says not to read (frozen,
 *   output stuck above the mark, calls in flight at the limit), pulls one read from the socket, decodes it, and
 *   hands its whole frames to the driver in order, as many as it accepts (it stops at the call limit or when
 *   frozen; the rest wait, at most one read's worth); frames before a malformed one are all handled first. Then it
 *   writes the turn's output as one batch and delivers frames to the application, both on this fiber.
 * - Bytes of a partial frame are charged to an optional {@link Budget} shared by many connections; a connection
 *   whose partial frame would exceed it ends with `BufferLimit`.
 * - The socket closing ends the connection with `PeerClosed` (saying whether mid-frame), a socket error with
 *   `SocketFailure`, bad framing with `MalformedFrame`. Once the driver has ended the connection, the error that
 *   wakes the fiber (its socket destroyed) is expected and ends the loop quietly.
 *
 * @since 0.2.0
 */
import { Effect, Exit, Scope } from "effect"
import type { Latch } from "effect"
import * as Socket from "effect/socket/Socket"
import * as Frame from "../wire/Frame.ts"
import * as FrameDecoder from "../wire/FrameDecoder.ts"
import * as Errors from "./ConnectionError.ts"
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
  readonly out: Outbox
  readonly options: { readonly budget?: Budget | undefined }
  readonly mayRead: () => boolean
  /** The socket is open (its reader acquired): from now on, ending the connection destroys it. */
  readonly socketOpened: () => void
  /** Waits until reading may go on. */
  readonly waitReadable: () => Effect.Effect<void>
  readonly now: () => number
  /** Steps `frames` from `from` on while it may; the index of the first frame not stepped. */
  readonly received: (frames: ReadonlyArray<Frame.Frame>, from: number, now: number) => number
  readonly end: (exit: Exit.Exit<"closed", Errors.ConnectionError>, flush: boolean) => void
  readonly deliverWaiting: (scope: Scope.Scope) => Effect.Effect<void>
}

/**
 * The connection's fiber. Socket resources are acquired in `scope`.
 *
 * @since 0.2.0
 * @category running
 */
export const loop = (socket: Socket.Socket, sink: Sink, scope: Scope.Scope): Effect.Effect<void> => {
  let decoder = FrameDecoder.initial
  let charged = 0
  const budget = sink.options.budget
  const fail = (error: Errors.ConnectionError) => sink.end(Exit.fail(error), false)
  // frames read but not yet stepped (the driver stops stepping at the call limit, or when frozen), and the framing
  // error that followed them
  let backlog: ReadonlyArray<Frame.Frame> = []
  let next = 0
  let malformed: FrameDecoder.FrameError | undefined

  /** One read: decode every chunk up to the first framing error; charge the partial frame to the budget. */
  const decode = (chunks: ReadonlyArray<Uint8Array>) => {
    const frames: Array<Frame.Frame> = []
    for (const bytes of chunks) {
      const step = FrameDecoder.feed(decoder, bytes)
      decoder = step.state
      for (const f of step.frames) frames.push(f)
      if (step.error !== undefined) {
        malformed = step.error
        break
      }
    }
    backlog = frames
    next = 0
    if (budget === undefined || malformed !== undefined) return
    const held = FrameDecoder.buffered(decoder)
    budget.used += held - charged
    charged = held
    if (budget.used > budget.limit) fail(new Errors.BufferLimit({ buffered: held, limit: budget.limit }))
  }

  /** Steps what the driver accepts; the answers to the frames before a malformed one still go out. */
  const stepBacklog = () => {
    next = sink.received(backlog, next, sink.now())
    if (next < backlog.length || malformed === undefined || sink.ended) return
    sink.end(Exit.fail(new Errors.MalformedFrame({ error: malformed })), true)
  }

  const closedBy = (error: Socket.SocketError): Errors.ConnectionError => {
    const held = FrameDecoder.buffered(decoder)
    return error.reason._tag === "SocketCloseError"
      ? new Errors.PeerClosed({ midFrame: held > 0, buffered: held })
      : new Errors.SocketFailure({ cause: error })
  }

  return Effect.gen(function*() {
    const pull = yield* Scope.provide(Socket.readerBytes(socket), scope)
    sink.socketOpened()
    while (!sink.ended) {
      if (next >= backlog.length) {
        if (!sink.mayRead()) {
          yield* sink.waitReadable()
          continue
        }
        decode(yield* pull)
      }
      stepBacklog()
      yield* sink.out.flush()
      yield* sink.deliverWaiting(scope)
      if (next < backlog.length && !sink.ended) yield* sink.waitReadable()
    }
  }).pipe(
    Effect.catch((error) => Effect.sync(() => sink.ended || fail(closedBy(error)))),
    Effect.ensuring(Effect.sync(() => {
      if (budget !== undefined) budget.used -= charged
      charged = 0
    }))
  )
}
