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
 * - {@link LinkControl.cut} breaks both directions at once: both sides' reads fail with close code 1006.
 * - Releasing a side's writer half-closes that direction after the chunks already sent (the peer reads end of
 *   stream, close code 1000).
 *
 * @since 0.1.0
 */
import { Cause, Clock, Duration, Effect, Latch, Queue } from "effect"
import type { Scope } from "effect"
import * as Socket from "effect/socket/Socket"
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
  /** Limits what a side receives to `bytesPerSecond`; undefined lifts the limit. */
  readonly slowReader: (side: "client" | "server", bytesPerSecond: number | undefined) => Effect.Effect<void>
  /** Breaks both directions at once (close code 1006 on both sides). */
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
}

/**
 * A small seeded generator (mulberry32): uniform numbers in [0, 1).
 *
 * @since 0.1.0
 * @category random
 */
export const random = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const closed = (code: number) => new Socket.SocketError({ reason: new Socket.SocketCloseError({ code }) })

const millis = (clock: Clock.Clock) => Number(clock.monotonicTimeNanosUnsafe()) / 1e6

interface Direction1 {
  readonly wire: Queue.Queue<Uint8Array, Cause.Done>
  readonly inbox: Queue.Queue<Uint8Array, Socket.SocketError | Cause.Done>
  readonly open: Latch.Latch
  blackhole: boolean
  bytesPerSecond: number | undefined
}

/**
 * A simulated link; its couriers run in the current scope.
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
    const rng = random(options.seed)
    const direction = Effect.gen(function*() {
      const d: Direction1 = {
        wire: yield* Queue.unbounded<Uint8Array, Cause.Done>(),
        inbox: yield* Queue.unbounded<Uint8Array, Socket.SocketError | Cause.Done>(),
        open: yield* Latch.make(true),
        blackhole: false,
        bytesPerSecond: undefined
      }
      return d
    })
    const toServer = yield* direction
    const toClient = yield* direction

    // One courier per direction: delivers each chunk after its delay, in order.
    const courier = (d: Direction1, delay: Delay) =>
      Effect.gen(function*() {
        let last = 0
        while (true) {
          const chunk = yield* Queue.take(d.wire)
          const jitter = delay.jitter === undefined || delay.jitter <= 0 ? 0 : rng() * delay.jitter
          const due = Math.max(last, millis(clock) + delay.latency + jitter)
          const wait = due - millis(clock)
          if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
          yield* d.open.await
          if (d.bytesPerSecond !== undefined && d.bytesPerSecond > 0) {
            yield* Effect.sleep(Duration.millis((chunk.length / d.bytesPerSecond) * 1000))
          }
          last = millis(clock)
          if (!d.blackhole) yield* Queue.offer(d.inbox, chunk)
        }
      }).pipe(
        // a vanished host sends nothing, not even the end of its stream
        Effect.catchIf(Cause.isDone, () => (d.blackhole ? Effect.void : Queue.end(d.inbox))),
        Effect.asVoid
      )
    yield* Effect.forkScoped(courier(toServer, options.toServer))
    yield* Effect.forkScoped(courier(toClient, options.toClient))

    const side = (inbound: Direction1, outbound: Direction1): Socket.Socket =>
      Transport.fromQueues({
        inbox: inbound.inbox,
        send: (chunks) => Effect.asVoid(Queue.offerAll(outbound.wire, chunks)),
        close: (code) => (outbound.blackhole ? Effect.void : Effect.asVoid(Queue.fail(outbound.inbox, closed(code)))),
        release: Effect.asVoid(Queue.end(outbound.wire))
      })

    const each = (direction: Direction, f: (d: Direction1) => Effect.Effect<void>) =>
      Effect.all(
        direction === "both" ? [f(toServer), f(toClient)] : direction === "to-server" ? [f(toServer)] : [f(toClient)],
        { discard: true }
      )

    const control: LinkControl = {
      partition: (direction, on) => each(direction, (d) => (on ? d.open.close : d.open.open).pipe(Effect.asVoid)),
      blackhole: (direction, on) => each(direction, (d) => Effect.sync(() => void (d.blackhole = on))),
      slowReader: (s, bytesPerSecond) => Effect.sync(() => void ((s === "server" ? toServer : toClient).bytesPerSecond = bytesPerSecond)),
      cut: Effect.all([Queue.fail(toServer.inbox, closed(1006)), Queue.fail(toClient.inbox, closed(1006))], { discard: true })
    }
    return { client: side(toClient, toServer), server: side(toServer, toClient), control }
  })
