import { assert, describe, it } from "@effect/vitest"
import { NodeServices } from "@effect/platform-node"
import { Context, Effect, Fiber, Layer, Result, Schedule, Stream, SubscriptionRef } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import * as Dial from "../../src/runtime/Dial.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Listeners from "../helpers/Listeners.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import type { Scope } from "effect"
import { freePort } from "../helpers/Ports.ts"
import { advance } from "../helpers/VirtualTime.ts"
import * as Testing from "../../src/testing/Testing.ts"

/** A dial over an in-memory link to a fresh server while `up`; `"down"` otherwise. `kill` ends the live server. */
const world = () =>
  Effect.gen(function*() {
    let up = true
    let server: Fiber.Fiber<void> | undefined
    const dial = Effect.suspend(() => {
      if (!up) return Effect.fail("down" as const)
      return Effect.gen(function*() {
        const link = yield* Transport.memoryPair
        server = yield* Effect.forkDetach(Effect.scoped(Server.handleSocket(link.right, { keepalive: { interval: 1000, count: 1, policy: "if-supported" } })))
        return link.left
      })
    })
    return {
      dial,
      setUp: (value: boolean) => Effect.sync(() => void (up = value)),
      kill: Effect.suspend(() => (server === undefined ? Effect.void : Fiber.interrupt(server)))
    }
  })

/** Every state the client goes through, as text; `Dead` with its reason's tag (typed: no cast). */
const record = <E>(kept: Client.Reconnecting<E>): Effect.Effect<Array<string>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const seen: Array<string> = []
    const show = (s: Client.State<E>) => s._tag === "Dead" ? `Dead(${tagOf(s.reason)})` : s._tag === "Connecting" ? `Connecting(${s.attempt})` : s._tag
    yield* kept.changes.pipe(Stream.runForEach((s) => Effect.sync(() => void seen.push(show(s)))), Effect.forkScoped)
    yield* advance(0)
    return seen
  })

const tagOf = (reason: unknown) => (typeof reason === "string" ? reason : (reason as { readonly _tag: string })._tag)

describe("Client.reconnecting keeps its promises", () => {
  it.effect("the schedule starts over after every connection that opened: recurs(2) survives any number of outages", () =>
    Effect.gen(function*() {
      const w = yield* world()
      const kept = yield* Client.reconnecting(w.dial, { name: "test:///default" }, Schedule.recurs(2).pipe(Schedule.addDelay(() => Effect.succeed("1 second"))))
      yield* kept.client
      // five outages, each with one failed dial before the server is back: ten dials in all, two per outage
      for (let outage = 0; outage < 5; outage++) {
        yield* w.setUp(false)
        yield* w.kill
        yield* advance(1000)
        assert.strictEqual((yield* SubscriptionRef.get(kept.state))._tag, "Dead", `outage ${outage + 1}`)
        yield* w.setUp(true)
        yield* advance(1000)
        assert.strictEqual((yield* SubscriptionRef.get(kept.state))._tag, "Open", `outage ${outage + 1}`)
      }
    }).pipe(Effect.scoped))

  it.effect("each state once, in order; Dead's reason is typed; past the schedule: Closed, and client fails with GaveUp", () =>
    Effect.gen(function*() {
      const w = yield* world()
      const kept = yield* Client.reconnecting(w.dial, { name: "test:///default" }, Schedule.recurs(1).pipe(Schedule.addDelay(() => Effect.succeed("1 second"))))
      const seen = yield* record(kept)
      yield* kept.client
      yield* w.setUp(false)
      yield* w.kill
      yield* advance(1000)
      yield* advance(1000)
      // recurs(1): one more dial after the connection that had opened, then done
      assert.deepStrictEqual(seen, ["Connecting(1)", "Open", "Dead(PeerClosed)", "Connecting(1)", "Dead(down)", "Closed"])
      const state = yield* SubscriptionRef.get(kept.state)
      assert.strictEqual(state._tag === "Closed" ? state.reason : undefined, "down")
      const error = yield* Effect.flip(kept.client)
      assert.strictEqual(error._tag, "GaveUp")
      assert.strictEqual(error.reason, "down")
      assert.include(error.message, "gave up")
    }).pipe(Effect.scoped))

  it.effect("a Dead reason is matched by tag with no cast", () =>
    Effect.gen(function*() {
      const kept = yield* Client.reconnecting(Effect.fail({ _tag: "Nope" as const }), {}, Schedule.recurs(0))
      const error = yield* Effect.flip(kept.client)
      const reason = error.reason
      // typed: the dial's own error or the open's, never unknown
      assert.strictEqual(reason?._tag, "Nope")
    }).pipe(Effect.scoped))
})

const services = Effect.provide(NodeServices.layer)

describe("Reconnecting by URI: the name from the URI, the open timeout, the same errors as Dial.connect", () => {
  it.live("opens with the URI's connection name; Client.layerUri too", () =>
    Effect.gen(function*() {
      const names: Array<string | undefined> = []
      // the server's view of every CONNECT_OPEN: the connection name it carried
      const { port } = yield* Server.listen({ host: "127.0.0.1", port: 0 }, {
        trace: (e) => {
          if (e.kind === "receive" && e.frame.header.proc === Remote.RemoteProc.ConnectOpen) {
            names.push(Result.getOrThrow(Remote.decodeConnectOpenArgs(e.frame.payload)).name)
          }
        }
      })
      const kept = yield* Client.reconnecting(
        `test+tcp://127.0.0.1:${port}/default`,
        { keepalive: { interval: "1 second", count: 3 } },
        Schedule.spaced("50 millis")
      )
      const client = yield* kept.client
      assert.isTrue((yield* client.status).alive)
      const built = yield* Layer.build(Client.layerUri(`test+tcp://127.0.0.1:${port}/default`))
      assert.isTrue((yield* Context.get(built, Client.KeepaliveClient).status).alive)
      assert.deepStrictEqual(names, ["test:///default", "test:///default"])
    }).pipe(Effect.scoped, services))

  it.live("a refused connect is ConnectFailed, naming the address and ECONNREFUSED, from every entry point", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const where = `127.0.0.1:${port}`
      const uri = `test+tcp://${where}/default`
      const viaSocket = yield* Effect.flip(Effect.scoped(Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port }))))
      const viaDial = yield* Effect.flip(Effect.scoped(Client.connectWith(Transport.tcp({ host: "127.0.0.1", port }))))
      const viaUri = yield* Effect.flip(Effect.scoped(Dial.connect(uri)))
      const viaLayer = yield* Effect.flip(Effect.scoped(Layer.build(Client.layerTcp({ host: "127.0.0.1", port }))))
      const viaLayerUri = yield* Effect.flip(Effect.scoped(Layer.build(Client.layerUri(uri))))
      const kept = yield* Client.reconnecting(uri, {}, Schedule.recurs(0))
      const viaReconnecting = (yield* Effect.flip(kept.client)).reason
      const keptSocket = yield* Client.reconnecting(Transport.tcp({ host: "127.0.0.1", port }), {}, Schedule.recurs(0))
      const viaReconnectingSocket = (yield* Effect.flip(keptSocket.client)).reason as { readonly _tag: string; readonly message: string } | undefined
      for (const error of [viaSocket, viaDial, viaUri, viaLayer, viaLayerUri, viaReconnecting, viaReconnectingSocket]) {
        assert.strictEqual(error?._tag, "ConnectFailed")
        assert.strictEqual(error?.message, `cannot connect to ${where}: ECONNREFUSED (connect ECONNREFUSED ${where})`)
      }
    }).pipe(Effect.scoped, services))

  it.live("the open timeout bounds each attempt: Dead(OpenTimeout auth-list), then it dials again", () =>
    Effect.gen(function*() {
      const port = yield* Listeners.silent
      const kept = yield* Client.reconnecting(`test+tcp://127.0.0.1:${port}/default`, { openTimeout: "100 millis" }, Schedule.spaced("10 millis"))
      const dead = yield* kept.changes.pipe(Stream.filter((s) => s._tag === "Dead"), Stream.runHead)
      assert.strictEqual(dead._tag === "Some" && dead.value._tag === "Dead" ? dead.value.reason._tag : undefined, "OpenTimeout")
      const again = yield* kept.changes.pipe(Stream.filter((s) => s._tag === "Connecting" && s.attempt === 2), Stream.runHead)
      assert.strictEqual(again._tag, "Some")
    }).pipe(Effect.scoped, services))
})

describe("Invalid durations are typed errors", () => {
  it.effect("closeTimeout: NaN fails connectWith and the layers with InvalidOption naming it, before dialling", () =>
    Effect.gen(function*() {
      let dialled = false
      const dial = Effect.sync(() => void (dialled = true)).pipe(Effect.andThen(Transport.memoryPair), Effect.map((l) => l.left))
      const error = yield* Effect.flip(Effect.scoped(Client.connectWith(dial, { closeTimeout: Number.NaN })))
      assert.strictEqual(error._tag, "InvalidOption")
      if (error._tag === "InvalidOption") assert.strictEqual(error.option, "closeTimeout")
      assert.isFalse(dialled)
      const layered = yield* Effect.flip(Effect.scoped(Layer.build(Client.layerTcp({ host: "127.0.0.1", port: 1 }, { openTimeout: "soon" as never }))))
      assert.strictEqual(layered._tag, "InvalidOption")
    }))
})

describe("Ending a test with a frozen connection", () => {
  it.effect("a client frozen when the test's scope closes is released at once, in virtual time", () =>
    Effect.gen(function*() {
      const link = yield* Transport.memoryPair
      yield* Effect.forkScoped(Effect.scoped(Server.handleSocket(link.right, { keepalive: { interval: 1000, count: 5, policy: "if-supported" } })))
      const client = yield* Client.connect(link.left, { name: "test:///default" })
      yield* Testing.freeze(client)
    }).pipe(Effect.scoped))
})
