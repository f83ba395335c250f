import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Mermaid from "../../src/tools/Mermaid.ts"
import * as Simulation from "../../src/simulation/Simulation.ts"
import * as Trace from "../../src/trace/Trace.ts"

const server = { interval: 2000, count: 2, policy: "if-supported" } as const
const base: Simulation.Scenario = {
  seed: 7,
  duration: 20_000,
  server,
  toServer: { latency: 5, jitter: 4 },
  toClient: { latency: 5, jitter: 4 }
}

const lastReceipt = (trace: ReadonlyArray<Trace.TraceEvent>, side: Trace.Side, before: number) =>
  Math.max(...trace.filter((e) => e.kind === "receive" && e.side === side && e.at <= before).map((e) => e.at))

const deathOf = (end: Simulation.End) => end._tag === "Failed" && end.error._tag === "KeepaliveTimeout" ? end : undefined

describe("Simulation: the production runtime in virtual time", () => {
  it.effect("the same seed gives the same trace; another seed moves the jittered times", () =>
    Effect.gen(function*() {
      const a = yield* Simulation.run(base)
      const b = yield* Simulation.run(base)
      const c = yield* Simulation.run({ ...base, seed: 8 })
      assert.isAbove(a.trace.length, 20)
      assert.strictEqual(Trace.arrows(a.trace), Trace.arrows(b.trace))
      assert.deepStrictEqual(a.trace.map((e) => e.at), b.trace.map((e) => e.at))
      assert.notDeepEqual(a.trace.map((e) => e.at), c.trace.map((e) => e.at))
      assert.deepStrictEqual([a.client._tag, a.server._tag], ["Open", "Open"])
    }))

  it.effect("a frozen client is declared dead (C+1)·I after the server's last receipt", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run({ ...base, faults: [{ at: 5000, kind: "freeze", side: "client" }] })
      const death = deathOf(out.server)
      assert.isDefined(death)
      if (death === undefined) return
      const last = lastReceipt(out.trace, "server", death.at)
      assert.closeTo(death.at - last, 6000, 1)
      assert.deepStrictEqual(out.deaths, { client: 0, server: 1 })
      assert.strictEqual(out.client._tag, "Open") // frozen: it never noticed
    }))

  it.effect("a freeze shorter than the bound is survived", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run({ ...base, faults: [{ at: 5000, kind: "freeze", side: "client", duration: 3000 }] })
      assert.deepStrictEqual([out.client._tag, out.server._tag], ["Open", "Open"])
      assert.include(Trace.arrows(out.trace), "C: thawed")
    }))

  it.effect("a two-way partition shorter than (C+1)·I is survived: the held traffic arrives when it heals", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run({ ...base, faults: [{ at: 4100, kind: "partition", direction: "both", duration: 5000 }] })
      assert.deepStrictEqual([out.client._tag, out.server._tag], ["Open", "Open"])
    }))

  it.effect("a two-way partition longer than (C+1)·I gets the client declared dead", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run({ ...base, faults: [{ at: 4100, kind: "partition", direction: "both", duration: 9000 }] })
      assert.isDefined(deathOf(out.server))
    }))

  it.effect("a one-way partition (server → client) starves both keepalive directions of answers", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run({
        ...base,
        client: { keepalive: { interval: 1500, count: 1 } },
        faults: [{ at: 4100, kind: "partition", direction: "to-client", duration: 60_000 }]
      })
      // the client hears nothing: its own keepalive (I=1.5 s, C=1) gives up 3 s after its last receipt
      const death = deathOf(out.client)
      assert.isDefined(death)
      if (death !== undefined) assert.closeTo(death.error._tag === "KeepaliveTimeout" ? death.error.silence : 0, 3000, 1)
    }))

  it.effect("a process crash closes the sockets: the peer sees it one link delay later, not through keepalive", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run({ ...base, faults: [{ at: 5000, kind: "crash", side: "client", mode: "process" }] })
      assert.strictEqual(out.client._tag, "Crashed")
      assert.strictEqual(out.server._tag, "Failed")
      if (out.server._tag === "Failed") {
        assert.strictEqual(out.server.error._tag, "PeerClosed")
        // the close travels like data: latency 5 ms, jitter up to 4 ms
        assert.isAtLeast(out.server.at, 5005)
        assert.isAtMost(out.server.at, 5010)
      }
    }))

  it.effect("a host crash is silent: only keepalive finds out, at (C+1)·I", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run({ ...base, faults: [{ at: 5000, kind: "crash", side: "client", mode: "host" }] })
      const death = deathOf(out.server)
      assert.isDefined(death)
      // the server's 2 PINGs went into the void: counted, not dropped unseen
      assert.deepStrictEqual(out.lost, { client: 2, server: 0 })
      if (death !== undefined) assert.closeTo(death.at - lastReceipt(out.trace, "server", death.at), 6000, 1)
    }))

  it.effect("a slow reader: PONGs that take longer than the bound to get through cost the connection", () =>
    Effect.gen(function*() {
      const slow = yield* Simulation.run({ ...base, faults: [{ at: 3000, kind: "slow-reader", side: "server", bytesPerSecond: 4 }] })
      assert.isDefined(deathOf(slow.server))
      const fine = yield* Simulation.run({ ...base, faults: [{ at: 3000, kind: "slow-reader", side: "server", bytesPerSecond: 1000 }] })
      assert.deepStrictEqual([fine.client._tag, fine.server._tag], ["Open", "Open"])
    }))

  it.effect("many sessions side by side, each with its own faults and outcome", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run({ ...base, duration: 60_000, faults: [{ at: 10_000, kind: "freeze", side: "client" }] }, { sessions: 25 })
      assert.strictEqual(out.sessions, 25)
      assert.deepStrictEqual(out.deaths, { client: 0, server: 25 })
    }))

  it.effect("pictures: Mermaid marks the PINGs a frozen peer never read as lost; the timeline counts down", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run({ ...base, faults: [{ at: 5000, kind: "freeze", side: "client" }] })
      const diagram = Mermaid.sequenceDiagram(out.trace)
      assert.match(diagram, /^sequenceDiagram\n/)
      assert.match(diagram, /S->>C: 7b\. keepalive PING/)
      assert.match(diagram, /S-xC: 11b\. keepalive PING/)
      assert.match(diagram, /Note over S: peer dead: 2 PINGs unanswered/)
      const timeline = Trace.timeline(out.trace, "server")
      assert.match(timeline, /PINGs left ■□ +1\/2/)
      assert.match(timeline, /PINGs left □□ +0\/2/)
    }))
})

describe("Simulation: zero latency", () => {
  it.effect("with latency 0 the handshake completes at 0 ms, not on a slice boundary", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run({
        seed: 1,
        duration: 3000,
        server: { interval: 1000, count: 2, policy: "if-supported" },
        toServer: { latency: 0 },
        toClient: { latency: 0 }
      })
      const opened = out.trace.filter((e) => e.kind === "event" && e.command._tag === "Opened").map((e) => e.at)
      assert.deepStrictEqual(opened, [0, 0])
    }))
})
