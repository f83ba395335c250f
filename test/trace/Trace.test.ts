import { assert, describe, it } from "@effect/vitest"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Session from "../../src/session/Session.ts"
import * as SessionPair from "../../src/verify/SessionPair.ts"
import * as Trace from "../../src/trace/Trace.ts"

describe("Trace", () => {
  it("names frames in the words of the design emails", () => {
    assert.strictEqual(Trace.describeFrame(Frame.PING), "keepalive PING")
    assert.strictEqual(Trace.describeFrame(Frame.PONG), "keepalive PONG")
    assert.strictEqual(Trace.describeFrame(Frame.make(Frame.keepaliveHeader(Frame.KeepaliveProc.Advertise))), "keepalive ADVERTISE")
    assert.strictEqual(Trace.describeFrame(Frame.make(Frame.keepaliveHeader(77))), "keepalive procedure 77")
    const query = Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectSupportsFeature, 1), Remote.encodeSupportsFeatureArgs({ feature: 10 }))
    assert.strictEqual(Trace.describeFrame(query), "remote_supports_feature_args (KEEPALIVE)")
    const answer = Frame.make(Remote.replyHeader(Remote.RemoteProc.ConnectSupportsFeature, 1, 0), Remote.encodeSupportsFeatureRet({ supported: 0 }))
    assert.strictEqual(Trace.describeFrame(answer), "remote_supports_feature_ret (FALSE)")
    const refused = Frame.make(Remote.replyHeader(1, 2, Frame.MessageStatus.Error), Remote.encodeRemoteError(Remote.remoteError(29, 7, "no")))
    assert.strictEqual(Trace.describeFrame(refused), "remote_error for connect_open (no)")
    assert.strictEqual(Trace.describeFrame(Frame.make({ ...Frame.PING.header, prog: 0xabc })), "program 0xabc procedure 1")
  })

  it("draws flow b as numbered arrows with timestamps, PINGs lettered by flow", () => {
    const outcome = SessionPair.run({
      client: Session.client(0),
      server: Session.server(0, { interval: 2000, count: 2, policy: "if-supported" }),
      actions: [{ at: 0, side: "client", input: (now) => Session.Input.Open(now, "test:///default") }],
      until: 4000
    })
    const lines = Trace.arrows(outcome.trace, { notes: false }).split("\n")
    assert.deepStrictEqual(lines.slice(6), [
      "   2.000s    7b. S -> C keepalive PING",
      "   2.000s    8b. C -> S keepalive PONG",
      "   4.000s    9b. S -> C keepalive PING",
      "   4.000s   10b. C -> S keepalive PONG"
    ])
    assert.strictEqual(lines[0], "   0.000s     1. C -> S remote_auth_list_args")
    assert.include(Trace.arrows(outcome.trace), "C: connection open (server keepalive support: yes)")
  })
})
