import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect } from "effect"
import * as Tasks from "effect/Scheduler"
import * as Socket from "effect/socket/Socket"
import * as Connection from "../../src/runtime/Connection.ts"
import * as Scheduler from "../../src/runtime/Scheduler.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Session from "../../src/session/Session.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as RawPeer from "../helpers/RawPeer.ts"
import { advance } from "../helpers/VirtualTime.ts"

/** A timer that fires once at each of `deadlines`, in order, recording when. */
const recorder = (scheduler: Scheduler.SchedulerShape, name: string, deadlines: Array<number>, log: Array<string>) => {
  const timer = scheduler.register({
    deadline: () => deadlines[0],
    fire: (now) => {
      log.push(`${now} ${name}`)
      deadlines.shift()
    }
  })
  timer.reschedule()
  return timer
}

const fresh = Effect.gen(function*() {
  return Scheduler.make(yield* Clock.Clock, yield* Tasks.Scheduler)
})

describe("Scheduler: one timer for all connections", () => {
  it.effect("fires each deadline at its exact virtual time, in deadline order", () =>
    Effect.gen(function*() {
      const s = yield* fresh
      const log: Array<string> = []
      recorder(s, "a", [300, 900], log)
      recorder(s, "b", [100, 900], log)
      recorder(s, "c", [500], log)
      yield* advance(1000)
      assert.deepStrictEqual(log, ["100 b", "300 a", "500 c", "900 a", "900 b"])
      assert.strictEqual(s.size(), 0)
    }))

  it.effect("a deadline that moves later costs nothing and fires at its new time; one that moves earlier is re-aimed", () =>
    Effect.gen(function*() {
      const s = yield* fresh
      const log: Array<string> = []
      const later = [200]
      const t1 = recorder(s, "later", later, log)
      yield* advance(100)
      later[0] = 700
      t1.reschedule()
      const earlier = [5000]
      const t2 = recorder(s, "earlier", earlier, log)
      earlier[0] = 400
      t2.reschedule()
      yield* advance(1000)
      assert.deepStrictEqual(log, ["400 earlier", "700 later"])
    }))

  it.effect("a cancelled timer never fires, and the alarm stops when nothing is left", () =>
    Effect.gen(function*() {
      const s = yield* fresh
      const log: Array<string> = []
      const t = recorder(s, "x", [500], log)
      recorder(s, "y", [600], log)
      t.cancel()
      t.reschedule()
      yield* advance(1000)
      assert.deepStrictEqual(log, ["600 y"])
      assert.strictEqual(s.size(), 0)
    }))

  it.effect("5000 timers with scattered deadlines: each fires once, at its time, in deadline order", () =>
    Effect.gen(function*() {
      const s = yield* fresh
      const fired: Array<readonly [number, number]> = []
      const wanted: Array<number> = []
      for (let i = 0; i < 5000; i++) {
        const at = 1 + ((i * 7919) % 10_000)
        wanted.push(at)
        let pending = true
        s.register({
          deadline: () => (pending ? at : undefined),
          fire: (now) => {
            pending = false
            fired.push([now, at])
          }
        }).reschedule()
      }
      yield* advance(10_001)
      assert.strictEqual(fired.length, 5000)
      for (const [now, at] of fired) assert.strictEqual(now, at)
      assert.deepStrictEqual(fired.map(([, at]) => at), [...wanted].sort((a, b) => a - b))
    }))
})

/** A socket whose writes never complete (a peer that never reads, every buffer full); destroying it fails its read. */
const stuckSocket = (): Socket.Socket => {
  const destroyed = Deferred.makeUnsafe<never, Socket.SocketError>()
  return Socket.make({
    reader: Effect.succeed({ pull: Deferred.await(destroyed), upgrade: Socket.SocketUpgradeError.unsupported }),
    writer: Effect.succeed<Socket.Writer>({
      write: (chunk) =>
        Socket.isCloseEvent(chunk)
          ? Deferred.fail(destroyed, new Socket.SocketError({ reason: new Socket.SocketCloseError({ code: 1000 }) })).pipe(Effect.asVoid)
          : Effect.never,
      writeAll: () => Effect.never
    })
  })
}

describe("Scheduler: never waits on a socket", () => {
  it.effect("a connection whose writes never complete does not delay another connection's PINGs or death", () =>
    Effect.gen(function*() {
      const stuck = yield* Connection.make(stuckSocket(), (now) => Session.server(now, Session.defaultServerOptions), { handshakeTimeout: 1500 })
      // a write that will never complete is under way on the stuck connection
      yield* Effect.forkScoped(stuck.send(Frame.PONG))
      const link = yield* Transport.memoryPair
      const good = yield* Connection.make(link.left, (now) => Session.server(now, { interval: 1000, count: 2, policy: "if-supported" }))
      const peer = yield* RawPeer.make(link.right)
      yield* RawPeer.handshake(peer, { advertise: true })
      yield* advance(3001)
      const pings = (yield* peer.arrivals).filter((a) => a.what === "keepalive PING").map((a) => a.at)
      assert.deepStrictEqual(pings, [1000, 2000])
      assert.strictEqual((yield* Effect.flip(good.closed))._tag, "KeepaliveTimeout")
      // the stuck one had its own deadline on time, and ended although its write never completed
      assert.deepStrictEqual(yield* Effect.flip(stuck.closed), new Connection.HandshakeTimeout({ timeout: 1500 }))
    }))
})
