/**
 * Metrics for Prometheus: a server and a client on loopback, keepalive running, and the process's metrics served
 * at http://127.0.0.1:9464/metrics through effect/observability. Stop it with Ctrl-C.
 *
 *   node examples/prometheus.ts [port]
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as Client from "../src/runtime/Client.ts"
import * as Observability from "../src/runtime/Observability.ts"
import * as Server from "../src/runtime/Server.ts"

const port = Number(process.argv[2] ?? "9464")

const program = Effect.gen(function*() {
  yield* Layer.build(Observability.layerPrometheus({ host: "127.0.0.1", port }))
  const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, { keepalive: { interval: "1 second", count: 3, policy: "if-supported" } })
  yield* Layer.build(Client.layerTcp({ host: "127.0.0.1", port: server.port }, { name: "test:///default", keepalive: { interval: "500 millis", count: 3 } }))
  console.log(`metrics at http://127.0.0.1:${port}/metrics (keepalive_pings_sent, keepalive_rtt_ms, … by role)`)
  return yield* Effect.never
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
