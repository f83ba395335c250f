import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Metric, Scope } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import { fiberCounter, timersAndSockets } from "../helpers/Leaks.ts"

// In a file of its own, so that no other test's sockets or timers are around when we count them.

const startServer = (keepalive: NonNullable<Server.ServeOptions["keepalive"]>) =>
  Effect.map(Server.listen({ host: "127.0.0.1", port: 0 }, { keepalive }), (l) => ({ port: l.port }))

const connectClient = (port: number) =>
  Effect.gen(function*() {
    const socket = yield* Transport.tcp({ host: "127.0.0.1", port })
    return yield* Client.connect(socket, { name: "test:///default" })
  })

describe("Runtime lifecycle over real TCP", () => {
  it.live("when the scope closes, no fiber, timer or socket is left", () =>
    Effect.gen(function*() {
      const fibers = fiberCounter()
      const resources = timersAndSockets
      const before = resources()
      const scope = yield* Scope.make()
      const work = Effect.gen(function*() {
        const server = yield* startServer({ interval: 50, count: 2, policy: "if-supported" })
        const client = yield* connectClient(server.port)
        yield* client.setKeepAlive(30, 2)
        yield* Effect.sleep("300 millis")
        // one fiber per connection (the server's and the client's) and the server's accept loop
        assert.strictEqual(fibers.active(), 3)
      }).pipe(Scope.provide(scope), Effect.provideService(Metric.FiberRuntimeMetrics, fibers.service))
      yield* work
      const during = resources()
      yield* Scope.close(scope, Exit.void)
      yield* Effect.sleep("50 millis")
      assert.isAbove(during, before)
      assert.strictEqual(fibers.active(), 0)
      assert.strictEqual(resources(), before)
    }))
})
