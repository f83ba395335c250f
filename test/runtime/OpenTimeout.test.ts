import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Schedule, Stream } from "effect"
import * as Socket from "effect/socket/Socket"
import * as Client from "../../src/runtime/Client.ts"
import * as Connection from "../../src/runtime/Connection.ts"
import * as Controls from "../../src/runtime/Controls.ts"
import * as OpenTimeout from "../../src/runtime/OpenTimeout.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Session from "../../src/session/Session.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as RawPeer from "../helpers/RawPeer.ts"
import { advance, settle } from "../helpers/VirtualTime.ts"

/** The reply a daemon gives to each handshake call: no authentication, keepalive supported, opened. */
const replyTo = (call: Frame.Frame): Frame.Frame => {
  const { proc, serial } = call.header
  if (proc === Remote.RemoteProc.AuthList) return Frame.make(Remote.replyHeader(proc, serial), Remote.encodeAuthListRet({ types: [] }))
  if (proc === Remote.RemoteProc.ConnectSupportsFeature) return Frame.make(Remote.replyHeader(proc, serial), Remote.encodeSupportsFeatureRet({ supported: 1 }))
  return Frame.make(Remote.replyHeader(proc, serial))
}

/** A daemon on the other end of an in-memory link that answers the first `answers` handshake calls, then says nothing. */
const daemon = Effect.gen(function*() {
  const link = yield* Transport.memoryPair
  const peer = yield* RawPeer.make(link.right)
  let answered = 0
  const answer = (answers: number) =>
    Effect.gen(function*() {
      while (answered < answers) {
        yield* settle
        const calls = yield* peer.arrivals
        const call = calls[answered]
        if (call === undefined) return
        answered++
        yield* peer.send(replyTo(call.frame))
      }
      yield* settle
    })
  return { link, peer, answer }
})

/** Client.connect forked, in a scope of its own that ends with it. */
const connecting = (socket: Socket.Socket, options: Client.ConnectOptions) =>
  Client.connect(socket, options).pipe(Effect.andThen(Effect.never), Effect.scoped, Effect.forkChild)

/** The open timeout the fiber failed with. */
const timedOut = (fiber: Fiber.Fiber<unknown, unknown>) =>
  Effect.gen(function*() {
    const exit = fiber.pollUnsafe()
    assert.isDefined(exit, "the open should have failed by now")
    assert.isTrue(Exit.isFailure(exit!))
    return yield* Effect.flip(Fiber.join(fiber as Fiber.Fiber<unknown, OpenTimeout.OpenTimeout>))
  })

/** A socket that never opens (a SYN never answered); its writes go nowhere. */
const neverOpens = () => Socket.make({ reader: Effect.never, writer: Effect.succeed<Socket.Writer>({ write: () => Effect.void, writeAll: () => Effect.void }) })

describe("OpenTimeout: one bound over the whole open, naming the phase it was stuck in", () => {
  for (const [answers, phase] of [[0, "auth-list"], [1, "supports-feature"], [2, "connect-open"]] as const) {
    it.effect(`a daemon that answers ${answers} handshake call(s) then freezes: not before 200 ms, then OpenTimeout in ${phase}`, () =>
      Effect.gen(function*() {
        const { link, peer, answer } = yield* daemon
        const fiber = yield* connecting(link.left, { name: "test:///default", openTimeout: "200 millis" })
        yield* answer(answers)
        yield* advance(199)
        assert.isUndefined(fiber.pollUnsafe())
        assert.isUndefined(yield* peer.closedAt)
        yield* advance(1)
        const error = yield* timedOut(fiber)
        assert.deepStrictEqual(error, new OpenTimeout.OpenTimeout({ phase, timeout: 200 }))
        assert.include(error.message, `phase ${phase}`)
        assert.include(error.message, "200 ms")
        // the open released the socket at once: the daemon sees it close at the timeout
        yield* settle
        assert.strictEqual(yield* peer.closedAt, 200)
      }))
  }

  it.effect("before the socket opens the phase is connect, or what the transport says (TLS: connect, then tls)", () =>
    Effect.gen(function*() {
      const plain = yield* connecting(neverOpens(), { openTimeout: 300 })
      let tcpUp = false
      const tls = yield* connecting(OpenTimeout.withTransportPhase(neverOpens(), () => (tcpUp ? "tls" : "connect")), { openTimeout: 300 })
      const stillTcp = yield* connecting(OpenTimeout.withTransportPhase(neverOpens(), () => "connect"), { openTimeout: 300 })
      yield* advance(100)
      tcpUp = true
      yield* advance(199)
      assert.isUndefined(plain.pollUnsafe())
      yield* advance(1)
      assert.strictEqual((yield* timedOut(plain)).phase, "connect")
      assert.strictEqual((yield* timedOut(tls)).phase, "tls")
      assert.strictEqual((yield* timedOut(stillTcp)).phase, "connect")
    }))

  it.effect("the default is 30 seconds", () =>
    Effect.gen(function*() {
      const { link } = yield* daemon
      const fiber = yield* connecting(link.left, {})
      yield* advance(29_999)
      assert.isUndefined(fiber.pollUnsafe())
      yield* advance(1)
      assert.deepStrictEqual(yield* timedOut(fiber), new OpenTimeout.OpenTimeout({ phase: "auth-list", timeout: 30_000 }))
      assert.strictEqual(Duration.toMillis(OpenTimeout.defaultTimeout), 30_000)
    }))

  it.effect("Duration.infinity or ≤ 0: no bound, as libvirt", () =>
    Effect.gen(function*() {
      const forever = yield* connecting((yield* daemon).link.left, { openTimeout: Duration.infinity })
      const zero = yield* connecting((yield* daemon).link.left, { openTimeout: 0 })
      yield* advance("1 hour")
      assert.isUndefined(forever.pollUnsafe())
      assert.isUndefined(zero.pollUnsafe())
      assert.isUndefined(OpenTimeout.millis(-1))
      assert.strictEqual(OpenTimeout.millis("soon" as Duration.Input), 30_000)
    }))

  it.effect("an open done in time is not touched by the timeout afterwards", () =>
    Effect.gen(function*() {
      const { link, peer, answer } = yield* daemon
      // closeTimeout 0: nothing waits for a CONNECT_CLOSE reply in virtual time when the test's scope closes
      const fiber = yield* Client.connect(link.left, { name: "test:///default", openTimeout: 200, closeTimeout: 0 }).pipe(Effect.forkScoped)
      yield* advance(150)
      yield* answer(3)
      const client = yield* Fiber.join(fiber)
      assert.strictEqual(Controls.of(client).phase(), "open")
      yield* advance(1000)
      assert.isTrue((yield* client.status).alive)
      assert.isUndefined(yield* peer.closedAt)
    }))

  it.effect("the phase is read from the session through the connection's controls", () =>
    Effect.gen(function*() {
      assert.strictEqual(OpenTimeout.sessionPhase("idle"), "auth-list")
      assert.strictEqual(OpenTimeout.sessionPhase("auth"), "auth-list")
      assert.strictEqual(OpenTimeout.sessionPhase("feature"), "supports-feature")
      assert.strictEqual(OpenTimeout.sessionPhase("opening"), "connect-open")
      const link = yield* Transport.memoryPair
      const connection = yield* Connection.make(link.left, (now) => Session.client(now))
      assert.strictEqual(Controls.of(connection).phase(), "idle")
      yield* Controls.of(connection).request((now) => Session.Input.Open(now, undefined, 0))
      assert.strictEqual(Controls.of(connection).phase(), "auth")
    }).pipe(Effect.scoped))
})

describe("OpenTimeout with Client.reconnecting: a timed-out open is a failed attempt", () => {
  it.effect("Connecting → Dead(OpenTimeout) at the timeout → Connecting again on the schedule, every attempt", () =>
    Effect.gen(function*() {
      const dial = Effect.map(daemon, (d) => d.link.left)
      const kept = yield* Client.reconnecting(dial, { openTimeout: "200 millis" }, Schedule.spaced("1 second"))
      const seen: Array<string> = []
      yield* kept.changes.pipe(
        Stream.runForEach((s) =>
          Effect.map(Clock.currentTimeMillis, (at) => {
            const line = s._tag === "Dead"
              ? `${at} Dead(${(s.reason as OpenTimeout.OpenTimeout)._tag} ${(s.reason as OpenTimeout.OpenTimeout).phase}) #${s.attempt}`
              : s._tag === "Connecting"
              ? `${at} Connecting #${s.attempt}`
              : `${at} ${s._tag}`
            if (seen.at(-1) !== line) seen.push(line)
          })
        ),
        Effect.forkScoped
      )
      yield* advance(199)
      assert.deepStrictEqual(seen, ["0 Connecting #1"])
      yield* advance(1)
      assert.deepStrictEqual(seen, ["0 Connecting #1", "200 Dead(OpenTimeout auth-list) #1"])
      yield* advance(999)
      assert.strictEqual(seen.length, 2)
      yield* advance(1)
      yield* advance(200)
      assert.deepStrictEqual(seen, [
        "0 Connecting #1",
        "200 Dead(OpenTimeout auth-list) #1",
        "1200 Connecting #2",
        "1400 Dead(OpenTimeout auth-list) #2"
      ])
    }).pipe(Effect.scoped))
})

describe("A peer that speaks another protocol is named in MalformedFrame", () => {
  const text = (s: string) => new TextEncoder().encode(s)

  it.effect("client side: an SSH server's banner fails the open with the banner quoted", () =>
    Effect.gen(function*() {
      const { link, peer } = yield* daemon
      const fiber = yield* connecting(link.left, {})
      yield* peer.sendBytes(text("SSH-2.0-OpenSSH_9.2p1\r\n"))
      yield* settle
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error._tag, "MalformedFrame")
      if (error._tag !== "MalformedFrame") return
      assert.deepStrictEqual(error.foreign, { protocol: "ssh", what: "an SSH banner", sample: "SSH-2.0-OpenSSH_9.2p1" })
      assert.match(
        error.message,
        /^the peer does not speak libvirt's protocol: it sent an SSH banner 'SSH-2\.0-OpenSSH_9\.2p1' \(frame length word \d+ is too large/
      )
    }))

  const server = Effect.gen(function*() {
    const link = yield* Transport.memoryPair
    const connection = yield* Connection.make(link.left, (now) => Session.server(now, Session.defaultServerOptions))
    const peer = yield* RawPeer.make(link.right)
    return { connection, peer }
  })

  it.effect("server side: an HTTP request, trickled in two chunks, ends the connection naming it", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* server
      yield* peer.sendBytes(text("GE"))
      yield* settle
      yield* peer.sendBytes(text("T / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
      const end = yield* Effect.flip(connection.closed)
      assert.strictEqual(end._tag, "MalformedFrame")
      if (end._tag !== "MalformedFrame") return
      assert.strictEqual(end.foreign?.what, "an HTTP request")
      assert.include(end.message, "it sent an HTTP request 'GET / HTTP/1.1'")
    }))

  it.effect("a stream that began as libvirt's is never called another protocol, whatever breaks it later", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* server
      yield* peer.sendBytes(Frame.PING_BYTES)
      yield* settle
      yield* peer.sendBytes(text("HTTP/1.1 200 OK\r\n"))
      const end = yield* Effect.flip(connection.closed)
      assert.strictEqual(end._tag, "MalformedFrame")
      if (end._tag !== "MalformedFrame") return
      assert.isUndefined(end.foreign)
      assert.match(end.message, /^malformed frame from the peer: frame length word/)
    }))
})
