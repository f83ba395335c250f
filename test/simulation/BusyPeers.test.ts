/**
 * A busy peer is not a dead peer, in the swarm: the runtime with slow handlers at its call limit, an application
 * that stops reading its frames, and peers silent before open, judged by the shared monitor (`no-false-death`,
 * `bounded-liveness` before open). Each case has its counterpart: the same run with a runtime rule broken on
 * purpose (the model checker's mutants) is caught.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type * as Simulation from "../../src/simulation/Simulation.ts"
import * as Swarm from "../../src/simulation/Swarm.ts"
import type * as Trace from "../../src/trace/Trace.ts"
import * as Mutants from "../../src/verify/Mutants.ts"

const base: Simulation.Scenario = {
  seed: 11,
  duration: 20_000,
  server: { interval: 1000, count: 2, policy: "if-supported" },
  client: { keepalive: { interval: 1000, count: 2 } },
  toServer: { latency: 5, jitter: 2 },
  toClient: { latency: 5, jitter: 2 }
}

/** Slow calls past the server's slots: 12 calls held 10 s each, 2 at a time; both sides ping. */
const busyServer: Simulation.Scenario = { ...base, busy: { callLimit: 2 }, faults: [{ at: 1000, kind: "slow-calls", count: 12, duration: 10_000 }] }

/** Past the server's backlog too: 6 calls held 2 s each, 1 at a time, 2 waiting at most; the client does not ping. */
const fullBacklog: Simulation.Scenario = {
  ...base,
  client: {},
  busy: { callLimit: 1, maxPendingCalls: 2 },
  faults: [{ at: 1000, kind: "slow-calls", count: 6, duration: 2000 }]
}

const notes = (c: Swarm.Checked, pattern: RegExp): ReadonlyArray<Trace.TraceEvent> => c.outcome.trace.filter((e) => e.kind === "note" && pattern.test(e.text))
const properties = (c: Swarm.Checked) => c.violations.map((v) => v.property)

describe("busy peers in the simulator: our runtime holds every property", () => {
  it.effect("a server whose handlers are busy keeps reading: PINGs both ways are answered, every reply comes back in its turn", () =>
    Effect.gen(function*() {
      const c = yield* Swarm.check(busyServer)
      assert.deepStrictEqual(c.violations, [])
      assert.deepStrictEqual([c.outcome.client._tag, c.outcome.server._tag], ["Open", "Open"])
      // 2 at a time, 10 s each, from 1 s: 2 replies at 11 s, the next 2 due at 21 s
      assert.lengthOf(c.outcome.trace.filter((e) => e.kind === "receive" && e.side === "client" && e.frame.header.proc === 59), 2)
    }))

  it.effect("a server whose backlog is full stops reading with its keepalive paused, and reads again when a slot frees", () =>
    Effect.gen(function*() {
      const c = yield* Swarm.check(fullBacklog)
      assert.deepStrictEqual(c.violations, [])
      assert.isAtLeast(notes(c, /^server stopped reading/).length, 1)
      assert.isAtLeast(notes(c, /^server reads again/).length, 1)
      assert.deepStrictEqual([c.outcome.client._tag, c.outcome.server._tag], ["Open", "Open"])
    }))

  it.effect("a client application that stops reading: drop, end, or pause, as its policy says", () =>
    Effect.gen(function*() {
      const stall: Simulation.Fault = { at: 2000, kind: "app-stall", events: 8, duration: 4000 }
      const run = (slowConsumer: "drop" | "end" | "pause") => Swarm.check({ ...base, busy: { maxPendingFrames: 2, slowConsumer }, faults: [stall] })
      const [drop, end, pause] = [yield* run("drop"), yield* run("end"), yield* run("pause")]
      for (const c of [drop, end, pause]) assert.deepStrictEqual(c.violations, [])
      assert.lengthOf(notes(drop, /^client dropped a frame/), 1)
      assert.deepStrictEqual(end.outcome.client._tag === "Failed" ? end.outcome.client.error._tag : end.outcome.client._tag, "SlowConsumer")
      assert.lengthOf(notes(pause, /^client stopped reading/), 1)
      assert.lengthOf(notes(pause, /^client reads again/), 1)
    }))

  it.effect("silence before open: the client's open timeout fires on a frozen server, the server's handshake timeout on a mute client", () =>
    Effect.gen(function*() {
      const frozen = yield* Swarm.check({ ...base, silentOpen: "server", openTimeout: 5000 })
      assert.deepStrictEqual(frozen.violations, [])
      assert.deepStrictEqual(frozen.outcome.client._tag === "Failed" ? [frozen.outcome.client.error._tag, frozen.outcome.client.at] : [], ["OpenTimeout", 5000])
      const mute = yield* Swarm.check({ ...base, silentOpen: "client", handshakeTimeout: 4000 })
      assert.deepStrictEqual(mute.violations, [])
      assert.deepStrictEqual(mute.outcome.server._tag === "Failed" ? [mute.outcome.server.error._tag, mute.outcome.server.at] : [], ["HandshakeTimeout", 4000])
    }))

  it.effect("a swarm with the busy and silent faults on, seeds 1–120: every property holds, and every new fault was exercised", () =>
    Effect.gen(function*() {
      let covered: Swarm.Coverage = {}
      const result = yield* Swarm.swarm(120, 1, (c) => void (covered = Swarm.addCoverage(covered, Swarm.coverage(c))))
      assert.deepStrictEqual(result.failures.map((f) => `${f.seed}: ${f.original.violations[0]?.description}`), [])
      for (
        const kind of [
          "slow-calls faults",
          "app-stall faults",
          "stalls (reading stopped, keepalive paused)",
          "open timeouts",
          "handshake timeouts",
          "silent servers before open",
          "silent clients before open"
        ]
      ) {
        assert.isAbove(covered[kind] ?? 0, 0, kind)
      }
    }), 120_000)
})

describe("a runtime rule broken on purpose is caught", () => {
  it.effect("a server that stops reading at its call limit without pausing keepalive (libvirtd's rule) declares a live client dead", () =>
    Effect.gen(function*() {
      const broken = yield* Swarm.check({ ...busyServer, mutant: "stop-reading-at-limit" })
      assert.deepStrictEqual(properties(broken), ["no-false-death"])
      assert.match(broken.violations[0]!.description, /^the server declared the client dead/)
    }))

  it.effect("a server that stops reading at its backlog bound without pausing keepalive declares a live client dead", () =>
    Effect.gen(function*() {
      const broken = yield* Swarm.check({ ...fullBacklog, mutant: "no-pause" })
      assert.deepStrictEqual(properties(broken), ["no-false-death"])
    }))

  it.effect("without its open timeout the client waits on a frozen server forever; without its handshake timeout the server waits on a mute client", () =>
    Effect.gen(function*() {
      const client = yield* Swarm.check({ ...base, silentOpen: "server", openTimeout: 5000, mutant: "no-open-timeout" })
      assert.deepStrictEqual(properties(client), ["bounded-liveness"])
      const server = yield* Swarm.check({ ...base, silentOpen: "client", handshakeTimeout: 4000, mutant: "no-open-timeout" })
      assert.deepStrictEqual(properties(server), ["bounded-liveness"])
    }))

  it.effect("every mutant of the model checker's catalogue fails a seed of the swarm within seeds 1–80", () =>
    Effect.gen(function*() {
      const escaped: Array<string> = []
      for (const mutant of Mutants.mutants) {
        let caught = false
        for (let seed = 1; seed <= 80 && !caught; seed++) caught = (yield* Swarm.check({ ...Swarm.schedule(seed), mutant })).violations.length > 0
        if (!caught) escaped.push(mutant)
      }
      assert.deepStrictEqual(escaped, [])
    }), 120_000)
})
