/**
 * A TCP server with a keepalive policy.
 *
 *   node examples/server.ts [port]            (default 16509; 0 picks a free port)
 *
 * Keepalive settings come from the environment, with libvirtd.conf's meaning:
 *   KEEPALIVE_INTERVAL=5 KEEPALIVE_COUNT=5 KEEPALIVE_POLICY=if-supported node examples/server.ts 16509
 *
 * Every connection's traffic is printed as numbered arrows. Stop it with Ctrl-C.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Clock, Effect } from "effect"
import * as Server from "../src/runtime/Server.ts"
import * as ServerConfig from "../src/runtime/ServerConfig.ts"
import * as Trace from "../src/tools/Trace.ts"

const program = Effect.gen(function*() {
  const port = Number(process.argv[2] ?? "16509")
  const keepalive = yield* ServerConfig.fromEnv()
  const start = Number(yield* Clock.monotonicTimeNanos) / 1e6
  let frames = 0
  const listening = yield* Server.listen({ host: "127.0.0.1", port }, {
    keepalive,
    trace: (event) =>
      Effect.sync(() => {
        if (Trace.drawsArrow(event, { received: true })) frames++
        const line = Trace.arrowLine(frames, { ...event, at: event.at - start }, { received: true })
        if (line !== undefined) console.log(line)
      })
  })
  console.log(`listening on 127.0.0.1:${listening.port}; keepalive ${keepalive.interval} ms × ${keepalive.count}, policy ${keepalive.policy}`)
  return yield* Effect.never
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
