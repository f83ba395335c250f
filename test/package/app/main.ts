// An application of effect-keepalive, as a user writes it: a server layer configured from a libvirtd.conf file
// (or the environment), a client kept up by a Schedule, Durations everywhere, and the typed ends matched by tag.
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { ConfigProvider, Duration, Effect, Layer, Schedule, Stream } from "effect"
import { Client, LibvirtConf, Server } from "effect-keepalive"

// The server: keepalive settings and limits from libvirtd.conf's keys (keepalive_interval, max_clients, …),
// on the SocketServer in context (a busy port fails with ListenFailed, naming the address and EADDRINUSE).
const ServerLive = Server.layerConfig({
  onConnection: (connection, peer) =>
    connection.closed.pipe(
      Effect.catchTags({
        KeepaliveTimeout: (e) => Effect.logWarning(`${peer} died: ${e.pingsSent} PINGs unanswered`),
        FrameFlood: (e) => Effect.logWarning(`${peer} flooded us: ${e.message}`)
      }),
      Effect.ignore
    )
}).pipe(
  Layer.provide(Server.layerSocketServer({ host: "127.0.0.1", port: 16509 })),
  Layer.provide(LibvirtConf.layer("/etc/libvirt/libvirtd.conf"))
)

// A client kept up: dial the URI, open test:///default, keepalive 5 s × 5; when the peer dies, wait a second and
// dial again, at most 5 times in a row (the count starts over after every connection that opened).
const watch = Effect.gen(function*() {
  const kept = yield* Client.reconnecting(
    "test+tcp://127.0.0.1:16509/default",
    { keepalive: { interval: "5 seconds", count: 5 }, openTimeout: "2 seconds", closeTimeout: "500 millis" },
    Schedule.max([Schedule.spaced("1 second"), Schedule.recurs(5)])
  )
  yield* kept.changes.pipe(
    Stream.runForEach((state) => Effect.log(state._tag === "Dead" ? `dead: ${state.reason.message}` : state._tag)),
    Effect.forkScoped
  )
  const client = yield* kept.client
  yield* client.setKeepAlive("2 seconds", 3)
  return yield* client.closed.pipe(
    Effect.catchTag("KeepaliveTimeout", (e) => Effect.succeed(`the server went silent for ${Duration.format(e.silenceDuration)}`)),
    Effect.catchTag("Refused", (e) => Effect.succeed(`refused: ${e.message}`))
  )
}).pipe(Effect.catchTag("GaveUp", (e) => Effect.succeed(e.message)))

// The same settings can come from the environment (KEEPALIVE_INTERVAL=5 KEEPALIVE_POLICY=if-supported …).
export const fromEnvironment = ServerLive.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv())))

export const main = watch.pipe(Effect.provide(ServerLive), Effect.scoped, Effect.provide(NodeServices.layer))

if (process.argv[1]?.endsWith("main.ts")) NodeRuntime.runMain(main)
