/**
 * The mutation harness (`npm run mutate`): applies each mutant of the catalogue to a temporary copy of the
 * repository and reports which of the model checker, the simulator swarm and the test suite catch it.
 *
 * Contract:
 * - The working tree is never touched: each mutant gets a fresh copy of src/, test/, examples/ and the config
 *   files in a temporary directory, with node_modules linked, removed afterwards.
 * - Detectors, each in its own process with a time limit (a hang counts as caught, and says so):
 *   - verify: `test/mutate/verify-runs.ts` (small bounds, one wider choice at a time);
 *   - swarm: `keepalive simulate --seeds N` (default 100);
 *   - tests: `vitest run` over the whole suite (as `npm test` runs it, without the type check), compared with the
 *     unmutated copy so that tests already failing there do not count; `--tests pure` runs only test/core and
 *     test/session, `--tests none` skips the column.
 * - Prints a Markdown table, one row per mutant as soon as it is judged, and the totals. Options: `--only ID,ID`, `--seeds N`,
 *   `--tests full|pure|none`.
 * - `--judge sweep`: the mutants of the core and the session only (K, S and libvirt's L), each judged by the model
 *   checker's complete sweep alone (`keepalive verify --sweep --quick`, 48 configurations; `--full`: all 864), under
 *   our rules, and under libvirt's for the L mutants. A mutant is caught when some configuration's verdict (holds,
 *   or the property violated) differs from the unmutated sweep's under the same rules (under libvirt's rules some
 *   configurations fail unmutated); an escape says whether the sweep saw it at all (state counts that differ).
 *   Prints a Markdown table and the totals.
 *
 * @since 0.1.0
 */
import { spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { catalogue, type Mutant } from "./catalogue.ts"

const ROOT = resolve(import.meta.dirname, "../..")
const COPIED = ["src", "test", "examples", "package.json", "tsconfig.json", "tsconfig.build.json", "vitest.config.ts", "README.md", "BENCHMARKS.md"]

interface Detection {
  readonly caught: boolean
  readonly detail: string
}

const option = (name: string): string | undefined => {
  const at = process.argv.indexOf(`--${name}`)
  return at < 0 ? undefined : process.argv[at + 1]
}

/** A fresh copy of the repository, with `mutant` applied when given. */
const copy = (mutant: Mutant | undefined): string => {
  const dir = mkdtempSync(join(tmpdir(), "keepalive-mutant-"))
  for (const path of COPIED) if (existsSync(join(ROOT, path))) cpSync(join(ROOT, path), join(dir, path), { recursive: true })
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"))
  if (mutant !== undefined) {
    const file = join(dir, mutant.file)
    const text = readFileSync(file, "utf8")
    if (text.split(mutant.find).length !== 2) throw new Error(`${mutant.id}: the text to replace does not occur exactly once in ${mutant.file}`)
    writeFileSync(file, text.replace(mutant.find, mutant.replace))
  }
  return dir
}

const run = (dir: string, args: ReadonlyArray<string>, seconds: number) =>
  spawnSync(process.execPath, args, { cwd: dir, encoding: "utf8", timeout: seconds * 1000, killSignal: "SIGKILL", maxBuffer: 256 * 1024 * 1024 })

const timedOut = (r: ReturnType<typeof run>): boolean => r.signal !== null || (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT")

const verify = (dir: string): Detection => {
  const r = run(dir, ["test/mutate/verify-runs.ts"], 120)
  if (timedOut(r)) return { caught: true, detail: "hangs" }
  if (r.status === 0) return { caught: false, detail: "" }
  try {
    const found = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as { run: string; property: string; depth: number }
    return { caught: true, detail: `${found.property} (${found.run}, depth ${found.depth})` }
  } catch {
    return { caught: true, detail: `crashes: ${(r.stderr || r.stdout).split("\n").find((l) => l.includes("Error")) ?? "exit " + r.status}` }
  }
}

const swarm = (dir: string, seeds: number): Detection => {
  const r = run(dir, ["src/tools/cli.ts", "simulate", "--seeds", String(seeds)], 120)
  if (timedOut(r)) return { caught: true, detail: "hangs" }
  if (r.status === 0) return { caught: false, detail: "" }
  const line = /seed (\d+): VIOLATED ([a-z-]+)/.exec(r.stdout)
  return { caught: true, detail: line === null ? `exit ${r.status}` : `${line[2]} (seed ${line[1]})` }
}

/** The names of the failing tests of a vitest JSON report. */
const failing = (dir: string, paths: ReadonlyArray<string>): { readonly failed: ReadonlySet<string>; readonly hung: boolean } => {
  const report = join(dir, "vitest-report.json")
  // the catalogue's own check (each mutant's text occurs once) fails in every mutated copy: it is no detector
  const r = run(dir, ["node_modules/vitest/vitest.mjs", "run", "--reporter=json", `--outputFile=${report}`, "--exclude", "test/mutate/**", ...paths], 600)
  if (!existsSync(report)) return { failed: new Set([`no report (exit ${r.status})`]), hung: timedOut(r) }
  const json = JSON.parse(readFileSync(report, "utf8")) as {
    testResults: ReadonlyArray<{ name: string; status: string; assertionResults: ReadonlyArray<{ fullName: string; status: string }> }>
  }
  const failed = new Set<string>()
  for (const file of json.testResults) {
    const name = file.name.replace(dir, "")
    if (file.status === "failed" && file.assertionResults.length === 0) failed.add(`${name}: failed to run`)
    for (const a of file.assertionResults) if (a.status === "failed") failed.add(`${name}: ${a.fullName}`)
  }
  return { failed, hung: timedOut(r) }
}

const tests = (dir: string, paths: ReadonlyArray<string>, baseline: ReadonlySet<string>): Detection => {
  const { failed, hung } = failing(dir, paths)
  const fresh = [...failed].filter((f) => !baseline.has(f))
  if (fresh.length === 0) return { caught: hung, detail: hung ? "hangs" : "" }
  return { caught: true, detail: `${fresh.length} test(s), e.g. ${fresh[0]!.replace(/^\/test\//, "").slice(0, 90)}` }
}

/** One configuration of a sweep: its verdict (`holds`, `incomplete` or the property violated) and its states. */
interface Outcome {
  readonly verdict: string
  readonly states: number
}

/** Under which keepalive rules the sweep judges a mutant: libvirt's for the L mutants, else ours. */
const rulesOf = (m: Mutant): "ours" | "libvirt" => (m.id.startsWith("L") ? "libvirt" : "ours")

/** The complete sweep in `dir` (quick unless `full`), as configuration → outcome; a string says why there is none. */
const sweepOutcomes = (dir: string, rules: "ours" | "libvirt", full: boolean): ReadonlyMap<string, Outcome> | string => {
  const args = ["src/tools/cli.ts", "verify", "--sweep", ...(full ? [] : ["--quick"]), "--rules", rules, "--format", "json"]
  const r = run(dir, args, full ? 7200 : 900)
  if (timedOut(r)) return "hangs"
  try {
    const json = JSON.parse(r.stdout) as {
      rows: ReadonlyArray<{ configuration: string; verdict: string; violation?: { property: string }; search: { states: number } }>
    }
    return new Map(json.rows.map((row) => [row.configuration, { verdict: row.violation?.property ?? row.verdict, states: row.search.states }]))
  } catch {
    return `crashes: ${(r.stderr || r.stdout).split("\n").find((l) => l.includes("Error")) ?? "exit " + r.status}`
  }
}

/** Judges a mutant's sweep against the unmutated one: the first configuration whose verdict differs. */
const judgeSweep = (outcomes: ReadonlyMap<string, Outcome> | string, baseline: ReadonlyMap<string, Outcome>): Detection => {
  if (typeof outcomes === "string") return { caught: true, detail: outcomes }
  const changed = [...baseline].filter(([label, b]) => outcomes.get(label)?.verdict !== b.verdict)
  if (changed.length > 0) {
    const [label, b] = changed[0]!
    return {
      caught: true,
      detail: `${outcomes.get(label)?.verdict ?? "missing"} (${label}; unmutated: ${b.verdict}; ${changed.length} of ${baseline.size} configurations)`
    }
  }
  const moved = [...baseline].filter(([label, b]) => outcomes.get(label)?.states !== b.states).length
  return {
    caught: false,
    detail: moved === 0 ? "the same states in every configuration" : `states differ in ${moved} of ${baseline.size} configurations, every verdict as unmutated`
  }
}

/** `--judge sweep`: the mutants of the core and the session, each judged by the complete sweep alone. */
const mainSweep = (only: ReadonlyArray<string> | undefined, full: boolean): void => {
  const mutants = catalogue.filter((m) =>
    (m.file === "src/core/Keepalive.ts" || m.file === "src/session/Session.ts") && (only === undefined || only.includes(m.id))
  )
  const baselines = new Map<string, ReadonlyMap<string, Outcome>>()
  const dir = copy(undefined)
  for (const rules of new Set(mutants.map(rulesOf))) {
    const b = sweepOutcomes(dir, rules, full)
    if (typeof b === "string") throw new Error(`the unmutated sweep under ${rules}'s rules ${b}`)
    baselines.set(rules, b)
    process.stderr.write(`baseline (${rules}'s rules): ${b.size} configurations, ${[...b.values()].filter((o) => o.verdict !== "holds").length} not holding\n`)
  }
  rmSync(dir, { recursive: true, force: true })
  const label = full ? "the complete sweep (864 configurations)" : "the quick complete sweep (48 configurations)"
  console.log(`| mutant | what it breaks | rules | ${label} |\n|---|---|---|---|`)
  let caught = 0
  for (const m of mutants) {
    const copyDir = copy(m)
    const d = judgeSweep(sweepOutcomes(copyDir, rulesOf(m), full), baselines.get(rulesOf(m))!)
    rmSync(copyDir, { recursive: true, force: true })
    caught += d.caught ? 1 : 0
    console.log(`| ${m.id} | ${m.note} | ${rulesOf(m)} | ${d.caught ? `**yes**: ${d.detail}` : `no: ${d.detail}`} |`)
    process.stderr.write(`${m.id}: sweep ${d.caught}\n`)
  }
  console.log(`\n${mutants.length} mutants of the core and the session: ${label} catches ${caught}`)
}

const mark = (d: Detection | undefined): string => (d === undefined ? "–" : d.caught ? `**yes**: ${d.detail}` : "no")

const main = (): void => {
  const only = option("only")?.split(",")
  if (option("judge") === "sweep") return mainSweep(only, process.argv.includes("--full"))
  const seeds = Number(option("seeds") ?? 100)
  const mode = option("tests") ?? "full"
  const paths = mode === "pure" ? ["test/core", "test/session"] : []
  const mutants = catalogue.filter((m) => only === undefined || only.includes(m.id))
  let baseline: ReadonlySet<string> = new Set()
  if (mode !== "none") {
    const dir = copy(undefined)
    baseline = failing(dir, paths).failed
    rmSync(dir, { recursive: true, force: true })
    process.stderr.write(`baseline: ${baseline.size} test(s) already failing without a mutant\n`)
  }
  const testsLabel = mode === "pure" ? "tests (core, session)" : "npm test (vitest)"
  console.log(`| mutant | file | what it breaks | verify | swarm (${seeds} seeds) | ${testsLabel} |\n|---|---|---|---|---|---|`)
  const counts = { verify: 0, swarm: 0, tests: 0, any: 0 }
  for (const m of mutants) {
    const dir = copy(m)
    const v = verify(dir)
    const s = swarm(dir, seeds)
    const t = mode === "none" ? undefined : tests(dir, paths, baseline)
    rmSync(dir, { recursive: true, force: true })
    counts.verify += v.caught ? 1 : 0
    counts.swarm += s.caught ? 1 : 0
    counts.tests += t?.caught === true ? 1 : 0
    counts.any += v.caught || s.caught || t?.caught === true ? 1 : 0
    console.log(`| ${m.id} | ${m.file.replace("src/", "")} | ${m.note} | ${mark(v)} | ${mark(s)} | ${mark(t)} |`)
    process.stderr.write(`${m.id}: verify ${v.caught}, swarm ${s.caught}, tests ${t?.caught ?? "-"}\n`)
  }
  console.log(
    `\n${mutants.length} mutants: verify catches ${counts.verify}, the swarm ${counts.swarm}, ${testsLabel} ${
      mode === "none" ? "(not run)" : counts.tests
    }; ${counts.any} caught by at least one`
  )
}

main()
