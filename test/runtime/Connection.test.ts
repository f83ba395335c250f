import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Metric } from "effect"
import { advance, settle } from "../helpers/VirtualTime.ts"
import * as Client from "../../src/runtime/Client.ts"
import * as Connection from "../../src/runtime/Connection.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Observability from "../../src/runtime/Observability.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Session from "../../src/session/Session.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as RawPeer from "../helpers/RawPeer.ts"
import * as Testing from "../../src/testing/Testing.ts"

/** Our server on one end of an in-memory link, a scripted raw client on the other. */
const serverAgainstRawClient = (keepalive: Session.ServerOptions) =>
  Effect.gen(function*() {
    const link = yield* Transport.memoryPair
    const connection = yield* Connection.make(link.left, (now) => Session.server(now, keepalive))
    const peer = yield* RawPeer.make(link.right)
    return { connection, peer, link }
  })

const keepaliveArrivals = (arrivals: ReadonlyArray<RawPeer.Arrival>) => arrivals.filter((a) => a.what.startsWith("keepalive")).map((a) => `${a.at} ${a.what}`)

describe("Runtime: the core's timelines, end to end on the in-memory link under TestClock", () => {
  const silentPeer = (interval: number, count: number) =>
    Effect.gen(function*() {
      const { connection, peer } = yield* serverAgainstRawClient({ interval, count, policy: "if-supported" })
      yield* RawPeer.handshake(peer, { advertise: true })
      yield* advance(interval * (count + 2) + 1)
      return { connection, peer }
    })

  for (const [interval, count] of [[1000, 2], [5000, 5], [100, 1], [1000, 0]] as const) {
    it.effect(`silent peer, I=${interval} C=${count}: PINGs at I..C·I, closed at (C+1)·I with KeepaliveTimeout`, () =>
      Effect.gen(function*() {
        const { connection, peer } = yield* silentPeer(interval, count)
        const expected = Array.from({ length: count }, (_, k) => `${(k + 1) * interval} keepalive PING`)
        assert.deepStrictEqual(keepaliveArrivals(yield* peer.arrivals), expected)
        assert.strictEqual(yield* peer.closedAt, (count + 1) * interval)
        const end = yield* Effect.exit(connection.closed)
        assert.deepStrictEqual(end, Exit.fail(new Connection.KeepaliveTimeout({ silence: (count + 1) * interval, pingsSent: count })))
        assert.isFalse((yield* connection.status).alive)
      }))
  }

  it.effect("I ≤ 0: the server never pings and never drops the client, but answers its PINGs", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* serverAgainstRawClient({ interval: 0, count: 5, policy: "if-supported" })
      yield* RawPeer.handshake(peer, { advertise: true })
      yield* advance(60_000)
      yield* peer.send(Frame.PING)
      yield* advance(1)
      assert.deepStrictEqual(keepaliveArrivals(yield* peer.arrivals), ["60000 keepalive PONG"])
      assert.isTrue((yield* connection.status).alive)
    }))

  it.effect("a responsive peer is never dropped; every receipt restarts the countdown", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* serverAgainstRawClient({ interval: 1000, count: 1, policy: "if-supported" })
      yield* RawPeer.handshake(peer, { advertise: true })
      yield* peer.answerPings(true)
      yield* advance(20_000)
      const pings = keepaliveArrivals(yield* peer.arrivals)
      assert.strictEqual(pings.length, 20)
      assert.strictEqual(pings[19], "20000 keepalive PING")
      const status = yield* connection.status
      assert.isTrue(status.alive)
      assert.strictEqual(status.pingsOutstanding, 0)
      assert.deepStrictEqual(status.rtt, Duration.millis(0))
    }))

  it.effect("a client that did not advertise is never pinged, even under if-supported", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* serverAgainstRawClient({ interval: 1000, count: 1, policy: "if-supported" })
      yield* RawPeer.handshake(peer, { advertise: false })
      yield* advance(30_000)
      assert.deepStrictEqual(keepaliveArrivals(yield* peer.arrivals), [])
      assert.isTrue((yield* connection.status).alive)
    }))

  it.effect("policy required refuses a client that did not advertise: remote_error, then close", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* serverAgainstRawClient({ interval: 1000, count: 1, policy: "required" })
      yield* RawPeer.handshake(peer, { advertise: false })
      yield* advance(1)
      const arrivals = yield* peer.arrivals
      assert.deepStrictEqual(arrivals.map((a) => a.what), [
        "remote_auth_list_ret",
        "remote_error for connect_open (operation forbidden: keepalive is required by this server (policy required), and the client did not advertise it)"
      ])
      assert.strictEqual(yield* peer.closedAt, 0)
      const end = yield* Effect.exit(connection.closed)
      assert.deepStrictEqual(end, Exit.fail(new Connection.Refused()))
    }))

  it.effect("the peer closing mid-frame ends the connection with PeerClosed naming the partial frame", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* serverAgainstRawClient(Session.defaultServerOptions)
      yield* peer.sendBytes(Frame.PING_BYTES.subarray(0, 10))
      yield* peer.hangUp
      const end = yield* Effect.exit(connection.closed)
      assert.deepStrictEqual(end, Exit.fail(new Connection.PeerClosed({ midFrame: true, buffered: 10 })))
    }))

  it.effect("a malformed length ends the connection with MalformedFrame, naming the length", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* serverAgainstRawClient(Session.defaultServerOptions)
      yield* peer.sendBytes(new Uint8Array([0xff, 0xff, 0xff, 0xff]))
      const end = yield* Effect.flip(connection.closed)
      assert.strictEqual(end._tag, "MalformedFrame")
      assert.include(end.message, "4294967295")
      yield* settle
      assert.notStrictEqual(yield* peer.closedAt, undefined)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// Our client against our server
// ---------------------------------------------------------------------------------------------------------------

/** Our server and our client joined by an in-memory link; the server's connection is handed out too. */
const clientAndServer = (keepalive: Session.ServerOptions, clientOptions: Partial<Client.ConnectOptions> = {}) =>
  Effect.gen(function*() {
    const link = yield* Transport.memoryPair
    const serverConnections: Array<Connection.Connection> = []
    yield* Effect.forkScoped(Effect.scoped(Server.handleSocket(link.right, {
      keepalive,
      onConnection: (c) => Effect.sync(() => serverConnections.push(c))
    })))
    const client = yield* Client.connect(link.left, { name: "test:///default", ...clientOptions })
    return { client, server: serverConnections, link }
  })

describe("Runtime: client and server", () => {
  it.effect("connect negotiates keepalive; setKeepAlive answers started / stopped", () =>
    Effect.gen(function*() {
      const { client } = yield* clientAndServer(Session.defaultServerOptions)
      assert.isTrue(client.serverKeepalive)
      assert.strictEqual(yield* client.setKeepAlive(1000, 3), "started")
      assert.isTrue((yield* client.status).pinging)
      assert.strictEqual(yield* client.setKeepAlive(0, 0), "stopped")
      assert.isFalse((yield* client.status).pinging)
      const bad = yield* Effect.flip(client.setKeepAlive(Number.NaN, 3))
      assert.strictEqual(bad._tag, "InvalidKeepaliveConfig")
    }))

  it.effect("under policy required, a client that does not advertise fails to connect with Refused, carrying libvirt's error", () =>
    Effect.gen(function*() {
      const link = yield* Transport.memoryPair
      yield* Effect.forkScoped(Effect.scoped(Server.handleSocket(link.right, { keepalive: { interval: 1000, count: 1, policy: "required" } })))
      const error = yield* Effect.flip(Client.connect(link.left, { name: "test:///default", advertise: false }))
      // the same tag as the server's end of the connection, carrying libvirt's error reply
      assert.strictEqual(error._tag, "Refused")
      if (error._tag === "Refused") {
        assert.strictEqual(error.remote?.code, Remote.ErrorCode.OperationDenied)
        assert.include(error.message, "keepalive is required")
      }
    }))

  it.effect("a client that does not advertise gets 'unsupported' from setKeepAlive", () =>
    Effect.gen(function*() {
      const { client } = yield* clientAndServer(Session.defaultServerOptions, { advertise: false })
      assert.isFalse(client.serverKeepalive)
      assert.strictEqual(yield* client.setKeepAlive(1000, 3), "unsupported")
    }))

  it.effect("client pings a frozen server and declares it dead at exactly (C+1)·I", () =>
    Effect.gen(function*() {
      const { client, server } = yield* clientAndServer(Session.defaultServerOptions)
      yield* client.setKeepAlive(1000, 3)
      yield* advance(10_000)
      assert.isTrue((yield* client.status).alive)
      yield* Testing.freeze(server[0]!)
      yield* advance(3999)
      assert.isTrue((yield* client.status).alive)
      assert.strictEqual((yield* client.status).pingsOutstanding, 3)
      yield* advance(1)
      const end = yield* Effect.exit(client.closed)
      assert.deepStrictEqual(end, Exit.fail(new Connection.KeepaliveTimeout({ silence: 4000, pingsSent: 3 })))
    }))

  it.effect("a server with if-supported drops a client that stops answering (muted), at its own (C+1)·I", () =>
    Effect.gen(function*() {
      const { client, server } = yield* clientAndServer({ interval: 2000, count: 2, policy: "if-supported" })
      yield* advance(7000)
      // the last PONG reached the server at 6000; from there: PINGs at 8000 and 10000, dead at 12000
      yield* Testing.mute(client, true)
      yield* advance(4999)
      assert.isTrue((yield* server[0]!.status).alive)
      yield* advance(1)
      const serverEnd = yield* Effect.flip(server[0]!.closed)
      assert.deepStrictEqual(serverEnd, new Connection.KeepaliveTimeout({ silence: 6000, pingsSent: 2 }))
      // the client sees the server close the connection, not a keepalive timeout of its own
      const clientEnd = yield* Effect.flip(client.closed)
      assert.strictEqual(clientEnd._tag, "PeerClosed")
    }))

  it.effect("calls get replies; an unknown procedure gets libvirt's NO_SUPPORT error, never silence", () =>
    Effect.gen(function*() {
      const { client } = yield* clientAndServer(Session.defaultServerOptions)
      const error = yield* Effect.flip(client.call(Remote.RemoteProc.ConnectListAllDomains, new Uint8Array(8)))
      assert.strictEqual(error._tag, "RemoteCallError")
      if (error._tag === "RemoteCallError") {
        assert.strictEqual(error.code, Remote.ErrorCode.NoSupport)
        assert.include(error.text, "not supported")
      }
      // the connection is still fine afterwards
      assert.isTrue((yield* client.status).alive)
    }))

  it.effect("a server handler answers calls", () =>
    Effect.gen(function*() {
      const link = yield* Transport.memoryPair
      yield* Effect.forkScoped(Effect.scoped(Server.handleSocket(link.right, {
        handler: (call) =>
          call.header.proc === Remote.RemoteProc.ConnectGetHostname
            ? Effect.succeed(new Uint8Array([0, 0, 0, 2, 0x68, 0x69, 0, 0]))
            : Effect.succeed(undefined)
      })))
      const client = yield* Client.connect(link.left, { name: undefined })
      const reply = yield* client.call(Remote.RemoteProc.ConnectGetHostname)
      assert.deepStrictEqual(Array.from(reply.payload), [0, 0, 0, 2, 0x68, 0x69, 0, 0])
      assert.strictEqual(reply.header.serial, 3)
    }))

  it.effect("close sends CONNECT_CLOSE and ends both sides cleanly", () =>
    Effect.gen(function*() {
      const { client, server } = yield* clientAndServer(Session.defaultServerOptions)
      assert.isUndefined(yield* client.close)
      assert.isUndefined(yield* server[0]!.closed)
      const after = yield* Effect.flip(client.setKeepAlive(1000, 1))
      assert.strictEqual(after._tag, "ConnectionClosed")
    }))

  it.effect("a crash (the link cut) ends the connection with a typed error", () =>
    Effect.gen(function*() {
      const { client, link } = yield* clientAndServer(Session.defaultServerOptions)
      yield* link.cut
      const end = yield* Effect.flip(client.closed)
      assert.strictEqual(end._tag, "PeerClosed")
    }))

  it.effect("metrics count PINGs, PONGs, dead peers and live sessions", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.gen(function*() {
        const { client, server } = yield* clientAndServer(Session.defaultServerOptions)
        yield* client.setKeepAlive(1000, 1)
        yield* advance(3000)
        assert.strictEqual((yield* Metric.value(Observability.roles.client.sessionsLive as Metric.Gauge<number>)).value, 1)
        assert.strictEqual((yield* Metric.value(Observability.roles.server.sessionsLive as Metric.Gauge<number>)).value, 1)
        yield* Testing.freeze(server[0]!)
        yield* advance(2000)
        yield* Effect.exit(client.closed)
        // every series carries the role: the totals are the sums over both
        return [
          yield* Observability.totalCount((m) => m.pingsSent),
          yield* Observability.totalCount((m) => m.pongsReceived),
          yield* Observability.totalCount((m) => m.pongsSent),
          yield* Observability.totalCount((m) => m.peersDead)
        ]
      }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map()), Effect.forkChild)
      const [pingsSent, pongsReceived, pongsSent, dead] = yield* Fiber.join(fiber)
      assert.deepStrictEqual([pingsSent, pongsReceived, pongsSent, dead], [4, 3, 3, 1])
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// Flood policing, each mechanism on its own
// ---------------------------------------------------------------------------------------------------------------

describe("Runtime: flood policing under TestClock, each mechanism alone", () => {
  /** Our server with frame policing `policing` and PING policing `pings`, a raw client that has opened. */
  const policed = (policing: { readonly rate: number; readonly burst: number }, pings?: Session.PingPolicing) =>
    Effect.gen(function*() {
      const link = yield* Transport.memoryPair
      const server = Session.server(0, { interval: 0, count: 0, policy: "if-supported", ...(pings === undefined ? {} : { policing: pings }) })
      const connection = yield* Connection.make(link.left, () => server, { policing })
      const peer = yield* RawPeer.make(link.right)
      yield* RawPeer.handshake(peer, { advertise: false })
      yield* advance(1000)
      return { connection, peer }
    })
  const pongs = (n: number) => new Uint8Array(Array.from({ length: n }, () => Array.from(Frame.PONG_BYTES)).flat())
  const pings = (n: number) => new Uint8Array(Array.from({ length: n }, () => Array.from(Frame.PING_BYTES)).flat())

  it.effect("frames (PONGs: no PING policing involved) beyond the burst end the connection with FrameFlood, its rate and burst; the sustained rate is admitted", () =>
    Effect.gen(function*() {
      // the handshake took 2 of the 10 tokens at 0; 1 s later the bucket is full again
      const { connection, peer } = yield* policed({ rate: 100, burst: 10 })
      yield* peer.sendBytes(pongs(10))
      yield* advance(100)
      // 100 ms at 100/s: 10 tokens back, so 10 more frames fit
      yield* peer.sendBytes(pongs(10))
      yield* advance(100)
      assert.isTrue((yield* connection.status).alive, "the burst and the sustained rate were refused")
      assert.isUndefined(yield* peer.closedAt)
      // 11 at once: one more than the bucket holds
      yield* peer.sendBytes(pongs(11))
      yield* advance(1)
      assert.isFalse((yield* connection.status).alive, "a flood beyond the burst was admitted")
      assert.deepStrictEqual(yield* Effect.exit(connection.closed), Exit.fail(new Connection.FrameFlood({ rate: 100, burst: 10 })))
      assert.strictEqual(yield* peer.closedAt, 1200)
    }))

  it.effect("with frame policing off (rate 0), a PING flood is ended by strike policing alone, with PingFlood", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* policed({ rate: 0, burst: 0 }, { minInterval: 50, strikes: 3 })
      // PINGs 50 ms apart are never strikes, however many
      for (let i = 0; i < 20; i++) {
        yield* peer.sendBytes(pings(1))
        yield* advance(50)
      }
      // four PINGs at once are three strikes: the limit, not beyond it
      yield* peer.sendBytes(pings(4))
      yield* advance(50)
      assert.isTrue((yield* connection.status).alive, "PINGs at the allowed interval, or strikes up to the limit, were policed")
      // a fifth PING at once after the first: four strikes in a row, one beyond the limit
      yield* peer.sendBytes(pings(5))
      yield* advance(1)
      assert.isFalse((yield* connection.status).alive, "four strikes in a row were admitted")
      assert.deepStrictEqual(yield* Effect.exit(connection.closed), Exit.fail(new Connection.PingFlood({ strikes: 4, minInterval: 50 })))
      assert.strictEqual(yield* peer.closedAt, 2050)
      // every PING of the earlier reads got its PONG
      const answered = (yield* peer.arrivals).filter((a) => a.what === "keepalive PONG" && a.at < 2050).length
      assert.strictEqual(answered, 20 + 4)
    }))

  it.effect("frame policing alone (no PING policing) also ends a PING flood, with FrameFlood", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* policed({ rate: 100, burst: 10 })
      yield* peer.sendBytes(pings(11))
      yield* advance(1)
      assert.isFalse((yield* connection.status).alive, "a flood beyond the burst was admitted")
      assert.deepStrictEqual(yield* Effect.exit(connection.closed), Exit.fail(new Connection.FrameFlood({ rate: 100, burst: 10 })))
    }))
})

describe("Our server drops what libvirtd drops without a word", () => {
  it.effect("a stream frame with no stream, a reply from the client, a message of an unknown type: no answer; the next call is answered", () =>
    Effect.gen(function*() {
      const link = yield* Transport.memoryPair
      yield* Effect.forkScoped(Effect.scoped(Server.handleSocket(link.right)))
      const peer = yield* RawPeer.make(link.left)
      yield* RawPeer.handshake(peer, { advertise: true })
      yield* Testing.advance(10)
      const before = (yield* peer.arrivals).length
      const frame = (type: number, serial: number) => Frame.make({ ...Remote.callHeader(Remote.RemoteProc.ConnectGetHostname, serial), type })
      for (const [type, serial] of [[Frame.MessageType.Stream, 10], [Frame.MessageType.Reply, 11], [99, 12]] as const) yield* peer.send(frame(type, serial))
      yield* peer.send(Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectGetHostname, 13)))
      yield* Testing.advance(10)
      const answered = (yield* peer.arrivals).slice(before).map((a) => a.frame.header.serial)
      assert.deepStrictEqual(answered, [13])
    }).pipe(Effect.scoped))
})

describe("the errors a connection ends with", () => {
  it("are built without a stack walk, and the process's stack limit is left as it was", () => {
    const before = Error.stackTraceLimit
    const error = Connection.withoutStack(() => new Connection.KeepaliveTimeout({ silence: 3000, pingsSent: 2 }))
    assert.strictEqual(Error.stackTraceLimit, before)
    assert.notInclude(error.stack ?? "", "\n    at ")
    assert.include(new Connection.KeepaliveTimeout({ silence: 3000, pingsSent: 2 }).stack ?? "", "\n    at ")
    assert.strictEqual(error.silence, 3000)
  })
})
