/**
 * Transports for connections: TCP and Unix-domain sockets through @effect/platform-node, and an in-memory
 * socket pair that needs no I/O at all.
 *
 * Contract:
 * - Every transport yields an `effect/socket` `Socket`; the runtime does not know which one it runs on.
 * - {@link memoryPair} is two connected sockets built from queues. It works under `TestClock` (nothing real
 *   happens between a write and the peer's read), keeps byte order, and behaves like TCP at the edges: releasing
 *   a writer half-closes (the peer reads end of stream, `SocketCloseError` 1000); closing a reader's scope fails
 *   its pending pull. {@link MemoryLink.cut} breaks the link at once, as a crash would (1006 on both sides).
 * - {@link tcp} and {@link unix} dial when the socket's reader is acquired (the runtime does that first); they and
 *   the queue sockets carry their stream for the runtime's direct writes ({@link rawOf}).
 * - The in-memory queues stand for the network and the kernel's buffers, and are unbounded like a link that never
 *   pushes back: what bounds the bytes in them is the runtime on each side (a peer in tests writes what it is told).
 *   Real sockets push back through the kernel.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Socket from "effect/socket/Socket"
import * as Net from "node:net"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Pipe from "./Pipe.ts"

/**
 * Two connected in-memory sockets, plus a switch to cut the link.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryLink {
  readonly left: Socket.Socket
  readonly right: Socket.Socket
  /** Breaks the link abruptly: both sides' reads fail with close code 1006. */
  readonly cut: Effect.Effect<void>
}

/**
 * An in-memory pair of connected sockets.
 *
 * @since 0.1.0
 * @category constructors
 */
export const memoryPair: Effect.Effect<MemoryLink> = Effect.withFiber((fiber) => {
  const leftToRight = new Pipe.Pipe(fiber.currentDispatcher)
  const rightToLeft = new Pipe.Pipe(fiber.currentDispatcher)
  const side = (inbox: Pipe.Pipe, outbox: Pipe.Pipe): Socket.Socket =>
    fromPipe({
      inbox,
      send: (chunks) => {
        for (const c of chunks) outbox.push(c)
      },
      close: (code) => outbox.finish(Pipe.closed(code)),
      release: () => outbox.finish(Pipe.closed(1000))
    })
  return Effect.succeed({
    left: side(rightToLeft, leftToRight),
    right: side(leftToRight, rightToLeft),
    cut: Effect.sync(() => {
      leftToRight.finish(Pipe.closed(1006))
      rightToLeft.finish(Pipe.closed(1006))
    })
  })
})

/**
 * A socket that reads a {@link Pipe.Pipe}: reads take what `inbox` holds (its end is what the read fails with),
 * writes go to `send`, a `CloseEvent` to `close`, and releasing the writer runs `release` (a half-close). Closing
 * the reader's scope ends the inbox with close code 1006. The building block of {@link memoryPair} and of
 * simulated links. Writing a `CloseEvent` also ends this side's own inbox, as destroying a Node socket does. The
 * runtime reads the inbox synchronously ({@link rawOf}); other readers use the socket's reader.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromPipe = (options: PipeOptions): Socket.Socket => {
  const end = new PipeEnd(options)
  const socket = Socket.make({
    reader: Effect.as(Effect.addFinalizer(() => Effect.sync(() => end.gone(1006))), {
      pull: options.inbox.pull,
      upgrade: Socket.SocketUpgradeError.unsupported
    }),
    writer: Effect.acquireRelease(Effect.sync((): Socket.Writer => new PipeWriter(end)), () => Effect.sync(() => options.release()))
  })
  return withRaw(socket, () => end)
}

/**
 * What {@link fromPipe} reads from and writes to.
 *
 * @since 0.3.0
 * @category models
 */
export interface PipeOptions {
  readonly inbox: Pipe.Pipe
  /** Hands chunks to the other side, synchronously. */
  readonly send: (chunks: ReadonlyArray<Uint8Array>) => void
  /** Closes the other side's reading with `code`, synchronously. */
  readonly close: (code: number) => void
  /** Half-closes: the other side reads the end after what was sent. */
  readonly release: () => void
}

/** One end of a pipe socket, as the runtime writes to it directly (methods, no closures). */
class PipeEnd implements RawStream {
  destroyed = false
  readonly writableLength = 0
  readonly options: PipeOptions
  readonly source: Pipe.Pipe

  constructor(options: PipeOptions) {
    this.options = options
    this.source = options.inbox
  }
  /** This side's own reading ends (its scope closed, or it was destroyed). */
  gone(code: number) {
    this.options.inbox.finish(Pipe.closed(code))
  }
  write(chunk: Uint8Array): boolean {
    if (!this.destroyed) this.options.send([chunk])
    return true
  }
  once() {
    return undefined
  }
  cork() {}
  uncork() {}
  end() {
    this.options.release()
  }
  destroy() {
    if (this.destroyed) return
    this.destroyed = true
    this.options.close(1000)
    this.gone(1000)
  }
}

/** The same end as an `effect/socket` writer: a `CloseEvent` closes the other side's reading and this side's. */
class PipeWriter implements Socket.Writer {
  readonly end: PipeEnd
  constructor(end: PipeEnd) {
    this.end = end
  }
  write(chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> {
    return Effect.sync(() => {
      if (!Socket.isCloseEvent(chunk)) return this.end.options.send([bytes(chunk)])
      this.end.options.close(chunk.code)
      this.end.gone(chunk.code)
    })
  }
  writeAll(chunks: ReadonlyArray<Uint8Array | string>): Effect.Effect<void, Socket.SocketError> {
    return Effect.sync(() => this.end.options.send(chunks.map(bytes)))
  }
}

const bytes = (chunk: Uint8Array | string) => (typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk)

// ---------------------------------------------------------------------------------------------------------------
// Node sockets, with their stream at hand
// ---------------------------------------------------------------------------------------------------------------

const raws = new WeakMap<Socket.Socket, Raw>()

/**
 * What the runtime writes to directly (no fiber per write): a Node socket, or an in-memory link's end.
 *
 * @since 0.2.0
 * @category models
 */
export interface RawStream {
  readonly destroyed: boolean
  /** Bytes taken but not yet handed on (0 for an in-memory link). */
  readonly writableLength: number
  /** False when the stream is above its own mark: a `drain` follows. */
  write(chunk: Uint8Array): boolean
  once(event: "drain" | "close", listener: () => void): unknown
  cork(): void
  uncork(): void
  /** Ends the writing side after what was written. */
  end(): unknown
  destroy(): unknown
  /** Where the runtime reads from, when the stream is not a Node stream (an in-memory link's inbox). */
  readonly source?: Pipe.Source
}

/** A Node stream in paused mode, as the runtime reads it. */
interface NodeReadable extends RawStream {
  readonly readableLength: number
  /** True once `end` was emitted (an end that came while nobody listened still counts). */
  readonly readableEnded?: boolean
  read(): Uint8Array | string | null
  on(event: string, listener: (...args: Array<any>) => void): unknown
  off(event: string, listener: (...args: Array<any>) => void): unknown
}

const isNodeReadable = (stream: RawStream): stream is NodeReadable => typeof (stream as Partial<NodeReadable>).read === "function"

/** A Node stream as a {@link Pipe.Source}: its `readable`, `end`, `error` and `close` events wake the reader. */
const nodeSource = (stream: NodeReadable): Pipe.Source => {
  let end: Socket.SocketError | undefined
  return {
    read: () => {
      const chunk = stream.read()
      return typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk
    },
    get ended() {
      return end !== undefined && stream.readableLength === 0 ? end : undefined
    },
    later: (task) => void setImmediate(task),
    listen: (wake) => {
      const ended = (error: () => Socket.SocketError) => {
        end ??= error()
        wake()
      }
      const onEnd = () => ended(() => Pipe.closed(1000))
      const onError = (cause: unknown) => ended(() => new Socket.SocketError({ reason: new Socket.SocketReadError({ cause }) }))
      const onClose = (hadError: boolean) => ended(() => Pipe.closed(hadError ? 1006 : 1000))
      const events = [["readable", wake], ["end", onEnd], ["error", onError], ["close", onClose]] as const
      for (const [event, listener] of events) stream.on(event, listener)
      if (stream.destroyed) end ??= Pipe.closed(1006)
      else if (stream.readableEnded === true) end ??= Pipe.closed(1000)
      return () => {
        for (const [event, listener] of events) stream.off(event, listener)
      }
    }
  }
}

/**
 * `to` with the stream of `from` at hand (a socket that wraps another one and reads and writes the same bytes).
 *
 * @since 0.3.0
 * @category constructors
 */
export const carryRaw = (from: Socket.Socket, to: Socket.Socket): Socket.Socket => {
  const raw = rawOf(from)
  return raw === undefined ? to : withRaw(to, raw)
}

/**
 * A Node stream whose reader first gets the chunks `first()` gives (bytes a wrapper already read from it, such as
 * what came with libvirtd's TLS check byte), then the stream's own. Writes go to the stream.
 *
 * @since 0.3.0
 * @category constructors
 */
export const withPrefix = (stream: RawStream, first: () => ReadonlyArray<Uint8Array>): RawStream => {
  const inner = sourceOf(stream)
  if (inner === undefined) return stream
  let prefix: Array<Uint8Array> | undefined
  const source: Pipe.Source = {
    read: () => {
      prefix ??= [...first()]
      return prefix.shift() ?? inner.read()
    },
    get ended() {
      return prefix !== undefined && prefix.length > 0 ? undefined : inner.ended
    },
    listen: (wake) => {
      const stop = inner.listen(wake)
      inner.later(wake)
      return stop
    },
    later: (task) => inner.later(task)
  }
  return {
    get destroyed() {
      return stream.destroyed
    },
    get writableLength() {
      return stream.writableLength
    },
    write: (chunk) => stream.write(chunk),
    once: (event, listener) => stream.once(event, listener),
    cork: () => stream.cork(),
    uncork: () => stream.uncork(),
    end: () => stream.end(),
    destroy: () => stream.destroy(),
    source
  }
}

/**
 * What the runtime reads a socket's bytes from synchronously, when its stream is at hand and open: a Node stream,
 * or an in-memory link's inbox.
 *
 * @since 0.3.0
 * @category getters
 */
export const sourceOf = (stream: RawStream | undefined): Pipe.Source | undefined =>
  stream === undefined ? undefined : stream.source ?? (isNodeReadable(stream) ? nodeSource(stream) : undefined)

/**
 * The stream under a socket, for the runtime's direct writes; undefined until it is open.
 *
 * @since 0.2.0
 * @category models
 */
export type Raw = () => RawStream | undefined

/**
 * Attaches a socket's Node stream (see {@link rawOf}). The server does this for the sockets it accepts.
 *
 * @since 0.2.0
 * @category constructors
 */
export const withRaw = (socket: Socket.Socket, raw: Raw): Socket.Socket => {
  raws.set(socket, raw)
  return socket
}

/**
 * The Node stream under a socket made by {@link tcp}, {@link unix} or {@link withRaw}, if any.
 *
 * @since 0.2.0
 * @category getters
 */
export const rawOf = (socket: Socket.Socket): Raw | undefined => raws.get(socket)

/** Destroys a socket still dialing at once; an open one finishes writing first, as makeNet's does. */
const release = (socket: Net.Socket | undefined, open: boolean) => {
  if (socket === undefined || socket.destroyed) return
  if (open) socket.destroySoon()
  else socket.destroy()
}

/**
 * A Node socket made by `connect` when the reader is acquired, like `NodeSocket.makeNet`, with its stream at hand.
 * It is open at its `ready` event: `connect`, or `secureConnect` for a TLS socket. The dial stays interruptible (an
 * open timeout, or a scope closed mid-dial, destroys the socket at once); after an orderly end the stream finishes
 * writing first.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromConnect = (
  connect: () => Net.Socket,
  options: { readonly ready?: "connect" | "secureConnect"; readonly openTimeout?: Duration.Input | undefined } = {}
): Effect.Effect<Socket.Socket> =>
  Effect.suspend(() => {
    let conn: Net.Socket | undefined
    const open = Effect.gen(function*() {
      let dialing: Net.Socket | undefined
      // the finalizer before the dial, not acquireRelease: an acquisition would not be interruptible
      yield* Effect.addFinalizer(() => Effect.sync(() => release(dialing, dialing === conn)))
      return yield* Effect.callback<Net.Socket, Socket.SocketError>((resume) => {
        const c = (dialing = connect())
        c.once(options.ready ?? "connect", () => {
          conn = c
          resume(Effect.succeed(c))
        })
        c.once("error", (cause) => resume(Effect.fail(new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause }) }))))
        return Effect.sync(() => void c.destroy())
      })
    })
    const timeout = options.openTimeout === undefined ? {} : { openTimeout: options.openTimeout }
    return Effect.map(NodeSocket.fromDuplex(open, timeout), (socket) => withRaw(socket, () => conn))
  })

/**
 * A TCP connection to `host:port`, opened when the runtime starts reading.
 *
 * @since 0.1.0
 * @category constructors
 */
export const tcp = (options: { readonly host: string; readonly port: number; readonly openTimeout?: Duration.Input }): Effect.Effect<Socket.Socket> =>
  fromConnect(() => Net.createConnection({ host: options.host, port: options.port, noDelay: true }), { openTimeout: options.openTimeout ?? "5 seconds" })

/**
 * A Unix-domain socket connection to `path`, opened when the runtime starts reading.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unix = (options: { readonly path: string; readonly openTimeout?: Duration.Input }): Effect.Effect<Socket.Socket> =>
  fromConnect(() => Net.createConnection({ path: options.path }), { openTimeout: options.openTimeout ?? "5 seconds" })
