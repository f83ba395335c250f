import { assert, describe, it } from "@effect/vitest"
import * as Keepalive from "../../src/core/Keepalive.ts"

const { Start, Stop, Received, Tick, Pause, Resume } = Keepalive.Input

/** One row: the input, the commands it must produce, and the next deadline after it. */
type Row = readonly [Keepalive.Input, ReadonlyArray<string>, number | undefined]

const show = (c: Keepalive.Command): string =>
  c._tag === "PeerDead" ? `PeerDead(silence=${c.silence}, pings=${c.pingsSent})` : c._tag

const runTable = (rows: ReadonlyArray<Row>): Keepalive.State => {
  let state = Keepalive.make(0)
  rows.forEach(([input, commands, deadline], i) => {
    const [next, out] = Keepalive.step(state, input)
    const where = `row ${i + 1} (${input._tag} at ${input.now})`
    assert.deepStrictEqual(out.map(show), commands, `${where}: commands`)
    assert.strictEqual(Keepalive.nextDeadline(next), deadline, `${where}: next deadline`)
    state = next
  })
  return state
}

describe("Keepalive core: Pause and Resume (liveness from what the peer sends, never from what we could read)", () => {
  it("paused for 10 intervals, a live peer is not declared dead; the countdown restarts at Resume", () => {
    runTable([
      [Start(0, 1000, 2), [], 1000],
      [Received(500, "pong"), [], 1500],
      [Pause(600), [], undefined],
      [Tick(1500), [], undefined],
      [Tick(3500), [], undefined],
      [Tick(10_000), [], undefined],
      [Resume(10_600), [], 11_600],
      [Received(10_700, "ping"), ["SendPong"], 11_700]
    ])
  })

  it("a peer that died during the pause is declared dead (C+1)·I after Resume, not earlier, not later", () => {
    const end = runTable([
      [Start(0, 1000, 2), [], 1000],
      [Pause(100), [], undefined],
      [Tick(50_000), [], undefined],
      [Resume(60_000), [], 61_000],
      [Tick(61_000), ["SendPing"], 62_000],
      [Tick(62_000), ["SendPing"], 63_000],
      [Tick(62_999), [], 63_000],
      [Tick(63_000), ["PeerDead(silence=3000, pings=2)"], undefined]
    ])
    assert.isFalse(Keepalive.isAlive(end))
  })

  it("PINGs outstanding at Pause are forgiven at Resume: the peer could not be heard", () => {
    runTable([
      [Start(0, 1000, 2), [], 1000],
      [Tick(1000), ["SendPing"], 2000],
      [Tick(2000), ["SendPing"], 3000],
      [Pause(2500), [], undefined],
      [Tick(3000), [], undefined],
      [Resume(4000), [], 5000],
      [Tick(5000), ["SendPing"], 6000]
    ])
  })

  it("frames read while paused still count, and a PING is still answered; no deadline until Resume", () => {
    const s = runTable([
      [Start(0, 1000, 2), [], 1000],
      [Pause(100), [], undefined],
      [Received(900, "ping"), ["SendPong"], undefined],
      [Tick(5000), [], undefined]
    ])
    assert.strictEqual(s.lastReceived, 900)
    assert.isTrue(s.paused)
  })

  it("Start, reconfiguration and Stop during a pause keep it paused", () => {
    runTable([
      [Pause(0), [], undefined],
      [Start(100, 1000, 2), [], undefined],
      [Start(200, 500, 1), [], undefined],
      [Resume(1000), [], 1500],
      [Pause(1100), [], undefined],
      [Stop(1200), [], undefined],
      [Resume(1300), [], undefined],
      [Start(1400, 1000, 2), [], 2300]
    ])
  })

  it("Resume without a Pause changes nothing; a dead core ignores both", () => {
    const s = runTable([
      [Start(0, 1000, 0), [], 1000],
      [Resume(500), [], 1000],
      [Tick(1000), ["PeerDead(silence=1000, pings=0)"], undefined],
      [Pause(1100), [], undefined],
      [Resume(1200), [], undefined]
    ])
    assert.isFalse(Keepalive.isAlive(s))
  })
})
