import { assert, describe, it } from "@effect/vitest"
import { NodeServices } from "@effect/platform-node"
import { Deferred, Effect } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import type * as Connection from "../../src/runtime/Connection.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Testing from "../../src/testing/Testing.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Proxy from "../../src/tools/Proxy.ts"

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
})
