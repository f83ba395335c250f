/**
 * Connects to a libvirt daemon and shows the keepalive exchange live.
 *
 *   node examples/libvirtd-client.ts test+tcp://127.0.0.1:16509/default [interval-ms] [count]
 *
 * It opens the connection the way libvirt's own client does (AUTH_LIST, SUPPORTS_FEATURE(KEEPALIVE),
 * CONNECT_OPEN), calls setKeepAlive(interval, count) (default 1000 ms, 3), prints every frame in both directions
 * as numbered arrows, and says clearly when the daemon stops answering (try `kill -STOP <pid of libvirtd>`).
 * Ctrl-C closes the connection with CONNECT_CLOSE.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Clock, Effect, References } from "effect"
import * as Client from "../src/runtime/Client.ts"
import * as Trace from "../src/trace/Trace.ts"
import * as Transport from "../src/runtime/Transport.ts"

const [uri, interval = "1000", count = "3"] = process.argv.slice(2)

/** `driver+tcp://host:port/path` → the TCP address and the name libvirt's client sends in CONNECT_OPEN. */
const parse = (text: string) => {
  const url = new URL(text)
  const [driver, transport] = url.protocol.replace(/:$/, "").split("+")
  if (transport !== "tcp") throw new Error(`only tcp URIs are supported here, not ${url.protocol}`)
  return { host: url.hostname, port: Number(url.port || "16509"), name: `${driver}://${url.pathname}` }
}

const program = Effect.gen(function*() {
  if (uri === undefined) return yield* Effect.fail(new Error("usage: node examples/libvirtd-client.ts test+tcp://host:port/default [interval-ms] [count]"))
  const target = yield* Effect.try(() => parse(uri))
  const start = Number(yield* Clock.monotonicTimeNanos) / 1e6
  let arrows = 0
  const socket = yield* Transport.tcp({ host: target.host, port: target.port })
  const client = yield* Client.connect(socket, {
    name: target.name,
    trace: (event) => {
      if (Trace.drawsArrow(event, { received: true })) arrows++
      const line = Trace.arrowLine(arrows, { ...event, at: event.at - start }, { received: true })
      if (line !== undefined) console.log(line)
    }
  })
  const outcome = yield* client.setKeepAlive(Number(interval), Number(count))
  console.log(`setKeepAlive(${interval} ms, ${count}): ${outcome}; the daemon ${client.serverKeepalive ? "supports" : "does not support"} keepalive`)
  const end = yield* Effect.result(client.closed)
  if (end._tag === "Success") console.log("connection closed")
  else if (end.failure._tag === "KeepaliveTimeout") console.log(`the daemon stopped answering: ${end.failure.message}`)
  else console.log(`connection ended: ${end.failure.message}`)
}).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error"))

NodeRuntime.runMain(program)
