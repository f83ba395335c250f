/**
 * A simulated network link between two in-memory sockets: latency and jitter per direction, partitions that
 * start and heal, a slow reader, and abrupt cuts. Everything waits on `Clock`, so under `TestClock` the link
 * runs in virtual time.
 *
 * Contract:
 * - Byte order is kept per direction (like TCP): a chunk is delivered no earlier than the one before it.
 * - Each chunk takes `latency + U(0, jitter)` ms, the random part drawn from the link's seeded generator, so
 *   the same seed and the same traffic give the same delivery times.
 * - A partition holds a direction's chunks (TCP retransmits: nothing is lost) until it heals, then delivers them
 *   in order. A silent drop ({@link LinkControl.blackhole}) discards them instead, as a vanished host would.
 * - A slow reader on a side receives at most `bytesPerSecond`.
 * - A close travels like data: releasing a side's writer (FIN) ends that direction after the chunks already sent
 *   (the peer reads end of stream), and a side that destroys its socket (RST, a `CloseEvent`) fails the peer's
 *   reads with its code, also after the chunks sent before it, with the direction's latency, held by a partition
 *   and discarded by a silent drop. The closing side's own reads fail at once.
 * - {@link LinkControl.cut} (a crashed process: its kernel closes its sockets) sends close code 1006 both ways, in
 *   order behind what is in flight.
 * - Nothing in flight disappears unseen: a chunk that reaches a side whose socket is closed is counted in
 *   {@link Link.lost}, and so is one a silent drop discards.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import * as Pipe from "../runtime/Pipe.ts"
import * as Scheduler from "../runtime/Scheduler.ts"
import * as Transport from "../runtime/Transport.ts"

/**
 * Delay of one direction, in ms.
 *
 * @since 0.1.0
 * @category models
 */
export interface Delay {
  readonly latency: number
  readonly jitter?: number
}

/**
 * Which way traffic flows: client to server, server to client, or both.
 *
 * @since 0.1.0
 * @category models
 */
export type Direction = "to-server" | "to-client" | "both"

/**
 * Fault injection on a running link.
 *
 * @since 0.1.0
 * @category models
 */
export interface LinkControl {
  /** Holds (true) or releases (false) the traffic of a direction. */
  readonly partition: (direction: Direction, on: boolean) => Effect.Effect<void>
  /** Discards (true) or carries again (false) the traffic of a direction. */
  readonly blackhole: (direction: Direction, on: boolean) => Effect.Effect<void>
  /** Stops (true) or starts again (false) a side's reading: what is sent to it waits in order, nothing is lost. */
  readonly stopReading: (side: "client" | "server", on: boolean) => Effect.Effect<void>
  /** Limits what a side receives to `bytesPerSecond`; undefined lifts the limit. */
  readonly slowReader: (side: "client" | "server", bytesPerSecond: number | undefined) => Effect.Effect<void>
  /** Closes both directions with code 1006, behind the chunks in flight (a crashed process's kernel closing its sockets). */
  readonly cut: Effect.Effect<void>
}

/**
 * The two ends and the control.
 *
 * @since 0.1.0
 * @category models
 */
export interface Link {
  readonly client: Socket.Socket
  readonly server: Socket.Socket
  readonly control: LinkControl
  /** Chunks that reached a side after its socket closed, or that a silent drop discarded, by the side they were for. */
  readonly lost: () => { readonly client: number; readonly server: number }
}

/**
 * A small seeded generator (mulberry32): uniform numbers in [0, 1).
 *
 * @since 0.1.0
 * @category random
 */
export const random = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** What travels: a chunk, the end of the stream (FIN), or a close with its code (RST). */
type Segment = Uint8Array | "fin" | { readonly close: number }

/** A segment in flight, due at `due`. */
interface InFlight {
  readonly due: number
  readonly segment: Segment
}

/** One direction: what is in flight, in order, and the faults that apply to it. */
class Wire {
  readonly inbox: Pipe.Pipe
  readonly flight: Array<InFlight> = []
  /** Index of the first chunk still in flight (the array is compacted when it drains). */
  head = 0
  /** Due time of the last chunk sent: a chunk is never delivered before the one before it. */
  last = 0
  /** A slow reader takes no chunk before this time. */
  free = 0
  held = false
  /** The receiving side does not read (a test's broken rule): like a hold, but no fault of the network. */
  stopped = false
  blackhole = false
  bytesPerSecond: number | undefined
  timer: Scheduler.Timer | undefined
  /** Chunks that arrived after the receiving socket closed, or that a silent drop discarded. */
  lost = 0

  constructor(inbox: Pipe.Pipe) {
    this.inbox = inbox
  }

  deadline(): number | undefined {
    if (this.held || this.stopped || this.head >= this.flight.length) return undefined
    return Math.max(this.flight[this.head]!.due, this.free)
  }

  /** The scheduler's callback: delivers every segment due by `now`, in order. */
  fire(now: number) {
    while (!this.held && !this.stopped && this.head < this.flight.length) {
      const next = this.flight[this.head]!
      if (Math.max(next.due, this.free) > now) break
      this.head++
      if (!this.blackhole) this.arrive(next.segment, now)
      else if (next.segment instanceof Uint8Array) this.lost++
    }
    if (this.head === this.flight.length) {
      this.flight.length = 0
      this.head = 0
    }
  }

  /** One segment reaches the receiving socket: a chunk is read (or lost if the socket closed), a FIN or RST ends it. */
  private arrive(segment: Segment, now: number) {
    if (segment === "fin") return this.inbox.finish(Pipe.closed(1000))
    if (!(segment instanceof Uint8Array)) return this.inbox.finish(Pipe.closed(segment.close))
    if (this.bytesPerSecond !== undefined && this.bytesPerSecond > 0) this.free = now + (segment.length / this.bytesPerSecond) * 1000
    if (!this.inbox.push(segment)) this.lost++
  }
}

/**
 * A simulated link. Deliveries are timers of the shared {@link Scheduler}: no fiber per direction or per chunk.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly toServer: Delay
  readonly toClient: Delay
  readonly seed: number
}): Effect.Effect<Link, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const scheduler = yield* Scheduler.current
    const rng = random(options.seed)
    const dispatcher = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.currentDispatcher))
    const toServer = new Wire(new Pipe.Pipe(dispatcher))
    const toClient = new Wire(new Pipe.Pipe(dispatcher))
    for (const w of [toServer, toClient]) {
      w.timer = scheduler.register(w)
      yield* Effect.addFinalizer(() => Effect.sync(() => w.timer!.cancel()))
    }

    /** Puts a segment on the wire, due after the direction's delay and never before the one ahead of it. */
    const send = (w: Wire, delay: Delay, segment: Segment) => {
      const now = Scheduler.millis(clock)
      const jitter = delay.jitter === undefined || delay.jitter <= 0 ? 0 : rng() * delay.jitter
      w.last = Math.max(w.last, now + delay.latency + jitter)
      w.flight.push({ due: w.last, segment })
      w.timer!.reschedule()
    }

    const side = (inbound: Wire, outbound: Wire, delay: Delay): Socket.Socket =>
      Transport.fromPipe({
        inbox: inbound.inbox,
        send: (chunks) => chunks.forEach((c) => send(outbound, delay, c)),
        close: (code) => send(outbound, delay, { close: code }),
        release: () => send(outbound, delay, "fin")
      })

    const each = (direction: Direction, f: (w: Wire) => void) =>
      Effect.sync(() => {
        if (direction !== "to-client") f(toServer)
        if (direction !== "to-server") f(toClient)
      })

    const control: LinkControl = {
      partition: (direction, on) =>
        each(direction, (w) => {
          w.held = on
          w.timer!.reschedule()
        }),
      blackhole: (direction, on) => each(direction, (w) => void (w.blackhole = on)),
      stopReading: (s, on) =>
        Effect.sync(() => {
          const w = s === "server" ? toServer : toClient
          w.stopped = on
          w.timer!.reschedule()
        }),
      slowReader: (s, bytesPerSecond) => Effect.sync(() => void ((s === "server" ? toServer : toClient).bytesPerSecond = bytesPerSecond)),
      cut: Effect.sync(() => {
        send(toServer, options.toServer, { close: 1006 })
        send(toClient, options.toClient, { close: 1006 })
      })
    }
    return {
      client: side(toClient, toServer, options.toServer),
      server: side(toServer, toClient, options.toClient),
      control,
      lost: () => ({ client: toClient.lost, server: toServer.lost })
    }
  })
