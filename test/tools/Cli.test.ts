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

/** Runs the CLI with a load hook; the modules of `src/` it loaded, by path under `src/`. */
const loadedBy = (...args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const hook = `import { registerHooks } from "node:module"
const seen = []
registerHooks({ load(url, context, next) { seen.push(url); return next(url, context) } })
process.on("exit", () => process.stderr.write("\\nLOADED " + JSON.stringify(seen) + "\\n"))`
  const run = spawnSync(process.execPath, ["--import", `data:text/javascript,${encodeURIComponent(hook)}`, "src/tools/cli.ts", ...args], {
    encoding: "utf8",
    timeout: 60_000
  })
  const line = run.stderr.split("\n").find((l) => l.startsWith("LOADED ")) ?? "LOADED []"
  return (JSON.parse(line.slice("LOADED ".length)) as Array<string>).flatMap((url) => {
    const at = url.indexOf("/src/")
    return url.startsWith("file:") && at >= 0 ? [url.slice(at + "/src/".length)] : []
  })
}

describe("the keepalive CLI loads only the command that runs", () => {
  it("--help lists every command and loads none of them", () => {
    const help = cli("--help")
    assert.strictEqual(help.code, 0)
    for (const name of ["simulate", "verify", "probe", "proxy"]) assert.match(help.out, new RegExp(`^\\s+${name}\\s`, "m"))
    assert.deepStrictEqual(loadedBy("--help"), ["tools/cli.ts", "tools/Commands.ts"])
  })

  it("a command's --help loads that command and not the others", () => {
    const loaded = loadedBy("proxy", "--help")
    assert.include(loaded, "tools/ProxyCommand.ts")
    for (const other of ["tools/SimulateCommand.ts", "tools/VerifyCommand.ts", "tools/ProbeCommand.ts", "simulation/Simulation.ts", "verify/ModelChecker.ts"]) {
      assert.notInclude(loaded, other)
    }
    const verify = loadedBy("verify", "--help")
    assert.include(verify, "tools/VerifyCommand.ts")
    for (const other of ["tools/ProxyCommand.ts", "tools/ProbeCommand.ts", "runtime/Dial.ts"]) assert.notInclude(verify, other)
  })

  it("a completion script knows every command's flags", () => {
    const { code, out } = cli("--completions", "bash")
    assert.strictEqual(code, 0)
    assert.include(out, "--upstream")
    assert.include(out, "--mutant")
  })
})
