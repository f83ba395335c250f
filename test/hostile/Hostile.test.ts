import { assert, describe, it } from "@effect/vitest"
import * as Net from "node:net"
import { Deferred, Effect, Exit, Metric, Queue } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import * as Connection from "../../src/runtime/Connection.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Observability from "../../src/runtime/Observability.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Session from "../../src/session/Session.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import { fiberCounter, heapAfterGc } from "../helpers/Leaks.ts"
import * as RawPeer from "../helpers/RawPeer.ts"
import { advance, settle } from "../helpers/VirtualTime.ts"

const failureOf = <A, E>(exit: Exit.Exit<A, E>) => Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error : undefined

describe("PING flood", () => {
  it("the session: strikes for PINGs closer than the minimum, cleared by a decent interval, closed past the limit", () => {
    let s: Session.State = Session.server(0, { ...Session.defaultServerOptions, policing: { minInterval: 100, strikes: 2 } })
    const feed = (at: number) => {
      const [next, out] = Session.step(s, Session.Input.Received(at, Frame.PING))
      s = next
      return out.map((c) => c._tag === "Transmit" ? "PONG" : c._tag)
    }
    assert.deepStrictEqual(feed(0), ["PONG"])
    assert.deepStrictEqual(feed(10), ["PONG"]) // strike 1
    assert.deepStrictEqual(feed(20), ["PONG"]) // strike 2
    assert.deepStrictEqual(feed(200), ["PONG"]) // a decent interval clears them
    assert.deepStrictEqual(feed(210), ["PONG"])
    assert.deepStrictEqual(feed(220), ["PONG"])
    assert.deepStrictEqual(feed(230), ["PingFlood", "Close"]) // strike 3 > 2
    assert.isTrue(Session.isClosed(s))
    assert.deepStrictEqual(feed(240), [])
  })

  it.effect("the runtime closes the abuser with a stated reason, and its PONGs never pile up", () =>
    Effect.gen(function*() {
      const link = yield* Transport.memoryPair
      const connection = yield* Connection.make(link.left, (now) =>
        Session.server(now, { ...Session.defaultServerOptions, policing: { minInterval: 1000, strikes: 5 } }))
      const peer = yield* RawPeer.make(link.right)
      for (let i = 0; i < 10_000; i++)
        yield* peer.sendBytes(Frame.PING_BYTES)
      yield* settle
      const error = failureOf(yield* Effect.exit(connection.closed))
      assert.instanceOf(error, Connection.PingFlood)
      if (error instanceof Connection.PingFlood)
        assert.include(error.message, "too many pings")
      // 10 000 PINGs, yet at most one PONG per strike was ever queued
      const pongs = (yield* peer.arrivals).filter((a) =>
        a.what === "keepalive PONG"
      ).length
      assert.isAtMost(pongs, 6)
    }))

  it.live("over TCP, a flooding client is closed while another client on the same server keeps its keepalive", () =>
    Effect.gen(function*() {
      const ended = yield* Queue.unbounded<string>()
      const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, {
        keepalive: { interval: 100, count: 2, policy: "if-supported", policing: { minInterval: 50, strikes: 10 } },
        onConnection: (c) => Effect.exit(c.closed).pipe(Effect.flatMap((exit) => Queue.offer(ended, String(failureOf(exit)?._tag ?? "closed"))), Effect.asVoid)
      })
      const good = yield* Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port: server.port }), { name: "test:///default" })
      yield* good.setKeepAlive(60, 2)
      const abuser = Net.connect({ host: "127.0.0.1", port: server.port })
      yield* Effect.addFinalizer(() => Effect.sync(() => abuser.destroy()))
      const flood = Buffer.concat(Array.from({ length: 2000 }, () => Buffer.from(Frame.PING_BYTES)))
      yield* Effect.promise(() => new Promise<void>((resolve) => abuser.once("connect", () => abuser.write(flood, () => resolve()))))
      assert.strictEqual(yield* Queue.take(ended).pipe(Effect.timeout("3 seconds")), "PingFlood")
      yield* Effect.sleep("1 second")
      assert.isTrue((yield* good.status).alive)
      assert.strictEqual(yield* Queue.size(ended), 0)
    }).pipe(Effect.scoped))
})

describe("slow reader", () => {
  it.live("a peer that never reads: our writes stay bounded and our keepalive still declares it dead", () =>
    Effect.gen(function*() {
      const limit = 256 * 1024
      const accepted = yield* Deferred.make<Connection.Connection>()
      const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, {
        keepalive: { interval: 200, count: 2, policy: "if-supported" },
        onConnection: (c) => Deferred.succeed(accepted, c).pipe(Effect.asVoid)
      })
      // a raw client: handshake, then it never reads again (its socket stays paused)
      const peer = Net.connect({ host: "127.0.0.1", port: server.port })
      yield* Effect.addFinalizer(() => Effect.sync(() => peer.destroy()))
      yield* Effect.promise(() => new Promise<void>((resolve) => peer.once("connect", () => resolve())))
      peer.pause()
      peer.write(Frame.encode(Frame.make(Remote.callHeader(Remote.RemoteProc.AuthList, 0))))
      peer.write(Frame.encode(Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectSupportsFeature, 1), Remote.encodeSupportsFeatureArgs({ feature: 10 }))))
      const connection = yield* Deferred.await(accepted)
      // the application keeps sending 64 KiB frames; send waits at the high-water mark instead of queueing more
      const big = Frame.make(Remote.replyHeader(Remote.RemoteProc.ConnectGetHostname, 9, 0), new Uint8Array(64 * 1024))
      let maxQueued = 0
      yield* Effect.forkScoped(Effect.forever(
        connection.send(big).pipe(
          Effect.andThen(connection.status),
          Effect.tap((s) => Effect.sync(() => void (maxQueued = Math.max(maxQueued, s.queuedBytes))))
        )
      ))
      const error = failureOf(yield* Effect.exit(connection.closed))
      assert.instanceOf(error, Connection.KeepaliveTimeout)
      assert.isAtMost(maxQueued, limit * 4 + big.payload.length + 64) // the default mark is 1 MiB
    }).pipe(Effect.scoped))
})

describe("a peer that never reads, with its calls filling our backlog", () => {
  it.live("the full backlog does not pause its keepalive: stuck output means the stall is the peer's, and it is declared dead", () =>
    Effect.gen(function*() {
      const accepted = yield* Deferred.make<Connection.Connection>()
      const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, {
        keepalive: { interval: 200, count: 2, policy: "if-supported" },
        maxClientRequests: 1,
        maxPendingCalls: 8,
        maxQueuedBytes: 64 * 1024,
        maxStall: "30 seconds",
        // every reply is 64 KiB: a peer that never reads fills our output after a call or two
        handler: () => Effect.succeed(new Uint8Array(64 * 1024)),
        onConnection: (c) => Deferred.succeed(accepted, c).pipe(Effect.asVoid)
      })
      const peer = Net.connect({ host: "127.0.0.1", port: server.port })
      yield* Effect.addFinalizer(() => Effect.sync(() => peer.destroy()))
      yield* Effect.promise(() => new Promise<void>((resolve) => peer.once("connect", () => resolve())))
      peer.pause()
      peer.write(Frame.encode(Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectSupportsFeature, 0), Remote.encodeSupportsFeatureArgs({ feature: 10 }))))
      peer.write(
        Frame.encode(Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectOpen, 1), Remote.encodeConnectOpenArgs({ name: "test:///default", flags: 0 })))
      )
      for (let i = 0; i < 1000; i++) peer.write(Frame.encode(Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectGetHostname, 2 + i))))
      const connection = yield* Deferred.await(accepted)
      const error = failureOf(yield* Effect.exit(connection.closed))
      // not SlowConsumer after 30 s: keepalive, because the peer takes none of our PINGs
      assert.instanceOf(error, Connection.KeepaliveTimeout)
    }).pipe(Effect.scoped))
})

describe("our own stall", () => {
  it.live("a 3 s block of our event loop, with the peer's PONG waiting in the socket, does not get a healthy peer declared dead", () =>
    Effect.gen(function*() {
      const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, {})
      const pingSent = yield* Deferred.make<void>()
      const client = yield* Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port: server.port }), {
        name: "test:///default",
        trace: (e) =>
          e.kind === "transmit" && Frame.isKeepalive(e.frame.header) && e.frame.header.proc === Frame.KeepaliveProc.Ping
            ? void Deferred.doneUnsafe(pingSent, Effect.void)
            : undefined
      })
      // I = 300 ms, C = 1: without the rule, 600 ms of apparent silence would kill the connection
      yield* client.setKeepAlive(300, 1)
      yield* Deferred.await(pingSent)
      const until = Date.now() + 3000
      while (Date.now() < until) {
        // the server's PONG arrives in the socket meanwhile; our timers are long overdue when we wake up
      }
      yield* Effect.sleep("400 millis")
      const status = yield* client.status
      assert.isTrue(status.alive)
      assert.strictEqual(status.pingsOutstanding <= 1, true)
    }).pipe(Effect.scoped))
})

describe("lifecycle", () => {
  it.effect("1000 connect/disconnect cycles leave no sessions, fibers or timers behind", () =>
    Effect.gen(function*() {
      const fibers = fiberCounter()
      const cycle = Effect.gen(function*() {
        const link = yield* Transport.memoryPair
        yield* Effect.forkScoped(Effect.scoped(Server.handleSocket(link.right, { keepalive: { interval: 1000, count: 2, policy: "if-supported" } })))
        const client = yield* Client.connect(link.left, { name: "test:///default" })
        yield* client.setKeepAlive(500, 2)
        yield* client.close
      }).pipe(Effect.scoped)
      const run = Effect.gen(function*() {
        for (let i = 0; i < 1000; i++) yield* cycle
        yield* settle
        return (yield* Observability.liveSessions)
      }).pipe(Effect.provideService(Metric.FiberRuntimeMetrics, fibers.service), Effect.provideService(Metric.MetricRegistry, new Map()))
      // warm up, then measure the heap after a full collection on both sides of 1000 cycles
      yield* Effect.forEach(Array.from({ length: 100 }), () => cycle, { discard: true }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
      const heapBefore = heapAfterGc()
      const live = yield* run
      yield* advance(10_000)
      assert.strictEqual(live, 0)
      assert.strictEqual(fibers.active(), 0)
      const growth = heapAfterGc() - heapBefore
      console.log(`heap growth over 1000 connect/disconnect cycles: ${(growth / 1024).toFixed(0)} KiB`)
      // a leak of 2 KiB per cycle would show as 2 MiB
      assert.isBelow(growth, 2 * 1024 * 1024)
    }))
})

describe("hostile clients against our server", () => {
  it.live("garbage, partial frames, oversized lengths and vanishing clients: the server survives, a good client keeps its keepalive, nothing leaks", () =>
    Effect.gen(function*() {
      const registry = new Map()
      const work = Effect.gen(function*() {
        const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, { keepalive: { interval: 100, count: 2, policy: "if-supported" } })
        const good = yield* Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port: server.port }), { name: "test:///default" })
        yield* good.setKeepAlive(70, 2)
        const attacks: ReadonlyArray<Buffer> = [
          Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
          Buffer.from([0, 0, 0, 3]),
          Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
          Buffer.from(Frame.PING_BYTES.subarray(0, 17)),
          Buffer.from([0, 0, 0, 40, ...new Array(30).fill(7)]),
          Buffer.alloc(0)
        ]
        for (let round = 0; round < 20; round++) {
          for (const bytes of attacks) {
            const socket = Net.connect({ host: "127.0.0.1", port: server.port })
            socket.on("error", () => {})
            socket.once("connect", () => {
              if (bytes.length > 0) socket.write(bytes)
              setTimeout(() => socket.destroy(), round % 2 === 0 ? 0 : 30)
            })
          }
          yield* Effect.sleep("20 millis")
        }
        yield* Effect.sleep("500 millis")
        assert.isTrue((yield* good.status).alive)
        // only the good client's two sessions (ours and the server's) are left
        assert.strictEqual(yield* Observability.liveSessions, 2)
        // and the server still accepts and serves newcomers
        const late = yield* Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port: server.port }), { name: "test:///default" })
        assert.isTrue(late.serverKeepalive)
      }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, registry))
      yield* work
      assert.strictEqual(yield* Observability.liveSessions.pipe(Effect.provideService(Metric.MetricRegistry, registry)), 0)
    }))
})
