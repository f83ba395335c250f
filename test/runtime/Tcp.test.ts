import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Fiber } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import type * as Connection from "../../src/runtime/Connection.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Testing from "../../src/testing/Testing.ts"
import { freePort } from "../helpers/Ports.ts"

// Real sockets on 127.0.0.1 with the real clock: short intervals, bounded runs.
const I = 100
const C = 2

const nowMs = Effect.map(Clock.monotonicTimeNanos, (ns) => Number(ns) / 1e6)

/** A server on a free loopback port that hands every accepted connection to the test. */
const startServer = (keepalive: Server.ServeOptions["keepalive"]) =>
  Effect.gen(function*() {
    const accepted = yield* Deferred.make<Connection.Connection>()
    const listening = yield* Server.listen(
      { host: "127.0.0.1", port: 0 },
      { ...(keepalive === undefined ? {} : { keepalive }), onConnection: (c) => Deferred.succeed(accepted, c).pipe(Effect.asVoid) }
    )
    return { port: listening.port, accepted: Deferred.await(accepted) }
  })

const connectClient = (port: number) =>
  Effect.gen(function*() {
    const socket = yield* Transport.tcp({ host: "127.0.0.1", port })
    return yield* Client.connect(socket, { name: "test:///default" })
  })

/** How the connection ended: the error's tag, and its PING count when it is a keepalive death. */
const endOf = (connection: Connection.Connection) =>
  connection.closed.pipe(
    Effect.map(() => ({ tag: "closed", pingsSent: undefined as number | undefined })),
    Effect.catch((e) => Effect.succeed({ tag: e._tag as string, pingsSent: e._tag === "KeepaliveTimeout" ? e.pingsSent : undefined }))
  )

describe("Runtime over real TCP on 127.0.0.1", () => {
  /**
   * One side detects the other, frozen: its socket stays open but it reads and answers nothing. Timed on the
   * test's own clock, from the freeze to the end the application sees. The watcher's last receipt is at most one
   * interval (and a loopback round trip) before the freeze, so its death cannot come sooner than C·I − that round
   * trip after it; that it comes at all is liveness (the test's time limit). No speed is asserted: the figures are
   * printed, and `npm run bench` measures detection latency.
   */
  const frozenPeer = (detector: "client" | "server") =>
    Effect.gen(function*() {
      const server = yield* startServer(detector === "server" ? { interval: I, count: C, policy: "if-supported" } : undefined)
      const client = yield* connectClient(server.port)
      const serverSide = yield* server.accepted
      if (detector === "client") assert.strictEqual(yield* client.setKeepAlive(I, C), "started")
      yield* Effect.sleep(`${3 * I} millis`)
      const [watcher, frozen] = detector === "client" ? [client, serverSide] : [serverSide, client]
      yield* Testing.freeze(frozen)
      const frozenAt = yield* nowMs
      const end = yield* endOf(watcher)
      const elapsed = (yield* nowMs) - frozenAt
      console.log(`${detector}-side detection over TCP (I=${I} ms, C=${C}): the connection ended for the application ${elapsed.toFixed(1)} ms after the freeze`)
      assert.deepStrictEqual(end, { tag: "KeepaliveTimeout", pingsSent: C })
      assert.isAtLeast(elapsed, C * I - I / 2)
    }).pipe(Effect.scoped, Effect.timeout("10 seconds"))

  it.live(`a frozen server is declared dead by the client after its C PINGs go unanswered (I=${I} ms, C=${C})`, () => frozenPeer("client"))
  it.live(`a frozen client is declared dead by the server after its C PINGs go unanswered (I=${I} ms, C=${C})`, () => frozenPeer("server"))

  it.live("a responsive peer is never dropped: both sides ping for 2 s at I=50 ms, C=1", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ interval: 70, count: 1, policy: "if-supported" })
      const client = yield* connectClient(server.port)
      yield* client.setKeepAlive(50, 1)
      yield* Effect.sleep("2 seconds")
      assert.isTrue((yield* client.status).alive)
      assert.isTrue((yield* (yield* server.accepted).status).alive)
      // the client's own PINGs were answered: it measured a round trip (the server's 70 ms countdown never runs
      // out, the client's PINGs every 50 ms restart it)
      const status = yield* client.status
      assert.isTrue(status.pinging)
      assert.isDefined(status.rtt)
      assert.isAtLeast(Duration.toMillis(status.rtt!), 0)
    }).pipe(Effect.scoped))

  it.live("a Unix-domain socket works the same way", () =>
    Effect.gen(function*() {
      const path = `${process.env["TMPDIR"] ?? "/tmp"}/effect-keepalive-${process.pid}-${Date.now()}.sock`
      yield* Server.listen({ path }, { keepalive: { interval: 50, count: 1, policy: "if-supported" } })
      const socket = yield* Transport.unix({ path })
      const client = yield* Client.connect(socket, { name: "test:///default" })
      yield* Effect.sleep("200 millis")
      assert.isTrue((yield* client.status).alive)
      const fiber = yield* Effect.forkChild(client.close)
      assert.isUndefined(yield* Fiber.join(fiber))
    }).pipe(Effect.scoped))
})

describe("Runtime over real TCP: failures that say what happened", () => {
  it.live("a refused connect fails at once with ConnectFailed naming ECONNREFUSED and the address; nothing hangs", () =>
    Effect.gen(function*() {
      // a port that was free a moment ago: nobody listens on it
      const port = yield* freePort
      const error = yield* Effect.flip(Effect.scoped(Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port }), { name: "test:///default" })))
      assert.strictEqual(error._tag, "ConnectFailed")
      assert.include(error.message, "ECONNREFUSED")
      assert.include(error.message, `127.0.0.1:${port}`)
    }).pipe(Effect.timeout("5 seconds")))

  it.live("a port in use fails to listen with ListenFailed naming EADDRINUSE and the address", () =>
    Effect.gen(function*() {
      const first = yield* Server.listen({ host: "127.0.0.1", port: 0 })
      const error = yield* Effect.flip(Server.listen({ host: "127.0.0.1", port: first.port }))
      assert.strictEqual(error._tag, "ListenFailed")
      assert.include(error.message, "EADDRINUSE")
      assert.include(error.message, `127.0.0.1:${first.port}`)
    }).pipe(Effect.scoped))
})
