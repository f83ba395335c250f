import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Schema } from "effect"
import * as Frame from "../../src/wire/Frame.ts"
import * as ProtocolVariant from "../../src/session/ProtocolVariant.ts"
import * as Session from "../../src/session/Session.ts"
import * as SessionPair from "../../src/verify/SessionPair.ts"
import * as Trace from "../../src/trace/Trace.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Property from "../helpers/Property.ts"

const { IntervalDraw: Interval, interval } = Property

/** What is drawn: a die (0..3) where a choice is weighted, one in four for the draft and for a silent client. */
const Raw = Schema.Struct({
  variant: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
  advertise: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
  policy: Schema.Literals(["disabled", "if-supported", "required"]),
  serverInterval: Interval,
  serverCount: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
  toServer: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 400 })),
  toClient: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 400 })),
  script: Schema.Array(Schema.Struct({
    at: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20_000 })),
    what: Schema.Literals(["setKeepAlive", "allow", "freeze-client", "freeze-server"]),
    interval: Interval,
    count: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
    /** How long a freeze lasts: a side frozen for good would leave most scenarios without keepalive traffic. */
    thawAfter: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 8000 }))
  })),
  /** When the client closes, if it does: a field of its own, so that most scenarios run long enough to ping. */
  closeAt: Schema.UndefinedOr(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 60_000 })))
})

/** A random scenario: settings of both sides, latencies, and a script of client actions and freezes. */
interface Scenario {
  readonly variant: "libvirt" | "draft"
  readonly advertise: boolean
  readonly policy: Session.Policy
  readonly serverInterval: number
  readonly serverCount: number
  readonly toServer: number
  readonly toClient: number
  readonly script: ReadonlyArray<typeof Raw.Type["script"][number]>
  readonly closeAt: number | undefined
}

const Scenario = Arbitrary.map(Arbitrary.schema(Raw), (r): Scenario => ({
  ...r,
  variant: r.variant === 0 ? "draft" : "libvirt",
  advertise: r.advertise !== 0,
  serverInterval: interval(r.serverInterval),
  script: r.script.map((a) => ({ ...a, interval: interval(a.interval) }))
}))

const play = (s: Scenario): SessionPair.Outcome => {
  const variant = s.variant === "draft" ? ProtocolVariant.draft : ProtocolVariant.libvirt
  const actions: Array<SessionPair.Action> = [{ at: 0, side: "client", input: (now) => Session.Input.Open(now, "test:///default") }]
  for (const a of s.script) {
    switch (a.what) {
      case "setKeepAlive":
        actions.push({ at: a.at, side: "client", input: (now) => Session.Input.SetKeepAlive(now, a.interval, a.count) })
        break
      case "allow":
        actions.push({ at: a.at, side: "client", input: (now) => Session.Input.AllowKeepAlive(now) })
        break
      default: {
        const side = a.what === "freeze-client" ? "client" : "server"
        actions.push({ at: a.at, side, freeze: true }, { at: a.at + a.thawAfter, side, freeze: false })
      }
    }
  }
  if (s.closeAt !== undefined) actions.push({ at: s.closeAt, side: "client", input: (now) => Session.Input.Close(now) })
  return SessionPair.run({
    client: Session.client(0, { variant, advertise: s.advertise }),
    server: Session.server(0, { interval: s.serverInterval, count: s.serverCount, policy: s.policy, variant }),
    toServer: s.toServer,
    toClient: s.toClient,
    actions,
    until: 60_000
  })
}

const RUNS = 500
const options = Property.options(RUNS)

const describeOf = (e: SessionPair.TraceEvent) => (e.kind === "transmit" || e.kind === "receive" ? Trace.describeFrame(e.frame) : "")
const isAdvertisement = (s: Scenario, what: string) =>
  s.variant === "libvirt" ? what === "remote_supports_feature_args (KEEPALIVE)" : what === "keepalive ADVERTISE"
const isConnectOpen = (e: SessionPair.TraceEvent) =>
  e.kind === "receive" && e.side === "server" && e.frame.header.proc === Remote.RemoteProc.ConnectOpen && Frame.isKeepalive(e.frame.header) === false &&
  e.frame.header.type === Frame.MessageType.Call

/**
 * What the server did with the client's CONNECT_OPEN: whether one reached a server that had not closed yet (a
 * tiny interval with C = 0 may drop the client first), whether the client had advertised by then, and the decision.
 */
const openDecision = (s: Scenario, outcome: SessionPair.Outcome) => {
  let advertised = false
  for (const e of outcome.trace) {
    if (e.kind === "event" && e.side === "server" && e.command._tag === "Close") break
    if (e.kind === "receive" && e.side === "server" && isAdvertisement(s, describeOf(e))) advertised = true
    if (isConnectOpen(e)) {
      const later = outcome.trace.slice(outcome.trace.indexOf(e))
      const opened = later.some((n) => n.kind === "event" && n.side === "server" && n.command._tag === "Opened")
      const refused = later.some((n) => n.kind === "event" && n.side === "server" && n.command._tag === "Close" && n.command.reason === "refused")
      return { asked: true, advertised, opened, refused }
    }
  }
  return { asked: false, advertised, opened: false, refused: false }
}

describe("Session: properties over random scenarios", () => {
  it.prop("the server never PINGs a client that has not advertised", [Scenario], ([s]) => {
    let advertised = false
    for (const e of play(s).trace) {
      if (e.kind !== "transmit") continue
      const what = Trace.describeFrame(e.frame)
      if (e.from === "client") {
        if (isAdvertisement(s, what)) advertised = true
      } else if (what === "keepalive PING") {
        assert.isTrue(advertised, "server PING before the client advertised")
        assert.notStrictEqual(s.policy, "disabled")
      }
    }
  }, options)

  it.prop(
    "under policy required, the server opens exactly the clients that advertised before CONNECT_OPEN, whatever its interval and count",
    [Scenario],
    ([s]) => {
      const outcome = play({ ...s, policy: "required" })
      const d = openDecision(s, outcome)
      if (!d.asked) return
      assert.strictEqual(d.opened, d.advertised, "opened")
      assert.strictEqual(d.refused, !d.advertised, "refused")
      const server = outcome.server
      if (server.role === "server" && server.phase === "open") assert.isTrue(server.advertised)
    },
    options
  )

  it.prop("every PING a session receives is answered at once with a PONG unless it is closed", [Scenario], ([s]) => {
    const trace = play(s).trace
    const closed: Record<SessionPair.Side, boolean> = { client: false, server: false }
    trace.forEach((e, i) => {
      if (e.kind === "event" && e.command._tag === "Close") closed[e.side] = true
      if (e.kind !== "receive" || closed[e.side]) return
      const isPing = Frame.isKeepalive(e.frame.header) && e.frame.header.proc === Frame.KeepaliveProc.Ping
      const next = trace.slice(i + 1).find((n) => n.kind !== "countdown")
      const answered = next?.kind === "transmit" && next.from === e.side && next.at === e.at && Trace.describeFrame(next.frame) === "keepalive PONG"
      assert.strictEqual(answered, isPing)
    })
  }, options)

  it.prop("each side declares its peer dead at most once, and closes right after", [Scenario], ([s]) => {
    const trace = play(s).trace
    for (const side of ["client", "server"] as const) {
      const mine = trace.filter((e) => e.kind === "event" && e.side === side)
      const deaths = mine.filter((e) => e.kind === "event" && e.command._tag === "PeerDead")
      assert.isAtMost(deaths.length, 1)
      if (deaths.length === 1) {
        const i = mine.indexOf(deaths[0]!)
        const next = mine[i + 1]
        assert.isTrue(next?.kind === "event" && next.command._tag === "Close" && next.command.reason === "keepalive-timeout")
      }
    }
  }, options)

  it.prop("a peer that is never frozen and answers within the interval is never declared dead", [Scenario], ([s]) => {
    // C ≥ 1: with C = 0 libvirt closes after I of mere inactivity, with no PING to answer.
    const responsive = {
      ...s,
      serverCount: Math.max(s.serverCount, 1),
      toServer: Math.min(s.toServer, 100),
      toClient: Math.min(s.toClient, 100),
      serverInterval: s.serverInterval > 0 ? Math.max(s.serverInterval, 500) : s.serverInterval,
      script: s.script.filter((a) => a.what === "setKeepAlive" || a.what === "allow").map((a) => ({
        ...a,
        count: Math.max(a.count, 1),
        interval: a.interval > 0 ? Math.max(a.interval, 500) : a.interval
      }))
    }
    for (const e of play(responsive).trace) {
      if (e.kind === "event") assert.notStrictEqual(e.command._tag, "PeerDead")
    }
  }, options)

  it("the scenarios reach the cases the properties are about", () => {
    const c = Property.coverage<[Scenario]>([Scenario], ([s]) => {
      const classes: Array<string> = []
      const outcome = play(s)
      if (outcome.trace.some((e) => e.kind === "transmit" && e.from === "server" && describeOf(e) === "keepalive PING")) classes.push("server PINGs")
      if (outcome.trace.some((e) => e.kind === "transmit" && e.from === "client" && describeOf(e) === "keepalive PING")) classes.push("client PINGs")
      if (outcome.trace.some((e) => e.kind === "event" && e.command._tag === "PeerDead")) classes.push("a death")
      const d = openDecision(s, play({ ...s, policy: "required" }))
      if (d.asked) {
        const interval = s.serverInterval > 0 ? "I>0" : "I<=0"
        classes.push(`required, ${d.advertised ? "advertised" : "silent"}, ${interval}, C${s.serverCount > 0 ? ">0" : "=0"}`)
      }
      return classes
    }, RUNS)
    console.log(Property.describeCoverage("SessionProperties scenarios", c))
    const share = (k: string) => (c.counts[k] ?? 0) / c.runs
    assert.isAtLeast(share("server PINGs"), 0.1)
    assert.isAtLeast(share("client PINGs"), 0.04)
    assert.isAtLeast(share("a death"), 0.1)
    // the required rule, both directions, on both sides of the interval boundary and for either count
    for (const who of ["advertised", "silent"]) {
      for (const interval of ["I>0", "I<=0"]) {
        for (const count of ["C>0", "C=0"]) assert.isAtLeast(c.counts[`required, ${who}, ${interval}, ${count}`] ?? 0, 5, `${who}, ${interval}, ${count}`)
      }
    }
  })
})
