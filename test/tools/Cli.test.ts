import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"

const cli = (...args: ReadonlyArray<string>) => {
  const run = spawnSync(process.execPath, ["src/tools/cli.ts", ...args], { encoding: "utf8", timeout: 60_000 })
  return { code: run.status, out: run.stdout, err: run.stderr }
}

describe("the keepalive CLI", () => {
  it("simulate draws a dead-peer run as arrows, Mermaid and timelines", () => {
    const { code, out } = cli("simulate", "--freeze", "client@5000", "--duration", "12000")
    assert.strictEqual(code, 0)
    assert.include(out, "7b. S -> C keepalive PING")
    assert.include(out, "sequenceDiagram")
    assert.include(out, "S countdown")
    assert.include(out, "server: connection closed due to keepalive timeout: 2 PINGs unanswered")
  })

  it("simulate refuses a bad flag with a message naming it, and a non-zero exit", () => {
    const bad = cli("simulate", "--freeze", "clint@5000")
    assert.notStrictEqual(bad.code, 0)
    assert.include(bad.out + bad.err, "--freeze")
    assert.include(bad.out + bad.err, "clint")
    const negative = cli("simulate", "--sessions", "0")
    assert.notStrictEqual(negative.code, 0)
    assert.include(negative.out + negative.err, "--sessions must be at least 1")
  })

  it("--help describes each command", () => {
    const help = cli("simulate", "--help")
    assert.strictEqual(help.code, 0)
    assert.include(help.out, "--partition")
    assert.include(cli("verify", "--help").out, "--mutant")
  })

  it("verify reports states, states per second and the verdict", () => {
    const { code, out } = cli("verify", "--interval", "2", "--count", "1", "--delay", "1")
    assert.strictEqual(code, 0)
    assert.match(out, /\d+ states, \d+ transitions, depth \d+, [\d.]+ s \(\d+ states\/s\)/)
    assert.include(out, "every property holds")
  })

  it("verify catches a mutant, prints the shortest counterexample and exits with 1", () => {
    const { code, out } = cli("verify", "--mutant", "pong-dropped-when-not-pinging")
    assert.strictEqual(code, 1)
    assert.include(out, "VIOLATED: ping-answered")
    assert.include(out, "shortest counterexample")
    assert.include(out, "sequenceDiagram")
  })

  it("verify --questions answers the design questions of the emails", () => {
    const { code, out } = cli("verify", "--questions")
    assert.strictEqual(code, 0)
    assert.include(out, "ADVERTISE")
    assert.include(out, "evidence:")
  })
})
