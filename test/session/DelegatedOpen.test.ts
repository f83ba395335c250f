/**
 * The server session with `delegateOpen` (a proxy's server side): event tables of inputs and the commands they give.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Session from "../../src/session/Session.ts"
import * as Trace from "../../src/trace/Trace.ts"

const { Received, Send, Tick } = Session.Input

const tags = (commands: ReadonlyArray<Session.Command>): Array<string> =>
  commands.map((c) => (c._tag === "Transmit" || c._tag === "Deliver" ? `${c._tag} ${Trace.describeFrame(c.frame).replace(/ \(.*\)$/, "")}` : c._tag))

const call = (proc: number, serial: number, payload?: Uint8Array): Frame.Frame => Frame.make(Remote.callHeader(proc, serial), payload)
const feature = (serial: number, f: number) => call(Remote.RemoteProc.ConnectSupportsFeature, serial, Remote.encodeSupportsFeatureArgs({ feature: f }))
const open = (serial: number) => call(Remote.RemoteProc.ConnectOpen, serial, Remote.encodeConnectOpenArgs({ name: "test:///default", flags: 1 }))
const openReply = (serial: number, status: number = Frame.MessageStatus.Ok, payload?: Uint8Array) =>
  Frame.make(Remote.replyHeader(Remote.RemoteProc.ConnectOpen, serial, status), payload)
const denied = Remote.encodeRemoteError(Remote.libvirtError(Remote.ErrorCode.OperationDenied, Remote.ErrorDomain.Remote, "no"))

type Row = readonly [input: Session.Input, expected: ReadonlyArray<string>, phase: Session.ServerPhase]

/** Steps the rows in order from a fresh delegating server, checking each row's commands and the phase after it. */
const table = (rows: ReadonlyArray<Row>, options: Partial<Session.ServerOptions> = {}) => {
  let s: Session.State = Session.server(0, { interval: 1000, count: 2, policy: "required", delegateOpen: true, ...options })
  rows.forEach(([input, expected, phase], i) => {
    const [next, out] = Session.step(s, input)
    assert.deepStrictEqual(tags(out), expected, `row ${i}: ${input._tag}`)
    assert.strictEqual(next.phase, phase, `row ${i}: phase`)
    s = next
  })
  return s
}

describe("Session: delegateOpen (a proxy's server side)", () => {
  it("CONNECT_OPEN is delivered, not answered; the application's OK reply goes out and opens", () => {
    table([
      [Received(0, call(Remote.RemoteProc.AuthList, 0)), ["Transmit remote_auth_list_ret"], "handshake"],
      [Received(1, feature(1, Remote.Feature.ProgramKeepalive)), ["Transmit remote_supports_feature_ret"], "handshake"],
      [Received(2, open(2)), ["Deliver remote_connect_open_args"], "handshake"],
      [Send(3, openReply(2)), ["Transmit remote_connect_open_ret", "Opened"], "open"]
    ])
  })

  it("an error reply to CONNECT_OPEN goes out and leaves the connection unopened; a new CONNECT_OPEN is delivered again", () => {
    const s = table([
      [Received(0, feature(0, Remote.Feature.ProgramKeepalive)), ["Transmit remote_supports_feature_ret"], "handshake"],
      [Received(1, open(1)), ["Deliver remote_connect_open_args"], "handshake"],
      [Send(2, openReply(1, Frame.MessageStatus.Error, denied)), ["Transmit remote_error for connect_open"], "handshake"],
      [Received(3, call(Remote.RemoteProc.ConnectGetHostname, 2)), ["Transmit remote_error for connect_get_hostname"], "handshake"],
      [Received(4, open(3)), ["Deliver remote_connect_open_args"], "handshake"]
    ])
    assert.strictEqual((s as Session.ServerState).opening, 3)
  })

  it("policy required still refuses a client that did not advertise: nothing is delivered", () => {
    table([
      [Received(0, call(Remote.RemoteProc.AuthList, 0)), ["Transmit remote_auth_list_ret"], "handshake"],
      [Received(1, open(1)), ["Transmit remote_error for connect_open", "Close"], "closed"]
    ])
  })

  it("a second CONNECT_OPEN while the first is being opened gets an error; a reply with another serial opens nothing", () => {
    table([
      [Received(0, feature(0, Remote.Feature.ProgramKeepalive)), ["Transmit remote_supports_feature_ret"], "handshake"],
      [Received(1, open(1)), ["Deliver remote_connect_open_args"], "handshake"],
      [Received(2, open(2)), ["Transmit remote_error for connect_open"], "handshake"],
      [Send(3, openReply(7)), ["Transmit remote_connect_open_ret"], "handshake"],
      [Send(4, openReply(1)), ["Transmit remote_connect_open_ret", "Opened"], "open"]
    ])
  })

  it("once open, feature queries other than keepalive and fd passing go to the daemon behind; before, they are refused as libvirtd refuses them", () => {
    table([
      [Received(0, feature(0, Remote.Feature.RemoteCloseCallback)), ["Transmit remote_error for supports_feature"], "handshake"],
      [Received(1, feature(1, Remote.Feature.ProgramKeepalive)), ["Transmit remote_supports_feature_ret"], "handshake"],
      [Received(2, open(2)), ["Deliver remote_connect_open_args"], "handshake"],
      [Send(3, openReply(2)), ["Transmit remote_connect_open_ret", "Opened"], "open"],
      [Received(4, feature(3, Remote.Feature.RemoteEventCallback)), ["Deliver remote_supports_feature_args"], "open"],
      [Received(5, feature(4, Remote.Feature.RemoteCloseCallback)), ["Deliver remote_supports_feature_args"], "open"],
      [Received(6, feature(5, Remote.Feature.FdPassing)), ["Transmit remote_supports_feature_ret"], "open"],
      [Received(7, feature(6, Remote.Feature.ProgramKeepalive)), ["Transmit remote_supports_feature_ret"], "open"]
    ])
  })

  it("keepalive runs on this leg as without delegation: pings start at the feature query, a silent client dies at (C+1)·I", () => {
    table([
      [Received(0, feature(0, Remote.Feature.ProgramKeepalive)), ["Transmit remote_supports_feature_ret"], "handshake"],
      [Received(10, open(1)), ["Deliver remote_connect_open_args"], "handshake"],
      [Send(20, openReply(1)), ["Transmit remote_connect_open_ret", "Opened"], "open"],
      [Tick(1010), ["Transmit keepalive PING"], "open"],
      [Tick(2010), ["Transmit keepalive PING"], "open"],
      [Tick(3010), ["PeerDead", "Close"], "closed"]
    ])
  })

  it("without delegateOpen nothing changes: CONNECT_OPEN is answered at once, features are answered", () => {
    table([
      [Received(0, feature(0, Remote.Feature.ProgramKeepalive)), ["Transmit remote_supports_feature_ret"], "handshake"],
      [Received(1, open(1)), ["Transmit remote_connect_open_ret", "Opened"], "open"],
      [Received(2, feature(2, Remote.Feature.RemoteCloseCallback)), ["Transmit remote_supports_feature_ret"], "open"]
    ], { delegateOpen: false })
  })
})
