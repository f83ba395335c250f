import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Frame from "../../src/wire/Frame.ts"
import * as ProtocolVariant from "../../src/session/ProtocolVariant.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Session from "../../src/session/Session.ts"
import * as SessionPair from "../../src/verify/SessionPair.ts"
import * as Trace from "../../src/trace/Trace.ts"

const { Open, Received, Call, SetKeepAlive, AllowKeepAlive, Tick, Close } = Session.Input

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
const golden = (s: string): string => s.replace(/\s+/g, "")

const transmitted = (commands: ReadonlyArray<Session.Command>): Array<Frame.Frame> => commands.flatMap((c) => (c._tag === "Transmit" ? [c.frame] : []))
const tags = (commands: ReadonlyArray<Session.Command>): Array<string> =>
  commands.map((c) => (c._tag === "Transmit" ? `Transmit ${Trace.describeFrame(c.frame)}` : c._tag))

const okReply = (call: Frame.Frame, payload?: Uint8Array): Frame.Frame =>
  Frame.make(Remote.replyHeader(call.header.proc, call.header.serial, Frame.MessageStatus.Ok), payload)
const errorReply = (call: Frame.Frame, code: number, message: string): Frame.Frame =>
  Frame.make(
    Remote.replyHeader(call.header.proc, call.header.serial, Frame.MessageStatus.Error),
    Remote.encodeRemoteError(Remote.remoteError(code, Remote.ErrorDomain.Rpc, message))
  )

/** Feeds one input and returns the new state with the commands. */
const feed = (state: Session.State, input: Session.Input) => Session.step(state, input)

/** Opens a client against scripted replies: supported is the server's answer to feature 10. */
const openClient = (supported: number, options: Session.ClientOptions = {}) => {
  let s: Session.State = Session.client(0, options)
  let out: ReadonlyArray<Session.Command>
  ;[s, out] = feed(s, Open(0, "test:///default"))
  const auth = transmitted(out)[0]!
  ;[s, out] = feed(s, Received(1, okReply(auth, Remote.encodeAuthListRet({ types: [Remote.AuthType.None] }))))
  let next = transmitted(out)[0]!
  if (next.header.proc === Remote.RemoteProc.ConnectSupportsFeature) {
    ;[s, out] = feed(s, Received(2, okReply(next, Remote.encodeSupportsFeatureRet({ supported }))))
    next = transmitted(out)[0]!
  }
  assert.strictEqual(next.header.proc, Remote.RemoteProc.ConnectOpen)
  ;[s, out] = feed(s, Received(3, okReply(next)))
  return [s, out] as const
}

describe("Session: the client's open sequence", () => {
  it("AUTH_LIST → SUPPORTS_FEATURE(10) → CONNECT_OPEN, byte for byte as libvirt 9.0 sends them, serials from 0", () => {
    let s: Session.State = Session.client(0)
    let out: ReadonlyArray<Session.Command>
    ;[s, out] = feed(s, Open(0, "test:///default"))
    const auth = transmitted(out)
    assert.strictEqual(auth.length, 1)
    assert.strictEqual(hex(Frame.encode(auth[0]!)), golden("0000001c 20008086 00000001 00000042 00000000 00000000 00000000"))
    ;[s, out] = feed(s, Received(1, okReply(auth[0]!, Remote.encodeAuthListRet({ types: [Remote.AuthType.None] }))))
    const feature = transmitted(out)
    assert.strictEqual(hex(Frame.encode(feature[0]!)), golden("00000020 20008086 00000001 0000003c 00000000 00000001 00000000 0000000a"))
    ;[s, out] = feed(s, Received(2, okReply(feature[0]!, Remote.encodeSupportsFeatureRet({ supported: 1 }))))
    const open = transmitted(out)
    assert.strictEqual(
      hex(Frame.encode(open[0]!)),
      golden("00000038 20008086 00000001 00000001 00000000 00000002 00000000") +
        golden("00000001 0000000f") + Buffer.from("test:///default").toString("hex") + "00" + golden("00000000")
    )
    ;[s, out] = feed(s, Received(3, okReply(open[0]!)))
    assert.deepStrictEqual(out, [{ _tag: "Opened", keepalive: true }])
    assert.strictEqual(s.phase, "open")
  })

  it("a call sent as is moves the next serial past its own: CONNECT_CLOSE never takes a relayed call's serial", () => {
    let [s] = openClient(1)
    let out: ReadonlyArray<Session.Command>
    // virsh's SUPPORTS_FEATURE(14) with its serial 3, relayed by a proxy on the daemon leg (ours used 0, 1, 2)
    const relayed = Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectSupportsFeature, 3), Remote.encodeSupportsFeatureArgs({ feature: 14 }))
    ;[s, out] = feed(s, { _tag: "Send", now: 4, frame: relayed })
    assert.deepStrictEqual(transmitted(out), [relayed])
    ;[s, out] = feed(s, { _tag: "Close", now: 5 })
    const close = transmitted(out)[0]!
    assert.strictEqual(close.header.proc, Remote.RemoteProc.ConnectClose)
    assert.strictEqual(close.header.serial, 4) // the reply to the relayed call is delivered, not taken for the close reply
    ;[s, out] = feed(s, Received(6, okReply(relayed, Remote.encodeSupportsFeatureRet({ supported: 1 }))))
    assert.deepStrictEqual(tags(out), ["Deliver"])
    assert.strictEqual(s.phase, "closing")
  })

  it("setKeepAlive starts, stops and restarts client pings once the server supports keepalive", () => {
    let [s] = openClient(1)
    let out: ReadonlyArray<Session.Command>
    ;[s, out] = feed(s, SetKeepAlive(10, 1000, 2))
    assert.deepStrictEqual(out, [{ _tag: "KeepAlive", outcome: "started" }])
    assert.strictEqual(Session.nextDeadline(s), 1003) // counts from the last receipt (the CONNECT_OPEN reply at 3)
    ;[s, out] = feed(s, Tick(1003))
    assert.deepStrictEqual(tags(out), ["Transmit keepalive PING"])
    ;[s, out] = feed(s, SetKeepAlive(1100, 0, 0))
    assert.deepStrictEqual(out, [{ _tag: "KeepAlive", outcome: "stopped" }])
    assert.strictEqual(Session.nextDeadline(s), undefined)
    ;[s, out] = feed(s, SetKeepAlive(1200, 500, 1))
    assert.deepStrictEqual(out, [{ _tag: "KeepAlive", outcome: "started" }])
    assert.strictEqual(Session.nextDeadline(s), 1200)
  })

  it("setKeepAlive answers unsupported when the server said the feature is unsupported", () => {
    let [s] = openClient(0)
    let out: ReadonlyArray<Session.Command>
    ;[s, out] = feed(s, SetKeepAlive(10, 1000, 2))
    assert.deepStrictEqual(out, [{ _tag: "KeepAlive", outcome: "unsupported" }])
    assert.strictEqual(Session.nextDeadline(s), undefined)
  })

  it("a client that does not advertise skips the feature query, and setKeepAlive is unsupported", () => {
    const [s, opened] = openClient(1, { advertise: false })
    assert.deepStrictEqual(opened, [{ _tag: "Opened", keepalive: false }])
    const [, out] = feed(s, SetKeepAlive(10, 1000, 2))
    assert.deepStrictEqual(out, [{ _tag: "KeepAlive", outcome: "unsupported" }])
  })

  it("an old server without AUTH_LIST (NO_SUPPORT) is tolerated, as libvirt does", () => {
    let s: Session.State = Session.client(0)
    let out: ReadonlyArray<Session.Command>
    ;[s, out] = feed(s, Open(0, undefined))
    ;[s, out] = feed(s, Received(1, errorReply(transmitted(out)[0]!, Remote.ErrorCode.NoSupport, "unknown procedure")))
    assert.strictEqual(transmitted(out)[0]!.header.proc, Remote.RemoteProc.ConnectSupportsFeature)
    assert.strictEqual(s.phase, "feature")
  })

  it("an open refused by the server gives OpenFailed with libvirt's code and message, then Close", () => {
    let s: Session.State = Session.client(0, { advertise: false })
    let out: ReadonlyArray<Session.Command>
    ;[s, out] = feed(s, Open(0, "test:///default"))
    ;[s, out] = feed(s, Received(1, okReply(transmitted(out)[0]!, Remote.encodeAuthListRet({ types: [] }))))
    ;[s, out] = feed(s, Received(2, errorReply(transmitted(out)[0]!, Remote.ErrorCode.OperationDenied, "denied")))
    assert.deepStrictEqual(out.map((c) => c._tag), ["OpenFailed", "Close"])
    const failed = out[0]!
    if (failed._tag !== "OpenFailed") return assert.fail("expected OpenFailed")
    assert.strictEqual(failed.error.step, "open")
    assert.strictEqual(failed.error.remote?.code, Remote.ErrorCode.OperationDenied)
    assert.include(failed.error.message, "denied")
    assert.strictEqual(s.phase, "closed")
  })

  it("a server that requires SASL is refused with a typed error, not a hang", () => {
    let s: Session.State = Session.client(0)
    let out: ReadonlyArray<Session.Command>
    ;[s, out] = feed(s, Open(0, undefined))
    ;[s, out] = feed(s, Received(1, okReply(transmitted(out)[0]!, Remote.encodeAuthListRet({ types: [Remote.AuthType.Sasl] }))))
    assert.deepStrictEqual(out.map((c) => c._tag), ["OpenFailed", "Close"])
  })

  it("a malformed SUPPORTS_FEATURE reply fails the open with a typed error naming the step", () => {
    let s: Session.State = Session.client(0)
    let out: ReadonlyArray<Session.Command>
    ;[s, out] = feed(s, Open(0, undefined))
    ;[s, out] = feed(s, Received(1, okReply(transmitted(out)[0]!, Remote.encodeAuthListRet({ types: [] }))))
    ;[s, out] = feed(s, Received(2, okReply(transmitted(out)[0]!, new Uint8Array([0, 0]))))
    const failed = out[0]!
    assert.strictEqual(failed._tag, "OpenFailed")
    if (failed._tag === "OpenFailed") assert.strictEqual(failed.error.step, "feature")
  })

  it("calls get the following serials; replies to them are delivered; CONNECT_CLOSE closes", () => {
    let [s] = openClient(1)
    let out: ReadonlyArray<Session.Command>
    ;[s, out] = feed(s, Call(10, Remote.RemoteProc.ConnectGetHostname))
    const call = transmitted(out)[0]!
    assert.strictEqual(call.header.serial, 3)
    assert.strictEqual(call.header.type, Frame.MessageType.Call)
    const answer = okReply(call, new Uint8Array(8))
    ;[s, out] = feed(s, Received(11, answer))
    assert.deepStrictEqual(out, [{ _tag: "Deliver", frame: answer }])
    ;[s, out] = feed(s, Close(12))
    const close = transmitted(out)[0]!
    assert.strictEqual(close.header.proc, Remote.RemoteProc.ConnectClose)
    assert.strictEqual(close.header.serial, 4)
    ;[s, out] = feed(s, Received(13, okReply(close)))
    assert.deepStrictEqual(out, [{ _tag: "Close", reason: "closed" }])
    assert.isTrue(Session.isClosed(s))
  })

  it("misuse is rejected with a typed error and changes nothing", () => {
    const fresh = Session.client(0)
    for (const input of [Call(0, 59), SetKeepAlive(0, 1000, 1), AllowKeepAlive(0)]) {
      const [after, out] = feed(fresh, input)
      assert.strictEqual(after, fresh)
      assert.strictEqual(out.length, 1)
      const c = out[0]!
      assert.strictEqual(c._tag, "Rejected")
      if (c._tag === "Rejected") assert.strictEqual(c.error._tag, "NotAllowed")
    }
    const [open] = openClient(1)
    const [after, out] = feed(open, SetKeepAlive(10, 1000, -3))
    assert.strictEqual(after, open)
    const c = out[0]!
    assert.isTrue(c._tag === "Rejected" && c.error._tag === "InvalidKeepaliveConfig" && c.error.field === "count")
    const srv = Session.server(0)
    const [, fromServer] = feed(srv, SetKeepAlive(0, 1000, 1))
    assert.strictEqual(fromServer[0]!._tag, "Rejected")
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Both sides, through the pure pair
// ---------------------------------------------------------------------------------------------------------------

const openAction: SessionPair.Action = { at: 0, side: "client", input: (now) => Open(now, "test:///default") }
const keepAliveAt = (at: number, interval: number, count: number): SessionPair.Action => ({
  at,
  side: "client",
  input: (now) => SetKeepAlive(now, interval, count)
})

const sent = (outcome: SessionPair.Outcome, from: SessionPair.Side, what: string) =>
  outcome.trace.filter((e) => e.kind === "transmit" && e.from === from && Trace.describeFrame(e.frame) === what).map((e) => e.at)
const events = (outcome: SessionPair.Outcome, side: SessionPair.Side, tag: Session.Command["_tag"]) =>
  outcome.trace.flatMap((e) => (e.kind === "event" && e.side === side && e.command._tag === tag ? [{ at: e.at, command: e.command }] : []))

describe("Session: server policy (seed 001)", () => {
  const serverWith = (policy: Session.Policy) => Session.server(0, { interval: 1000, count: 2, policy })

  it("disabled: never pings, even an advertising client, but answers its PINGs", () => {
    const outcome = SessionPair.run({
      client: Session.client(0),
      server: serverWith("disabled"),
      actions: [openAction, keepAliveAt(1, 3000, 1)],
      until: 60_000
    })
    assert.deepStrictEqual(sent(outcome, "server", "keepalive PING"), [])
    assert.strictEqual(sent(outcome, "client", "keepalive PING").length, 20)
    assert.strictEqual(sent(outcome, "server", "keepalive PONG").length, 20)
    assert.isFalse(Session.isClosed(outcome.server))
    assert.isFalse(Session.isClosed(outcome.client))
  })

  it("if-supported: pings an advertising client every I of silence; a live client is never dropped", () => {
    const outcome = SessionPair.run({
      client: Session.client(0),
      server: serverWith("if-supported"),
      toClient: 5,
      toServer: 5,
      actions: [openAction],
      until: 10_000
    })
    const pings = sent(outcome, "server", "keepalive PING")
    assert.isAtLeast(pings.length, 8)
    // each PING comes one interval after the previous PONG arrived (5 + 5 ms round trip)
    pings.slice(1).forEach((t, i) => assert.strictEqual(t - pings[i]!, 1010))
    assert.strictEqual(sent(outcome, "client", "keepalive PONG").length, pings.length)
    assert.deepStrictEqual(events(outcome, "server", "PeerDead"), [])
  })

  it("if-supported: a client that did not advertise is never pinged", () => {
    const outcome = SessionPair.run({
      client: Session.client(0, { advertise: false }),
      server: serverWith("if-supported"),
      actions: [openAction],
      until: 30_000
    })
    assert.deepStrictEqual(sent(outcome, "server", "keepalive PING"), [])
    assert.deepStrictEqual(events(outcome, "client", "Opened").map((e) => e.command), [{ _tag: "Opened", keepalive: false }])
  })

  it("if-supported: a frozen client is declared dead (C+1)·I after its last frame", () => {
    const outcome = SessionPair.run({
      client: Session.client(0),
      server: serverWith("if-supported"),
      actions: [openAction, { at: 2500, side: "client", freeze: true }],
      until: 60_000
    })
    const pongs = sent(outcome, "client", "keepalive PONG")
    const lastFromClient = pongs[pongs.length - 1]!
    const dead = events(outcome, "server", "PeerDead")
    assert.strictEqual(dead.length, 1)
    assert.strictEqual(dead[0]!.at, lastFromClient + 3 * 1000)
    assert.deepStrictEqual(dead[0]!.command, { _tag: "PeerDead", silence: 3000, pingsSent: 2 })
    assert.deepStrictEqual(events(outcome, "server", "Close").map((e) => e.command), [{
      _tag: "Close",
      reason: "keepalive-timeout",
      cause: { _tag: "PeerDead", silence: 3000, pingsSent: 2 }
    }])
  })

  it("required: CONNECT_OPEN from a client that did not advertise is refused with a remote_error, then closed", () => {
    const outcome = SessionPair.run({ client: Session.client(0, { advertise: false }), server: serverWith("required"), actions: [openAction], until: 10_000 })
    const refusal = outcome.trace.find((e) => e.kind === "transmit" && e.from === "server" && e.frame.header.status === Frame.MessageStatus.Error)
    assert.isDefined(refusal)
    if (refusal?.kind !== "transmit") return
    assert.strictEqual(refusal.frame.header.proc, Remote.RemoteProc.ConnectOpen)
    const error = Remote.decodeRemoteError(refusal.frame.payload)
    assert.isTrue(Result.isSuccess(error))
    if (Result.isSuccess(error)) {
      assert.strictEqual(error.success.code, Remote.ErrorCode.OperationDenied)
      assert.include(error.success.message ?? "", "required")
    }
    assert.deepStrictEqual(events(outcome, "server", "Close").map((e) => e.command), [{ _tag: "Close", reason: "refused" }])
    const failed = events(outcome, "client", "OpenFailed")
    assert.strictEqual(failed.length, 1)
    assert.strictEqual(outcome.server.phase, "closed")
    assert.deepStrictEqual(events(outcome, "server", "Opened"), [])
  })

  it("required: an advertising client opens and is pinged", () => {
    const outcome = SessionPair.run({ client: Session.client(0), server: serverWith("required"), actions: [openAction], until: 5000 })
    assert.deepStrictEqual(events(outcome, "server", "Opened").map((e) => e.command), [{ _tag: "Opened", keepalive: true }])
    assert.isAtLeast(sent(outcome, "server", "keepalive PING").length, 4)
  })

  it("a server answers PINGs before any advertisement or open", () => {
    const [, out] = Session.step(Session.server(0, { interval: 1000, count: 1, policy: "if-supported" }), Received(5, Frame.PING))
    assert.deepStrictEqual(tags(out), ["Transmit keepalive PONG"])
  })

  it("server pings start on the feature query, before CONNECT_OPEN, as in libvirt", () => {
    let s: Session.State = Session.server(0, { interval: 1000, count: 1, policy: "if-supported" })
    let out: ReadonlyArray<Session.Command>
    assert.strictEqual(Session.nextDeadline(s), undefined)
    const query = Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectSupportsFeature, 1), Remote.encodeSupportsFeatureArgs({ feature: 10 }))
    ;[s, out] = Session.step(s, Received(100, query))
    assert.deepStrictEqual(tags(out), ["Transmit remote_supports_feature_ret (TRUE)"])
    assert.strictEqual(Session.nextDeadline(s), 1100) // a second query does not restart anything
    ;[s, out] = Session.step(s, Received(200, query))
    assert.strictEqual(Session.nextDeadline(s), 1200)
  })
})

/**
 * Every combination of the server's policy, the client's advertisement, the server's interval (negative, zero,
 * positive) and count (zero, positive), both directions of each rule: who is opened, who is refused, who is pinged,
 * who is dropped for silence. The client opens at 0 and never sets its own keepalive; it answers PINGs.
 */
describe("Session: policy × advertise × interval × count, every combination", () => {
  const POLICIES: ReadonlyArray<Session.Policy> = ["disabled", "if-supported", "required"]
  for (const policy of POLICIES) {
    for (const advertise of [true, false]) {
      for (const interval of [-1, 0, 1000]) {
        for (const count of [0, 2]) {
          const refused = policy === "required" && !advertise
          const keepalive = advertise && policy !== "disabled" && interval > 0
          const expected: { opened: ReadonlyArray<Session.Command>; closes: ReadonlyArray<string>; pings: ReadonlyArray<number>; serverPhase: string } = {
            opened: refused ? [] : [{ _tag: "Opened", keepalive: advertise }],
            closes: refused ? ["refused"] : keepalive && count === 0 ? ["keepalive-timeout"] : [],
            // C = 0: libvirt sends no PING and drops the peer after I of silence. Otherwise the first PING is due I
            // after CONNECT_OPEN arrives (at 5), each next one I after the PONG to the previous one (2 ms later)
            pings: keepalive && count > 0 ? [1005, 2007, 3009, 4011] : [],
            serverPhase: refused || (keepalive && count === 0) ? "closed" : "open"
          }
          const label = `${policy}, ${advertise ? "advertising" : "silent"} client, I=${interval}, C=${count}: ${
            refused ? "refused" : `opened, ${expected.pings.length > 0 ? "pinged" : expected.closes.length > 0 ? "dropped after I" : "never pinged"}`
          }`
          it(label, () => {
            const outcome = SessionPair.run({
              client: Session.client(0, { advertise }),
              server: Session.server(0, { interval, count, policy }),
              toServer: 1,
              toClient: 1,
              actions: [openAction],
              until: 4500
            })
            assert.deepStrictEqual({
              opened: events(outcome, "server", "Opened").map((e) => e.command),
              closes: events(outcome, "server", "Close").map((e) => (e.command._tag === "Close" ? e.command.reason : "")),
              pings: sent(outcome, "server", "keepalive PING"),
              serverPhase: outcome.server.phase
            }, expected)
            // the client sees the same decision: refused clients fail to open, the others open
            assert.strictEqual(events(outcome, "client", "OpenFailed").length, refused ? 1 : 0)
          })
        }
      }
    }
  }
})

describe("Session: the server's remote program", () => {
  const call = (proc: number, serial: number, payload?: Uint8Array, prog = Remote.REMOTE_PROGRAM): Frame.Frame =>
    Frame.make({ ...Remote.callHeader(proc, serial), prog }, payload)
  const errorOf = (out: ReadonlyArray<Session.Command>) => {
    const frame = transmitted(out)[0]!
    assert.strictEqual(frame.header.status, Frame.MessageStatus.Error)
    const e = Remote.decodeRemoteError(frame.payload)
    if (Result.isFailure(e)) return assert.fail(e.failure.message)
    return { header: frame.header, error: e.success }
  }

  it("a procedure before CONNECT_OPEN gets libvirtd's 'hypervisor connection not open'", () => {
    const [, out] = Session.step(Session.server(0), Received(0, call(Remote.RemoteProc.ConnectGetHostname, 0)))
    const { header, error } = errorOf(out)
    assert.strictEqual(header.serial, 0)
    assert.strictEqual(header.type, Frame.MessageType.Reply)
    assert.strictEqual(error.message, "internal error: hypervisor connection not open")
  })

  it("after CONNECT_OPEN, other procedures are delivered to the application", () => {
    let s: Session.State = Session.server(0)
    let out: ReadonlyArray<Session.Command>
    ;[s, out] = Session.step(s, Received(0, call(Remote.RemoteProc.ConnectOpen, 0, Remote.encodeConnectOpenArgs({ name: undefined, flags: 0 }))))
    assert.deepStrictEqual(tags(out), ["Transmit remote_connect_open_ret", "Opened"])
    const hostname = call(Remote.RemoteProc.ConnectGetHostname, 1)
    ;[s, out] = Session.step(s, Received(1, hostname))
    assert.deepStrictEqual(out, [{ _tag: "Deliver", frame: hostname }])
    ;[s, out] = Session.step(s, Received(2, call(Remote.RemoteProc.ConnectOpen, 2, Remote.encodeConnectOpenArgs({ name: undefined, flags: 0 }))))
    assert.strictEqual(errorOf(out).error.message, "internal error: connection already open")
  })

  it("a call to an unknown program, or a keepalive-program CALL, gets 'Cannot find program'", () => {
    for (const prog of [0x12345678, Frame.KEEPALIVE_PROGRAM]) {
      const [, out] = Session.step(Session.server(0), Received(0, call(1, 7, undefined, prog)))
      const { header, error } = errorOf(out)
      assert.strictEqual(header.serial, 7)
      assert.strictEqual(header.prog, prog)
      assert.include(error.message ?? "", `Cannot find program ${prog}`)
    }
  })

  it("malformed handshake arguments get libvirtd's error reply, never a crash", () => {
    const [, out] = Session.step(Session.server(0), Received(0, call(Remote.RemoteProc.ConnectSupportsFeature, 1, new Uint8Array([1]))))
    assert.strictEqual(errorOf(out).error.message, "Unable to decode message payload")
  })

  it("an unknown keepalive procedure is consumed silently but still counts as life", () => {
    let s: Session.State = Session.server(0, { interval: 1000, count: 1, policy: "if-supported" })
    let out: ReadonlyArray<Session.Command>
    ;[s] = Session.step(
      s,
      Received(0, Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectSupportsFeature, 0), Remote.encodeSupportsFeatureArgs({ feature: 10 })))
    )
    ;[s, out] = Session.step(s, Received(500, Frame.make(Frame.keepaliveHeader(9))))
    assert.deepStrictEqual(out, [])
    assert.strictEqual(Session.nextDeadline(s), 1500)
  })

  it("as libvirtd: a name libvirt cannot parse is refused, bytes after the arguments accepted, features before open refused", () => {
    const open = (name: string, extra: ReadonlyArray<number> = []) =>
      call(Remote.RemoteProc.ConnectOpen, 0, new Uint8Array([...Remote.encodeConnectOpenArgs({ name, flags: 0 }), ...extra]))
    for (const name of ["test:///a b", "t\u00e9st:///default", "test:///a%zz"]) {
      const { error } = errorOf(Session.step(Session.server(0), Received(0, open(name)))[1])
      assert.deepStrictEqual([error.code, error.domain, error.message], [
        Remote.ErrorCode.InternalError,
        Remote.ErrorDomain.Uri,
        `internal error: Unable to parse URI ${name}`
      ])
    }
    assert.deepStrictEqual(tags(Session.step(Session.server(0), Received(0, open("test:///default", [0, 0, 0, 9])))[1]), [
      "Transmit remote_connect_open_ret",
      "Opened"
    ])
    const feature = (n: number) =>
      call(Remote.RemoteProc.ConnectSupportsFeature, 1, new Uint8Array([...Remote.encodeSupportsFeatureArgs({ feature: n }), 0, 0, 0, 1]))
    assert.deepStrictEqual(tags(Session.step(Session.server(0), Received(0, feature(10)))[1]), ["Transmit remote_supports_feature_ret (TRUE)"])
    assert.strictEqual(errorOf(Session.step(Session.server(0), Received(0, feature(-1)))[1]).error.message, "internal error: hypervisor connection not open")
  })

  it("CONNECT_CLOSE is answered, then the connection closes", () => {
    const [s, out] = Session.step(Session.server(0), Received(0, call(Remote.RemoteProc.ConnectClose, 4)))
    assert.deepStrictEqual(tags(out), ["Transmit remote_connect_close_ret", "Close"])
    assert.isTrue(Session.isClosed(s))
  })
})

describe("Session: the two directions are independent (seed 000's two flows)", () => {
  it("each side pings with its own interval and count; the faster pinger keeps the slower one quiet", () => {
    const outcome = SessionPair.run({
      client: Session.client(0),
      server: Session.server(0, { interval: 2500, count: 2, policy: "if-supported" }),
      actions: [openAction, keepAliveAt(1, 1000, 3)],
      until: 20_000
    })
    const clientPings = sent(outcome, "client", "keepalive PING")
    assert.isAtLeast(clientPings.length, 19)
    clientPings.slice(1).forEach((t, i) => assert.strictEqual(t - clientPings[i]!, 1000))
    // the client's PINGs reset the server's countdown: the server never needs to ping (as libvirtd 9.0 logs show)
    assert.deepStrictEqual(sent(outcome, "server", "keepalive PING"), [])
  })

  it("each side detects a frozen peer at its own (C+1)·I", () => {
    const run = (frozen: SessionPair.Side) =>
      SessionPair.run({
        client: Session.client(0),
        server: Session.server(0, { interval: 2500, count: 2, policy: "if-supported" }),
        actions: [openAction, keepAliveAt(1, 1000, 3), { at: 5000, side: frozen, freeze: true }],
        until: 60_000
      })
    const serverFrozen = events(run("server"), "client", "PeerDead")
    assert.deepStrictEqual(serverFrozen.map((e) => e.command), [{ _tag: "PeerDead", silence: 4000, pingsSent: 3 }])
    const clientFrozen = events(run("client"), "server", "PeerDead")
    assert.deepStrictEqual(clientFrozen.map((e) => e.command), [{ _tag: "PeerDead", silence: 7500, pingsSent: 2 }])
  })
})

describe("Session: the seed-000 draft variant", () => {
  const draftClient = (advertise = true) => Session.client(0, { variant: ProtocolVariant.draft, advertise })
  const draftServer = (policy: Session.Policy) => Session.server(0, { interval: 1000, count: 2, policy, variant: ProtocolVariant.draft })
  const allowAt = (at: number): SessionPair.Action => ({ at, side: "client", input: (now) => AllowKeepAlive(now) })

  it("opening asks nothing; AllowKeepAlive asks the feature and sends ADVERTISE; only then does the server ping", () => {
    const outcome = SessionPair.run({ client: draftClient(), server: draftServer("if-supported"), actions: [openAction, allowAt(3000)], until: 6000 })
    const lines = Trace.arrows(outcome.trace, { notes: false }).split("\n").map((l) => l.trim().replace(/^\S+\s+/, ""))
    assert.deepStrictEqual(lines.slice(0, 7), [
      "1. C -> S remote_auth_list_args",
      "2. S -> C remote_auth_list_ret",
      "3. C -> S remote_connect_open_args (\"test:///default\")",
      "4. S -> C remote_connect_open_ret",
      "5. C -> S remote_supports_feature_args (KEEPALIVE)",
      "6. S -> C remote_supports_feature_ret (TRUE)",
      "7b. C -> S keepalive ADVERTISE"
    ])
    const pings = sent(outcome, "server", "keepalive PING")
    assert.strictEqual(pings[0], 4000) // one interval after ADVERTISE, not after the feature query
    assert.deepStrictEqual(events(outcome, "client", "KeepAlive").map((e) => e.command), [{ _tag: "KeepAlive", outcome: "allowed" }])
  })

  it("without AllowKeepAlive the server never pings", () => {
    const outcome = SessionPair.run({ client: draftClient(), server: draftServer("if-supported"), actions: [openAction], until: 30_000 })
    assert.deepStrictEqual(sent(outcome, "server", "keepalive PING"), [])
  })

  it("under the draft, policy `required` refuses every client: ADVERTISE can only come after CONNECT_OPEN", () => {
    const outcome = SessionPair.run({ client: draftClient(), server: draftServer("required"), actions: [openAction, allowAt(10)], until: 5000 })
    assert.strictEqual(events(outcome, "client", "OpenFailed").length, 1)
    assert.deepStrictEqual(events(outcome, "server", "Close").map((e) => e.command), [{ _tag: "Close", reason: "refused" }])
  })

  it("a libvirt server ignores the draft's ADVERTISE (an unknown keepalive procedure): no answer, no pinging", () => {
    const libvirtServer = Session.server(0, { interval: 1000, count: 2, policy: "if-supported" })
    const [s, out] = Session.step(libvirtServer, Received(10, Frame.make(Frame.keepaliveHeader(Frame.KeepaliveProc.Advertise))))
    assert.deepStrictEqual(out, [])
    assert.strictEqual(Session.nextDeadline(s), undefined)
    assert.isFalse((s as Session.ServerState).advertised)
  })

  it("AllowKeepAlive is not part of libvirt's design", () => {
    const [s] = openClient(1)
    const [, out] = Session.step(s, AllowKeepAlive(5))
    const c = out[0]!
    assert.isTrue(c._tag === "Rejected" && c.error._tag === "NotAllowed")
  })
})
