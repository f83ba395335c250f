/**
 * A socket server on Node's `net` or `tls` module, as the `SocketServer` service: it listens, and serves each
 * accepted socket with the handler given to `run`, on a fiber of its own.
 *
 * Contract:
 * - {@link make} binds before it returns (a failure to bind is a `SocketServerError` with the system's error as its
 *   cause); closing its scope closes the server and destroys the sockets that no handler took.
 * - Each accepted socket is paused at once (nothing is read before a handler takes it) and keeps one `error`
 *   listener for its life, so a reset never throws. It reaches the handler as a `Socket` with its stream at hand
 *   (`Transport.rawOf`), in a context that also holds it as {@link NetSocket}.
 * - Interrupting `run` interrupts every handler it started. Sockets accepted before `run` wait for it.
 * - The accepted socket costs a small reader and writer over the stream and loads no WebSocket code: this is what
 *   lets a server or proxy idle lighter than one built on `NodeSocketServer`, whose module loads `ws`.
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import type * as Arr from "effect/Array"
import * as NetAddress from "effect/net/NetAddress"
import * as Socket from "effect/socket/Socket"
import * as SocketServer from "effect/socket/SocketServer"
import * as Net from "node:net"
import * as Tls from "node:tls"
import type * as Pipe from "./Pipe.ts"
import * as Transport from "./Transport.ts"

/**
 * The accepted `net.Socket` of the connection being served. Its key is `@effect/platform-node`'s, so a server run
 * on that package's `NodeSocketServer` finds its socket the same way.
 *
 * @since 0.3.0
 * @category services
 */
export class NetSocket extends Context.Service<NetSocket, Net.Socket>()("@effect/platform-node/NodeSocket/NetSocket") {}

const closedError = (code: number) => new Socket.SocketError({ reason: new Socket.SocketCloseError({ code }) })
const writeError = (cause: unknown) => new Socket.SocketError({ reason: new Socket.SocketWriteError({ cause }) })

/** Waits for the stream's `drain`; fails if it errors or closes first. */
const awaitDrain = (conn: Net.Socket) =>
  Effect.callback<void, Socket.SocketError>((resume) => {
    const cleanup = () => {
      conn.off("drain", onDrain)
      conn.off("error", onError)
      conn.off("close", onClose)
    }
    const onDrain = () => {
      cleanup()
      resume(Effect.void)
    }
    const onError = (cause: unknown) => {
      cleanup()
      resume(Effect.fail(writeError(cause)))
    }
    const onClose = () => onError(new Error("socket closed"))
    conn.on("drain", onDrain)
    conn.on("error", onError)
    conn.on("close", onClose)
    return Effect.sync(cleanup)
  })

/** The writer of an open stream: waits for `drain` past its mark; a `CloseEvent` destroys it. */
class StreamWriter implements Socket.Writer {
  readonly conn: Net.Socket
  constructor(conn: Net.Socket) {
    this.conn = conn
  }
  write(chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> {
    return Effect.suspend(() => {
      if (Socket.isCloseEvent(chunk)) {
        this.conn.destroy(chunk.code > 1000 ? new Error(`closed with code ${chunk.code}`) : undefined)
        return Effect.void
      }
      return this.writeAll([chunk])
    })
  }
  writeAll(chunks: ReadonlyArray<Uint8Array | string>): Effect.Effect<void, Socket.SocketError> {
    return Effect.suspend(() => {
      const conn = this.conn
      let full = false
      try {
        if (chunks.length > 1) conn.cork()
        for (const chunk of chunks) full = !conn.write(chunk) || full
        if (chunks.length > 1) conn.uncork()
      } catch (cause) {
        return Effect.fail(writeError(cause))
      }
      return full ? awaitDrain(conn) : Effect.void
    })
  }
}

/** Everything readable now, or the end, or (neither) undefined. */
const readNow = (source: Pipe.Source): Effect.Effect<Arr.NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError> | undefined => {
  const first = source.read()
  if (first !== null) {
    const all: [Uint8Array, ...Array<Uint8Array>] = [first]
    for (let c = source.read(); c !== null; c = source.read()) all.push(c)
    return Effect.succeed(all)
  }
  const end = source.ended
  return end === undefined ? undefined : Effect.fail(end)
}

/** A pull over a stream's source: what is readable, or waits for its `readable` event or its end. */
const pullOf = (source: Pipe.Source): Effect.Effect<Arr.NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError> =>
  Effect.callback((resume) => {
    const now = readNow(source)
    if (now !== undefined) return resume(now)
    const stop = source.listen(() => {
      const ready = readNow(source)
      if (ready === undefined) return
      stop()
      resume(ready)
    })
    return Effect.sync(stop)
  })

/**
 * An accepted (open) Node socket as an `effect/socket` Socket with its stream at hand. Closing the reader's scope
 * destroys the socket once its output is written (`destroySoon`); releasing the writer ends it.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromAccepted = (conn: Net.Socket): Socket.Socket => {
  const reader = Effect.acquireRelease(
    Effect.suspend(() => {
      const source = Transport.sourceOf(conn)
      if (source === undefined || conn.destroyed) return Effect.fail(closedError(1000))
      return Effect.succeed<Socket.Reader>({ pull: pullOf(source), upgrade: Socket.SocketUpgradeError.unsupported })
    }),
    () => Effect.sync(() => void (conn.closed ? undefined : conn.destroySoon()))
  )
  const writer = Effect.acquireRelease(
    Effect.sync((): Socket.Writer => new StreamWriter(conn)),
    () => Effect.sync(() => void (conn.writableEnded ? undefined : conn.end()))
  )
  return Transport.withRaw(Socket.make({ reader, writer }), () => conn)
}

/** Where a Node server is bound, as a `SocketAddress`. */
const addressOf = (server: Net.Server): Effect.Effect<NetAddress.SocketAddress, SocketServer.SocketServerError> => {
  const address = server.address()
  if (typeof address === "string") return Effect.succeed(NetAddress.unixPathAddress(address))
  const inet = NetAddress.inetAddressFromIpString(address?.address ?? "", address?.port ?? 0)
  return Result.isSuccess(inet) ? Effect.succeed(inet.success) : Effect.fail(openError(inet.failure))
}

const openError = (cause: unknown) => new SocketServer.SocketServerError({ reason: new SocketServer.SocketServerOpenError({ cause }) })

/** Binds `server`; fails with its `error` event. */
const bind = (server: Net.Server, where: Net.ListenOptions) =>
  Effect.callback<void, SocketServer.SocketServerError>((resume) => {
    const failed = (cause: unknown) => resume(Effect.fail(openError(cause)))
    server.once("error", failed)
    server.listen(where, () => {
      server.off("error", failed)
      resume(Effect.void)
    })
  })

/**
 * Listens with the Node server `create` makes, taking its sockets from `event` (`connection` for `net`,
 * `secureConnection` for `tls`). Scoped: the server closes with the scope.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (options: {
  readonly create: () => Net.Server
  readonly event: "connection" | "secureConnection"
  readonly listen: Net.ListenOptions
}): Effect.Effect<SocketServer.SocketServer["Service"], SocketServer.SocketServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const waiting = new Set<Net.Socket>()
    let onSocket = (conn: Net.Socket) => {
      waiting.add(conn)
      conn.once("close", () => waiting.delete(conn))
    }
    const server = options.create()
    yield* Effect.addFinalizer(() =>
      Effect.callback<void>((resume) => {
        for (const conn of waiting) conn.destroy()
        waiting.clear()
        server.close(() => resume(Effect.void))
      })
    )
    server.on(options.event, (conn: Net.Socket) => {
      conn.pause()
      conn.on("error", () => {}) // the reader reports it; without a listener a reset would throw
      onSocket(conn)
    })
    yield* bind(server, options.listen)
    server.on("error", () => {}) // after binding, errors belong to the sockets
    const run = <R, E, _>(handler: (socket: Socket.Socket) => Effect.Effect<_, E, R>): Effect.Effect<never, SocketServer.SocketServerError, R> =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const services = Context.omit(Scope.Scope)(yield* Effect.context<R>()) as Context.Context<R>
        const serve = (conn: Net.Socket) => {
          const fiber = handler(fromAccepted(conn)).pipe(
            Effect.ignoreCause({ log: "Unhandled", message: "Unhandled error in SocketServer" }),
            Effect.runForkWith(Context.add(services, NetSocket, conn))
          )
          Fiber.runIn(fiber, scope)
        }
        onSocket = serve
        for (const conn of waiting) serve(conn)
        waiting.clear()
        return yield* Effect.onInterrupt(Effect.never, () => Scope.close(scope, Exit.void))
      })
    return SocketServer.SocketServer.of({ address: yield* addressOf(server), run })
  })

/**
 * Listens on TCP (`{ host, port }`) or a Unix socket (`{ path }`).
 *
 * @since 0.3.0
 * @category constructors
 */
export const tcp = (where: Net.ListenOptions): Effect.Effect<SocketServer.SocketServer["Service"], SocketServer.SocketServerError, Scope.Scope> =>
  make({ create: () => Net.createServer(), event: "connection", listen: where })

/**
 * Listens for TLS clients; a client whose TLS handshake fails is destroyed.
 *
 * @since 0.3.0
 * @category constructors
 */
export const tls = (
  options: Tls.TlsOptions & Net.ListenOptions
): Effect.Effect<SocketServer.SocketServer["Service"], SocketServer.SocketServerError, Scope.Scope> =>
  make({
    create: () => Tls.createServer(options).on("tlsClientError", (_error, socket) => void socket.destroy()),
    event: "secureConnection",
    listen: options
  })
