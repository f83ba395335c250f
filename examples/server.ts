/**
 * A TCP server with a keepalive policy.
 *
 *   node examples/server.ts [port] [--trace]  (default 16509; 0 picks a free port)
 *
 * Keepalive settings come from the environment, with libvirtd.conf's meaning:
 *   KEEPALIVE_INTERVAL=5 KEEPALIVE_COUNT=5 KEEPALIVE_POLICY=if-supported node examples/server.ts 16509
 * and so do the server limits (MAX_CLIENTS, MAX_CLIENT_REQUESTS, HANDSHAKE_TIMEOUT, MAX_FRAME_RATE, …).
 *
 * It prints a line per connection that opens and ends. With --trace, every frame is printed as a numbered arrow
 * too (a flooding peer then floods the terminal: leave it off in production). Stop it with Ctrl-C.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Clock, Effect } from "effect"
import * as Server from "../src/runtime/Server.ts"
import * as ServerConfig from "../src/runtime/ServerConfig.ts"
import * as Trace from "../src/trace/Trace.ts"

const program = Effect.gen(function*() {
  const args = process.argv.slice(2)
  const traced = args.includes("--trace")
  const port = Number(args.find((a) => !a.startsWith("--")) ?? "16509")
  const keepalive = yield* ServerConfig.fromEnv()
  const limits = yield* ServerConfig.limitsFromEnv()
  const start = Number(yield* Clock.monotonicTimeNanos) / 1e6
  let frames = 0
  const print = (event: Trace.TraceEvent) => {
    if (Trace.drawsArrow(event, { received: true })) frames++
    const line = Trace.arrowLine(frames, { ...event, at: event.at - start }, { received: true })
    if (line !== undefined) console.log(line)
  }
  const listening = yield* Server.listen({ host: "127.0.0.1", port }, {
    keepalive,
    ...limits,
    onConnection: (connection) =>
      Effect.gen(function*() {
        console.log("client connected")
        const end = yield* Effect.exit(connection.closed)
        console.log(
          `client connection ended: ${
            end._tag === "Success" ? "closed" : end.cause.reasons.map((r) => r._tag === "Fail" ? r.error.message : r._tag).join("; ")
          }`
        )
      }),
    ...(traced ? { trace: print } : {})
  })
  console.log(`listening on 127.0.0.1:${listening.port}; keepalive ${keepalive.interval} ms × ${keepalive.count}, policy ${keepalive.policy}`)
  return yield* Effect.never
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
