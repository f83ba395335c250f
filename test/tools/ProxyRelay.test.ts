import { assert, describe, it } from "@effect/vitest"
import { NodeServices } from "@effect/platform-node"
import { Deferred, Effect, Exit } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import type * as Connection from "../../src/runtime/Connection.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Testing from "../../src/testing/Testing.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Proxy from "../../src/tools/Proxy.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"

// Our server as the daemon behind the proxy, on loopback with the real clock: short intervals, bounded runs.
describe("The proxy passes the daemon's death on to the client", () => {
  it.live("a daemon that stops answering the proxy's PINGs: the client's PeerClosed says Keepalive", () =>
    Effect.gen(function*() {
      const daemonSide = yield* Deferred.make<Connection.Connection>()
      const daemon = yield* Server.listen({ host: "127.0.0.1", port: 0 }, {
        keepalive: { interval: 60_000, count: 5, policy: "if-supported" },
        onConnection: (c) => Deferred.succeed(daemonSide, c).pipe(Effect.asVoid)
      })
      const proxy = yield* Proxy.listen({ host: "127.0.0.1", port: 0 }, {
        upstream: `test+tcp://127.0.0.1:${daemon.port}/default`,
        keepalive: { interval: 60_000, count: 5, policy: "if-supported" },
        upstreamKeepalive: { interval: 100, count: 1 }
      })
      const client = yield* Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port: proxy.port }), { name: "test:///default" })
      yield* Testing.freeze(yield* Deferred.await(daemonSide))
      const end = yield* Effect.flip(client.closed)
      assert.strictEqual(end._tag, "PeerClosed")
      assert.strictEqual(end._tag === "PeerClosed" ? end.closeReason : undefined, "Keepalive")
      assert.include(end.message, "keepalive timeout")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer), Effect.timeout("10 seconds")))

  it.live("the proxy's CONNECT_CLOSE on the daemon leg never takes the serial of a call it relayed there", () =>
    Effect.gen(function*() {
      const calls: Array<readonly [number, number]> = []
      const closed = yield* Deferred.make<void>()
      const daemon = yield* Server.listen({ host: "127.0.0.1", port: 0 }, {
        trace: (e) => {
          if (e.kind !== "receive" || e.frame.header.type !== Frame.MessageType.Call) return
          calls.push([e.frame.header.proc, e.frame.header.serial])
          if (e.frame.header.proc === Remote.RemoteProc.ConnectClose) Deferred.doneUnsafe(closed, Exit.void)
        }
      })
      const proxy = yield* Proxy.listen({ host: "127.0.0.1", port: 0 }, {
        upstream: `test+tcp://127.0.0.1:${daemon.port}/default`,
        keepalive: { interval: 60_000, count: 5, policy: "if-supported" }
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const client = yield* Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port: proxy.port }), { name: "test:///default" })
        // our serial 3, as virsh's SUPPORTS_FEATURE(14) is: relayed as is to the daemon
        yield* client.call(Remote.RemoteProc.ConnectSupportsFeature, Remote.encodeSupportsFeatureArgs({ feature: 14 }))
      }))
      yield* Deferred.await(closed)
      const relayed = calls.filter(([proc]) => proc === Remote.RemoteProc.ConnectSupportsFeature).map(([, serial]) => serial)
      const close = calls.filter(([proc]) => proc === Remote.RemoteProc.ConnectClose).map(([, serial]) => serial)
      assert.include(relayed, 3)
      assert.strictEqual(close.length, 1)
      assert.notInclude(relayed, close[0])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer), Effect.timeout("10 seconds")))
})
