/**
 * The demo behind `npm start`: a real server and client on 127.0.0.1, exchanging keepalive traffic over TCP,
 * printed live as the numbered arrows of the 2011 design email. It ends by itself after a few seconds.
 *
 * 1. The client pings the server every 300 ms (flow a); the server answers.
 * 2. The client stops pinging; the server, with policy `if-supported`, pings after 600 ms of silence (flow b).
 * 3. The client freezes (socket open, nothing processed); the server sends its 2 PINGs and declares the client
 *    dead (C+1)·I = 1.8 s after the last frame it received.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Clock, Deferred, Effect, References } from "effect"
import * as Client from "../src/runtime/Client.ts"
import type * as Connection from "../src/runtime/Connection.ts"
import * as Server from "../src/runtime/Server.ts"
import * as Trace from "../src/trace/Trace.ts"
import * as Transport from "../src/runtime/Transport.ts"
import * as Testing from "../src/testing/Testing.ts"

const program = Effect.gen(function*() {
  console.log("\n=== Live, over TCP on 127.0.0.1 (real sockets, real clock)")
  const start = Number(yield* Clock.monotonicTimeNanos) / 1e6
  let frames = 0
  const print = (event: Trace.TraceEvent) => {
    if (event.kind === "transmit") frames++
    const line = Trace.arrowLine(frames, { ...event, at: event.at - start })
    if (line !== undefined) console.log(line)
  }
  const say = (text: string) =>
    Effect.flatMap(Clock.monotonicTimeNanos, (ns) => Effect.sync(() => console.log(`\n${Trace.formatTime(Number(ns) / 1e6 - start)}  ── ${text}`)))

  const accepted = yield* Deferred.make<Connection.Connection>()
  const server = yield* Server.listen(
    { host: "127.0.0.1", port: 0 },
    {
      keepalive: { interval: 600, count: 2, policy: "if-supported" },
      trace: print,
      onConnection: (c) => Deferred.succeed(accepted, c).pipe(Effect.asVoid)
    }
  )
  yield* say(`server listening on 127.0.0.1:${server.port} (keepalive 600 ms × 2, policy if-supported)`)
  const socket = yield* Transport.tcp({ host: "127.0.0.1", port: server.port })
  const client = yield* Client.connect(socket, { name: "test:///default", trace: print })
  const serverSide = yield* Deferred.await(accepted)

  yield* say("client: setKeepAlive(300 ms, 3) — flow a, client -> server pings")
  yield* client.setKeepAlive(300, 3)
  yield* Effect.sleep("1 second")

  yield* say("client: setKeepAlive(0, 0) — the client stops pinging; flow b, server -> client pings")
  yield* client.setKeepAlive(0, 0)
  yield* Effect.sleep("1400 millis")

  yield* say("client: frozen — its socket stays open, but it reads and answers nothing")
  yield* Testing.freeze(client)
  const end = yield* Effect.flip(serverSide.closed)
  yield* say(`server: ${end.message}`)
  const status = yield* client.status
  yield* say(`done (the client still believes it is alive: ${status.alive}; it is frozen)`)
}).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error"))

NodeRuntime.runMain(program)
