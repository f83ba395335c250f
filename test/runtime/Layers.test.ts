import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Queue, Schedule, Stream } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import { advance } from "../helpers/VirtualTime.ts"

describe("Layers: the server and the client as services", () => {
  it.live("Server.layerTcp serves; Client.layerTcp opens with keepalive from its options, as Durations", () =>
    Effect.gen(function*() {
      const peers = yield* Queue.unbounded<string | undefined>()
      // both layers live as long as the test's scope
      const servers = yield* Layer.build(Server.layerTcp({ host: "127.0.0.1", port: 0 }, {
        keepalive: { interval: "200 millis", count: 3, policy: "if-supported" },
        onConnection: (_, peer) => Queue.offer(peers, peer).pipe(Effect.asVoid)
      }))
      const { port } = Context.get(servers, Server.KeepaliveServer)
      const clients = yield* Layer.build(
        Client.layerTcp({ host: "127.0.0.1", port }, { name: "test:///default", keepalive: { interval: "100 millis", count: 2 } })
      )
      const client = Context.get(clients, Client.KeepaliveClient)
      assert.isTrue((yield* client.status).pinging)
      const peer = yield* Queue.take(peers)
      assert.match(peer ?? "", /^127\.0\.0\.1:\d+$/)
      // the keepalive from the options is in force: without it the client sends no PING, so no round trip of its own
      // could be measured (waited for, not slept on)
      const rtt = yield* client.status.pipe(
        Effect.map((s) => s.rtt),
        Effect.repeat({ until: (r) => r !== undefined, schedule: Schedule.spaced("10 millis") }),
        Effect.timeoutOrElse({ duration: "3 seconds", orElse: () => Effect.die(new Error("no round trip measured within 3 s")) })
      )
      assert.isAtLeast(Duration.toMillis(rtt!), 0)
    }).pipe(Effect.scoped))

  it.live("the server service's connections: a Stream of every accepted connection, with its peer", () =>
    Effect.gen(function*() {
      const servers = yield* Layer.build(
        Server.layerTcp({ host: "127.0.0.1", port: 0 }, { keepalive: { interval: "1 second", count: 3, policy: "if-supported" } })
      )
      const server = Context.get(servers, Server.KeepaliveServer)
      const first = yield* server.connections.pipe(Stream.take(2), Stream.runCollect, Effect.forkScoped)
      yield* Effect.yieldNow
      const clients = yield* Effect.all([1, 2].map(() => Layer.build(Client.layerTcp({ host: "127.0.0.1", port: server.port }, { name: "test:///default" }))))
      const accepted = yield* Fiber.join(first)
      assert.strictEqual(accepted.length, 2)
      for (const a of accepted) assert.match(a.peer ?? "", /^127\.0\.0\.1:\d+$/)
      // the server's end of the first client's connection
      const ours = Context.get(clients[0]!, Client.KeepaliveClient)
      assert.isTrue((yield* ours.status).alive)
      assert.isTrue((yield* accepted[0]!.connection.status).alive)
    }).pipe(Effect.scoped))

  it.effect("a bad keepalive interval fails the server layer with a typed error naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Layer.build(Server.layerTcp({ host: "127.0.0.1", port: 0 }, { keepalive: { interval: "soon" as never, count: 1, policy: "if-supported" } }))
      )
      assert.strictEqual(error._tag, "InvalidKeepaliveConfig")
      if (error._tag === "InvalidKeepaliveConfig") assert.strictEqual(error.field, "interval")
    }).pipe(Effect.scoped))
})

describe("Client.reconnecting: a connection kept up by a Schedule", () => {
  it.effect("dies with the server, dials again on the schedule, and its state says so", () =>
    Effect.gen(function*() {
      let serverScope: Fiber.Fiber<void> | undefined
      const dial = Effect.gen(function*() {
        const link = yield* Transport.memoryPair
        serverScope = yield* Effect.forkDetach(
          Effect.scoped(Server.handleSocket(link.right, { keepalive: { interval: 1000, count: 1, policy: "if-supported" } }))
        )
        return link.left
      })
      const kept = yield* Client.reconnecting(dial, { name: "test:///default" }, Schedule.spaced("2 seconds"))
      const seen: Array<string> = []
      yield* kept.changes.pipe(
        Stream.runForEach((s) => Effect.sync(() => void seen.push(s._tag === "Dead" ? `Dead(${(s.reason as { _tag: string })._tag})` : s._tag))),
        Effect.forkScoped
      )
      const first = yield* kept.client
      assert.isTrue(first.serverKeepalive)
      // the server's side goes away without a word: the client sees the peer close
      yield* Fiber.interrupt(serverScope!)
      yield* advance(100)
      assert.include(seen, "Dead(PeerClosed)")
      yield* advance(2000)
      const second = yield* kept.client
      assert.notStrictEqual(second, first)
      assert.deepStrictEqual(seen.slice(-1), ["Open"])
      assert.deepStrictEqual(seen.filter((s) => s === "Open").length, 2)
    }).pipe(Effect.scoped))
})
