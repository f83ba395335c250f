import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Connection from "../../src/runtime/Connection.ts"
import * as Session from "../../src/session/Session.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import type * as Trace from "../../src/trace/Trace.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as RawPeer from "../helpers/RawPeer.ts"
import { advance } from "../helpers/VirtualTime.ts"

/** Two server connections of one process, each against a raw client, with one trace of what each sent, in order. */
const twoConnections = Effect.gen(function*() {
  const sent: Array<string> = []
  const traced = (name: string) => (e: Trace.TraceEvent) => {
    if (e.kind === "transmit" && Frame.keepaliveKind(e.frame.header) === "pong") sent.push(name)
  }
  const peers: Array<RawPeer.RawPeer> = []
  for (const name of ["flooder", "good"]) {
    const link = yield* Transport.memoryPair
    yield* Connection.make(link.left, (now) => Session.server(now, { interval: 0, count: 0, policy: "if-supported" }), { trace: traced(name) })
    const peer = yield* RawPeer.make(link.right)
    yield* RawPeer.handshake(peer, { advertise: true })
    peers.push(peer)
  }
  return { sent, flooder: peers[0]!, good: peers[1]! }
})

const pings = (n: number) => {
  const bytes = new Uint8Array(n * Frame.PING_BYTES.length)
  for (let i = 0; i < n; i++) bytes.set(Frame.PING_BYTES, i * Frame.PING_BYTES.length)
  return bytes
}

describe("one connection's burst does not hold up the others", () => {
  it.effect("a peer that sends 1000 PINGs in one write: a PING from another peer is answered within the first turns, and every PING is answered", () =>
    Effect.gen(function*() {
      const { sent, flooder, good } = yield* twoConnections
      sent.length = 0
      yield* flooder.sendBytes(pings(1000))
      yield* good.send(Frame.PING)
      yield* advance(1)
      const first = sent.indexOf("good")
      assert.isAtLeast(first, 0, "the good peer's PING was answered")
      // the flooder's read is stepped 128 frames a turn: the good peer is served after the first turn, not the 1000th PONG
      assert.isAtMost(first, 256)
      assert.strictEqual(sent.filter((s) => s === "flooder").length, 1000)
      const arrivals = (yield* flooder.arrivals).filter((a) => a.what === "keepalive PONG")
      assert.lengthOf(arrivals, 1000)
    }).pipe(Effect.scoped))

  it.effect("no false death and no missed death: a burst read just before the deadline counts at once, though stepped over several turns", () =>
    Effect.gen(function*() {
      const link = yield* Transport.memoryPair
      const connection = yield* Connection.make(link.left, (now) => Session.server(now, { interval: 1000, count: 1, policy: "if-supported" }))
      const peer = yield* RawPeer.make(link.right)
      yield* RawPeer.handshake(peer, { advertise: true })
      // silent until 10 ms before its death at (C+1)·I = 2000, then 1000 PINGs in one write
      yield* advance(1990)
      yield* peer.sendBytes(pings(1000))
      yield* advance(510)
      assert.isTrue((yield* connection.status).alive, "the burst is life, counted when read")
      // silent again: declared dead (C+1)·I after the burst, not later
      yield* advance(1489)
      assert.isTrue((yield* connection.status).alive)
      yield* advance(1)
      assert.deepStrictEqual(yield* Effect.exit(connection.closed), Exit.fail(new Connection.KeepaliveTimeout({ silence: 2000, pingsSent: 1 })))
    }).pipe(Effect.scoped))
})
