import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Schema } from "effect"
import * as Keepalive from "../../src/core/Keepalive.ts"
import * as Property from "../helpers/Property.ts"

const { Start, Stop, Received, Tick, Pause, Resume, ClockStep, RunLoop } = Keepalive.Input

/** One row of an event table: the input, the commands it must produce, and the next deadline after it. */
type Row = readonly [Keepalive.Input, ReadonlyArray<string>, number | undefined]

const show = (c: Keepalive.Command): string => {
  switch (c._tag) {
    case "PeerDead":
      return `PeerDead(silence=${c.silence}, pings=${c.pingsSent})`
    case "ConfigRejected":
      return `ConfigRejected(${c.error.field})`
    default:
      return c._tag
  }
}

/** Runs a table from a fresh core created at `createdAt` (with `options`), checking every row; returns the final state. */
const runTable = (rows: ReadonlyArray<Row>, createdAt = 0, options: Keepalive.Options = {}): Keepalive.State => {
  let state = Keepalive.make(createdAt, options)
  rows.forEach(([input, commands, deadline], i) => {
    const [next, out] = Keepalive.step(state, input)
    const where = `row ${i + 1} (${input._tag} at ${input.now})`
    assert.deepStrictEqual(out.map(show), commands, `${where}: commands`)
    assert.strictEqual(Keepalive.nextDeadline(next), deadline, `${where}: next deadline`)
    state = next
  })
  return state
}

describe("Keepalive core: libvirt's timeline in milliseconds", () => {
  it("silent peer, I=1000 C=2: PINGs at I and 2I, dead at 3I", () => {
    const end = runTable([
      [Start(0, 1000, 2), [], 1000],
      [Tick(1000), ["SendPing"], 2000],
      [Tick(2000), ["SendPing"], 3000],
      [Tick(3000), ["PeerDead(silence=3000, pings=2)"], undefined]
    ])
    assert.strictEqual(Keepalive.isAlive(end), false)
  })

  it("silent peer, I=5000 C=5 (libvirtd's defaults): five PINGs, dead at 30 s", () => {
    runTable([
      [Start(0, 5000, 5), [], 5000],
      [Tick(5000), ["SendPing"], 10000],
      [Tick(10000), ["SendPing"], 15000],
      [Tick(15000), ["SendPing"], 20000],
      [Tick(20000), ["SendPing"], 25000],
      [Tick(25000), ["SendPing"], 30000],
      [Tick(30000), ["PeerDead(silence=30000, pings=5)"], undefined]
    ])
  })

  it("C=0: dead at I, no PING", () => {
    runTable([
      [Start(0, 1000, 0), [], 1000],
      [Tick(1000), ["PeerDead(silence=1000, pings=0)"], undefined]
    ])
  })

  it("I=0 and I<0: never pings, never dies, still answers PINGs", () => {
    for (const interval of [0, -1]) {
      runTable([
        [Start(0, interval, 5), [], undefined],
        [Tick(100_000), [], undefined],
        [Received(100_001, "ping"), ["SendPong"], undefined],
        [Tick(10_000_000), [], undefined]
      ])
    }
  })

  it("a PING is answered before any Start (the peer may ping first)", () => {
    runTable([
      [Received(5, "ping"), ["SendPong"], undefined],
      [Received(6, "pong"), [], undefined]
    ])
  })

  it("any received frame resets the countdown: a responsive peer is never dropped", () => {
    runTable([
      [Start(0, 1000, 1), [], 1000],
      [Tick(1000), ["SendPing"], 2000],
      [Received(1010, "pong"), [], 2010],
      [Tick(2010), ["SendPing"], 3010],
      [Received(2500, "other"), [], 3500],
      [Tick(3500), ["SendPing"], 4500],
      [Received(3600, "keepalive-other"), [], 4600],
      [Tick(4600), ["SendPing"], 5600],
      [Received(5599, "ping"), ["SendPong"], 6599]
    ])
  })

  it("the count is restored by any receipt: C PINGs again after each answer", () => {
    runTable([
      [Start(0, 100, 2), [], 100],
      [Tick(100), ["SendPing"], 200],
      [Tick(200), ["SendPing"], 300],
      [Received(250, "pong"), [], 350],
      [Tick(350), ["SendPing"], 450],
      [Tick(450), ["SendPing"], 550],
      [Tick(550), ["PeerDead(silence=300, pings=2)"], undefined]
    ])
  })

  it("the first deadline counts from the last receipt, not from Start", () => {
    runTable([
      [Received(500, "other"), [], undefined],
      [Start(700, 1000, 1), [], 1500],
      [Tick(1500), ["SendPing"], 2500],
      [Tick(2500), ["PeerDead(silence=2000, pings=1)"], undefined]
    ])
  })

  it("Start long after the last receipt pings at once, as libvirt does", () => {
    runTable([
      [Received(100, "other"), [], undefined],
      [Start(5000, 1000, 1), [], 5000],
      [Tick(5000), ["SendPing"], 6000],
      [Tick(6000), ["PeerDead(silence=5900, pings=1)"], undefined]
    ])
  })

  it("with nothing received, silence counts from the creation of the core", () => {
    runTable([
      [Start(200, 1000, 0), [], 1300],
      [Tick(1300), ["PeerDead(silence=1000, pings=0)"], undefined]
    ], 300)
  })

  it("early, duplicate and out-of-order Ticks are harmless", () => {
    runTable([
      [Start(0, 1000, 1), [], 1000],
      [Tick(999), [], 1000],
      [Tick(1000), ["SendPing"], 2000],
      [Tick(1000), [], 2000],
      [Tick(500), [], 2000],
      [Tick(1999), [], 2000],
      [Tick(2000), ["PeerDead(silence=2000, pings=1)"], undefined],
      [Tick(2000), [], undefined]
    ])
  })

  it("a slightly late Tick keeps the PINGs on their grid: lateness does not add up", () => {
    runTable([
      [Start(0, 1000, 2), [], 1000],
      [Tick(1007), ["SendPing"], 2000],
      [Tick(2003), ["SendPing"], 3000],
      [Tick(3002), ["PeerDead(silence=3002, pings=2)"], undefined]
    ])
  })

  it("a Tick more than an interval late (our own stall) sends one PING and re-arms from the Tick, never a burst", () => {
    runTable([
      [Start(0, 1000, 3), [], 1000],
      [Tick(4500), ["SendPing"], 5500],
      [Tick(5500), ["SendPing"], 6500]
    ])
  })

  it("time never goes backwards: an old receipt time counts as the newest time seen", () => {
    runTable([
      [Start(0, 1000, 1), [], 1000],
      [Tick(1000), ["SendPing"], 2000],
      [Received(10, "pong"), [], 2000],
      [Tick(2000), ["SendPing"], 3000]
    ])
  })

  it("Stop removes the deadline; PINGs are still answered; Start again is allowed", () => {
    runTable([
      [Start(0, 1000, 1), [], 1000],
      [Stop(500), [], undefined],
      [Tick(5000), [], undefined],
      [Received(5100, "ping"), ["SendPong"], undefined],
      [Start(5200, 2000, 0), [], 7100],
      [Tick(7100), ["PeerDead(silence=2000, pings=0)"], undefined]
    ])
  })

  it("Start with interval ≤ 0 stops a running core", () => {
    runTable([
      [Start(0, 1000, 1), [], 1000],
      [Start(10, 0, 0), [], undefined],
      [Tick(5000), [], undefined]
    ])
  })

  it("reconfiguring while running keeps the PINGs already sent, and gives an unanswered PING a new interval", () => {
    runTable([
      [Start(0, 1000, 3), [], 1000],
      [Tick(1000), ["SendPing"], 2000],
      // one PING sent and unanswered: it gets a whole new interval from now (1200 + 500), not a past deadline
      [Start(1200, 500, 2), [], 1700],
      [Tick(1700), ["SendPing"], 2200],
      [Tick(2200), ["PeerDead(silence=2200, pings=2)"], undefined]
    ])
  })

  it("switching to a much shorter interval while a PING is out does not condemn a peer whose PONG is on its way", () => {
    runTable([
      [Start(0, 1709, 1), [], 1709],
      [Tick(1709), ["SendPing"], 3418],
      // 1750: (C'+1)·I' = 1000 ms have long passed since the last receipt, but the PING is only 41 ms old
      [Start(1750, 500, 1), [], 2250],
      [Received(1823, "pong"), [], 2323]
    ])
  })

  it("reconfiguring to a longer interval postpones the next PING", () => {
    runTable([
      [Start(0, 1000, 3), [], 1000],
      [Start(500, 4000, 3), [], 4000],
      [Tick(1000), [], 4000],
      [Tick(4000), ["SendPing"], 8000]
    ])
  })

  it("dead is terminal: every later input is a no-op", () => {
    const dead = runTable([
      [Start(0, 100, 0), [], 100],
      [Tick(100), ["PeerDead(silence=100, pings=0)"], undefined],
      [Received(101, "ping"), [], undefined],
      [Start(102, 100, 1), [], undefined],
      [Tick(1000), [], undefined]
    ])
    assert.strictEqual(dead.phase, "dead")
  })

  it("invalid settings are rejected with a typed error naming the field; the state is unchanged", () => {
    const cases: ReadonlyArray<readonly [number, number, "interval" | "count"]> = [
      [Number.NaN, 1, "interval"],
      [Number.POSITIVE_INFINITY, 1, "interval"],
      [1.5, 1, "interval"],
      [Keepalive.MAX_INTERVAL_MS + 1, 1, "interval"],
      [1000, -1, "count"],
      [1000, 1.5, "count"],
      [1000, Number.NaN, "count"],
      [1000, Keepalive.MAX_COUNT + 1, "count"]
    ]
    for (const [interval, count, field] of cases) {
      const before = Keepalive.make(0)
      const [after, out] = Keepalive.step(before, Start(0, interval, count))
      assert.strictEqual(after, before)
      assert.strictEqual(out.length, 1)
      const c = out[0]!
      assert.strictEqual(c._tag, "ConfigRejected")
      if (c._tag === "ConfigRejected") {
        assert.strictEqual(c.error._tag, "InvalidKeepaliveConfig")
        assert.strictEqual(c.error.field, field)
        assert.include(c.error.message, field)
      }
    }
    assert.isTrue(Keepalive.validate(Keepalive.MAX_INTERVAL_MS, Keepalive.MAX_COUNT)._tag === "Success")
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Properties over random input sequences
// ---------------------------------------------------------------------------------------------------------------

const LIBVIRT: Keepalive.Options = { rules: "libvirt" }
const libvirtTable = (rows: ReadonlyArray<Row>, options: Keepalive.Options = {}): Keepalive.State => runTable(rows, 0, { ...LIBVIRT, ...options })

describe("Keepalive core under libvirt's rules (virkeepalive.c of libvirt 9.0)", () => {
  it("silent peer, I=1000 C=2: PINGs at I and 2I, dead at 3I, as under ours", () => {
    const end = libvirtTable([
      [Start(0, 1000, 2), [], 1000],
      [Tick(1000), ["SendPing"], 2000],
      [Tick(2000), ["SendPing"], 3000],
      [Tick(3000), ["PeerDead(silence=3000, pings=2)"], undefined]
    ])
    assert.strictEqual(Keepalive.rulesOf(end), "libvirt")
  })

  it("the interval restarts when the timer runs: 400 ms of lateness per tick adds up to death at 4.2 s, not 3 s", () => {
    libvirtTable([
      [Start(0, 1000, 2), [], 1000],
      [Tick(1400), ["SendPing"], 2400],
      [Tick(2800), ["SendPing"], 3800],
      [Tick(4200), ["PeerDead(silence=4000, pings=2)"], undefined]
    ])
    // ours keeps the grid: the second PING is due at 2 s whatever the lateness of the first
    runTable([
      [Start(0, 1000, 2), [], 1000],
      [Tick(1400), ["SendPing"], 2000]
    ])
  })

  it("time(NULL) counts whole seconds: a Start 501 ms after a receipt at 1.999 s pings at once", () => {
    libvirtTable([
      [Received(1999, "pong"), [], undefined],
      [Start(2500, 1000, 1), [], 2500],
      [Tick(2500), ["SendPing"], 3500],
      [Tick(3500), ["PeerDead(silence=2000, pings=1)"], undefined]
    ])
  })

  it("a wall clock stepped back 3 s postpones the death of a dead peer from 2 s to 5 s", () => {
    libvirtTable([
      [Start(0, 1000, 1), [], 1000],
      [Tick(1000), ["SendPing"], 2000],
      [ClockStep(1500, -3000), [], 2000],
      [Tick(2000), [], 5000],
      [Tick(5000), ["PeerDead(silence=2000, pings=1)"], undefined]
    ])
  })

  it("a wall clock stepped forward 5 s kills at once a peer heard 200 ms ago (count 0)", () => {
    libvirtTable([
      [Received(0, "other"), [], undefined],
      [ClockStep(100, 5000), [], undefined],
      [Start(200, 1000, 0), [], 200],
      [Tick(200), ["PeerDead(silence=5000, pings=0)"], undefined]
    ])
    // ours: monotonic time only, the step changes nothing
    runTable([
      [Received(0, "other"), [], undefined],
      [ClockStep(100, 5000), [], undefined],
      [Start(200, 1000, 0), [], 1000]
    ])
  })

  it("a Start while the timer runs changes nothing; a new interval after a Stop is refused; Start(0, 0) restarts the old one", () => {
    libvirtTable([
      [Start(0, 1000, 1), [], 1000],
      [Start(100, 5000, 5), [], 1000],
      [Stop(200), [], undefined],
      [Start(300, 2000, 1), ["ConfigRejected(interval)"], undefined],
      [Start(400, 0, 0), [], 1400],
      [Tick(1400), ["SendPing"], 2400]
    ])
  })

  it("Pause and Resume change nothing: the timer runs on while the peer is not read", () => {
    libvirtTable([
      [Start(0, 1000, 1), [], 1000],
      [Pause(500), [], 1000],
      [Tick(1000), ["SendPing"], 2000],
      [Resume(1500), [], 2000],
      [Tick(2000), ["PeerDead(silence=2000, pings=1)"], undefined]
    ])
  })

  it("an event loop registered but not run: no timer until RunLoop, PINGs still answered when read", () => {
    libvirtTable([
      [Start(0, 1000, 1), [], undefined],
      [Tick(5000), [], undefined],
      [Received(6000, "ping"), ["SendPong"], undefined],
      [RunLoop(8000), [], 8000],
      [Tick(8000), ["SendPing"], 9000]
    ], { loop: false })
  })

  it("intervals must be whole seconds; a received frame restarts a whole interval", () => {
    libvirtTable([
      [Start(0, 1500, 1), ["ConfigRejected(interval)"], undefined],
      [Start(0, 2000, 1), [], 2000],
      [Received(1300, "pong"), [], 3300],
      [Tick(3300), ["SendPing"], 5300]
    ])
  })
})

const OP_KINDS = ["start", "stop", "ping", "pong", "other", "keepalive-other", "tick", "tick-at-deadline"] as const

/**
 * What is drawn for one op: a die of twelve faces where "tick" has two and "tick-at-deadline" four (a death needs
 * C + 1 deadlines in a row without a receipt), and an interval of which about a fifth is -1 or 0.
 */
const RawOp = Schema.Struct({
  die: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 11 })),
  dt: Schema.Int.check(Schema.isBetween({ minimum: -50, maximum: 400 })),
  interval: Schema.Int.check(Schema.isBetween({ minimum: -80, maximum: 300 })),
  count: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4 }))
})
interface Op {
  readonly op: typeof OP_KINDS[number]
  readonly dt: number
  readonly interval: number
  readonly count: number
}
/** Sequences of up to 40 ops (the properties run at size 40), the first a Start: every sequence pings, or tries to. */
const Ops = Arbitrary.map(
  Arbitrary.array(Arbitrary.schema(RawOp), { minLength: 1, maxLength: 40 }),
  (raw): ReadonlyArray<Op> =>
    raw.map((r, i) => ({
      op: i === 0 ? "start" : r.die < 6 ? OP_KINDS[r.die]! : r.die < 8 ? "tick" : "tick-at-deadline",
      dt: r.dt,
      interval: Property.interval(r.interval),
      count: r.count
    }))
)
const SIZE = 40
const RUNS = 300
const options = Property.options(RUNS, undefined, SIZE)

/** Turns generated ops into inputs; time moves by `dt` (which may be negative: out-of-order inputs). */
const simulate = (ops: ReadonlyArray<Op>) => {
  let state = Keepalive.make(0)
  let clock = 0
  const trace: Array<
    { readonly input: Keepalive.Input; readonly before: Keepalive.State; readonly after: Keepalive.State; readonly out: ReadonlyArray<Keepalive.Command> }
  > = []
  for (const o of ops) {
    clock += o.dt
    const deadline = Keepalive.nextDeadline(state)
    const input: Keepalive.Input = o.op === "start"
      ? Start(clock, o.interval, o.count)
      : o.op === "stop"
      ? Stop(clock)
      : o.op === "tick"
      ? Tick(clock)
      : o.op === "tick-at-deadline"
      ? Tick(deadline ?? clock)
      : Received(clock, o.op)
    const [after, out] = Keepalive.step(state, input)
    trace.push({ input, before: state, after, out })
    state = after
  }
  return trace
}

describe("Keepalive core: properties", () => {
  it.prop("PeerDead is emitted at most once", [Ops], ([ops]) => {
    const deaths = simulate(ops).flatMap((t) => t.out).filter((c) => c._tag === "PeerDead")
    assert.isAtMost(deaths.length, 1)
  }, options)

  it.prop("the next deadline is never in the past", [Ops], ([ops]) => {
    for (const t of simulate(ops)) {
      const d = Keepalive.nextDeadline(t.after)
      if (d !== undefined) assert.isAtLeast(d, t.after.now)
    }
  }, options)

  it.prop("a PING is answered by exactly one PONG unless the peer is dead", [Ops], ([ops]) => {
    for (const t of simulate(ops)) {
      const pongs = t.out.filter((c) => c._tag === "SendPong").length
      const isPing = t.input._tag === "Received" && t.input.kind === "ping"
      assert.strictEqual(pongs, isPing && t.before.phase !== "dead" ? 1 : 0)
    }
  }, options)

  it.prop("death comes only after ≥ (C+1)·I of silence, having sent exactly the PINGs counted", [Ops], ([ops]) => {
    for (const t of simulate(ops)) {
      for (const c of t.out) {
        if (c._tag !== "PeerDead") continue
        const { interval, count } = t.before
        assert.isAtLeast(c.silence, (count + 1) * interval)
        assert.strictEqual(c.silence, t.after.now - t.before.lastReceived)
        assert.isAtLeast(c.pingsSent, count)
      }
    }
  }, options)

  it.prop("a Tick before the deadline changes nothing but the time", [Ops], ([ops]) => {
    for (const t of simulate(ops)) {
      const d = Keepalive.nextDeadline(t.before)
      // the core's time is the newest seen: an out-of-order Tick counts as a Tick at that time
      const effective = Math.max(t.input.now, t.before.now)
      if (t.input._tag === "Tick" && (d === undefined || effective < d)) {
        assert.deepStrictEqual(t.out, [])
        assert.deepStrictEqual({ ...t.after, now: 0 }, { ...t.before, now: 0 })
      }
    }
  }, options)

  it.prop("never a burst: the k-th PING of a silence goes out no earlier than k·I after the last receipt", [Ops], ([ops]) => {
    for (const t of simulate(ops)) {
      if (!t.out.some((c) => c._tag === "SendPing")) continue
      const k = t.after.pingsSent
      // a reconfiguration keeps earlier PINGs, so only the settings in force bound the schedule from below
      if (t.before.interval === t.after.interval) assert.isAtLeast(t.after.now - t.after.lastReceived, k * t.after.interval)
    }
  }, options)

  it.prop("step never throws and never mutates its input state", [Ops], ([ops]) => {
    for (const t of simulate(ops)) {
      const copy = { ...t.before }
      Keepalive.step(t.before, t.input)
      assert.deepStrictEqual(t.before, copy)
    }
  }, options)

  it("the op sequences reach the cases the properties are about", () => {
    const c = Property.coverage<[ReadonlyArray<Op>]>(
      [Ops],
      ([ops]) => {
        const trace = simulate(ops)
        const classes = new Set<string>()
        for (const t of trace) {
          if (t.out.some((x) => x._tag === "PeerDead")) classes.add("a death")
          if (t.out.some((x) => x._tag === "SendPing")) classes.add("a PING sent")
          if (t.input._tag === "Received" && t.input.kind === "ping") classes.add(t.before.phase === "dead" ? "a PING to the dead" : "a PING received")
          const d = Keepalive.nextDeadline(t.before)
          if (t.input._tag === "Tick" && d !== undefined && Math.max(t.input.now, t.before.now) < d) classes.add("a Tick before the deadline")
          if (t.input._tag === "Tick" && d !== undefined && t.input.now === d) classes.add("a Tick at the deadline")
          if (t.input._tag === "Start" && t.input.interval <= 0) classes.add("Start with I ≤ 0")
          if (t.input._tag === "Start" && t.input.count === 0) classes.add("Start with C = 0")
          if (t.input.now < t.before.now) classes.add("time going back")
        }
        return classes
      },
      RUNS,
      SIZE
    )
    console.log(Property.describeCoverage("Keepalive op sequences", c))
    for (const k of ["a death", "a PING sent", "a PING received", "a Tick at the deadline", "Start with I ≤ 0", "Start with C = 0", "time going back"]) {
      assert.isAtLeast((c.counts[k] ?? 0) / c.runs, 0.2, k)
    }
    assert.isAtLeast((c.counts["a Tick before the deadline"] ?? 0) / c.runs, 0.05)
    assert.isAtLeast((c.counts["a PING to the dead"] ?? 0) / c.runs, 0.05)
  })
})

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
