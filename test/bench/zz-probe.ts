import { Effect, Metric } from "effect"
import * as Client from "../../src/Client.ts"
import * as Server from "../../src/Server.ts"
import * as Transport from "../../src/Transport.ts"
import * as Observability from "../../src/Observability.ts"
const N = Number(process.argv[2] ?? 1)
const prog = Effect.gen(function*() {
  const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, { keepalive: { interval: 5000, count: 5, policy: "if-supported" } })
  for (let i = 0; i < N; i++) {
    yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
      const c = yield* Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port: server.port }), { name: "x", closeTimeout: 0 })
      yield* c.setKeepAlive(5000, 5)
      yield* c.closed
    })))
  }
  const c0 = process.cpuUsage()
  for (let k = 0; k < 13; k++) {
    yield* Effect.sleep("1 second")
    const p = yield* Metric.value(Observability.pingsSent)
    const cu = process.cpuUsage(c0)
    console.log(k, "pings", p.count, "cpu ms", (cu.user + cu.system) / 1000)
  }
  console.log("outside", Effect.runSync(Metric.value(Observability.pingsSent)).count)
}).pipe(Effect.scoped)
await Effect.runPromise(prog)
