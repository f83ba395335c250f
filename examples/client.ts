/**
 * A client that opens a libvirt connection and keeps it alive with setKeepAlive.
 *
 *   node examples/client.ts <port> [interval-ms] [count] [seconds]
 *
 * It prints the keepalive status every second and says clearly how the connection ended (for instance that the
 * server stopped answering). Try it against `examples/server.ts`, then stop the server with `kill -STOP`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Duration, Effect, Schedule } from "effect"
import * as Client from "../src/runtime/Client.ts"
import * as Transport from "../src/runtime/Transport.ts"

const [port = "16509", interval = "1000", count = "3", seconds = "30"] = process.argv.slice(2)

const program = Effect.gen(function*() {
  const socket = yield* Transport.tcp({ host: "127.0.0.1", port: Number(port) })
  const client = yield* Client.connect(socket, { name: "test:///default" })
  console.log(`connected; the server ${client.serverKeepalive ? "supports" : "does not support"} keepalive`)
  const outcome = yield* client.setKeepAlive(Number(interval), Number(count))
  console.log(`setKeepAlive(${interval} ms, ${count}): ${outcome}`)
  yield* client.status.pipe(
    Effect.tap((s) =>
      Effect.sync(() => console.log(`alive=${s.alive} pingsOutstanding=${s.pingsOutstanding} rtt=${s.rtt === undefined ? "-" : Duration.format(s.rtt)}`))
    ),
    Effect.repeat(Schedule.spaced("1 second")),
    Effect.forkScoped
  )
  const end = yield* client.closed.pipe(Effect.timeoutOption(`${Number(seconds)} seconds`), Effect.result)
  if (end._tag === "Failure") console.log(`connection ended: ${end.failure.message}`)
  else console.log(end.success._tag === "None" ? `still alive after ${seconds} s; closing` : "connection closed")
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
