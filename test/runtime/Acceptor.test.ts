import { assert, describe, it } from "@effect/vitest"
import * as Net from "node:net"
import { Deferred, Effect, Exit, Fiber, Option, Scope } from "effect"
import * as Socket from "effect/socket/Socket"
import * as NetAddress from "effect/net/NetAddress"
import * as Acceptor from "../../src/runtime/Acceptor.ts"
import * as Transport from "../../src/runtime/Transport.ts"

/** A plain Node client connected to `port`, destroyed when the scope closes. */
const dial = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<Net.Socket>((resume) => {
      const c = Net.connect(port, "127.0.0.1", () => resume(Effect.succeed(c)))
      c.on("error", () => {})
    }),
    (c) => Effect.sync(() => c.destroy())
  )

/** Resolves with everything `c` reads until it ends or closes. */
const readAll = (c: Net.Socket) =>
  Effect.callback<string>((resume) => {
    let text = ""
    c.on("data", (d: Buffer) => void (text += d.toString()))
    c.once("close", () => resume(Effect.succeed(text)))
  })

const portOf = (server: { readonly address: NetAddress.SocketAddress }) => (NetAddress.isInetAddress(server.address) ? server.address.port : -1)

describe("Acceptor: a socket server on Node's net module", () => {
  it.live("serves each socket with its stream at hand and the net.Socket in context; reads, writes, ends", () =>
    Effect.gen(function*() {
      const server = yield* Acceptor.tcp({ host: "127.0.0.1", port: 0 })
      const seen = yield* Deferred.make<{ text: string; raw: boolean; peer: string | undefined; end: string }>()
      yield* Effect.forkScoped(server.run((socket) =>
        Effect.gen(function*() {
          // in context for each socket (the SocketServer service's type cannot say so: looked up as an option)
          const net = Option.getOrUndefined(yield* Effect.serviceOption(Acceptor.NetSocket))
          const reader = yield* socket.reader
          let text = ""
          let end = ""
          while (!text.includes("\n")) text += new TextDecoder().decode((yield* reader.pull)[0] as Uint8Array)
          const writer = yield* socket.writer
          yield* writer.writeAll([new TextEncoder().encode("hello "), new TextEncoder().encode("there\n")])
          const ended = yield* Effect.flip(Effect.forever(reader.pull))
          end = ended.reason._tag === "SocketCloseError" ? `closed ${ended.reason.code}` : ended.reason._tag
          yield* Deferred.succeed(seen, { text, raw: net !== undefined && Transport.rawOf(socket)?.() === net, peer: net?.remoteAddress, end })
        }).pipe(Effect.scoped)
      ))
      const client = yield* dial(portOf(server))
      const received = yield* Effect.forkScoped(readAll(client))
      client.write("ping\n")
      yield* Effect.sleep("50 millis")
      client.end()
      const got = yield* Deferred.await(seen)
      assert.deepStrictEqual(got, { text: "ping\n", raw: true, peer: "127.0.0.1", end: "closed 1000" })
      // the handler's scope closed: the server's side wrote its reply, then ended
      assert.strictEqual(yield* Fiber.join(received), "hello there\n")
    }).pipe(Effect.scoped))

  it.live("sockets accepted before run wait for it; a CloseEvent destroys the socket", () =>
    Effect.gen(function*() {
      const server = yield* Acceptor.tcp({ host: "127.0.0.1", port: 0 })
      const client = yield* dial(portOf(server))
      const closed = yield* Effect.forkScoped(readAll(client))
      yield* Effect.sleep("50 millis")
      yield* Effect.forkScoped(server.run((socket) =>
        Effect.gen(function*() {
          yield* socket.reader
          const writer = yield* socket.writer
          yield* writer.write(new TextEncoder().encode("late"))
          yield* writer.write(new Socket.CloseEvent(1000))
          yield* Effect.never
        }).pipe(Effect.scoped)
      ))
      assert.strictEqual(yield* Fiber.join(closed), "late")
    }).pipe(Effect.scoped))

  it.live("closing its scope destroys the sockets no handler took, and stops listening", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* Scope.provide(Acceptor.tcp({ host: "127.0.0.1", port: 0 }), scope)
      const port = portOf(server)
      const client = yield* dial(port)
      const closed = yield* Effect.forkScoped(readAll(client))
      yield* Effect.sleep("50 millis")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* Fiber.join(closed), "")
      const refused = yield* Effect.callback<string>((resume) => {
        const c = Net.connect(port, "127.0.0.1")
        c.on("connect", () => resume(Effect.succeed("connected")))
        c.on("error", (e: NodeJS.ErrnoException) => resume(Effect.succeed(e.code ?? "error")))
      })
      assert.strictEqual(refused, "ECONNREFUSED")
    }))

  it.live("a reset from the peer ends its handler's reads with an error and the process and the server go on", () =>
    Effect.gen(function*() {
      const server = yield* Acceptor.tcp({ host: "127.0.0.1", port: 0 })
      const ends: Array<string> = []
      const done = yield* Deferred.make<void>()
      yield* Effect.forkScoped(server.run((socket) =>
        Effect.gen(function*() {
          const reader = yield* socket.reader
          const error = yield* Effect.flip(Effect.forever(reader.pull))
          ends.push(error.reason._tag)
          if (ends.length === 2) yield* Deferred.succeed(done, undefined)
        }).pipe(Effect.scoped)
      ))
      for (let i = 0; i < 2; i++) {
        const client = yield* dial(portOf(server))
        yield* Effect.sleep("20 millis")
        client.resetAndDestroy()
      }
      yield* Deferred.await(done)
      assert.strictEqual(ends.length, 2)
      for (const e of ends) assert.oneOf(e, ["SocketReadError", "SocketCloseError"])
    }).pipe(Effect.scoped))

  it.live("a busy port: SocketServerError with the system's error as its cause", () =>
    Effect.gen(function*() {
      const first = yield* Acceptor.tcp({ host: "127.0.0.1", port: 0 })
      const error = yield* Effect.flip(Acceptor.tcp({ host: "127.0.0.1", port: portOf(first) }))
      assert.strictEqual(error.reason._tag, "SocketServerOpenError")
      assert.strictEqual((error.reason.cause as NodeJS.ErrnoException).code, "EADDRINUSE")
    }).pipe(Effect.scoped))
})
