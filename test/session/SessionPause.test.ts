import { assert, describe, it } from "@effect/vitest"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Session from "../../src/session/Session.ts"
import * as Trace from "../../src/trace/Trace.ts"

const { Received, Tick, Pause, Resume, Close } = Session.Input

/** One row: the input, the commands it must produce (Transmits by frame), and the next deadline after it. */
type Row = readonly [Session.Input, ReadonlyArray<string>, number | undefined]

const tags = (commands: ReadonlyArray<Session.Command>): Array<string> =>
  commands.map((c) => (c._tag === "Transmit" ? `Transmit ${Trace.describeFrame(c.frame)}` : c._tag))

const runTable = (start: Session.State, rows: ReadonlyArray<Row>): Session.State => {
  let state = start
  rows.forEach(([input, commands, deadline], i) => {
    const [next, out] = Session.step(state, input)
    const where = `row ${i + 1} (${input._tag} at ${input.now})`
    assert.deepStrictEqual(tags(out), commands, `${where}: commands`)
    assert.strictEqual(Session.nextDeadline(next), deadline, `${where}: next deadline`)
    state = next
  })
  return state
}

const call = (proc: number, serial: number, payload?: Uint8Array) => Frame.make(Remote.callHeader(proc, serial), payload)
const advertise = call(Remote.RemoteProc.ConnectSupportsFeature, 0, Remote.encodeSupportsFeatureArgs({ feature: Remote.Feature.ProgramKeepalive }))
const open = call(Remote.RemoteProc.ConnectOpen, 1, Remote.encodeConnectOpenArgs({ name: "test:///default", flags: 0 }))

describe("Session: Pause and Resume reach the keepalive countdown in every phase", () => {
  it("server, open, I = 1 s, C = 2: paused for 10 s with PINGs outstanding, no death; dead 3 s after Resume", () => {
    const s = runTable(Session.server(0, { interval: 1000, count: 2, policy: "if-supported" }), [
      [Received(0, advertise), ["Transmit remote_supports_feature_ret (TRUE)"], 1000],
      [Received(0, open), ["Transmit remote_connect_open_ret", "Opened"], 1000],
      [Tick(1000), ["Transmit keepalive PING"], 2000],
      [Pause(1500), [], undefined],
      [Tick(2000), [], undefined],
      [Tick(11_500), [], undefined],
      [Received(11_000, Frame.PING), ["Transmit keepalive PONG"], undefined],
      [Resume(11_500), [], 12_500],
      [Tick(12_500), ["Transmit keepalive PING"], 13_500],
      [Tick(13_500), ["Transmit keepalive PING"], 14_500],
      [Tick(14_500), ["PeerDead", "Close"], undefined]
    ])
    assert.isTrue(Session.isClosed(s))
  })

  it("server, before open: a pause changes nothing a handshake needs; a closed session ignores both", () => {
    runTable(Session.server(0, { interval: 1000, count: 2, policy: "if-supported" }), [
      [Pause(0), [], undefined],
      [Received(5, advertise), ["Transmit remote_supports_feature_ret (TRUE)"], undefined],
      [Received(6, open), ["Transmit remote_connect_open_ret", "Opened"], undefined],
      [Resume(100), [], 1100],
      [Close(200), ["Close"], undefined],
      [Pause(300), [], undefined],
      [Resume(400), [], undefined]
    ])
  })
})
