/**
 * A connection's outbox: the bytes its session wrote that the socket has not taken yet, and the one writer that
 * moves them.
 *
 * Contract:
 * - {@link Outbox.push} is synchronous; the bytes stay counted in {@link Outbox.bytes} until the socket's write
 *   of their batch completes (for a Node socket: until they are below its buffer's mark or drained). That count is
 *   the "unsent output" of flow control: {@link Outbox.full} past the high-water mark.
 * - At most one write is under way. {@link Outbox.flush} writes on the calling fiber (the connection's: it then
 *   reads nothing until the write completes, which is the flow control); {@link Outbox.kick} starts a short-lived
 *   fiber for output produced elsewhere (a timer's PING), so the scheduler never waits on a socket.
 * - While a write is stuck, {@link Outbox.waiting} tells whether a PING or a PONG is already waiting, so the
 *   connection can coalesce keepalive frames then and only then.
 * - {@link Outbox.close} destroys the socket once: at once, or after writing what is left for at most a timeout
 *   measured on the connection's `Clock`.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import type * as Context from "effect/Context"
import * as Socket from "effect/socket/Socket"
import type * as Transport from "./Transport.ts"

/**
 * What the outbox tells its owner.
 *
 * @since 0.2.0
 * @category models
 */
export interface Owner {
  readonly context: Context.Context<never>
  /** A write completed (the output may be below the mark again) or failed. */
  readonly drained: (failure: Socket.SocketError | undefined) => void
}

/**
 * The outbox of one connection.
 *
 * @since 0.2.0
 * @category models
 */
export class Outbox {
  /** Bytes pushed and not yet taken by the socket. */
  bytes = 0
  private chunks: Array<Uint8Array> = []
  private writing = false
  private ping = false
  private pong = false
  private closer: Fiber.Fiber<void> | undefined
  /** Where `send` waits while the output is above the mark; made on first need (most connections never wait). */
  private room: Latch.Latch | undefined

  readonly writer: Socket.Writer
  readonly mark: number
  readonly owner: Owner
  /** The Node stream under the socket, when there is one: written directly, with no fiber per write. */
  readonly raw: Transport.Raw | undefined

  constructor(writer: Socket.Writer, mark: number, owner: Owner, raw?: Transport.Raw) {
    this.writer = writer
    this.mark = mark
    this.owner = owner
    this.raw = raw
  }

  /** Our unsent output is at or above the high-water mark. */
  full(): boolean {
    return this.bytes >= this.mark
  }
  /** A write is under way and has not completed. */
  stuck(): boolean {
    return this.writing
  }
  /** A keepalive frame of this kind waits for the socket. */
  waiting(kind: "ping" | "pong"): boolean {
    return kind === "ping" ? this.ping : this.pong
  }

  push(bytes: Uint8Array, kind: "ping" | "pong" | undefined) {
    if (this.closer !== undefined) return
    this.chunks.push(bytes)
    this.bytes += bytes.length
    if (kind === "ping") this.ping = true
    else if (kind === "pong") this.pong = true
    if (this.full()) this.room?.closeUnsafe()
  }

  /** Waits while the output is above the mark (the application's backpressure). */
  writable(): Effect.Effect<void> {
    if (!this.full() || this.closer !== undefined) return Effect.void
    this.room ??= Latch.makeUnsafe(false)
    return this.room.await
  }

  /** Writes on the calling fiber, if nothing else is writing. */
  flush(): Effect.Effect<void> {
    if (this.writing || this.chunks.length === 0 || this.closer !== undefined || this.direct()) return Effect.void
    this.writing = true
    return this.drain()
  }

  /** Starts a writer fiber for output produced off the connection's fiber. */
  kick() {
    if (this.writing || this.chunks.length === 0 || this.closer !== undefined || this.direct()) return
    this.writing = true
    Effect.runForkWith(this.owner.context)(this.drain())
  }

  /**
   * Writes to the Node stream at once, when there is one and it is open: true when it took over. A write the stream
   * cannot take below its own mark leaves the outbox stuck until the stream's `drain` (the bytes stay counted).
   */
  private direct(): boolean {
    const conn = this.raw?.()
    if (conn === undefined || conn.destroyed) return false
    if (this.writing || this.chunks.length === 0) return true
    const batch = this.take()!
    let size = 0
    let ok = true
    if (batch.length > 1) conn.cork()
    for (const b of batch) {
      size += b.length
      ok = conn.write(b) && ok
    }
    if (batch.length > 1) conn.uncork()
    if (ok) {
      this.bytes -= size
      if (!this.full()) this.room?.openUnsafe()
      this.owner.drained(undefined)
      return true
    }
    this.writing = true
    conn.once("drain", () => {
      this.bytes -= size
      this.writing = false
      if (this.closer !== undefined) return
      if (!this.direct() || this.chunks.length === 0) {
        if (!this.full()) this.room?.openUnsafe()
        this.owner.drained(undefined)
      }
    })
    return true
  }

  private take(): [Uint8Array, ...Array<Uint8Array>] | undefined {
    if (this.chunks.length === 0) return undefined
    const batch = this.chunks as [Uint8Array, ...Array<Uint8Array>]
    this.chunks = []
    this.ping = false
    this.pong = false
    return batch
  }

  /** Writes batch after batch until nothing is left (no generator: this runs for every write). */
  private drain(): Effect.Effect<void> {
    const batch = this.closer === undefined ? this.take() : undefined
    if (batch === undefined) {
      this.writing = false
      if (!this.full()) this.room?.openUnsafe()
      this.owner.drained(undefined)
      return Effect.void
    }
    let size = 0
    for (const b of batch) size += b.length
    return Effect.matchEffect(this.writer.writeAll(batch), {
      onFailure: (failed) => {
        this.bytes -= size
        this.writing = false
        this.owner.drained(failed)
        return Effect.void
      },
      onSuccess: () => {
        this.bytes -= size
        return this.drain()
      }
    })
  }

  /**
   * Destroys the socket once; with `timeout > 0`, what is left is written first, for at most `timeout` ms. A socket
   * that never opened (`open` false) is not written to at all: a Node socket's writes would wait for an open that
   * never comes. Called again once it opens, it destroys it then.
   */
  close(timeout: number, open: boolean) {
    if (this.closer !== undefined) return
    if (!open) {
      this.chunks = []
      this.bytes = 0
      this.room?.openUnsafe()
      return
    }
    const conn = this.raw?.()
    if (conn !== undefined) return this.closeRaw(conn, timeout)
    const last = this.take()
    const destroy = this.writer.write(new Socket.CloseEvent(1000)).pipe(Effect.ignore)
    const flush = timeout > 0 && last !== undefined
      ? this.writer.writeAll(last).pipe(Effect.timeoutOption(Duration.millis(timeout)), Effect.ignore)
      : Effect.void
    this.room?.openUnsafe()
    this.closer = Effect.runForkWith(this.owner.context)(Effect.andThen(flush, destroy))
  }

  /** Destroys a Node stream: at once, or after writing what is left (an end, then a destroy at the timeout). */
  private closeRaw(conn: Transport.RawStream, timeout: number) {
    this.closer = Effect.runForkWith(this.owner.context)(Effect.void)
    const last = this.take()
    this.room?.openUnsafe()
    if (timeout > 0 && last !== undefined && !conn.destroyed) { for (const b of last) conn.write(b) }
    // written through (an in-memory link) or nothing left: destroy now; else end, and destroy at the timeout
    if (timeout <= 0 || conn.destroyed || conn.writableLength === 0) return void conn.destroy()
    conn.end()
    // the timeout runs on the connection's Clock (TestClock in tests, the simulator's virtual time), and stops
    // once the stream closed by itself
    const destroyAtTimeout = Effect.runForkWith(this.owner.context)(
      Effect.sleep(Duration.millis(timeout)).pipe(Effect.andThen(Effect.sync(() => void conn.destroy())))
    )
    conn.once("close", () => destroyAtTimeout.interruptUnsafe())
  }

  /** Waits until {@link close} has destroyed the socket. */
  closed(): Effect.Effect<void> {
    return this.closer === undefined ? Effect.void : Effect.asVoid(Fiber.await(this.closer))
  }
}
