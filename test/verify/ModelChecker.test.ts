import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Frame from "../../src/wire/Frame.ts"
import * as ModelChecker from "../../src/verify/ModelChecker.ts"
import * as Trace from "../../src/trace/Trace.ts"

const isPing = (frame: Frame.Frame): boolean => Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Ping

const passes = (bounds: ModelChecker.Bounds, minStates = 1000): ModelChecker.Verdict => {
  const v = ModelChecker.check(bounds)
  assert.isUndefined(v.violation, v.violation === undefined ? "" : `${v.violation.property}: ${v.violation.description}\n${Trace.arrows(v.violation.trace)}`)
  assert.isTrue(v.ok)
  assert.isTrue(v.complete, "every state within the bounds was explored")
  assert.strictEqual(v.pruned, 0, "the in-flight bound never cut a run")
  assert.isAbove(v.statesExplored, minStates)
  assert.isAbove(v.transitions, v.statesExplored - 1)
  return v
}

describe("ModelChecker: the real sessions satisfy every property", () => {
  it("libvirt, I = C = 2 ticks on both sides, frames delivered within 1 tick, both sides may freeze", () => {
    const v = passes({ maxDelay: 1 })
    assert.deepStrictEqual(v.bounds?.setKeepAliveChoices, [{ interval: 2, count: 2 }, { interval: 0, count: 0 }])
    assert.strictEqual(v.bounds?.horizon, 6 + 6 + 2)
  })

  it("different settings on each side (client I = 3, C = 1; server I = 1, C = 3), delay up to 2 ticks", () => {
    passes({ intervalTicks: 3, countClient: 1, serverIntervalTicks: 1, serverCount: 3, maxDelay: 2 })
  })

  it("the largest configuration of the sweep, I = 1, C = 3 on both sides, delay 2: 251 289 states", () => {
    const v = passes({ intervalTicks: 1, countClient: 3, serverIntervalTicks: 1, serverCount: 3, maxDelay: 2 }, 200_000)
    assert.strictEqual(v.statesExplored, 251_289)
    assert.isAtMost(v.bytesPerState, 128)
  })

  it("C = 0 (dead at I with no PING), with instant delivery and with a delay of 1 tick", () => {
    passes({ intervalTicks: 2, countClient: 0, serverIntervalTicks: 3, serverCount: 0, maxDelay: 0 }, 100)
    passes({ intervalTicks: 2, countClient: 0, serverIntervalTicks: 3, serverCount: 0, maxDelay: 1 }, 500)
  })

  it("each wider choice on its own: reconfiguration, late ticks, both orders, Close, Calls, thaw", () => {
    const base: ModelChecker.Bounds = { intervalTicks: 2, countClient: 1, serverIntervalTicks: 1, serverCount: 1, maxDelay: 1 }
    passes({ ...base, setKeepAliveChoices: [{ interval: 2, count: 1 }, { interval: 1, count: 2 }, { interval: 0, count: 0 }], maxSetKeepAliveCalls: 3 })
    passes({ ...base, lateTicks: 1 })
    passes({ ...base, bothOrders: true })
    passes({ ...base, closes: { client: true, server: true } })
    passes({ ...base, calls: 2 })
    passes({ ...base, maxDelay: 0, allowThaw: { client: true, server: true } })
    passes({ ...base, maxDelay: 0, allowThaw: { client: true, server: false }, lateTicks: 1 })
  }, 60_000)

  it("every wider choice at once, on small settings, with a finer time grid (ticks of I/2)", () => {
    const v = passes(ModelChecker.wide({ intervalTicks: 2, countClient: 1, serverIntervalTicks: 2, serverCount: 1, maxDelay: 0, tickMs: 500 }))
    assert.strictEqual(v.bounds?.tickMs, 500)
  }, 60_000)

  it("policy required, with a client that advertises and with one that does not; the draft", () => {
    passes({ policy: "required", maxDelay: 1 })
    passes({ policy: "required", clientAdvertises: false, maxDelay: 1 }, 50)
    passes({ variant: "draft", maxDelay: 1 })
    passes({ variant: "draft", policy: "required", maxDelay: 1, calls: 1 }, 100)
  })

  it("the properties are not vacuous: a frozen peer is declared dead, at exactly (C+1)·I of the detector's own settings", () => {
    const bounds: ModelChecker.Bounds = { intervalTicks: 1, countClient: 2, serverIntervalTicks: 3, serverCount: 1, maxDelay: 1 }
    for (const [side, expected] of [["server", 2 * 3000], ["client", 3 * 1000]] as const) {
      const r = ModelChecker.reach(bounds, (e) => e.kind === "event" && e.side === side && e.command._tag === "PeerDead")
      assert.isTrue(r.reachable)
      if (!r.reachable) return
      const dead = r.trace.find((e) => e.kind === "event" && e.command._tag === "PeerDead")
      assert.isTrue(dead?.kind === "event" && dead.command._tag === "PeerDead" && dead.command.silence === expected)
      assert.isTrue(r.trace.some((e) => e.kind === "freeze" && e.side !== side), "only a frozen peer dies")
    }
  })
})

/** For each built-in mutant: the property expected to catch it on the default bounds. */
const catches: ReadonlyArray<{ readonly mutant: Exclude<ModelChecker.Mutant, "none">; readonly expected: ModelChecker.PropertyName }> = [
  { mutant: "only-pong-resets", expected: "ping-grid" },
  { mutant: "send-resets", expected: "ping-grid" },
  { mutant: "off-by-one-count", expected: "ping-grid" },
  { mutant: "server-pings-before-advertisement", expected: "ping-after-advertisement" },
  { mutant: "pong-dropped-when-not-pinging", expected: "ping-answered" }
]

describe("ModelChecker: every built-in mutant is caught, with a shortest counterexample", () => {
  for (const { mutant, expected } of catches) {
    it(`${mutant}: caught by ${expected}`, () => {
      const v = ModelChecker.check({ maxDelay: 1 }, { mutant })
      assert.isFalse(v.ok)
      assert.isFalse(v.complete)
      assert.strictEqual(v.violation?.property, expected, v.violation?.description)
      const drawn = Trace.arrows(v.violation?.trace ?? [])
      assert.include(drawn, "1. C -> S remote_auth_list_args")
      assert.include(drawn, "keepalive PING")
    })
  }

  it("send-resets: the frozen client is never declared dead (the server's own PINGs reset its countdown)", () => {
    const v = ModelChecker.check({ intervalTicks: 1, countClient: 1, serverIntervalTicks: 1, serverCount: 1, maxDelay: 0 }, {
      mutant: "send-resets",
      properties: ["bounded-liveness"]
    })
    assert.strictEqual(v.violation?.property, "bounded-liveness")
    const trace = v.violation?.trace ?? []
    assert.isTrue(trace.some((e) => e.kind === "freeze" && e.side === "client"))
    assert.isFalse(trace.some((e) => e.kind === "event" && e.command._tag === "PeerDead"))
    assert.include(v.violation?.description ?? "", "has not declared the client dead")
  })

  it("off-by-one-count: the server sends one PING too many", () => {
    const v = ModelChecker.check({ intervalTicks: 1, countClient: 1, serverIntervalTicks: 1, serverCount: 1, maxDelay: 0 }, { mutant: "off-by-one-count" })
    assert.strictEqual(v.violation?.property, "ping-grid")
    const pings = (v.violation?.trace ?? []).filter((e) => e.kind === "transmit" && e.from === "server" && isPing(e.frame))
    assert.strictEqual(pings.length, 2)
    assert.include(v.violation?.description ?? "", "PING number 2 in one silence; its count is 1")
  })

  it("server-pings-before-advertisement: the shortest counterexample is a PING before SUPPORTS_FEATURE reached the server", () => {
    const v = ModelChecker.check({ intervalTicks: 1, countClient: 1, serverIntervalTicks: 1, serverCount: 1, maxDelay: 0 }, {
      mutant: "server-pings-before-advertisement"
    })
    assert.strictEqual(v.violation?.property, "ping-after-advertisement")
    const trace = v.violation?.trace ?? []
    assert.isFalse(
      trace.some((e) => e.kind === "receive" && e.side === "server" && Trace.describeFrame(e.frame) === "remote_supports_feature_args (KEEPALIVE)")
    )
    const last = trace.at(-1)
    assert.isTrue(last?.kind === "transmit" && last.from === "server" && isPing(last.frame))
  })

  it("only-pong-resets: a live, answering client is declared dead too early (no-early-death)", () => {
    const v = ModelChecker.check(
      { intervalTicks: 3, countClient: 1, serverIntervalTicks: 0, serverCount: 1, maxDelay: 1, calls: 1 },
      { mutant: "only-pong-resets", properties: ["no-early-death"] }
    )
    assert.strictEqual(v.violation?.property, "no-early-death")
    const trace = v.violation?.trace ?? []
    assert.isTrue(trace.some((e) => e.kind === "event" && e.command._tag === "PeerDead"))
  })

  it("a selection of properties checks only those", () => {
    // the mutant breaks ping-answered: checked, it is found; left out, the whole space is explored and passes
    const all = ModelChecker.check({ maxDelay: 1 }, { mutant: "pong-dropped-when-not-pinging" })
    assert.strictEqual(all.violation?.property, "ping-answered")
    const v = ModelChecker.check({ maxDelay: 1 }, { mutant: "pong-dropped-when-not-pinging", properties: ["ping-grid"] })
    assert.isUndefined(v.violation)
    assert.isTrue(v.ok)
    assert.isTrue(v.complete)
    assert.isAbove(v.statesExplored, all.statesExplored)
  })
})

/** The mutants that act late on the grid of new settings, and the property expected first on the default bounds. */
const late: ReadonlyArray<{ readonly mutant: Exclude<ModelChecker.Mutant, "none">; readonly expected: ModelChecker.PropertyName }> = [
  { mutant: "fresh-start-waits", expected: "ping-grid" },
  { mutant: "reconfigured-grid-late", expected: "bounded-liveness" }
]

describe("ModelChecker: the upper bounds on the grid of new settings", () => {
  for (const { mutant, expected } of late) {
    it(`${mutant}: caught by the upper bound of ${expected}, and by no property that bounds only the other side`, () => {
      const v = ModelChecker.check({ maxDelay: 1 }, { mutant })
      assert.strictEqual(v.violation?.property, expected, v.violation?.description)
      // late, not early: a PING after its place, or no death by the new grid's death
      assert.match(
        v.violation?.description ?? "",
        expected === "ping-grid" ? /sent PING number \d+ at (\d+) ms.*due at (\d+) ms/ : /has not declared the server dead, due by/
      )
      const ping = /at (\d+) ms.*due at (\d+) ms/.exec(v.violation?.description ?? "")
      if (ping !== null) assert.isAbove(Number(ping[1]), Number(ping[2]))
      const lower = ModelChecker.properties.filter((p) => p !== "ping-grid" && p !== "bounded-liveness")
      const rest = ModelChecker.check({ maxDelay: 1 }, { mutant, properties: lower })
      assert.isTrue(rest.ok && rest.complete, rest.violation?.description)
    })
  }
})

describe("ModelChecker: bounds", () => {
  it("invalid bounds are reported, never thrown", () => {
    const v = ModelChecker.check({ maxDelay: -1 })
    assert.isFalse(v.ok)
    assert.strictEqual(v.invalid?.field, "maxDelay")
    assert.strictEqual(v.statesExplored, 0)
    const r = ModelChecker.resolveBounds({ setKeepAliveChoices: [{ interval: 1.5, count: 1 }] })
    assert.isTrue(Result.isFailure(r) && r.failure.field === "setKeepAliveChoices[0].interval")
    const unreachable = ModelChecker.reach({ tickMs: 0 }, ModelChecker.goals.serverPing)
    assert.isTrue(!unreachable.reachable && unreachable.invalid?.field === "tickMs")
    assert.isTrue(Result.isFailure(ModelChecker.resolveBounds({ horizon: 300 })))
  })

  it("maxStates stops the search early and says so", () => {
    const v = ModelChecker.check({ maxDelay: 1 }, { maxStates: 500 })
    assert.isTrue(v.ok)
    assert.isFalse(v.complete)
    assert.strictEqual(v.statesExplored, 500)
  })

  it("a tight in-flight bound cuts runs and reports it", () => {
    const v = ModelChecker.check({ intervalTicks: 1, countClient: 1, serverIntervalTicks: 1, serverCount: 1, maxDelay: 2, maxInFlight: 2 })
    assert.isTrue(v.ok)
    assert.isAbove(v.pruned, 0)
  })

  it("the same bounds give the same state space, transitions and counterexample", () => {
    const a = ModelChecker.check({ maxDelay: 1 }, { mutant: "send-resets" })
    const b = ModelChecker.check({ maxDelay: 1 }, { mutant: "send-resets" })
    assert.strictEqual(a.statesExplored, b.statesExplored)
    assert.strictEqual(Trace.arrows(a.violation?.trace ?? []), Trace.arrows(b.violation?.trace ?? []))
  })
})

// The exhaustive sweep. Opt in: MODEL_CHECK_FULL=1 npx vitest run test/verify/ModelChecker.test.ts
describe.skipIf(process.env["MODEL_CHECK_FULL"] === undefined)("ModelChecker: exhaustive sweep (MODEL_CHECK_FULL=1)", () => {
  it("I ≤ 3, C ≤ 3 on each side independently, delay ≤ 2: every property holds", () => {
    const result = ModelChecker.Sweep.run(ModelChecker.Sweep.grid())
    assert.isUndefined(result.shortest, result.shortest?.verdict.violation?.description)
    assert.isTrue(result.rows.every((r) => r.verdict.ok && r.verdict.complete && r.verdict.pruned === 0))
  }, 600_000)
})
