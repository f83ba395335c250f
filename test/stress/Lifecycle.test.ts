import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import * as Observability from "../../src/runtime/Observability.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import { fiberCounter, heapAfterGc, timersAndSockets } from "../helpers/Leaks.ts"

const resources = timersAndSockets

describe("lifecycle, long", () => {
  it.live("10 000 TCP connect/disconnect cycles: no growth in heap, live fibers, sessions or timers beyond noise", () =>
    Effect.gen(function*() {
      const fibers = fiberCounter()
      const registry = new Map()
      const run = Effect.gen(function*() {
        const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, { keepalive: { interval: 1000, count: 2, policy: "if-supported" } })
        const cycle = Effect.gen(function*() {
          const client = yield* Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port: server.port }), { name: "test:///default" })
          yield* client.setKeepAlive(500, 2)
          yield* client.close
        }).pipe(Effect.scoped)
        for (let i = 0; i < 500; i++) yield* cycle
        yield* Effect.sleep("200 millis")
        const fibers0 = fibers.active()
        const heap0 = heapAfterGc()
        const resources0 = resources()
        for (let i = 0; i < 10_000; i++) yield* cycle
        yield* Effect.sleep("500 millis")
        const heap1 = heapAfterGc()
        console.log(
          `10 000 TCP cycles: heap ${(heap0 / 1048576).toFixed(1)} -> ${
            (heap1 / 1048576).toFixed(1)
          } MiB, live fibers ${fibers0} -> ${fibers.active()}, timers and sockets ${resources0} -> ${resources()}, live sessions ${(yield* Observability
            .liveSessions)}`
        )
        assert.strictEqual(fibers.active(), fibers0)
        assert.strictEqual(yield* Observability.liveSessions, 0)
        assert.isAtMost(resources(), resources0 + 2)
        assert.isBelow(heap1 - heap0, 8 * 1024 * 1024)
      }).pipe(Effect.scoped, Effect.provideService(Metric.FiberRuntimeMetrics, fibers.service), Effect.provideService(Metric.MetricRegistry, registry))
      yield* run
    }))
})
