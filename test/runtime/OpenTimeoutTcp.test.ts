import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Layer, Schedule, Stream } from "effect"
import { NodeServices } from "@effect/platform-node"
import * as Client from "../../src/runtime/Client.ts"
import * as Dial from "../../src/runtime/Dial.ts"
import * as OpenTimeout from "../../src/runtime/OpenTimeout.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Listeners from "../helpers/Listeners.ts"

/** The error `open` failed with, and how long (real ms) it took to fail. */
const failure = <E, R>(open: Effect.Effect<unknown, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const error = yield* Effect.flip(open)
    return { error, elapsed: (yield* Clock.currentTimeMillis) - start }
  })

/** Fails with an OpenTimeout in `phase`, and not before the 200 ms timeout (timers may round down by 1 ms). */
const assertTimedOut = (result: { readonly error: unknown; readonly elapsed: number }, phase: OpenTimeout.OpenPhase) => {
  assert.instanceOf(result.error, OpenTimeout.OpenTimeout)
  assert.deepStrictEqual(result.error, new OpenTimeout.OpenTimeout({ phase, timeout: 200 }))
  assert.isAtLeast(result.elapsed, 199)
}

const options = { name: "test:///default", openTimeout: "200 millis" } as const
const services = Effect.provide(NodeServices.layer)

describe("The open timeout over real TCP: a listener that accepts and never writes", () => {
  // each entry point fails at the timeout, and does not hang on the way out (the TLS dial is interrupted mid-handshake)
  it.live("Client.connect fails with OpenTimeout in auth-list", () =>
    Effect.gen(function*() {
      const port = yield* Listeners.silent
      const socket = yield* Transport.tcp({ host: "127.0.0.1", port })
      assertTimedOut(yield* failure(Effect.scoped(Client.connect(socket, options))), "auth-list")
    }).pipe(Effect.scoped))

  it.live("Client.layerTcp fails to build with OpenTimeout in auth-list", () =>
    Effect.gen(function*() {
      const port = yield* Listeners.silent
      assertTimedOut(yield* failure(Effect.scoped(Layer.build(Client.layerTcp({ host: "127.0.0.1", port }, options)))), "auth-list")
    }).pipe(Effect.scoped))

  it.live("Dial.connect fails with OpenTimeout in auth-list (tcp), in tls when the TLS handshake gets no answer", () =>
    Effect.gen(function*() {
      const port = yield* Listeners.silent
      assertTimedOut(yield* failure(Effect.scoped(Dial.connect(`test+tcp://127.0.0.1:${port}/default`, options))), "auth-list")
      const tls = Dial.connect(`test+tls://127.0.0.1:${port}/default?no_verify=1`, { ...options, pki: { home: "/nonexistent", root: false } })
      assertTimedOut(yield* failure(Effect.scoped(tls)), "tls")
    }).pipe(Effect.scoped, services))

  it.live("Client.reconnecting: Dead(OpenTimeout auth-list), then it dials again", () =>
    Effect.gen(function*() {
      const port = yield* Listeners.silent
      const start = yield* Clock.currentTimeMillis
      const kept = yield* Client.reconnecting(Transport.tcp({ host: "127.0.0.1", port }), options, Schedule.spaced("50 millis"))
      const dead = yield* kept.changes.pipe(Stream.filter((s) => s._tag === "Dead"), Stream.runHead)
      assert.isAtLeast((yield* Clock.currentTimeMillis) - start, 199)
      assert.strictEqual(dead._tag, "Some")
      if (dead._tag !== "Some" || dead.value._tag !== "Dead") return
      assert.deepStrictEqual(dead.value.reason, new OpenTimeout.OpenTimeout({ phase: "auth-list", timeout: 200 }))
      const again = yield* kept.changes.pipe(Stream.filter((s) => s._tag === "Connecting" && s.attempt === 2), Stream.runHead)
      assert.strictEqual(again._tag, "Some")
    }).pipe(Effect.scoped))
})

describe("A listener that speaks another protocol gets the not-libvirt error", () => {
  it.live("an SSH server: its banner, quoted", () =>
    Effect.gen(function*() {
      const port = yield* Listeners.sshBanner("SSH-2.0-OpenSSH_9.2p1")
      const error = yield* Effect.flip(Effect.scoped(Dial.connect(`test+tcp://127.0.0.1:${port}/default`, options)))
      assert.strictEqual(error._tag, "MalformedFrame")
      assert.include(error.message, "the peer does not speak libvirt's protocol: it sent an SSH banner 'SSH-2.0-OpenSSH_9.2p1'")
    }).pipe(Effect.scoped, services))

  it.live("an HTTP server: its 400 answer to our AUTH_LIST", () =>
    Effect.gen(function*() {
      const port = yield* Listeners.http
      const error = yield* Effect.flip(Effect.scoped(Dial.connect(`test+tcp://127.0.0.1:${port}/default`, options)))
      assert.strictEqual(error._tag, "MalformedFrame")
      assert.include(error.message, "the peer does not speak libvirt's protocol: it sent an HTTP response 'HTTP/1.1 400 Bad Request'")
    }).pipe(Effect.scoped, services))
})
