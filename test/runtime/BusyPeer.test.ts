/**
 * A busy peer is not a dead peer: liveness comes from what the peer sends, never from what we had the capacity to
 * dispatch. Every test runs our runtime on the in-memory link under TestClock, so each time is exact.
 *
 * The server side: slow calls fill the call slots (libvirtd's max_client_requests) while the client answers every
 * PING. The client side: an application that does not read its frames. Each case has its counterpart that must
 * still die: a peer that goes silent is declared dead within (C+1)·I of our reading it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Stream } from "effect"
import type { Duration } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import * as Connection from "../../src/runtime/Connection.ts"
import * as Controls from "../../src/runtime/Controls.ts"
import * as Observability from "../../src/runtime/Observability.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as RawPeer from "../helpers/RawPeer.ts"
import { advance } from "../helpers/VirtualTime.ts"

const KEEPALIVE = { interval: 1000, count: 2, policy: "if-supported" } as const
const HOSTNAME = Remote.RemoteProc.ConnectGetHostname
/** REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE: a message the daemon sends on its own. */
const DOMAIN_EVENT_CALLBACK_LIFECYCLE = 318

/** Our server on one end of an in-memory link (its connection handed out), a raw client on the other, opened with keepalive advertised. */
const serverWithRawClient = (options: Server.ServeOptions) =>
  Effect.gen(function*() {
    const link = yield* Transport.memoryPair
    const handed = yield* Deferred.make<Connection.Connection>()
    yield* Effect.forkScoped(Server.handleSocket(link.left, { keepalive: KEEPALIVE, ...options, onConnection: (c) => Deferred.succeed(handed, c) }))
    const peer = yield* RawPeer.make(link.right)
    yield* RawPeer.handshake(peer, { advertise: true })
    yield* advance(0)
    return { connection: yield* Deferred.await(handed), peer }
  })

/** `n` calls sent at once, serials from 10 on. */
const sendCalls = (peer: RawPeer.RawPeer, n: number) =>
  Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => peer.send(Frame.make(Remote.callHeader(HOSTNAME, 10 + i))), { discard: true })

const replies = (arrivals: ReadonlyArray<RawPeer.Arrival>) =>
  arrivals.filter((a) => a.frame.header.type === Frame.MessageType.Reply && a.frame.header.proc === HOSTNAME)
const pings = (arrivals: ReadonlyArray<RawPeer.Arrival>) =>
  arrivals.filter((a) => Frame.isKeepalive(a.frame.header) && a.frame.header.proc === Frame.KeepaliveProc.Ping)

const slow = (ms: number): Server.Handler => () => Effect.sleep(ms).pipe(Effect.as(new Uint8Array(0)))

describe("server: slow calls in flight, a client that answers every PING (I = 1 s, C = 2)", () => {
  for (const n of [5, 50]) {
    it.effect(`${n} calls of 10 s each, 5 at a time: the client stays connected and gets every reply`, () =>
      Effect.gen(function*() {
        const { connection, peer } = yield* serverWithRawClient({ handler: slow(10_000) })
        yield* peer.answerPings(true)
        yield* sendCalls(peer, n)
        // libvirtd (and this runtime before) killed it at 3 s: its PONGs sat unread behind the full call slots
        yield* advance(3000)
        assert.isTrue((yield* connection.status).alive, "alive at (C+1)·I")
        const batches = Math.ceil(n / 5)
        yield* advance(batches * 10_000)
        const arrivals = yield* peer.arrivals
        assert.strictEqual(replies(arrivals).length, n)
        // the server kept pinging the whole time, once a second, and every PING was answered
        assert.isAtLeast(pings(arrivals).length, batches * 10)
        const status = yield* connection.status
        assert.isTrue(status.alive)
        assert.strictEqual(status.pingsOutstanding, 0)
        assert.isUndefined(yield* peer.closedAt)
      }).pipe(Effect.scoped))
  }

  it.effect("a call that never returns: the client stays connected as long as it answers (60 s)", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* serverWithRawClient({ handler: () => Effect.never })
      yield* peer.answerPings(true)
      yield* sendCalls(peer, 1)
      yield* advance(60_000)
      assert.isTrue((yield* connection.status).alive)
      assert.strictEqual(pings(yield* peer.arrivals).length, 60)
    }).pipe(Effect.scoped))

  it.effect("a client that goes silent with calls in flight is still declared dead at (C+1)·I", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* serverWithRawClient({ handler: slow(10_000) })
      yield* sendCalls(peer, 5)
      yield* advance(2999)
      assert.isTrue((yield* connection.status).alive, "not before (C+1)·I")
      yield* advance(1)
      assert.strictEqual(yield* peer.closedAt, 3000)
      assert.deepStrictEqual(yield* Effect.exit(connection.closed), Exit.fail(new Connection.KeepaliveTimeout({ silence: 3000, pingsSent: 2 })))
    }).pipe(Effect.scoped))
})

describe("server: calls beyond the waiting bound stop reading, with keepalive paused", () => {
  const blocked = (release: Deferred.Deferred<void>): Server.Handler => () => Deferred.await(release).pipe(Effect.as(new Uint8Array(0)))

  it.effect("reading stops at maxPendingCalls; nobody is declared dead while we do not read; SlowConsumer after maxStall", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const stallsBefore = yield* Observability.totalCount((m) => m.stalls)
      const { connection, peer } = yield* serverWithRawClient({ handler: blocked(release), maxClientRequests: 2, maxPendingCalls: 8, maxStall: "10 seconds" })
      yield* peer.answerPings(true)
      yield* sendCalls(peer, 40)
      yield* advance(0)
      const status = yield* connection.status
      assert.isTrue(status.stalled)
      assert.isAtLeast(status.pendingFrames, 8)
      assert.isAtMost(status.pendingFrames, 38)
      assert.strictEqual((yield* Observability.totalCount((m) => m.stalls)) - stallsBefore, 1)
      yield* advance(9999)
      assert.isTrue((yield* connection.status).alive, "not before maxStall")
      // paused: no PING went out, so none could go unanswered
      assert.lengthOf(pings(yield* peer.arrivals), 0)
      yield* advance(1)
      const end = yield* Effect.exit(connection.closed)
      assert.isTrue(Exit.isFailure(end))
      const error = Exit.isFailure(end) ? (end.cause.reasons[0] as { error?: unknown }).error : undefined
      assert.instanceOf(error, Connection.SlowConsumer)
      assert.strictEqual((error as Connection.SlowConsumer).consumer, "handlers")
      assert.strictEqual((error as Connection.SlowConsumer).stalled, 10_000)
    }).pipe(Effect.scoped))

  it.effect("reading again resumes keepalive: a client alive through a 20 s stall stays up", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const { connection, peer } = yield* serverWithRawClient({ handler: blocked(release), maxClientRequests: 2, maxPendingCalls: 8, maxStall: 0 })
      yield* peer.answerPings(true)
      yield* sendCalls(peer, 40)
      yield* advance(20_000)
      assert.isTrue((yield* connection.status).stalled)
      yield* Deferred.succeed(release, undefined)
      yield* advance(20_000)
      const status = yield* connection.status
      assert.isTrue(status.alive)
      assert.isFalse(status.stalled)
      assert.strictEqual(replies(yield* peer.arrivals).length, 40)
      // keepalive ran again after the stall: PINGs from 21 s on, every one answered
      assert.isAtLeast(pings(yield* peer.arrivals).length, 18)
    }).pipe(Effect.scoped))

  it.effect("a client that died during the stall is declared dead (C+1)·I after reading resumes, not before", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const { connection, peer } = yield* serverWithRawClient({ handler: blocked(release), maxClientRequests: 2, maxPendingCalls: 8, maxStall: 0 })
      yield* sendCalls(peer, 40)
      yield* advance(20_000)
      yield* Deferred.succeed(release, undefined)
      // resumed at 20 s; the last frames read then are the client's last sign of life
      yield* advance(2999)
      assert.isTrue((yield* connection.status).alive)
      yield* advance(1)
      assert.strictEqual(yield* peer.closedAt, 23_000)
      assert.deepStrictEqual(yield* Effect.exit(connection.closed), Exit.fail(new Connection.KeepaliveTimeout({ silence: 3000, pingsSent: 2 })))
    }).pipe(Effect.scoped))
})

/** Our client against our server on the in-memory link; the server sends `events` event messages once open. */
const clientWithEvents = (events: number, client: Client.ConnectOptions, server: Server.ServeOptions = {}) =>
  Effect.gen(function*() {
    const link = yield* Transport.memoryPair
    const event = Frame.make({ ...Remote.callHeader(DOMAIN_EVENT_CALLBACK_LIFECYCLE, 0), type: Frame.MessageType.Message })
    const serverSide = yield* Deferred.make<Connection.Connection>()
    yield* Effect.forkScoped(Server.handleSocket(link.left, {
      keepalive: KEEPALIVE,
      handler: () => Effect.succeed(new Uint8Array(0)),
      ...server,
      onConnection: (c) =>
        Deferred.succeed(serverSide, c).pipe(Effect.andThen(c.opened), Effect.andThen(Effect.repeat(c.send(event), { times: events - 1 })), Effect.ignore)
    }))
    const connected = yield* Effect.forkScoped(Client.connect(link.right, { name: "test:///default", keepalive: { interval: 1000, count: 2 }, ...client }))
    yield* advance(0)
    return { client: yield* Fiber.join(connected), server: yield* Deferred.await(serverSide) }
  })

describe("client: an application that does not read its frames never gets a healthy peer declared dead", () => {
  it.effect("default (drop): 300 events, none read; keepalive and calls go on; 44 frames dropped and counted", () =>
    Effect.gen(function*() {
      const droppedBefore = yield* Observability.totalCount((m) => m.framesDropped)
      const { client, server } = yield* clientWithEvents(300, {})
      yield* advance(30_000)
      const status = yield* client.status
      assert.isTrue(status.alive)
      assert.isTrue((yield* server.status).alive, "the server kept hearing our PONGs")
      assert.strictEqual(status.pendingFrames, 256)
      assert.strictEqual(status.dropped, 44)
      assert.strictEqual((yield* Observability.totalCount((m) => m.framesDropped)) - droppedBefore, 44)
      const call = yield* Effect.forkChild(client.call(HOSTNAME))
      yield* advance(0)
      assert.strictEqual((yield* Fiber.join(call)).header.proc, HOSTNAME)
      // what was kept is delivered in order, as sent
      const taken = yield* client.frames.pipe(Stream.take(256), Stream.runCollect)
      assert.lengthOf(taken, 256)
    }).pipe(Effect.scoped))

  it.effect("pause: reading stops with keepalive paused; no death on either side's account; reading resumes when the application catches up", () =>
    Effect.gen(function*() {
      // the server does not ping here: while we do not read, a peer that pings would give up on us (its rule, not ours)
      const { client } = yield* clientWithEvents(300, { slowConsumer: "pause", maxStall: 0 }, { keepalive: { ...KEEPALIVE, policy: "disabled" } })
      yield* advance(30_000)
      let status = yield* client.status
      assert.isTrue(status.alive)
      assert.isTrue(status.stalled)
      assert.strictEqual(status.dropped, 0)
      const all = yield* client.frames.pipe(Stream.take(300), Stream.runCollect)
      assert.lengthOf(all, 300)
      yield* advance(10_000)
      status = yield* client.status
      assert.isTrue(status.alive)
      assert.isFalse(status.stalled)
      assert.strictEqual(status.pingsOutstanding, 0)
    }).pipe(Effect.scoped))

  it.effect("pause: a stall past maxStall ends with SlowConsumer naming the application, never KeepaliveTimeout", () =>
    Effect.gen(function*() {
      const { client } = yield* clientWithEvents(300, { slowConsumer: "pause", maxStall: "5 seconds" }, { keepalive: { ...KEEPALIVE, policy: "disabled" } })
      yield* advance(4999)
      assert.isTrue((yield* client.status).alive)
      yield* advance(1)
      const end = yield* Effect.exit(client.closed)
      const error = Exit.isFailure(end) ? (end.cause.reasons[0] as { error?: unknown }).error : undefined
      assert.instanceOf(error, Connection.SlowConsumer)
      assert.strictEqual((error as Connection.SlowConsumer).consumer, "application")
      assert.strictEqual((error as Connection.SlowConsumer).stalled, 5000)
    }).pipe(Effect.scoped))

  it.effect("end: the frame past the bound ends the connection with SlowConsumer at once; `closed` resolves without waiting for the scope", () =>
    Effect.gen(function*() {
      const { client } = yield* clientWithEvents(300, { slowConsumer: "end", maxPendingFrames: 100 })
      const closed = yield* Effect.forkChild(Effect.exit(client.closed))
      yield* advance(0)
      const end = yield* Fiber.join(closed)
      const error = Exit.isFailure(end) ? (end.cause.reasons[0] as { error?: unknown }).error : undefined
      assert.instanceOf(error, Connection.SlowConsumer)
      assert.strictEqual((error as Connection.SlowConsumer).pendingFrames, 100)
    }).pipe(Effect.scoped))

  it.effect("a server that goes silent while the application does not read is still declared dead at (C+1)·I", () =>
    Effect.gen(function*() {
      const { client, server } = yield* clientWithEvents(300, {})
      yield* Controls.of(server).freeze(true)
      yield* advance(2999)
      assert.isTrue((yield* client.status).alive)
      yield* advance(1)
      const end = yield* Effect.exit(client.closed)
      assert.deepStrictEqual(end, Exit.fail(new Connection.KeepaliveTimeout({ silence: 3000, pingsSent: 2 })))
    }).pipe(Effect.scoped))
})

describe("client: calls in flight stay below libvirtd's max_client_requests", () => {
  it.effect("10 concurrent calls: at most 4 unanswered at once (the default), sent in the callers' order", () =>
    Effect.gen(function*() {
      let running = 0
      let most = 0
      const serials: Array<number> = []
      const handler: Server.Handler = (call) =>
        Effect.sync(() => {
          serials.push(call.header.serial)
          most = Math.max(most, ++running)
        }).pipe(Effect.andThen(Effect.sleep(1000)), Effect.ensuring(Effect.sync(() => running--)), Effect.as(new Uint8Array(0)))
      const { client } = yield* clientWithEvents(1, {}, { handler, maxClientRequests: 10 })
      const calls = yield* Effect.forkChild(Effect.forEach(Array.from({ length: 10 }), () => client.call(HOSTNAME), { concurrency: "unbounded" }))
      yield* advance(3000)
      const done = yield* Fiber.join(calls)
      assert.lengthOf(done, 10)
      assert.strictEqual(most, 4)
      assert.deepStrictEqual(serials, [...serials].sort((a, b) => a - b))
    }).pipe(Effect.scoped))

  it.effect("the queue of waiting calls is bounded: one more fails with TooManyCalls; an interrupted caller leaves it", () =>
    Effect.gen(function*() {
      const { client } = yield* clientWithEvents(1, { maxCallsInFlight: 1, maxQueuedCalls: 2 }, { handler: () => Effect.never })
      const first = yield* Effect.forkChild(client.call(HOSTNAME))
      const second = yield* Effect.forkChild(client.call(HOSTNAME))
      const third = yield* Effect.forkChild(client.call(HOSTNAME))
      yield* advance(0)
      const fourth = yield* Effect.exit(client.call(HOSTNAME))
      assert.deepStrictEqual(fourth, Exit.fail(new Connection.TooManyCalls({ inFlight: 1, queued: 2 })))
      yield* Fiber.interrupt(second)
      const fifth = yield* Effect.forkChild(client.call(HOSTNAME))
      yield* advance(0)
      assert.isUndefined(fifth.pollUnsafe(), "queued in the place the interrupted caller left")
      yield* Fiber.interrupt(first)
      yield* Fiber.interrupt(third)
      yield* Fiber.interrupt(fifth)
    }).pipe(Effect.scoped))
})

describe("a call is never left without its reply", () => {
  it.effect("a handler that dies answers with libvirt's internal error, and its slot is free again", () =>
    Effect.gen(function*() {
      const { client } = yield* clientWithEvents(1, { maxCallsInFlight: 1 }, { handler: () => Effect.die(new Error("boom")), maxClientRequests: 1 })
      for (let i = 0; i < 3; i++) {
        const call = yield* Effect.forkChild(Effect.flip(client.call(HOSTNAME)))
        yield* advance(0)
        const error = yield* Fiber.join(call)
        assert.strictEqual(error._tag, "RemoteCallError")
        if (error._tag !== "RemoteCallError") return
        assert.strictEqual(error.code, Remote.ErrorCode.InternalError)
        assert.include(error.text, "boom")
      }
      assert.isTrue((yield* client.status).alive)
    }).pipe(Effect.scoped))

  it.effect("a maxStall that is not a duration is refused before anything is dialled (it must never switch the bound off)", () =>
    Effect.gen(function*() {
      const link = yield* Transport.memoryPair
      const error = yield* Effect.flip(Client.connectWith(Effect.succeed(link.right), { maxStall: "sixty seconds" as Duration.Input }))
      assert.strictEqual(error._tag, "InvalidOption")
      if (error._tag !== "InvalidOption") return
      assert.strictEqual(error.option, "maxStall")
    }).pipe(Effect.scoped))
})

describe("over real TCP on 127.0.0.1 (I = 100 ms, C = 2)", () => {
  const keepalive = { interval: 100, count: 2, policy: "if-supported" } as const

  it.live("a client with 20 calls of 600 ms in flight (5 at a time on the server) lives through them all", () =>
    Effect.gen(function*() {
      const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, { keepalive, handler: slow(600) })
      const client = yield* Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port: server.port }), {
        name: "test:///default",
        keepalive: { interval: 100, count: 2 },
        maxCallsInFlight: 20
      })
      const done = yield* Effect.forEach(Array.from({ length: 20 }), () => client.call(HOSTNAME), { concurrency: "unbounded" })
      assert.lengthOf(done, 20)
      const status = yield* client.status
      assert.isTrue(status.alive, "the server kept the busy client: 2.4 s of calls, 8 times its (C+1)·I")
    }).pipe(Effect.scoped))

  it.live("a client application that reads none of 300 events keeps its connection: the server lives, calls are answered", () =>
    Effect.gen(function*() {
      const event = Frame.make({ ...Remote.callHeader(DOMAIN_EVENT_CALLBACK_LIFECYCLE, 0), type: Frame.MessageType.Message })
      const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, {
        keepalive,
        handler: () => Effect.succeed(new Uint8Array(0)),
        onConnection: (c) => c.opened.pipe(Effect.andThen(Effect.repeat(c.send(event), { times: 299 })), Effect.ignore)
      })
      const client = yield* Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port: server.port }), {
        name: "test:///default",
        keepalive: { interval: 100, count: 2 }
      })
      // all 300 arrive (however long the machine takes), then keepalive runs on for 10·(C+1)·I
      let arrived = 0
      for (let waited = 0; arrived < 300 && waited < 10_000; waited += 50) {
        const s = yield* client.status
        arrived = s.pendingFrames + s.dropped
        if (arrived < 300) yield* Effect.sleep("50 millis")
      }
      assert.strictEqual(arrived, 300)
      yield* Effect.sleep("3 seconds")
      const status = yield* client.status
      assert.isTrue(status.alive)
      assert.strictEqual(status.pendingFrames + status.dropped, 300)
      assert.strictEqual(status.dropped, 44)
      assert.strictEqual((yield* client.call(HOSTNAME)).header.proc, HOSTNAME)
    }).pipe(Effect.scoped))
})
