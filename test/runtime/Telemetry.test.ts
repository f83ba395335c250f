import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Metric, References, Tracer } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import * as Observability from "../../src/runtime/Observability.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Testing from "../../src/testing/Testing.ts"
import { freePort } from "../helpers/Ports.ts"

/** A tracer that keeps every span it starts. */
const recording = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { spans, tracer }
}

const pair = (serverKeepalive: Server.KeepaliveOptions) =>
  Effect.gen(function*() {
    const link = yield* Transport.memoryPair
    const server: Array<Parameters<NonNullable<Server.ServeOptions["onConnection"]>>[0]> = []
    yield* Effect.forkScoped(
      Effect.scoped(Server.handleSocket(link.right, { keepalive: serverKeepalive, onConnection: (c) => Effect.sync(() => void server.push(c)) }))
    )
    const client = yield* Client.connect(link.left, { name: "test:///default", keepalive: { interval: "1 second", count: 2 } })
    return { client, server }
  })

/** The keepalive death of a client, with the library's log lines kept: `[level, message]`. */
const deathLogs = (levels: Layer.Layer<never>) =>
  Effect.gen(function*() {
    const lines: Array<readonly [string, string]> = []
    const keep = Logger.make(({ logLevel, message }) => void lines.push([logLevel, String(Array.isArray(message) ? message[0] : message)]))
    yield* Effect.gen(function*() {
      const { client, server } = yield* pair({ interval: 0, count: 0, policy: "disabled" })
      yield* Testing.freeze(server[0]!)
      yield* Testing.advance(3500)
      yield* Effect.flip(client.closed)
    }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(Logger.layer([keep]), levels)), Effect.provideService(References.MinimumLogLevel, "All"))
    return lines.filter(([, m]) => m.includes("keepalive timeout"))
  })

describe("The library's own logging, at the level the application chooses", () => {
  it.effect("a keepalive death is logged once, at Warn by default; at the level chosen; not at all with None", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* deathLogs(Layer.empty)).map(([level]) => level), ["Warn"])
      assert.deepStrictEqual((yield* deathLogs(Observability.layerLogLevels({ peerDead: "Info" }))).map(([level]) => level), ["Info"])
      assert.deepStrictEqual(yield* deathLogs(Observability.layerLogLevels({ peerDead: "None" })), [])
    }))
})

describe("Telemetry", () => {
  it.effect("metrics carry the role; the RTT histogram holds our PINGs' round trips; the gauge counts connections not ended", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair({ interval: "2 seconds", count: 2, policy: "if-supported" })
      yield* Testing.advance(4500)
      // the client pings every second; hearing from it every second, the server (2 s) never needs to
      const count = (m: Metric.Metric<number, unknown>) => Effect.map(Metric.value(m as Metric.Counter<number>), (v) => v.count)
      assert.strictEqual(yield* count(Observability.roles.client.pingsSent), 4)
      assert.strictEqual(yield* count(Observability.roles.server.pingsSent), 0)
      assert.strictEqual(yield* count(Observability.roles.server.pingsReceived), 4)
      assert.strictEqual(yield* count(Observability.roles.server.pongsSent), 4)
      assert.strictEqual(yield* Observability.totalCount((m) => m.pongsReceived), 4)
      assert.strictEqual((yield* Metric.value(Observability.roles.client.rtt as Metric.Histogram<number>)).count, 4)
      // a frozen server has not ended: it still counts
      yield* Testing.freeze(server[0]!)
      assert.strictEqual(yield* Observability.liveSessions, 2)
      yield* Testing.advance(3000)
      assert.strictEqual((yield* Effect.flip(client.closed))._tag, "KeepaliveTimeout")
      assert.strictEqual((yield* Metric.value(Observability.roles.client.peersDead as Metric.Counter<number>)).count, 1)
      assert.strictEqual((yield* Metric.value(Observability.roles.client.sessionsLive as Metric.Gauge<number>)).value, 0)
    }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("a span per connection, with the opening and the keepalive death as events", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recording()
      yield* Effect.gen(function*() {
        const { client, server } = yield* pair({ interval: 0, count: 0, policy: "disabled" })
        yield* Testing.freeze(server[0]!)
        yield* Testing.advance(3500)
        yield* Effect.flip(client.closed)
      }).pipe(Effect.scoped, Effect.withTracer(tracer))
      const connections = spans.filter((s) => s.name === "keepalive.connection")
      assert.strictEqual(connections.length, 2)
      const clientSpan = connections.find((s) => s.attributes.get("keepalive.role") === "client")!
      // (the log lines of the connection's fiber are span events too)
      const events = clientSpan.events.map(([name]) => name).filter((name) => name.startsWith("keepalive."))
      assert.deepStrictEqual(events, ["keepalive.open", "keepalive.peer_dead"])
      assert.strictEqual(clientSpan.attributes.get("keepalive.end"), "KeepaliveTimeout")
      const dead = clientSpan.events[1]![2]
      assert.deepStrictEqual(dead, { "keepalive.silence_ms": 3000, "keepalive.pings_unanswered": 2 })
    }))

  it.live("Prometheus: the metrics are scraped over HTTP on loopback, with their role", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      yield* Layer.build(Observability.layerPrometheus({ host: "127.0.0.1", port }))
      const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, { keepalive: { interval: "100 millis", count: 2, policy: "if-supported" } })
      yield* Client.connect(yield* Transport.tcp({ host: "127.0.0.1", port: server.port }), {
        name: "test:///default",
        keepalive: { interval: "100 millis", count: 2 }
      })
      yield* Effect.sleep("350 millis")
      const text = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()))
      assert.match(text, /keepalive_pings_sent(_total)?\{[^}]*role="client"[^}]*\} [1-9]/)
      assert.match(text, /keepalive_pings_sent(_total)?\{[^}]*role="server"[^}]*\} [1-9]/)
      assert.match(text, /keepalive_sessions_live\{[^}]*role="server"[^}]*\} 1/)
      assert.match(text, /keepalive_rtt_ms_bucket\{[^}]*role="client"/)
    }).pipe(Effect.scoped))
})
