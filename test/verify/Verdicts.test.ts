import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Events from "../../src/verify/Events.ts"
import * as ModelChecker from "../../src/verify/ModelChecker.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Trace from "../../src/trace/Trace.ts"

const cli = (...args: ReadonlyArray<string>) => {
  const run = spawnSync(process.execPath, ["src/tools/cli.ts", "verify", ...args], { encoding: "utf8", timeout: 120_000 })
  return { code: run.status, out: run.stdout, err: run.stderr }
}

const { Search } = ModelChecker

describe("honest verdicts: bounds, exit codes, the horizon", () => {
  it("every run prints its resolved bounds; --horizon and --max-in-flight are bounds", () => {
    const { code, out } = cli("--horizon", "20", "--max-in-flight", "5", "--freeze", "client")
    assert.strictEqual(code, 0)
    assert.include(out, "delay ≤ 1 s, ≤ 5 frames in flight per direction; horizon 20 s (20 ticks)")
    assert.include(out, "freeze: client, for good")
    assert.include(out, "0 transitions pruned")
  })

  it("a search that stops at --max-states exits 3, says INCOMPLETE, and never claims the properties hold", () => {
    const { code, out } = cli("--max-states", "200")
    assert.strictEqual(code, 3)
    assert.include(out, "verdict: INCOMPLETE: no violation in the first 200 states")
    assert.notInclude(out, "every property holds")
    const complete = cli("--client-interval", "1", "--client-count", "1", "--delay", "0")
    assert.strictEqual(complete.code, 0)
  })

  it("warns where the horizon cuts liveness short: I = C = 5 at 38 s leaves freezes up to 7 s", () => {
    const b = ModelChecker.resolveBounds({ intervalTicks: 5, countClient: 5, serverIntervalTicks: 5, serverCount: 5, horizon: 38 })
    assert.strictEqual(b._tag, "Success")
    if (b._tag === "Success") assert.strictEqual(ModelChecker.livenessCut(b.success), 38 - 30 - 1)
    const none = ModelChecker.resolveBounds({ allowFreeze: { client: false, server: false } })
    if (none._tag === "Success") assert.isUndefined(ModelChecker.livenessCut(none.success))
  })
})

describe("coverage and vacuity", () => {
  it("counts what the search reached and names the properties with no case to judge", () => {
    const v = Search.check({})
    assert.isTrue(v.ok && v.complete)
    assert.isAbove(v.reached.opens, 0)
    assert.isAbove(v.reached.frozenDeaths, 0)
    assert.strictEqual(v.reached.healthyDeaths, 0)
    assert.deepStrictEqual(v.vacuous.map((x) => x.property), ["no-ping-after-unsupported", "advertise-as-configured", "no-false-death"])
  })

  it("under the draft with policy required nothing opens: the verdict is vacuous, and says so", () => {
    const v = Search.check({ variant: "draft", policy: "required" })
    assert.strictEqual(v.reached.opens, 0)
    assert.isAbove(v.reached.refusals, 0)
    const vacuous = v.vacuous.map((x) => x.property)
    assert.includeMembers(vacuous, ["no-early-death", "bounded-liveness", "ping-grid", "ping-answered"])
    assert.notInclude(vacuous, "required-exact")
    const { out } = cli("--variant", "draft", "--policy", "required")
    assert.match(out, /verdict: every property holds in every reachable state \(1 of 10 on cases they speak of; 9 vacuously\)/)
    assert.include(out, "vacuous: ping-grid: no side ever sent a PING")
  })

  it("questions whose premise is unreachable do not apply, and say why", () => {
    const answers = ModelChecker.questions({ variant: "draft", policy: "required" })
    assert.deepStrictEqual(answers.map((a) => [a.id, a.applies]), [
      ["advertisement", false],
      ["mandate", true],
      ["pinged-without-setkeepalive", false],
      ["detection", false],
      ["starvation", true],
      ["clock-step", false],
      ["call-block", false]
    ])
    const pinged = answers.find((a) => a.id === "pinged-without-setkeepalive")!
    assert.isUndefined(pinged.yes)
    assert.match(
      pinged.answer,
      /^Does not apply: no connection ever opens under these bounds: the server opening a connection is unreachable in every one of the \d+ states/
    )
  })

  it("the questions' environment makes one application action, so a feature query other than KEEPALIVE is asked", () => {
    assert.strictEqual(ModelChecker.questionBounds.calls, 1)
    const query = Search.reach(
      { ...ModelChecker.questionBounds, clientAdvertises: false },
      (e) => e.kind === "transmit" && e.from === "client" && Trace.describeFrame(e.frame).includes("FD_PASSING")
    )
    assert.isTrue(query.reachable)
  })
})

describe("the questions users ask, answered from runs", () => {
  const answer = (bounds: ModelChecker.Bounds, id: string) => ModelChecker.questions(bounds).find((a) => a.id === id)!

  it("under libvirt's defaults 5 slow calls, and no fewer, kill a healthy client, at 30 s; not under ours", () => {
    const a = answer({}, "starvation")
    assert.isTrue(a.yes)
    assert.include(a.answer, "the fewest is 5, and the server declares the live client dead at 30 s (run 5)")
    assert.include(a.answer, "under our rules and reader, with 5 slow calls, 'no live client is declared dead' holds")
  })

  it("a clock step kills no healthy peer under either rules; under libvirt's a step back postpones a dead one's death", () => {
    const libvirt = answer({ rules: "libvirt" }, "clock-step")
    assert.isFalse(libvirt.yes)
    assert.include(libvirt.answer, "but a step back postpones the death of a dead peer (run 3)")
    const ours = answer({}, "clock-step")
    assert.isFalse(ours.yes)
    assert.include(ours.answer, "and no step postpones the death of a dead peer (run 3)")
  })

  it("a blocked call never gets the client dropped under ours; under libvirt's rules it does, at (C+1)·I", () => {
    assert.isTrue(answer({}, "call-block").yes)
    const libvirt = answer({ rules: "libvirt" }, "call-block")
    assert.isFalse(libvirt.yes)
    assert.include(libvirt.answer, "the client is dropped at 6 s while its calls block (run 1)")
  })
})

describe("the user's own questions", () => {
  it("no-healthy-death fails where the delay outlasts the settings, and holds with none", () => {
    const slow = Search.check({ maxDelay: 2 }, { properties: ["no-healthy-death"] })
    assert.strictEqual(slow.violation?.property, "no-healthy-death")
    assert.match(slow.violation!.description, /although neither side was ever frozen, partitioned or crashed: its last receipt was at \d+ ms/)
    const fast = Search.check({ maxDelay: 0 }, { properties: ["no-healthy-death"] })
    assert.isTrue(fast.ok && fast.complete)
  })

  it("it is a design property: not checked by default, chosen by --property", () => {
    assert.notInclude(ModelChecker.properties, "no-healthy-death")
    assert.isTrue(Search.check({ maxDelay: 2, intervalTicks: 1, countClient: 1 }).ok)
    const { code, out } = cli("--property", "no-healthy-death", "--delay", "2")
    assert.strictEqual(code, 1)
    assert.include(out, "VIOLATED: no-healthy-death: the server declared the client dead at")
    const bad = cli("--property", "no-such")
    assert.strictEqual(bad.code, 2)
    assert.include(bad.err, "unknown property")
  })

  it("--reach and --never ask about trace events; healthy-dead is asked with freezes off", () => {
    const reached = cli("--reach", "healthy-dead", "--delay", "2")
    assert.strictEqual(reached.code, 0)
    assert.include(reached.out, "healthy-dead is reachable")
    assert.include(reached.out, "freeze: none")
    const never = cli("--never", "healthy-dead", "--delay", "0")
    assert.strictEqual(never.code, 0)
    assert.include(never.out, "the never-claim holds")
    const unreachable = cli("--reach", "server-ping", "--no-advertise")
    assert.strictEqual(unreachable.code, 1)
    assert.strictEqual(cli("--reach", "nothing-such").code, 2)
  })

  it("event names parse, with time bounds in seconds, ms or ticks", () => {
    const ping = (at: number): Trace.TraceEvent => ({
      at,
      kind: "transmit",
      from: "server",
      frame: Frame.make({
        prog: Frame.KEEPALIVE_PROGRAM,
        vers: Frame.KEEPALIVE_VERSION,
        proc: Frame.KeepaliveProc.Ping,
        type: Frame.MessageType.Message,
        serial: 0,
        status: Frame.MessageStatus.Ok
      })
    })
    const early = Events.parse("server-ping<3s", 1000)
    assert.notStrictEqual(typeof early, "string")
    if (typeof early === "string") return
    assert.isTrue(early.goal(ping(2000)))
    assert.isFalse(early.goal(ping(3000)))
    const ticks = Events.parse("server-ping>=2", 500)
    if (typeof ticks !== "string") assert.deepStrictEqual([ticks.goal(ping(999)), ticks.goal(ping(1000))], [false, true])
    assert.isFalse(Events.parse("client-ping", 1000) !== "string" && (Events.parse("client-ping", 1000) as Events.Query).goal(ping(0)))
    assert.include(Events.parse("bogus", 1000) as string, "expected one of open,")
  })
})

describe("answers in numbers", () => {
  it("the span from a freeze to its detection, by search: (C+1)·I + delay at worst", () => {
    const d = Search.detection({})
    assert.isTrue(d.complete)
    assert.deepStrictEqual(d.client, { min: 3000, max: 7000 })
    const exact = Search.detection({ maxDelay: 0, setKeepAliveChoices: [] })
    assert.strictEqual(exact.client?.max, 6000)
    assert.isUndefined(exact.server, "a client that never calls setKeepAlive never detects anything")
  })

  it("the largest round trip with no healthy death: 2 s for I = C = 2 at 1 s ticks, finer on a finer grid", () => {
    const t = Search.tolerance({})
    assert.strictEqual(t.delay, 1)
    assert.strictEqual(t.rttMs, 2000)
    assert.strictEqual(t.failure?.violation?.property, "no-healthy-death")
    const fine = Search.tolerance({ tickMs: 500, intervalTicks: 4, serverIntervalTicks: 4, setKeepAliveChoices: [] }, { cap: 5 })
    assert.strictEqual(fine.rttMs, 3000)
  })

  it("a sweep shows them as columns", () => {
    const configs = ModelChecker.Sweep.grid({ quick: true }).filter((c) => c.label.startsWith("c 1/1 ") || c.label.startsWith("c 2/2 "))
    const result = ModelChecker.Sweep.run(configs, { measure: true })
    const table = ModelChecker.Sweep.table(result)
    assert.include(table, "| healthy peer | max RTT | C frozen → S detects | S frozen → C detects |")
    assert.include(table, "| c 2/2 s 2/2 d 1 |")
    assert.match(table, /\| c 2\/2 s 2\/2 d 2 \|[^\n]*\| holds \| DIES \| 2 s \|/)
    assert.match(table, /\| c 2\/2 s 2\/2 d 0 \|[^\n]*\| holds \| lives \| 2 s \| 4 s–6 s \|/)
    assert.include(table, "fails in 3 of 6 configurations")
  })
})

describe("readable and usable output", () => {
  it("traces show receipt times, setKeepAlive's values and, on request, the countdown", () => {
    const { code, out } = cli("--reach", "client-ping", "--countdown", "--format", "arrows")
    assert.strictEqual(code, 0)
    assert.match(out, /C: setKeepAlive\(interval 2000 ms, count 2\)/)
    assert.match(out, /\(received at \d+\.\d{3}s\)/)
    assert.include(out, "S countdown")
    assert.notInclude(out, "sequenceDiagram")
  })

  it("violation messages give absolute times", () => {
    const v = Search.check({}, { mutant: "only-pong-resets" }).violation
    assert.match(v?.description ?? "", /sent PING number 1 at 2000 ms, 1000 ms after its last receipt at 1000 ms, off its own grid \(due at 3000 ms/)
  })

  it("two mutants with the same message differ in their header and in their countdowns", () => {
    const send = Search.check({}, { mutant: "send-resets", countdown: true }).violation!
    const count = Search.check({}, { mutant: "off-by-one-count", countdown: true }).violation!
    assert.strictEqual(send.description, count.description)
    assert.notStrictEqual(Trace.timeline(send.trace, "server"), Trace.timeline(count.trace, "server"))
    const { out } = cli("--mutant", "send-resets", "--format", "arrows")
    assert.include(out, "session: mutant send-resets: sending any frame resets the sender's countdown")
  })

  it("--format mermaid prints only Mermaid on stdout; --format json is one parseable verdict", () => {
    const mermaid = cli("--mutant", "send-resets", "--format", "mermaid")
    assert.strictEqual(mermaid.code, 1)
    assert.match(mermaid.out, /^sequenceDiagram\n/)
    assert.notInclude(mermaid.out, "bounds:")
    assert.include(mermaid.err, "bounds:")
    const json = cli("--format", "json", "--max-states", "100")
    const verdict = JSON.parse(json.out)
    assert.deepStrictEqual([verdict.schema, verdict.verdict, verdict.exitCode, json.code], [1, "incomplete", 3, 3])
    assert.strictEqual(verdict.bounds.horizon, 14)
  })

  it("--help describes every mutant and the exit codes", () => {
    const help = cli("--help").out.replace(/\s+/g, " ")
    for (const m of ModelChecker.mutants) assert.include(help, `${m} (${ModelChecker.Mutants.descriptions[m].slice(0, 20)}`)
    assert.include(help, "3 the search stopped before it was complete")
  })
})
