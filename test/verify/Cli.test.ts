import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Swarm from "../../src/simulation/Swarm.ts"

const cli = (...args: ReadonlyArray<string>) => {
  const run = spawnSync(process.execPath, ["src/tools/cli.ts", ...args], { encoding: "utf8", timeout: 120_000 })
  return { code: run.status, out: run.stdout, err: run.stderr }
}

describe("keepalive verify: sweeps, questions, one vocabulary", () => {
  it("--sweep --grid settings --quick prints one table of 36 configurations and the verdict", () => {
    const { code, out } = cli("verify", "--sweep", "--grid", "settings", "--quick")
    assert.strictEqual(code, 0)
    assert.include(out, "| configuration | states | transitions | pruned | s | states/s | verdict |")
    assert.include(out, "| c 3/3 s 2/2 d 2 |")
    assert.include(out, "36 configurations")
    assert.include(out, "every property holds in every configuration")
  })

  it("--sweep with a mutant names the shortest counterexample overall and exits with 1", () => {
    const { code, out } = cli("verify", "--sweep", "--grid", "settings", "--quick", "--mutant", "off-by-one-count")
    assert.strictEqual(code, 1)
    assert.include(out, "VIOLATED ping-grid")
    assert.include(out, "shortest counterexample overall: c 1/0 s 2/2 d 0")
    assert.include(out, "sequenceDiagram")
  })

  it("--questions honours --variant and --policy, and writes its answers from the runs", () => {
    const draft = cli("verify", "--questions", "--variant", "draft", "--policy", "required")
    assert.strictEqual(draft.code, 0)
    assert.include(draft.out, "Under the seed-000 draft, can a server mandate keepalive (policy required)?")
    assert.match(
      draft.out,
      /No: under policy required, the server opening the connection of a client that advertises is unreachable in every one of the \d+ states within the bounds \(run 1\)/
    )
    assert.notInclude(draft.out, "libvirt (seed 001)")
    const libvirt = cli("verify", "--questions", "--policy", "disabled")
    assert.match(libvirt.out, /policy disabled, does a client that never calls setKeepAlive still get pinged\?\n {2}No: a PING reaching a client/)
    assert.include(libvirt.out, "run 1: ")
  })

  it("durations are accepted and must be whole ticks; defaults are shown", () => {
    const fine = cli("verify", "--client-interval", "1s", "--server-interval", "1500ms", "--tick", "500ms", "--delay", "0")
    assert.strictEqual(fine.code, 0)
    assert.include(fine.out, "every property holds")
    const bad = cli("verify", "--client-interval", "1200ms")
    assert.strictEqual(bad.code, 2)
    assert.include(bad.err, "--client-interval: 1200 ms is not a whole number of ticks of 1000 ms")
    assert.include(cli("verify", "--help").out, "(default: if-supported)")
    assert.include(cli("simulate", "--help").out, "--seeds")
  })
})

describe("keepalive simulate: every trace judged", () => {
  it("one run prints the properties' verdict", () => {
    const { code, out } = cli("simulate", "--freeze", "client@5s", "--duration", "12s", "--format", "arrows")
    assert.strictEqual(code, 0)
    assert.include(out, "properties: every keepalive property holds on this trace")
  })

  it("--seeds runs a swarm and judges every trace", () => {
    const { code, out } = cli("simulate", "--seeds", "30")
    assert.strictEqual(code, 0)
    assert.match(out, /30 seeded runs \(seeds 1–30\), \d+ PINGs, \d+ keepalive deaths, every trace judged: every property held on every trace/)
  })

  it("--schedule replays a scenario exactly; a bad one is refused", () => {
    const scenario = Swarm.schedule(5)
    const a = cli("simulate", "--schedule", Swarm.encode(scenario), "--format", "arrows")
    const b = cli("simulate", "--schedule", Swarm.encode(scenario), "--format", "arrows")
    assert.strictEqual(a.code, 0)
    assert.strictEqual(a.out.split("\n").slice(0, -3).join("\n"), b.out.split("\n").slice(0, -3).join("\n"))
    const bad = cli("simulate", "--schedule", "{\"seed\":1}")
    assert.strictEqual(bad.code, 2)
    assert.include(bad.err, "--schedule")
  })
})
