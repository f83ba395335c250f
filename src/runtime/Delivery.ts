/**
 * Delivery to the application: the frames a connection's session hands over, and the bounded backlog of those
 * not taken yet. A client's go to its `frames` queue; a server's are calls, run by handlers, at most
 * `maxRequests` at once.
 *
 * Contract:
 * - The backlog is full at `maxPendingFrames` frames or `maxPendingBytes` bytes ({@link Delivery.backedUp}); one
 *   frame is always admitted. A server's calls and a client's frames under `pause` are then held
 *   ({@link Delivery.holding}: the driver stops reading and pauses keepalive). Under `drop` a client's frame is
 *   dropped and counted, under `end` the connection ends with `SlowConsumer`.
 * - Frames the queue has no room for wait in order, and move up as the application takes ({@link Delivery.taken}).
 * - {@link Delivery.startWaiting} starts waiting calls on fibers of their own, in order, as slots free; it is
 *   called between steps, never inside one (a handler that answers at once steps the session). {@link Delivery.close}
 *   ends the queue when the connection ends; the handlers still running are interrupted by {@link Delivery.stop}.
 * - Every change that may let reading go on again is reported through `changed`.
 *
 * @since 0.3.0
 */
import type * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Frame from "../wire/Frame.ts"

/**
 * What a full backlog does to a client's next frame.
 *
 * @since 0.3.0
 * @category models
 */
export type SlowConsumer = "drop" | "end" | "pause"

/**
 * The delivery's bounds and, for a server, its handlers.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  readonly maxPendingFrames: number
  readonly maxPendingBytes: number
  readonly slowConsumer: SlowConsumer
  readonly dispatch?: {
    readonly maxRequests: number
    readonly handle: (call: Frame.Frame) => Effect.Effect<void>
  } | undefined
}

/**
 * What became of a frame handed to {@link Delivery.deliver}.
 *
 * @since 0.3.0
 * @category models
 */
export type Outcome = "queued" | "dropped" | "full"

/** A frame's size on the wire. */
const frameBytes = (frame: Frame.Frame): number => Frame.MIN_FRAME_SIZE + frame.payload.length

/**
 * One connection's delivery.
 *
 * @since 0.3.0
 * @category models
 */
export class Delivery {
  /** Server: calls waiting for a handler slot. Client: frames the queue had no room for yet. */
  readonly waiting: Array<Frame.Frame> = []
  /** Bytes of the frames delivered and not yet taken (by a handler, or from `frames`). */
  bytes = 0
  /** Client: frames dropped because the backlog was full (`slowConsumer: "drop"`). */
  dropped = 0
  /** Server: the handlers running. */
  readonly handlers = new Set<Fiber.Fiber<void>>()
  private starting = false
  private stopped = false
  readonly options: Options
  /** A client's queue for `frames`; undefined for a server's calls. */
  readonly frames: Queue.Queue<Frame.Frame, Cause.Done> | undefined
  readonly context: Context.Context<never>
  readonly changed: () => void

  constructor(options: Options, frames: Queue.Queue<Frame.Frame, Cause.Done> | undefined, context: Context.Context<never>, changed: () => void) {
    this.options = options
    this.frames = frames
    this.context = context
    this.changed = changed
  }

  /** Frames delivered and not yet taken: a server's waiting calls, a client's queued frames. */
  pending(): number {
    return this.frames === undefined ? this.waiting.length : Queue.sizeUnsafe(this.frames) + this.waiting.length
  }

  /** The backlog is full: at `maxPendingFrames` frames or `maxPendingBytes` bytes. */
  backedUp(): boolean {
    return this.pending() >= this.options.maxPendingFrames || this.bytes >= this.options.maxPendingBytes
  }

  /** The backlog is full and held by not reading (a server's calls; a client's frames under `pause`). */
  holding(): boolean {
    return this.backedUp() && (this.frames === undefined || this.options.slowConsumer === "pause")
  }

  /** Hands a frame over: a server's call waits for a handler; a client's frame is queued, or the policy decides. */
  deliver(frame: Frame.Frame): Outcome {
    const queue = this.frames
    if (queue !== undefined && this.options.slowConsumer !== "pause" && this.backedUp()) {
      if (this.options.slowConsumer === "end") return "full"
      this.dropped++
      return "dropped"
    }
    this.bytes += frameBytes(frame)
    // the queue takes what it has room for; the rest waits, in order, counted in the backlog
    if (queue === undefined || this.waiting.length > 0 || !Queue.offerUnsafe(queue, frame)) this.waiting.push(frame)
    return "queued"
  }

  /** The application took `taken` from `frames`: their bytes leave the backlog, and waiting frames move up. */
  taken(taken: ReadonlyArray<Frame.Frame>) {
    for (const f of taken) this.bytes -= frameBytes(f)
    let moved = 0
    while (moved < this.waiting.length && Queue.offerUnsafe(this.frames!, this.waiting[moved]!)) moved++
    if (moved > 0) this.waiting.splice(0, moved)
    this.changed()
  }

  /** Server: starts the calls that wait for a handler slot, each on a fiber of its own. */
  startWaiting() {
    const d = this.options.dispatch
    if (d === undefined || this.stopped || this.starting) return
    this.starting = true
    while (this.waiting.length > 0 && this.handlers.size < d.maxRequests && !this.stopped) {
      const call = this.waiting.shift()!
      this.bytes -= frameBytes(call)
      const fiber = Effect.runForkWith(this.context)(d.handle(call))
      this.handlers.add(fiber)
      fiber.addObserver(() => this.handlerDone(fiber))
    }
    this.starting = false
    this.changed()
  }

  private handlerDone(fiber: Fiber.Fiber<void>) {
    if (!this.handlers.delete(fiber)) return
    this.changed()
    this.startWaiting()
  }

  /** Calls in handlers now. */
  get inFlight(): number {
    return this.handlers.size
  }

  /** Ends delivery when the connection ends: the queue ends (after what it holds) and no handler starts. */
  close() {
    this.stopped = true
    if (this.frames !== undefined) Queue.endUnsafe(this.frames)
  }

  /** Interrupts the handlers still running (when the connection is torn down). */
  stop(): Effect.Effect<void> {
    this.close()
    const running = Array.from(this.handlers)
    this.handlers.clear()
    return Fiber.interruptAll(running)
  }
}
