/**
 * `keepalive simulate`: every flag honoured with `--seeds` or refused, `--seed N` as swarm seed N, the schedule
 * printed and replayed, repeated faults, mutants, and `--format mermaid` with nothing but Mermaid on stdout.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Swarm from "../../src/simulation/Swarm.ts"

const cli = (...args: ReadonlyArray<string>) => {
  const run = spawnSync(process.execPath, ["src/tools/cli.ts", "simulate", "--log-level", "none", ...args], { encoding: "utf8", timeout: 60_000 })
  return { code: run.status, out: run.stdout, err: run.stderr }
}

const schedules = (out: string) => out.trim().split("\n").map((line) => JSON.parse(line))

describe("keepalive simulate", () => {
  it("--seed N is swarm seed N; --print-schedule prints the JSON that --schedule replays", () => {
    const printed = cli("--seed", "20", "--print-schedule")
    assert.strictEqual(printed.code, 0)
    assert.deepStrictEqual(schedules(printed.out), [JSON.parse(Swarm.encode(Swarm.schedule(20)))])
    const replayed = cli("--schedule", printed.out.trim(), "--print-schedule")
    assert.deepStrictEqual(schedules(replayed.out), schedules(printed.out))
  })

  it("with --seeds, settings and faults given are laid over every seed's schedule", () => {
    const { code, out } = cli(
      "--seeds",
      "3",
      "--first-seed",
      "5",
      "--variant",
      "draft",
      "--policy",
      "required",
      "--latency",
      "30",
      "--freeze",
      "client@9s",
      "--print-schedule"
    )
    assert.strictEqual(code, 0)
    const printed = schedules(out)
    assert.deepStrictEqual(printed.map((s) => s.seed), [5, 6, 7])
    for (const s of printed) {
      assert.deepStrictEqual([s.server.variant, s.client.variant, s.server.policy, s.toServer.latency, s.toClient.latency], [
        "draft",
        "draft",
        "required",
        30,
        30
      ])
      assert.deepInclude(s.faults, { at: 9000, kind: "freeze", side: "client" })
    }
  })

  it("with --seeds, a flag that picks one run is refused, naming it", () => {
    for (const [flag, value] of [["--seed", "2"], ["--sessions", "3"], ["--schedule", "{}"]] as const) {
      const { code, err } = cli("--seeds", "3", flag, value)
      assert.strictEqual(code, 2)
      assert.include(err, flag)
    }
    assert.include(cli("--first-seed", "4").err, "--first-seed")
  })

  it("faults repeat, and each new fault flag is parsed (or refused naming its syntax)", () => {
    const { out } = cli(
      "--freeze",
      "client@5s+1s",
      "--freeze",
      "client@8s",
      "--set-keepalive",
      "1s,3@2s",
      "--set-keepalive",
      "0,0@4s",
      "--slow-calls",
      "12@2s+10s",
      "--app-stall",
      "10@3s+4s",
      "--print-schedule"
    )
    assert.deepStrictEqual(schedules(out)[0].faults, [
      { at: 2000, kind: "set-keepalive", interval: 1000, count: 3 },
      { at: 2000, kind: "slow-calls", count: 12, duration: 10_000 },
      { at: 3000, kind: "app-stall", events: 10, duration: 4000 },
      { at: 4000, kind: "set-keepalive", interval: 0, count: 0 },
      { at: 5000, kind: "freeze", side: "client", duration: 1000 },
      { at: 8000, kind: "freeze", side: "client" }
    ])
    const bad = cli("--set-keepalive", "1s@2s")
    assert.notStrictEqual(bad.code, 0)
    assert.include(bad.out + bad.err, "INTERVAL,COUNT@AT")
  })

  it("no flag: the default scenario, as before (no fault, no busy limits, no timeouts)", () => {
    const [s] = schedules(cli("--print-schedule").out)
    assert.deepStrictEqual(
      { ...s, faults: s.faults.length },
      {
        seed: 1,
        duration: 20_000,
        server: { interval: 2000, count: 2, policy: "if-supported", variant: "libvirt" },
        client: { advertise: true, variant: "libvirt" },
        toServer: { latency: 5, jitter: 2 },
        toClient: { latency: 5, jitter: 2 },
        faults: 0
      }
    )
  })

  it("--mutant runs a broken runtime rule, and the verdict catches it with exit 1", () => {
    const args = ["--slow-calls", "5@1s+10s", "--call-limit", "3", "--server-interval", "1s", "--format", "arrows"]
    assert.strictEqual(cli(...args).code, 0)
    const broken = cli(...args, "--mutant", "stop-reading-at-limit")
    assert.strictEqual(broken.code, 1)
    assert.include(broken.out, "VIOLATED: no-false-death")
  })

  it("--format mermaid prints pure Mermaid on stdout and the summary on stderr", () => {
    const { code, err, out } = cli("--format", "mermaid", "--freeze", "client@5s", "--duration", "12s")
    assert.strictEqual(code, 0)
    assert.match(out, /^sequenceDiagram\n/)
    assert.notInclude(out, "properties:")
    assert.notInclude(out, "server:")
    assert.include(err, "properties: every keepalive property holds")
  })

  it("a swarm prints what it covered", () => {
    const { code, out } = cli("--seeds", "30")
    assert.strictEqual(code, 0)
    assert.match(out, /\d+ seeded runs \(seeds 1–30\), \d+ PINGs, \d+ keepalive deaths, every trace judged/)
    assert.match(out, /covered: \d+ opens, \d+ refusals, \d+ PINGs, \d+ deaths, \d+ reconfigurations, /)
    assert.match(out, /\d+ slow-calls faults/)
  })
})
