import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Schedule, Stream } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import * as Connection from "../../src/runtime/Connection.ts"
import * as OpenTimeout from "../../src/runtime/OpenTimeout.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import type * as Trace from "../../src/trace/Trace.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Libvirt from "./Libvirt.ts"
import * as Testing from "../../src/testing/Testing.ts"

beforeAll(() => Libvirt.requirePackages())

const nowMs = Effect.map(Clock.monotonicTimeNanos, (ns) => Number(ns) / 1e6)

/** Our client, connected to a real libvirtd (keepalive_interval 1, keepalive_count 2), with its traffic recorded. */
const connected = Effect.gen(function*() {
  const daemon = yield* Libvirt.startLibvirtd({ interval: 1, count: 2 })
  const traffic: Array<Trace.TraceEvent> = []
  const socket = yield* Transport.tcp({ host: "127.0.0.1", port: daemon.port })
  const client = yield* Client.connect(socket, { name: "test:///default", trace: (e) => void traffic.push(e) })
  const count = (kind: "transmit" | "receive", proc: number) =>
    traffic.filter((e) => e.kind === kind && Frame.isKeepalive(e.frame.header) && e.frame.header.proc === proc).length
  const lastTransmit = () => traffic.filter((e) => e.kind === "transmit").at(-1)?.at ?? Number.NaN
  return { daemon, client, traffic, count, lastTransmit }
})

describe("our client against a real libvirtd 9.0", () => {
  it.live("completes the handshake: AUTH_LIST, SUPPORTS_FEATURE(KEEPALIVE), CONNECT_OPEN; calls work; errors are typed", () =>
    Effect.gen(function*() {
      const { client } = yield* connected
      assert.isTrue(client.serverKeepalive)
      const hostname = yield* client.call(Remote.RemoteProc.ConnectGetHostname)
      assert.isAbove(hostname.payload.length, 4)
      const error = yield* Effect.flip(client.call(9999))
      assert.strictEqual(error._tag, "RemoteCallError")
      if (error._tag === "RemoteCallError") {
        assert.strictEqual(error.code, Remote.ErrorCode.Rpc)
        assert.include(error.text, "unknown procedure")
      }
      assert.isUndefined(yield* client.close)
    }).pipe(Effect.scoped))

  it.live("answers the daemon's PINGs and stays connected through 10 s idle", () =>
    Effect.gen(function*() {
      const { client, count } = yield* connected
      yield* Effect.sleep("10500 millis")
      assert.isTrue((yield* client.status).alive)
      assert.isAtLeast(count("receive", Frame.KeepaliveProc.Ping), 9)
      assert.strictEqual(count("transmit", Frame.KeepaliveProc.Pong), count("receive", Frame.KeepaliveProc.Ping))
    }).pipe(Effect.scoped), 30_000)

  it.live("sends its own PINGs and receives libvirtd's PONGs", () =>
    Effect.gen(function*() {
      const { client, count } = yield* connected
      assert.strictEqual(yield* client.setKeepAlive(300, 2), "started")
      yield* Effect.sleep("2 seconds")
      assert.isAtLeast(count("transmit", Frame.KeepaliveProc.Ping), 5)
      assert.strictEqual(count("receive", Frame.KeepaliveProc.Pong), count("transmit", Frame.KeepaliveProc.Ping))
      // our 300 ms PINGs keep the daemon's 1 s countdown from ever expiring: it never pings us
      assert.strictEqual(count("receive", Frame.KeepaliveProc.Ping), 0)
      // a round trip of our own PINGs was measured, each PONG back before the next PING was due
      const rtt = (yield* client.status).rtt
      assert.isDefined(rtt)
      assert.isAtLeast(Duration.toMillis(rtt!), 0)
      assert.isBelow(Duration.toMillis(rtt!), 300)
    }).pipe(Effect.scoped))

  // I = 1000, C = 2 are libvirtd's own settings here: the two detection times can be compared directly.
  for (const [I, C] of [[500, 2], [1000, 2]] as const) {
    it.live(`declares a SIGSTOP'd daemon dead after its C PINGs go unanswered (I=${I} ms, C=${C}), between C·I and (C+1)·I after the SIGSTOP, and closes`, () =>
      Effect.gen(function*() {
        const { client, daemon } = yield* connected
        yield* client.setKeepAlive(I, C)
        yield* Effect.sleep("1200 millis")
        yield* daemon.child.signal("SIGSTOP")
        const stoppedAt = performance.now()
        const end = yield* Effect.exit(client.closed)
        const elapsed = performance.now() - stoppedAt
        assert.isTrue(Exit.isFailure(end))
        const error = Exit.isFailure(end) && end.cause.reasons[0]?._tag === "Fail" ? end.cause.reasons[0].error : undefined
        assert.instanceOf(error, Connection.KeepaliveTimeout)
        if (!(error instanceof Connection.KeepaliveTimeout)) return
        assert.strictEqual(error.pingsSent, C)
        Libvirt.assertClosedAfterFault("our client vs a SIGSTOP'd libvirtd", elapsed, I, C)
      }).pipe(Effect.scoped))
  }

  it.live("when our client stops answering, libvirtd closes at its own bound; we report the peer closing", () =>
    Effect.gen(function*() {
      const { client, lastTransmit } = yield* connected
      yield* Effect.sleep("1500 millis")
      yield* Testing.mute(client, true)
      const mutedAt = yield* nowMs
      const end = yield* Effect.exit(client.closed)
      const at = yield* nowMs
      const silence = at - lastTransmit()
      console.log(
        `libvirtd (keepalive_interval=1, keepalive_count=2) vs our muted client: closed the connection ${
          silence.toFixed(0)
        } ms after our last frame (ideal 3000; ${(at - mutedAt).toFixed(0)} ms after the mute)`
      )
      assert.isTrue(Exit.isFailure(end))
      const error = Exit.isFailure(end) && end.cause.reasons[0]?._tag === "Fail" ? end.cause.reasons[0].error : undefined
      assert.instanceOf(error, Connection.PeerClosed)
      // libvirt counts whole seconds of time(NULL): its bound is (C+1)·I give or take a second
      assert.isAtLeast(silence, 2000)
      assert.isAtMost(silence, 4200)
    }).pipe(Effect.scoped), 30_000)

  it.live("a reconnecting client against a SIGSTOP'd libvirtd: Dead(OpenTimeout auth-list) each attempt, open once thawed", () =>
    Effect.gen(function*() {
      const daemon = yield* Libvirt.startLibvirtd({ interval: 5, count: 5 })
      yield* daemon.child.signal("SIGSTOP")
      const dial = Transport.tcp({ host: "127.0.0.1", port: daemon.port })
      const kept = yield* Client.reconnecting(dial, { name: "test:///default", openTimeout: "300 millis" }, Schedule.spaced("100 millis"))
      const deaths = yield* kept.changes.pipe(Stream.filter((s) => s._tag === "Dead"), Stream.take(2), Stream.runCollect)
      for (const dead of deaths) {
        assert.deepStrictEqual(dead._tag === "Dead" ? dead.reason : undefined, new OpenTimeout.OpenTimeout({ phase: "auth-list", timeout: 300 }))
      }
      yield* daemon.child.signal("SIGCONT")
      const client = yield* kept.client
      assert.isTrue(client.serverKeepalive)
    }).pipe(Effect.scoped), 30_000)
})
