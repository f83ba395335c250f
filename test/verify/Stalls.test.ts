import { assert, describe, it } from "@effect/vitest"
import * as Frame from "../../src/wire/Frame.ts"
import * as ProtocolVariant from "../../src/session/ProtocolVariant.ts"
import * as Monitor from "../../src/verify/Monitor.ts"
import { random } from "../../src/simulation/SimulatedLink.ts"
import * as ModelChecker from "../../src/verify/ModelChecker.ts"
import * as Trace from "../../src/trace/Trace.ts"
import * as Property from "../helpers/Property.ts"

const isPong = (frame: Frame.Frame): boolean => Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Pong

const holds = (bounds: ModelChecker.Bounds, minStates = 1000): ModelChecker.Verdict => {
  const v = ModelChecker.check(bounds)
  assert.isUndefined(v.violation, v.violation === undefined ? "" : `${v.violation.property}: ${v.violation.description}\n${Trace.arrows(v.violation.trace)}`)
  assert.isTrue(v.complete, "every state within the bounds was explored")
  assert.isAbove(v.statesExplored, minStates)
  return v
}

const violated = (bounds: ModelChecker.Bounds, mutant: ModelChecker.Mutant = "none"): ModelChecker.Violation => {
  const v = ModelChecker.check(bounds, { mutant })
  assert.isDefined(v.violation, `expected a violation with ${mutant}`)
  return v.violation!
}

/** The KubeVirt / libvirt-python shape: the client only calls; the server pings with I = 1 tick, C = 2. */
const starvation: ModelChecker.Bounds = {
  serverIntervalTicks: 1,
  serverCount: 2,
  setKeepAliveChoices: [],
  allowFreeze: { client: false, server: false },
  maxDelay: 0
}

/** Small settings with every new choice available. */
const small: ModelChecker.Bounds = {
  intervalTicks: 1,
  countClient: 1,
  serverIntervalTicks: 1,
  serverCount: 1,
  setKeepAliveChoices: [{ interval: 1, count: 1 }],
  maxSetKeepAliveCalls: 1
}

describe("ModelChecker: slow calls, a stalling application and silence before open, under our reading rule", () => {
  it("a call limit with slow calls: past the limit calls wait, then reading stops and keepalive pauses", () => {
    holds({ ...small, callLimit: 1, calls: 2, maxDelay: 0 })
    holds({ ...small, callLimit: 2, calls: 3, maxDelay: 0 })
    holds({ ...small, callLimit: 1, slowCalls: 3, maxPending: 2, calls: 3, maxDelay: 0 }, 500)
    holds({ intervalTicks: 2, countClient: 2, setKeepAliveChoices: [{ interval: 2, count: 2 }], maxSetKeepAliveCalls: 1, callLimit: 1, calls: 2 })
  })

  it("a client application that stops reading its frames, and silence before open", () => {
    holds({ intervalTicks: 2, countClient: 2, setKeepAliveChoices: [{ interval: 2, count: 2 }], maxSetKeepAliveCalls: 1, appStalls: true, calls: 1 })
    const v = holds({ silentOpen: true })
    assert.strictEqual(v.bounds?.openTimeoutTicks, 7)
    assert.strictEqual(v.bounds?.handshakeTimeoutTicks, 8)
  })

  it("every new choice at once, on small settings", () => {
    holds({ ...small, callLimit: 1, calls: 2, appStalls: true, silentOpen: true, maxDelay: 0 })
  }, 30_000)

  it("the starvation shape under our rule: the limit's slow calls in flight and one more, and the client lives", () => {
    holds({ ...starvation, callLimit: 3, calls: 4 }, 10_000)
  })

  it("randomised small bounds from the printed seed all hold", () => {
    const draw = random(Property.SEED)
    const int = (min: number, max: number) => min + Math.floor(draw() * (max - min + 1))
    for (let i = 0; i < 4; i++) {
      const interval = int(1, 2)
      const bounds: ModelChecker.Bounds = {
        intervalTicks: interval,
        countClient: int(0, 2),
        serverIntervalTicks: int(1, 2),
        serverCount: int(0, 2),
        setKeepAliveChoices: [{ interval, count: 1 }],
        maxSetKeepAliveCalls: 1,
        maxDelay: int(0, 1),
        callLimit: int(0, 2),
        calls: int(1, 2),
        maxPending: int(1, 2),
        appStalls: draw() < 0.5,
        silentOpen: draw() < 0.5
      }
      const v = ModelChecker.check(bounds, { maxStates: 400_000 })
      assert.isUndefined(
        v.violation,
        `seed ${Property.SEED} (replay with PROPERTY_SEED=${Property.SEED}), ${JSON.stringify(bounds)}: ${v.violation?.description}`
      )
    }
  }, 30_000)
})

describe("ModelChecker: libvirtd's reading rule starves a live client", () => {
  it("5 slow calls stop the server reading; the client's PONGs sit unread and it is declared dead at (C+1)·I = 3 s", () => {
    const v = violated({ ...starvation, callLimit: 5, calls: 5, reader: "libvirtd" })
    assert.strictEqual(v.property, "no-false-death")
    assert.strictEqual(v.at, 3000)
    assert.strictEqual(v.depth, 6 + 2 * 5 + 3 + 2, "open, 5 calls sent and read, 3 ticks, 2 PINGs read")
    const calls = v.trace.filter((e) => e.kind === "transmit" && e.from === "client" && e.frame.header.type === Frame.MessageType.Call)
    assert.strictEqual(calls.length, 3 + 5, "the open sequence, then the 5 slow calls")
    assert.isTrue(v.trace.some((e) => e.kind === "note" && e.text === "S: client hit max requests limit 5: stops reading the client (keepalive runs on)"))
    const pongs = v.trace.filter((e) => e.kind === "transmit" && e.from === "client" && isPong(e.frame))
    assert.deepStrictEqual(pongs.map((e) => e.at), [1000, 2000], "the client answered every PING")
    assert.isFalse(v.trace.some((e) => e.kind === "receive" && e.side === "server" && isPong(e.frame)), "the server read none of them")
    const dead = v.trace.find((e) => e.kind === "event" && e.command._tag === "PeerDead")
    assert.isTrue(dead?.kind === "event" && dead.side === "server" && dead.command._tag === "PeerDead" && dead.command.silence === 3000)
    assert.match(
      v.description,
      /the server declared the client dead at 3000 ms although the client is alive: the client's PONG sent at 1000 ms has waited 2000 ms unread/
    )
  })

  it("with 4 calls in flight the client lives; the default settings fail with one slow call at 6 s", () => {
    holds({ ...starvation, callLimit: 5, calls: 4, reader: "libvirtd" }, 1000)
    const v = violated({ callLimit: 1, calls: 1, reader: "libvirtd" })
    assert.strictEqual(v.property, "no-false-death")
    assert.strictEqual(v.at, 6000)
    assert.strictEqual(v.depth, 16)
  })

  it("a client that stops reading without pausing declares a live server dead (the old client)", () => {
    const v = violated({
      intervalTicks: 2,
      countClient: 2,
      setKeepAliveChoices: [{ interval: 2, count: 2 }],
      maxSetKeepAliveCalls: 1,
      appStalls: true,
      calls: 1,
      reader: "libvirtd"
    })
    assert.strictEqual(v.property, "no-false-death")
    assert.match(v.description, /^the client declared the server dead/)
  })
})

describe("ModelChecker: silence before open is detected within the open and handshake timeouts", () => {
  it("a frozen server: the client gives up at its open timeout; a frozen client: the server closes at its handshake timeout", () => {
    for (const [side, frozen, text, at] of [["client", "server", "C: open timed out", 7000], ["server", "client", "S: no CONNECT_OPEN", 8000]] as const) {
      const r = ModelChecker.reach({ silentOpen: true }, (e) => e.kind === "note" && e.text.startsWith(text))
      assert.isTrue(r.reachable, `the ${side} gives up`)
      if (!r.reachable) return
      assert.isTrue(r.trace.some((e) => e.kind === "freeze" && e.side === frozen))
      assert.strictEqual(r.trace.at(-1)?.at, at)
    }
  })

  it("a shorter timeout is judged by the same bound", () => {
    holds({ silentOpen: true, openTimeoutTicks: 6, handshakeTimeoutTicks: 9, maxDelay: 1 }, 1000)
  })
})

describe("ModelChecker: mutants of the runtime rules are caught", () => {
  const cases: ReadonlyArray<{ readonly mutant: ModelChecker.Mutant; readonly bounds: ModelChecker.Bounds; readonly expected: ModelChecker.PropertyName }> = [
    { mutant: "stop-reading-at-limit", bounds: { ...starvation, callLimit: 2, calls: 2 }, expected: "no-false-death" },
    { mutant: "no-pause", bounds: { ...small, callLimit: 1, calls: 2, maxDelay: 0 }, expected: "no-false-death" },
    { mutant: "no-pause", bounds: { ...small, appStalls: true, calls: 1, maxDelay: 0 }, expected: "no-false-death" },
    { mutant: "no-resume", bounds: { ...small, appStalls: true, calls: 1, maxDelay: 0 }, expected: "bounded-liveness" },
    { mutant: "no-open-timeout", bounds: { silentOpen: true }, expected: "bounded-liveness" }
  ]
  for (const c of cases) {
    it(`${c.mutant} (${Object.keys(c.bounds).filter((k) => ["callLimit", "appStalls", "silentOpen"].includes(k)).join(", ")}) breaks ${c.expected}`, () => {
      assert.strictEqual(violated(c.bounds, c.mutant).property, c.expected)
    })
  }
})

describe("Monitor: the same properties judge a recorded trace", () => {
  const setup = (end: number, extra: Partial<Monitor.Setup> = {}): Monitor.Setup => ({
    variant: ProtocolVariant.libvirt,
    policy: "if-supported",
    serverInterval: 1000,
    serverCount: 2,
    requests: [],
    end,
    ...extra
  })

  it("libvirtd's starvation, as the model checker found it, breaks no-false-death at 3 s", () => {
    const v = violated({ ...starvation, callLimit: 5, calls: 5, reader: "libvirtd" })
    const seen = Monitor.monitor(v.trace, setup(3000))
    assert.deepStrictEqual(seen.map((s) => [s.property, s.at]), [["no-false-death", 3000]])
  })

  it("a server frozen before open: the client must give up by its open timeout", () => {
    const r = ModelChecker.reach({ silentOpen: true }, (e) => e.kind === "note" && e.text.startsWith("C: open timed out"))
    assert.isTrue(r.reachable)
    if (!r.reachable) return
    const silent = r.trace.filter((e) => e.kind !== "note")
    assert.deepStrictEqual(Monitor.monitor(silent, setup(6000, { openTimeout: 7000 })), [])
    assert.deepStrictEqual(Monitor.monitor(silent, setup(8000, { openTimeout: 7000 })).map((s) => s.property), ["bounded-liveness"])
  })
})
