import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Properties from "../../src/verify/Properties.ts"
import * as Property from "../helpers/Property.ts"

const rules: Properties.Rules = { late: 0, unit: 1 }

/** A pinging side with settings (I, C) since its last receipt at r. */
const armed = (r: number, interval: number, count: number): Properties.Ghost => {
  const g = Properties.ghost(0)
  Properties.received(g, r)
  Properties.settingsChanged(g, r, interval, count)
  return g
}

const Silence = Schema.Struct({
  r: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1000 })),
  interval: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 500 })),
  count: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 5 }))
})

describe("Properties: a silent peer under stable settings", () => {
  it.prop("PINGs at r + k·I (k = 1..C) and death at r + (C+1)·I satisfy every property", [Silence], ([s]) => {
    const g = armed(s.r, s.interval, s.count)
    for (let k = 1; k <= s.count; k++) {
      const t = s.r + k * s.interval
      assert.isUndefined(Properties.checkOverdue(g, t, rules, "client"))
      assert.isUndefined(Properties.checkPing(g, t, rules, "client"))
      Properties.pinged(g, t)
    }
    const death = s.r + (s.count + 1) * s.interval
    assert.isUndefined(Properties.checkDeath(g, death, rules, "client"))
    assert.strictEqual(Properties.deathBound(g, rules), death)
  }, Property.options())

  it.prop("a death one unit early, a PING off the grid, one PING too many, or no death by the bound are caught", [Silence], ([s]) => {
    const g = armed(s.r, s.interval, s.count)
    const death = s.r + (s.count + 1) * s.interval
    assert.strictEqual(Properties.checkOverdue(g, death, rules, "server")?.property, "bounded-liveness")
    assert.isUndefined(Properties.checkOverdue(g, death, rules, "server", true), "events at the bound may still follow")
    if (s.count === 0) {
      assert.strictEqual(Properties.checkPing(g, s.r + s.interval, rules, "client")?.property, "ping-grid")
      assert.strictEqual(Properties.checkDeath(g, death - 1, rules, "client")?.property, "no-early-death")
      return
    }
    assert.strictEqual(Properties.checkPing(g, s.r + s.interval + 1, rules, "client")?.property, "ping-grid")
    assert.strictEqual(Properties.checkDeath(g, death, rules, "client")?.property, "no-early-death", "no PING sent yet")
    for (let k = 1; k <= s.count; k++) Properties.pinged(g, s.r + k * s.interval)
    assert.strictEqual(Properties.checkDeath(g, death - 1, rules, "client")?.property, "no-early-death")
    assert.strictEqual(Properties.checkPing(g, death, rules, "client")?.property, "ping-grid")
  }, Property.options())

  it("the silences reach C = 0 and C > 0", () => {
    const c = Property.coverage<[typeof Silence.Type]>([Silence], ([s]) => [s.count === 0 ? "C = 0" : "C > 0"])
    console.log(Property.describeCoverage("Properties silences", c))
    assert.isAtLeast((c.counts["C = 0"] ?? 0) / c.runs, 0.1)
    assert.isAtLeast((c.counts["C > 0"] ?? 0) / c.runs, 0.5)
  })
})

describe("Properties: history, not the current settings", () => {
  it("a side that stopped pinging may not declare its peer dead, nor PING", () => {
    const g = armed(0, 10, 1)
    Properties.settingsChanged(g, 5, 0, 0)
    assert.strictEqual(Properties.checkDeath(g, 100, rules, "client")?.property, "no-early-death")
    assert.strictEqual(Properties.checkPing(g, 10, rules, "client")?.property, "ping-grid")
    assert.isUndefined(Properties.deathBound(g, rules))
  })

  it("after a reconfiguration with a PING outstanding, the PING gets a whole new interval from the change", () => {
    const g = armed(0, 10, 2)
    Properties.pinged(g, 10)
    Properties.settingsChanged(g, 12, 3, 2)
    // the core's rule: max(r + n·I, t) = max(3, 12) = 12; the next PING is due at 15, death no earlier than 18
    assert.strictEqual(Properties.checkPing(g, 14, rules, "client")?.property, "ping-grid")
    assert.isUndefined(Properties.checkPing(g, 15, rules, "client"))
    Properties.pinged(g, 15)
    assert.strictEqual(Properties.checkDeath(g, 17, rules, "client")?.property, "no-early-death")
    assert.isUndefined(Properties.checkDeath(g, 18, rules, "client"))
    // and no later: the new grid's death, not (C+1)·I after the change (12 + 3·3 = 21)
    assert.strictEqual(Properties.deathBound(g, rules), 18)
    assert.strictEqual(Properties.checkOverdue(g, 18, rules, "client")?.property, "bounded-liveness")
    assert.strictEqual(Properties.checkPing(g, 16, rules, "client")?.property, "ping-grid", "a PING after its place on the new grid")
  })

  it("the first PING after a fresh start comes no later than max(last receipt + I, start), and death on that grid", () => {
    // started at 25, long after the receipt at 0: due at once; started at 5: due at 0 + I = 10
    for (const [start, due] of [[25, 25], [5, 10]] as const) {
      const g = Properties.ghost(0)
      Properties.settingsChanged(g, start, 10, 1)
      assert.strictEqual(Properties.checkPing(g, due - 1, rules, "client")?.property, "ping-grid")
      assert.strictEqual(Properties.checkPing(g, due + 1, rules, "client")?.property, "ping-grid", "a PING late on its grid")
      assert.isUndefined(Properties.checkPing(g, due, rules, "client"))
      assert.strictEqual(Properties.deathBound(g, rules), due + 10)
      Properties.pinged(g, due)
      assert.isUndefined(Properties.checkDeath(g, due + 10, rules, "client"))
    }
    // the checker's deadlines-first model runs a deadline due at the start one tick later, and the grid moves with it
    const settled: Properties.Rules = { late: 0, unit: 1, settle: 1 }
    const g = Properties.ghost(0)
    Properties.settingsChanged(g, 25, 10, 1)
    assert.isUndefined(Properties.checkPing(g, 26, settled, "client"))
    assert.strictEqual(Properties.checkPing(g, 27, settled, "client")?.property, "ping-grid")
    assert.strictEqual(Properties.deathBound(g, settled), 36)
  })

  it("the client never PINGs after unsupported; death at most once; the server pings only after advertisement", () => {
    const g = Properties.ghost(0)
    Properties.refused(g, 5)
    assert.strictEqual(Properties.checkPing(g, 6, rules, "client")?.property, "no-ping-after-unsupported")
    const d = armed(0, 10, 0)
    assert.isUndefined(Properties.checkDeath(d, 10, rules, "server"))
    d.dead = true
    assert.strictEqual(Properties.checkDeath(d, 20, rules, "server")?.property, "death-at-most-once")
    assert.strictEqual(Properties.checkServerPing(false, "if-supported")?.property, "ping-after-advertisement")
    assert.strictEqual(Properties.checkServerPing(true, "disabled")?.property, "ping-after-advertisement")
    assert.isUndefined(Properties.checkServerPing(true, "required"))
  })

  it("a PING is answered by one PONG, and a PONG answers nothing else", () => {
    assert.isUndefined(Properties.checkPongs(1, 1, "server"))
    assert.isUndefined(Properties.checkPongs(0, 0, "server"))
    assert.strictEqual(Properties.checkPongs(0, 1, "server")?.description, "the server sent 1 PONG answering no PING")
    assert.strictEqual(Properties.checkPongs(1, 2, "client")?.property, "ping-answered")
    assert.strictEqual(Properties.checkAnswered(false, false, "client")?.property, "ping-answered")
  })

  it("a deadline that fires and stays due is a liveness failure: time could never pass it", () => {
    const v = Properties.checkStalledDeadline(4, 4, rules, "server")
    assert.strictEqual(v.property, "bounded-liveness")
    assert.include(v.description, "the server's deadline due at 4 ms fired at 4 ms and did nothing")
  })

  it("required refuses exactly the clients that did not advertise", () => {
    assert.isUndefined(Properties.checkOpenAnswer(true, true, "required"))
    assert.isUndefined(Properties.checkOpenAnswer(false, false, "required"))
    assert.strictEqual(Properties.checkOpenAnswer(true, false, "required")?.property, "required-exact")
    assert.strictEqual(Properties.checkOpenAnswer(false, true, "required")?.property, "required-exact")
    assert.strictEqual(Properties.checkOpenAnswer(false, false, "if-supported")?.property, "required-exact")
  })

  it("late ticks widen the bounds by one lateness (the grid is kept), not one per deadline; a thaw restarts the liveness clock", () => {
    const late: Properties.Rules = { late: 2, unit: 1 }
    const g = armed(0, 10, 1)
    assert.isUndefined(Properties.checkPing(g, 11, late, "client"))
    assert.strictEqual(Properties.checkPing(g, 9, late, "client")?.property, "ping-grid")
    assert.strictEqual(Properties.checkPing(g, 13, late, "client")?.property, "ping-grid")
    assert.strictEqual(Properties.deathBound(g, late), 22)
    Properties.resumed(g, 50)
    assert.strictEqual(Properties.deathBound(g, late), 72)
    // a lateness of an interval or more restarts the grid at each late tick: then each deadline adds its own
    assert.strictEqual(Properties.deathBound(armed(0, 1, 1), late), 2 + 2 * 2)
  })
})
