import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Frame from "../../src/wire/Frame.ts"
import * as ProtocolVariant from "../../src/session/ProtocolVariant.ts"
import * as Session from "../../src/session/Session.ts"
import * as Monitor from "../../src/verify/Monitor.ts"
import * as SessionPair from "../../src/verify/SessionPair.ts"
import * as Property from "../helpers/Property.ts"

const Scenario = Schema.Struct({
  policy: Schema.Literals(["disabled", "if-supported", "required"]),
  advertise: Schema.Boolean,
  /** Mapped by `Property.interval`: a quarter of the scenarios have a server interval of -1 or 0. */
  serverInterval: Property.IntervalDraw,
  serverCount: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
  latency: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 300 })),
  calls: Schema.Array(Schema.Struct({
    at: Schema.Int.check(Schema.isBetween({ minimum: 3000, maximum: 20_000 })),
    interval: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3000 })),
    count: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 }))
  })),
  freeze: Schema.Struct({
    side: Schema.Literals(["client", "server"]),
    at: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20_000 })),
    thaw: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20_000 }))
  })
})
type Scenario = typeof Scenario.Type

const play = (drawn: Scenario) => {
  const s = { ...drawn, serverInterval: Property.interval(drawn.serverInterval) }
  const calls = [...s.calls].sort((a, b) => a.at - b.at)
  const actions: Array<SessionPair.Action> = [
    { at: 0, side: "client", input: (now) => Session.Input.Open(now, "test:///default") },
    ...calls.map((c): SessionPair.Action => ({ at: c.at, side: "client", input: (now) => Session.Input.SetKeepAlive(now, c.interval, c.count) })),
    { at: s.freeze.at, side: s.freeze.side, freeze: true },
    { at: s.freeze.at + s.freeze.thaw, side: s.freeze.side, freeze: false }
  ]
  const outcome = SessionPair.run({
    client: Session.client(0, { advertise: s.advertise }),
    server: Session.server(0, { interval: s.serverInterval, count: s.serverCount, policy: s.policy }),
    toServer: s.latency,
    toClient: s.latency,
    actions,
    until: 30_000
  })
  const setup: Monitor.Setup = {
    variant: ProtocolVariant.libvirt,
    policy: s.policy,
    serverInterval: s.serverInterval,
    serverCount: s.serverCount,
    requests: calls,
    end: outcome.end,
    // the link holds a frame `latency` ms: a frame waiting that long is in flight, not unread
    transit: Math.max(s.latency, 250)
  }
  return { outcome, setup }
}

const RUNS = 300

describe("Monitor: the shared properties over traces of the pure pair", () => {
  it.prop("every property holds on every trace of the real sessions", [Scenario], ([s]) => {
    const { outcome, setup } = play(s)
    assert.deepStrictEqual(Monitor.monitor(outcome.trace, setup), [])
  }, Property.options(RUNS))

  it("the scenarios reach the cases the property is about", () => {
    const c = Property.coverage<[Scenario]>([Scenario], ([drawn]) => {
      const { outcome, setup } = play(drawn)
      const classes = [`${setup.policy}, ${drawn.advertise ? "advertising" : "silent"}, ${setup.serverInterval > 0 ? "I>0" : "I<=0"}`]
      const opened = outcome.trace.some((e) => e.kind === "event" && e.side === "server" && e.command._tag === "Opened")
      if (setup.policy === "required")
        classes.push(`required, ${drawn.advertise ? "advertising" : "silent"}, ${setup.serverInterval > 0 ? "I>0" : "I<=0"}, ${opened ? "opened" : "refused"}`)
      if (outcome.trace.some((e) => e.kind === "event" && e.command._tag === "PeerDead")) classes.push("a death")
      return classes
    }, RUNS)
    console.log(Property.describeCoverage("Monitor scenarios", c))
    for (const policy of ["disabled", "if-supported", "required"]) {
      for (const who of ["advertising", "silent"]) {
        for (const i of ["I>0", "I<=0"]) assert.isAtLeast(c.counts[`${policy}, ${who}, ${i}`] ?? 0, 5, `${policy}, ${who}, ${i}`)
      }
    }
    assert.isAtLeast((c.counts["a death"] ?? 0) / c.runs, 0.1)
  })

  it("a trace with a PONG removed, a PONG added, or a death claimed under other settings, is caught", () => {
    const { outcome, setup } = play({
      policy: "if-supported",
      advertise: true,
      serverInterval: 1000,
      serverCount: 2,
      latency: 10,
      calls: [],
      freeze: { side: "client", at: 5000, thaw: 0 }
    })
    const isPong = (f: Frame.Frame) => Frame.isKeepalive(f.header) && f.header.proc === Frame.KeepaliveProc.Pong
    const withoutPong = outcome.trace.filter((e) => !(e.kind === "transmit" && e.from === "client" && isPong(e.frame)))
    assert.deepStrictEqual(Monitor.monitor(withoutPong, setup).map((v) => v.property), ["ping-answered"])
    // and the other side: a PONG that answers no PING
    const first = outcome.trace.findIndex((e) => e.kind === "transmit" && e.from === "client" && isPong(e.frame))
    const extra = first < 0 ? outcome.trace : [...outcome.trace.slice(0, first + 1), outcome.trace[first]!, ...outcome.trace.slice(first + 1)]
    assert.isAtLeast(first, 0)
    const unsolicited = Monitor.monitor(extra, setup)
    assert.deepStrictEqual(unsolicited.map((v) => v.property), ["ping-answered"])
    assert.include(unsolicited[0]?.description ?? "", "the client sent 1 PONG answering no PING")
    const frozenForGood = play({
      policy: "if-supported",
      advertise: true,
      serverInterval: 1000,
      serverCount: 2,
      latency: 10,
      calls: [],
      freeze: { side: "client", at: 5000, thaw: 30_000 }
    })
    assert.deepStrictEqual(Monitor.monitor(frozenForGood.outcome.trace, frozenForGood.setup), [])
    const seen = Monitor.monitor(frozenForGood.outcome.trace, { ...frozenForGood.setup, serverCount: 3 })
    assert.deepStrictEqual(seen.map((v) => v.property), ["no-early-death"])
  })
})
