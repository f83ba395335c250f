/**
 * A server session's handshake deadline (`handshakeTimeout`): event tables of inputs, the commands they give, the
 * next deadline and the phase after each.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Session from "../../src/session/Session.ts"
import * as Trace from "../../src/trace/Trace.ts"

const { Close, Received, Send, Tick } = Session.Input

const show = (c: Session.Command): string => {
  switch (c._tag) {
    case "Transmit":
    case "Deliver":
      return `${c._tag} ${Trace.describeFrame(c.frame).replace(/ \(.*\)$/, "")}`
    case "Close":
      return `Close(${c.reason})`
    default:
      return c._tag
  }
}

const call = (proc: number, serial: number, payload?: Uint8Array): Frame.Frame => Frame.make(Remote.callHeader(proc, serial), payload)
const auth = (serial: number) => call(Remote.RemoteProc.AuthList, serial)
const advertise = (serial: number) =>
  call(Remote.RemoteProc.ConnectSupportsFeature, serial, Remote.encodeSupportsFeatureArgs({ feature: Remote.Feature.ProgramKeepalive }))
const open = (serial: number) => call(Remote.RemoteProc.ConnectOpen, serial, Remote.encodeConnectOpenArgs({ name: "test:///default", flags: 0 }))
const openReply = (serial: number, status: number) => Frame.make(Remote.replyHeader(Remote.RemoteProc.ConnectOpen, serial, status))

/** One row: the input, the commands it must give, the next deadline and the phase after it. */
type Row = readonly [input: Session.Input, commands: ReadonlyArray<string>, deadline: number | undefined, phase: Session.ServerPhase]

/** A server session accepted at `now`. */
const accepted = (now: number, server: Server): Session.State => Session.server(now, server.options, server.limits)

/** Runs a table from a server accepted at `createdAt`, checking every row; returns the final state. */
const runTable = (server: Server, rows: ReadonlyArray<Row>, createdAt = 0): Session.State => {
  let state = accepted(createdAt, server)
  rows.forEach(([input, commands, deadline, phase], i) => {
    const [next, out] = Session.step(state, input)
    const where = `row ${i + 1} (${input._tag} at ${input.now})`
    assert.deepStrictEqual(out.map(show), commands, `${where}: commands`)
    assert.strictEqual(Session.nextDeadline(next), deadline, `${where}: next deadline`)
    assert.strictEqual(next.phase, phase, `${where}: phase`)
    state = next
  })
  return state
}

/** A server's options and limits. */
interface Server {
  readonly options: Session.ServerOptions
  readonly limits: Session.ServerLimits
}

/** A server that pings an advertising client every second, twice, with the handshake timeout given. */
const withTimeout = (handshakeTimeout?: number, options: Partial<Session.ServerOptions> = {}): Server => ({
  options: { interval: 1000, count: 2, policy: "if-supported", ...options },
  limits: handshakeTimeout === undefined ? {} : { handshakeTimeout }
})

describe("Session: a server's handshake deadline", () => {
  it("a silent client: the deadline is the handshake's; a Tick at it closes with handshake-timeout", () => {
    assert.strictEqual(Session.nextDeadline(accepted(0, withTimeout(3000))), 3000)
    const end = runTable(withTimeout(3000), [
      [Tick(1000), [], 3000, "handshake"],
      [Received(2000, auth(0)), ["Transmit remote_auth_list_ret"], 3000, "handshake"],
      [Tick(3000), ["Close(handshake-timeout)"], undefined, "closed"],
      [Tick(4000), [], undefined, "closed"],
      [Received(4001, open(1)), [], undefined, "closed"]
    ])
    assert.strictEqual(end.closeReason, "handshake-timeout")
  })

  it("counts from the connection's acceptance; a late Tick (past the deadline) closes too", () => {
    assert.strictEqual(Session.nextDeadline(accepted(500, withTimeout(3000))), 3500)
    runTable(withTimeout(3000), [
      [Tick(3499), [], 3500, "handshake"],
      [Tick(9000), ["Close(handshake-timeout)"], undefined, "closed"]
    ], 500)
  })

  it("an open before the deadline ends it: no close, the keepalive deadline only", () => {
    runTable(withTimeout(3000), [
      [Received(100, auth(0)), ["Transmit remote_auth_list_ret"], 3000, "handshake"],
      [Received(200, open(1)), ["Transmit remote_connect_open_ret", "Opened"], undefined, "open"],
      [Tick(3000), [], undefined, "open"]
    ])
    runTable(withTimeout(3000, { count: 5 }), [
      [Received(100, advertise(0)), ["Transmit remote_supports_feature_ret"], 1100, "handshake"],
      [Received(200, open(1)), ["Transmit remote_connect_open_ret", "Opened"], 1200, "open"],
      [Tick(1200), ["Transmit keepalive PING"], 2200, "open"],
      [Tick(2200), ["Transmit keepalive PING"], 3200, "open"],
      [Tick(3200), ["Transmit keepalive PING"], 4200, "open"]
    ])
  })

  it("no handshakeTimeout (or ≤ 0, or not finite): no handshake deadline", () => {
    for (const timeout of [undefined, 0, -1, Infinity, NaN]) {
      runTable(withTimeout(timeout), [
        [Received(0, auth(0)), ["Transmit remote_auth_list_ret"], undefined, "handshake"],
        [Tick(1_000_000_000), [], undefined, "handshake"]
      ])
    }
  })

  it("a refusal before the deadline closes as refused, and the deadline is gone", () => {
    runTable(withTimeout(3000, { policy: "required" }), [
      [Received(100, open(0)), ["Transmit remote_error for connect_open", "Close(refused)"], undefined, "closed"],
      [Tick(3000), [], undefined, "closed"]
    ])
  })

  it("a Close before the deadline closes as closed", () => {
    runTable(withTimeout(3000), [[Close(100), ["Close(closed)"], undefined, "closed"], [Tick(3000), [], undefined, "closed"]])
  })

  it("delegateOpen: a CONNECT_OPEN the daemon refused leaves the deadline in force; one it accepted ends it", () => {
    const delegating = withTimeout(3000, { delegateOpen: true })
    runTable(delegating, [
      [Received(100, open(0)), ["Deliver remote_connect_open_args"], 3000, "handshake"],
      [Send(200, openReply(0, Frame.MessageStatus.Error)), ["Transmit remote_error for connect_open"], 3000, "handshake"],
      [Tick(3000), ["Close(handshake-timeout)"], undefined, "closed"]
    ])
    runTable(delegating, [
      [Received(100, open(0)), ["Deliver remote_connect_open_args"], 3000, "handshake"],
      [Tick(2999), [], 3000, "handshake"],
      [Send(2999, openReply(0, Frame.MessageStatus.Ok)), ["Transmit remote_connect_open_ret", "Opened"], undefined, "open"],
      [Tick(3000), [], undefined, "open"]
    ])
  })
})

describe("Session: the handshake deadline beside the keepalive deadline", () => {
  it("the earlier of the two is the next deadline; the PINGs to an advertising client go on until the handshake's", () => {
    runTable(withTimeout(3000), [
      [Received(100, advertise(0)), ["Transmit remote_supports_feature_ret"], 1100, "handshake"],
      [Tick(1100), ["Transmit keepalive PING"], 2100, "handshake"],
      [Tick(2100), ["Transmit keepalive PING"], 3000, "handshake"],
      [Tick(3000), ["Close(handshake-timeout)"], undefined, "closed"]
    ])
  })

  it("a peer declared dead before the deadline closes as keepalive-timeout", () => {
    runTable(withTimeout(3000, { interval: 500, count: 1 }), [
      [Received(0, advertise(0)), ["Transmit remote_supports_feature_ret"], 500, "handshake"],
      [Tick(500), ["Transmit keepalive PING"], 1000, "handshake"],
      [Tick(1000), ["PeerDead", "Close(keepalive-timeout)"], undefined, "closed"],
      [Tick(3000), [], undefined, "closed"]
    ])
  })

  it("both due at once: the handshake's close wins, no PING", () => {
    runTable(withTimeout(2100), [
      [Received(100, advertise(0)), ["Transmit remote_supports_feature_ret"], 1100, "handshake"],
      [Tick(1100), ["Transmit keepalive PING"], 2100, "handshake"],
      [Tick(2100), ["Close(handshake-timeout)"], undefined, "closed"]
    ])
  })

  it("the deadline is part of the state's identity (Session.key), and the trace names the reason", () => {
    const a = Session.server(0, withTimeout().options, { handshakeTimeout: 3000 })
    const b = Session.server(0, withTimeout().options, { handshakeTimeout: 3001 })
    assert.notStrictEqual(Session.key(a), Session.key(b))
    const [, out] = Session.step(a, Tick(3000))
    assert.strictEqual(Trace.describeCommand("server", out[0]!), "S: closes the connection (handshake-timeout)")
  })
})
