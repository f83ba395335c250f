import { assert, describe, it } from "@effect/vitest"
import * as Keepalive from "../../src/core/Keepalive.ts"

describe("Keepalive: reconfiguring with more PINGs outstanding than the new count", () => {
  it("death stays due (C+1)·I after the last receipt (found by the model checker's bounded-liveness)", () => {
    // (1 s, 2): PINGs at 1 s and 2 s; at 2 s the application switches to (3 s, 1) with 2 PINGs unanswered
    let [s] = Keepalive.step(Keepalive.make(0), Keepalive.Input.Start(0, 1000, 2))
    ;[s] = Keepalive.step(s, Keepalive.Input.Tick(1000))
    ;[s] = Keepalive.step(s, Keepalive.Input.Tick(2000))
    ;[s] = Keepalive.step(s, Keepalive.Input.Start(2000, 3000, 1))
    // one PING's worth of grid (up to the new count) from the receipt: due at max(0 + 1·3 s, 2 s) + 3 s = 6 s,
    // which is (C+1)·I after the receipt; not at (2+1)·3 s = 9 s
    assert.strictEqual(Keepalive.nextDeadline(s), 6000)
    const [dead, out] = Keepalive.step(s, Keepalive.Input.Tick(6000))
    assert.isFalse(Keepalive.isAlive(dead))
    assert.deepStrictEqual(out, [{ _tag: "PeerDead", silence: 6000, pingsSent: 2 }])
  })

  it("an unanswered PING still gets a whole new interval from the reconfiguration", () => {
    let [s] = Keepalive.step(Keepalive.make(0), Keepalive.Input.Start(0, 1000, 3))
    ;[s] = Keepalive.step(s, Keepalive.Input.Tick(1000))
    ;[s] = Keepalive.step(s, Keepalive.Input.Tick(2000))
    ;[s] = Keepalive.step(s, Keepalive.Input.Start(2500, 500, 1))
    assert.strictEqual(Keepalive.nextDeadline(s), 3000)
  })
})
