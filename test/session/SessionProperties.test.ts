import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Frame from "../../src/wire/Frame.ts"
import * as ProtocolVariant from "../../src/session/ProtocolVariant.ts"
import * as Session from "../../src/session/Session.ts"
import * as SessionPair from "../../src/verify/SessionPair.ts"
import * as Trace from "../../src/tools/Trace.ts"

/** A random scenario: settings of both sides, latencies, and a script of client actions and freezes. */
const Scenario = Schema.Struct({
  variant: Schema.Literals(["libvirt", "draft"]),
  advertise: Schema.Boolean,
  policy: Schema.Literals(["disabled", "if-supported", "required"]),
  serverInterval: Schema.Int.check(Schema.isBetween({ minimum: -1, maximum: 3000 })),
  serverCount: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
  toServer: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 400 })),
  toClient: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 400 })),
  script: Schema.Array(Schema.Struct({
    at: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20_000 })),
    what: Schema.Literals(["setKeepAlive", "allow", "freeze-client", "freeze-server", "thaw-client", "thaw-server", "close"]),
    interval: Schema.Int.check(Schema.isBetween({ minimum: -1, maximum: 3000 })),
    count: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 }))
  }))
})
type Scenario = typeof Scenario.Type

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
      case "close":
        actions.push({ at: a.at, side: "client", input: (now) => Session.Input.Close(now) })
        break
      default: {
        const [verb, side] = a.what.split("-") as ["freeze" | "thaw", SessionPair.Side]
        actions.push({ at: a.at, side, freeze: verb === "freeze" })
      }
    }
  }
  return SessionPair.run({
    client: Session.client(0, { variant, advertise: s.advertise }),
    server: Session.server(0, { interval: s.serverInterval, count: s.serverCount, policy: s.policy, variant }),
    toServer: s.toServer,
    toClient: s.toClient,
    actions,
    until: 60_000
  })
}

const options = { arbitrary: { runs: 300 } }

describe("Session: properties over random scenarios", () => {
  it.prop("the server never PINGs a client that has not advertised", [Scenario], ([s]) => {
    let advertised = false
    for (const e of play(s).trace) {
      if (e.kind !== "transmit") continue
      const what = Trace.describeFrame(e.frame)
      if (e.from === "client") {
        if (s.variant === "libvirt" && what === "remote_supports_feature_args (KEEPALIVE)") advertised = true
        if (s.variant === "draft" && what === "keepalive ADVERTISE") advertised = true
      } else if (what === "keepalive PING") {
        assert.isTrue(advertised, "server PING before the client advertised")
        assert.notStrictEqual(s.policy, "disabled")
      }
    }
  }, options)

  it.prop("under policy required, no connection is opened without advertisement", [Scenario], ([s]) => {
    const outcome = play({ ...s, policy: "required" })
    for (const e of outcome.trace) {
      if (e.kind === "event" && e.command._tag === "Opened" && e.side === "server") assert.isTrue(e.command.keepalive)
    }
    const server = outcome.server
    if (server.role === "server" && server.phase === "open") assert.isTrue(server.advertised)
  }, options)

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
      script: s.script.filter((a) => a.what === "setKeepAlive" || a.what === "allow").map((a) => ({ ...a, count: Math.max(a.count, 1), interval: a.interval > 0 ? Math.max(a.interval, 500) : a.interval }))
    }
    for (const e of play(responsive).trace) {
      if (e.kind === "event") assert.notStrictEqual(e.command._tag, "PeerDead")
    }
  }, options)
})
