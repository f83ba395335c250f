import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Field from "../../src/simulation/Field.ts"
import * as Swarm from "../../src/simulation/Swarm.ts"

const named = (name: string): Field.FieldScenario => Field.scenarios.find((f) => f.name === name)!
const run = (name: string, rules: "ours" | "libvirt") => Effect.runPromise(Field.judge(named(name), rules))
const server = (v: Field.Verdict) => v.deaths.filter((d) => d.side === "server").map((d) => d.at)

describe("The field failures of libvirt's keepalive, in the simulator under both rules", () => {
  it("starvation: 5 slow calls at max_client_requests 5 kill the healthy client at 3.0 s under libvirt's rules (libvirtd 9.0: 3.006–3.011 s); ours keep it", async () => {
    const libvirt = await run("starvation", "libvirt")
    assert.strictEqual(libvirt.violations[0]?.property, "no-false-death")
    assert.deepStrictEqual(server(libvirt).map((t) => Math.floor(t / 100)), [30])
    const ours = await run("starvation", "ours")
    assert.deepStrictEqual(ours.violations, [])
    assert.deepStrictEqual(ours.deaths, [])
  })

  it("an event loop that stops after the client advertised: libvirt's server kills the live client (C+1)·I after its last frame; ours answers on", async () => {
    const libvirt = await run("event loop not run", "libvirt")
    assert.strictEqual(libvirt.violations[0]?.property, "no-healthy-death")
    assert.strictEqual(server(libvirt).length, 1)
    const ours = await run("event loop not run", "ours")
    assert.deepStrictEqual([ours.violations, ours.deaths], [[], []])
  })

  it("a wall clock stepped back postpones the death of a dead client past (C+1)·I under libvirt's rules; ours ignore the wall clock", async () => {
    const libvirt = await run("clock step back", "libvirt")
    assert.strictEqual(libvirt.violations[0]?.property, "bounded-liveness")
    const ours = await run("clock step back", "ours")
    assert.deepStrictEqual(ours.violations, [])
    // the client froze at 2.5 s, its last frame reached the server about then: dead (C+1)·I = 3 s later
    assert.deepStrictEqual(server(ours).map((t) => Math.round(t / 100)), [50])
  })

  it("timer lateness adds up under libvirt's rules (the interval restarts at each late tick); ours keep the grid", async () => {
    const libvirt = await run("timer lateness", "libvirt")
    assert.include(["ping-grid", "bounded-liveness"], libvirt.violations[0]?.property)
    const ours = await run("timer lateness", "ours")
    assert.deepStrictEqual(ours.violations, [])
    assert.isBelow(server(ours)[0]!, server(libvirt)[0]!)
  })

  it("a wall clock stepped forward and a suspended host: both rules hold (a forward step only brings a PING forward)", async () => {
    for (const name of ["clock step forward", "suspend and resume"]) {
      for (const rules of ["ours", "libvirt"] as const) assert.deepStrictEqual((await run(name, rules)).violations, [], `${name} under ${rules}`)
    }
    // the suspended client is dropped once, (C+1)·I after its last frame
    assert.strictEqual(server(await run("suspend and resume", "libvirt")).length, 1)
  })

  it("the table has one row per scenario with both rules, and its schedules replay (encode/decode keep rules, reader, new faults)", async () => {
    const verdicts = await Effect.runPromise(Field.judgeAll())
    const table = Field.table(verdicts)
    for (const f of Field.scenarios) assert.include(table, `| ${f.name} |`)
    // the README's copy of the table is this run's
    assert.include(Fs.readFileSync(new URL("../../README.md", import.meta.url), "utf8"), table)
    assert.strictEqual(verdicts.length, 2 * Field.scenarios.length)
    for (const f of Field.scenarios) {
      const s = f.scenario("libvirt")
      const back = Swarm.decode(Swarm.encode(s))
      assert.isTrue(typeof back !== "string" && back.rules === "libvirt" && back.reader === "libvirtd" && back.faults?.length === s.faults?.length)
    }
  })
})
