import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Frame from "../../src/wire/Frame.ts"
import * as ModelChecker from "../../src/verify/ModelChecker.ts"
import * as Trace from "../../src/tools/Trace.ts"

const isPing = (frame: Frame.Frame): boolean => Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Ping

const report = (label: string, v: ModelChecker.Verdict): void => {
  console.log(
    `${label}: ${v.ok ? "ok" : `VIOLATED ${v.violation?.property}`}, ${v.statesExplored} states, ${v.transitions} transitions, ` +
      `depth ${v.maxDepth}, ${v.seconds.toFixed(2)} s, ${v.statesPerSecond} states/s`
  )
}

const passes = (label: string, bounds: ModelChecker.Bounds, minStates = 1000): ModelChecker.Verdict => {
  const v = ModelChecker.check(bounds)
  report(label, v)
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
    const v = passes("libvirt I=C=2 d=1", { maxDelay: 1 })
    assert.deepStrictEqual(v.bounds?.setKeepAliveChoices, [{ interval: 2, count: 2 }, { interval: 0, count: 0 }])
    assert.strictEqual(v.bounds?.horizon, 6 + 6 + 2)
  })

  it("different settings on each side (client I = 3, C = 1; server I = 1, C = 3), delay up to 2 ticks", () => {
    passes("libvirt client I=3 C=1, server I=1 C=3, d=2", { intervalTicks: 3, countClient: 1, serverIntervalTicks: 1, serverCount: 3, maxDelay: 2 })
  })

  it("reconfiguration while running: SetKeepAlive among (2, 2), (1, 3) and stop, twice", () => {
    passes("libvirt reconfiguration d=1", {
      maxDelay: 1,
      setKeepAliveChoices: [{ interval: 2, count: 2 }, { interval: 1, count: 3 }, { interval: 0, count: 0 }]
    })
  })

  it("C = 0 (dead at I with no PING), with instant delivery and with a delay of 1 tick", () => {
    passes("libvirt C=0 d=0", { intervalTicks: 2, countClient: 0, serverIntervalTicks: 3, serverCount: 0, maxDelay: 0 }, 100)
    passes("libvirt C=0 d=1", { intervalTicks: 2, countClient: 0, serverIntervalTicks: 3, serverCount: 0, maxDelay: 1 })
  })

  it("the largest settings of the sweep: I = C = 3 ticks on both sides, delay up to 2 ticks", () => {
    passes("libvirt I=C=3 d=2", { intervalTicks: 3, countClient: 3, serverIntervalTicks: 3, serverCount: 3, maxDelay: 2 }, 10_000)
  })

  it("the same settings on both sides, every I ≤ 3 ticks, C ≤ 3, delay ≤ 2 ticks (36 runs)", () => {
    let states = 0
    let seconds = 0
    for (const maxDelay of [0, 1, 2]) {
      for (const interval of [1, 2, 3]) {
        for (const count of [0, 1, 2, 3]) {
          const v = ModelChecker.check({ intervalTicks: interval, countClient: count, serverIntervalTicks: interval, serverCount: count, maxDelay })
          assert.isTrue(v.ok && v.complete && v.pruned === 0, `I=${interval} C=${count} d=${maxDelay}: ${v.violation?.description ?? ""}`)
          states += v.statesExplored
          seconds += v.seconds
        }
      }
    }
    console.log(`symmetric sweep: 36 runs, ${states} states, ${seconds.toFixed(1)} s, ${Math.round(states / seconds)} states/s`)
    assert.isAbove(states, 500_000)
  }, 60_000)

  it("policy required, with a client that advertises and with one that does not", () => {
    passes("libvirt required", { policy: "required", maxDelay: 1 })
    passes("libvirt required, silent client", { policy: "required", clientAdvertises: false, maxDelay: 1 }, 50)
  })

  it("the seed-000 draft: AllowKeepAlive, ADVERTISE, StartKeepAlive", () => {
    passes("draft I=C=2 d=1", { variant: "draft", maxDelay: 1 })
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
      assert.include(Trace.arrows(r.trace), `${expected} ms of silence`)
    }
  })
})

/** For each mutant: bounds where it shows, the property expected to catch it, and every property that does. */
const catches: ReadonlyArray<{
  readonly mutant: Exclude<ModelChecker.Mutant, "none">
  readonly expected: ModelChecker.PropertyName
  readonly first: ModelChecker.PropertyName
  readonly alsoBy: ReadonlyArray<ModelChecker.PropertyName>
}> = [
  { mutant: "only-pong-resets", expected: "exact-detection", first: "independent-directions", alsoBy: ["independent-directions"] },
  { mutant: "send-resets", expected: "exact-detection", first: "exact-detection", alsoBy: [] },
  { mutant: "off-by-one-count", expected: "exact-detection", first: "exact-detection", alsoBy: [] },
  { mutant: "server-pings-before-advertisement", expected: "ping-after-advertisement", first: "ping-after-advertisement", alsoBy: [] },
  { mutant: "pong-dropped-when-not-pinging", expected: "ping-answered", first: "ping-answered", alsoBy: ["no-false-positive"] }
]

const mutantBounds: ModelChecker.Bounds = { maxDelay: 1 }

describe("ModelChecker: every mutant is caught, with a shortest counterexample", () => {
  for (const { mutant, expected, first, alsoBy } of catches) {
    it(`${mutant}: caught by ${expected}`, () => {
      const v = ModelChecker.check(mutantBounds, { mutant, properties: [expected] })
      assert.isFalse(v.ok)
      assert.isFalse(v.complete)
      const violation = v.violation
      assert.isDefined(violation)
      if (violation === undefined) return
      assert.strictEqual(violation.property, expected)
      assert.isAbove(violation.depth, 0)
      assert.isNotEmpty(violation.trace)
      const drawn = Trace.arrows(violation.trace)
      assert.include(drawn, "1. C -> S remote_auth_list_args")
      assert.include(drawn, "keepalive PING")

      // with every property on, the first violation found is the shallowest one: never deeper than this one
      const all = ModelChecker.check(mutantBounds, { mutant })
      assert.strictEqual(all.violation?.property, first)
      assert.isAtMost(all.violation?.depth ?? Infinity, violation.depth)

      // and exactly the expected properties catch it, each on its own
      const caughtBy = ModelChecker.properties.filter((p) => ModelChecker.check(mutantBounds, { mutant, properties: [p] }).violation !== undefined)
      assert.deepStrictEqual(caughtBy, ModelChecker.properties.filter((p) => p === expected || alsoBy.includes(p)))
    })
  }

  it("send-resets: the frozen client is never declared dead (the server's own PINGs reset its countdown)", () => {
    const v = ModelChecker.check({ intervalTicks: 1, countClient: 1, serverIntervalTicks: 1, serverCount: 1, maxDelay: 0 }, { mutant: "send-resets" })
    assert.strictEqual(v.violation?.property, "exact-detection")
    const trace = v.violation?.trace ?? []
    assert.isTrue(trace.some((e) => e.kind === "freeze" && e.side === "client"))
    assert.isFalse(trace.some((e) => e.kind === "event" && e.command._tag === "PeerDead"))
    assert.include(v.violation?.description ?? "", "has not declared the client dead")
  })

  it("off-by-one-count: the server sends one PING too many instead of declaring death at (C+1)·I", () => {
    const v = ModelChecker.check({ intervalTicks: 1, countClient: 1, serverIntervalTicks: 1, serverCount: 1, maxDelay: 0 }, { mutant: "off-by-one-count" })
    assert.strictEqual(v.violation?.property, "exact-detection")
    const pings = (v.violation?.trace ?? []).filter((e) => e.kind === "transmit" && e.from === "server" && isPing(e.frame))
    assert.strictEqual(pings.length, 2)
    assert.include(v.violation?.description ?? "", "(C+1)·I = 2000 ms")
  })

  it("server-pings-before-advertisement: the shortest counterexample is a PING before SUPPORTS_FEATURE reached the server", () => {
    const v = ModelChecker.check({ intervalTicks: 1, countClient: 1, serverIntervalTicks: 1, serverCount: 1, maxDelay: 0 }, { mutant: "server-pings-before-advertisement" })
    assert.strictEqual(v.violation?.property, "ping-after-advertisement")
    const trace = v.violation?.trace ?? []
    assert.isFalse(trace.some((e) => e.kind === "receive" && e.side === "server" && Trace.describeFrame(e.frame) === "remote_supports_feature_args (KEEPALIVE)"))
    const last = trace.at(-1)
    assert.isTrue(last?.kind === "transmit" && last.from === "server" && isPing(last.frame))
  })

  it("only-pong-resets: a live, answering client is declared dead (no-false-positive)", () => {
    // the client pings every 3 ticks with C = 1; the server answers but never pings: the handshake replies and the
    // server's traffic other than PONGs no longer count as life
    const v = ModelChecker.check(
      { intervalTicks: 3, countClient: 1, serverIntervalTicks: 0, serverCount: 1, maxDelay: 1 },
      { mutant: "only-pong-resets", properties: ["no-false-positive"] }
    )
    assert.strictEqual(v.violation?.property, "no-false-positive")
    const trace = v.violation?.trace ?? []
    assert.isFalse(trace.some((e) => e.kind === "freeze"))
    assert.isTrue(trace.some((e) => e.kind === "event" && e.command._tag === "PeerDead"))
  })
})

describe("ModelChecker: the seed questions, decided mechanically", () => {
  const answers = ModelChecker.questions()
  const answer = (id: string): ModelChecker.Answer => {
    const found = answers.find((a) => a.id === id)
    assert.isDefined(found, id)
    return found!
  }

  it("seed 000 draft: ADVERTISE is needed before the server may ping", () => {
    const a = answer("draft-advertise")
    assert.isTrue(a.yes)
    assert.match(a.evidence, /no AllowKeepAlive: a server PING: unreachable in \d+ states \(all states within the bounds\)/)
    assert.match(a.evidence, /no server PING before ADVERTISE reached the server: holds in all \d+ states/)
    const drawn = a.evidence.split("\n")
    const advertise = drawn.findIndex((l) => l.includes("C -> S keepalive ADVERTISE"))
    const ping = drawn.findIndex((l) => l.includes("S -> C keepalive PING"))
    assert.isAbove(advertise, -1)
    assert.isAbove(ping, advertise)
  })

  it("seed 001 (libvirt): the feature query at open is the advertisement; no ADVERTISE, no application call", () => {
    const a = answer("libvirt-negotiation")
    assert.isFalse(a.yes)
    assert.include(a.evidence, "remote_supports_feature_args (KEEPALIVE)")
    assert.notInclude(a.evidence, "ADVERTISE")
    assert.match(a.evidence, /client does not advertise: a server PING: unreachable in \d+ states/)
  })

  it("a server can mandate keepalive under libvirt, not under the draft", () => {
    const libvirt = answer("mandate-libvirt")
    assert.isTrue(libvirt.yes)
    assert.include(libvirt.evidence, "S: connection open (client advertised keepalive: yes)")
    assert.match(libvirt.evidence, /non-advertising client: the server opens the connection: unreachable in \d+ states/)
    const draft = answer("mandate-draft")
    assert.isFalse(draft.yes)
    assert.match(draft.evidence, /unreachable in \d+ states \(all states within the bounds\)/)
  })

  it("a client that never calls setKeepAlive is still pinged under libvirt (and answers), not under the draft", () => {
    const a = answer("pinged-without-setkeepalive")
    assert.isTrue(a.yes)
    assert.include(a.evidence, "S -> C keepalive PING")
    assert.include(a.evidence, "C -> S keepalive PONG")
    assert.notInclude(a.evidence, "keepalive started")
    assert.match(a.evidence, /draft, no AllowKeepAlive: the client receives a PING: unreachable in \d+ states/)
  })

  it("reach agrees: in the draft without AllowKeepAlive the server never pings, with it the shortest run has ADVERTISE first", () => {
    const without = ModelChecker.reach({ ...ModelChecker.questionBounds, variant: "draft", allowKeepAlive: false }, ModelChecker.goals.serverPing)
    assert.isFalse(without.reachable)
    assert.isTrue(!without.reachable && without.complete && without.statesExplored > 100)
    const withAllow = ModelChecker.reach({ ...ModelChecker.questionBounds, variant: "draft" }, ModelChecker.goals.serverPing)
    assert.isTrue(withAllow.reachable)
    if (!withAllow.reachable) return
    const names = withAllow.trace.flatMap((e) => (e.kind === "transmit" ? [Trace.describeFrame(e.frame)] : []))
    assert.deepStrictEqual(names.slice(-4), ["remote_supports_feature_args (KEEPALIVE)", "remote_supports_feature_ret (TRUE)", "keepalive ADVERTISE", "keepalive PING"])
  })
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
})

// The exhaustive sweep: every client and server setting with I ≤ 3 ticks, C ≤ 3, and delay ≤ 2 ticks (432 runs).
// Opt in: MODEL_CHECK_FULL=1 npx vitest run test/verify/ModelChecker.test.ts
describe.skipIf(process.env["MODEL_CHECK_FULL"] === undefined)("ModelChecker: exhaustive sweep (MODEL_CHECK_FULL=1)", () => {
  it("I ≤ 3, C ≤ 3 on each side independently, delay ≤ 2: every property holds", () => {
    let states = 0
    let transitions = 0
    let seconds = 0
    let runs = 0
    for (const maxDelay of [0, 1, 2]) {
      for (const intervalTicks of [1, 2, 3]) {
        for (const countClient of [0, 1, 2, 3]) {
          for (const serverIntervalTicks of [1, 2, 3]) {
            for (const serverCount of [0, 1, 2, 3]) {
              const v = ModelChecker.check({ intervalTicks, countClient, serverIntervalTicks, serverCount, maxDelay })
              assert.isTrue(v.ok && v.complete && v.pruned === 0, `client I=${intervalTicks} C=${countClient}, server I=${serverIntervalTicks} C=${serverCount}, d=${maxDelay}: ${v.violation?.description ?? ""}`)
              states += v.statesExplored
              transitions += v.transitions
              seconds += v.seconds
              runs++
            }
          }
        }
      }
    }
    console.log(`exhaustive sweep: ${runs} runs, ${states} states, ${transitions} transitions, ${seconds.toFixed(1)} s, ${Math.round(states / seconds)} states/s`)
    const largest = ModelChecker.check({ intervalTicks: 3, countClient: 3, serverIntervalTicks: 3, serverCount: 3, maxDelay: 2 })
    report("largest single run I=C=3 d=2", largest)
    assert.isTrue(largest.ok && largest.complete)
  }, 600_000)
})
