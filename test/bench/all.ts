/**
 * Every benchmark (not tests), one after the other, each in its own process so that none inherits another's heap,
 * timers or sockets: the keepalive core, scale over TCP, in-memory sessions, detection precision, simulation
 * speed, a server under attack, a server's memory under load, the built package's footprint. `--quick` gives
 * shorter runs (the core benchmark has a single size).
 *
 * It ends with one summary table of issue 18's targets: each benchmark appends its rows (JSON lines) to a file
 * named in KEEPALIVE_BENCH_ROWS, and the table shows the rows of the benchmarks that ran, in the issue's order,
 * and names the rows that are missing.
 *
 *   node test/bench/all.ts [--quick] [--only core,scale,sessions,detection,simulation,hostile,server,footprint]
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { arg, machine, quick, ROW_ORDER, ROWS_ENV, runScript, table } from "./util.ts"
import type { RowKey, SummaryRow } from "./util.ts"

const BENCHMARKS = [
  { name: "core", file: "core.ts", title: "Keepalive core: inputs per second against a mutable baseline" },
  { name: "scale", file: "scale.ts", title: "Scale: TCP connections, CPU and memory per connection" },
  { name: "sessions", file: "sessions.ts", title: "In-memory sessions: heap per session, bounded or not" },
  { name: "detection", file: "detection.ts", title: "Detection precision over TCP" },
  { name: "simulation", file: "simulation.ts", title: "Simulation speed" },
  { name: "hostile", file: "hostile.ts", title: "Hostile: a server under floods, against libvirtd when installed" },
  { name: "server", file: "server.ts", title: "Server memory under load (flood, idle, slowloris, churn), against libvirtd when installed" },
  { name: "footprint", file: "footprint.ts", title: "Footprint of the built package: idle RSS and CLI start-up, against libvirtd and virsh" }
] as const

/** Which benchmark measures each row of the summary. */
const SOURCE: Record<RowKey, (typeof BENCHMARKS)[number]["name"]> = {
  "cpu-per-connection": "scale",
  "cpu-per-frame": "scale",
  "heap-per-connection": "scale",
  "rss-per-connection": "scale",
  "sessions": "sessions",
  "detection-burst": "detection",
  "simulation": "simulation",
  "flood-rss": "server",
  "idle-connection-memory": "server",
  "slowloris-memory": "server",
  "rtt-under-flood": "hostile",
  "churn-rss": "server",
  "idle-rss-server": "footprint",
  "idle-rss-proxy": "footprint",
  "cli-start": "footprint"
}

const only = arg("only", BENCHMARKS.map((b) => b.name).join(",")).split(",")
const selected = BENCHMARKS.filter((b) => only.includes(b.name))

console.log(`# effect-keepalive benchmarks${quick ? " (quick)" : ""}`)
console.log(machine())
const started = performance.now()
const failures: Array<string> = []
const rowsDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "keepalive-bench-rows-"))
const rowsFile = Path.join(rowsDir, "rows.jsonl")
Fs.writeFileSync(rowsFile, "")
process.env[ROWS_ENV] = rowsFile
process.on("exit", () => Fs.rmSync(rowsDir, { recursive: true, force: true }))
for (const b of selected) {
  console.log("")
  console.log(`# ${b.title} (${b.file})`)
  const t0 = performance.now()
  const code = await runScript(fileURLToPath(new URL(`./${b.file}`, import.meta.url)), quick ? ["--quick"] : [])
  console.log(`(${b.name}: ${((performance.now() - t0) / 1000).toFixed(0)} s${code === 0 ? "" : `, exit code ${code}`})`)
  if (code !== 0) failures.push(b.name)
}

// ---------------------------------------------------------------------------------------------------------------
// The summary: every row of issue 18's table that this run measured
// ---------------------------------------------------------------------------------------------------------------

const recorded = new Map<RowKey, SummaryRow>()
for (const line of Fs.readFileSync(rowsFile, "utf8").split("\n")) {
  if (line.trim() === "") continue
  const row = JSON.parse(line) as SummaryRow
  recorded.set(row.key, row)
}
const rows = ROW_ORDER.flatMap((key) => {
  const row = recorded.get(key)
  return row === undefined ? [] : [row]
})
const missing = ROW_ORDER.filter((key) => !recorded.has(key) && selected.some((b) => b.name === SOURCE[key]))
console.log("")
console.log(`# Summary: Runtime v3 targets (issue 18)${quick ? ", quick run (smaller sizes where a row says so)" : ""}`)
console.log(machine())
console.log(
  `baselines are measured in this run; ${rows.length} of ${ROW_ORDER.length} rows${
    selected.length < BENCHMARKS.length
      ? ` (--only ${selected.map((b) => b.name).join(",")})`
      : ""
  }`
)
console.log("")
console.log(table(
  ["measure", "baseline(s), this run", "ours", "ratio", "target", "met?"],
  rows.map((r) => [r.measure, r.baseline === "" ? "—" : r.baseline, r.ours, r.ratio, r.target, r.verdict].map((c) => c.replaceAll("|", "\\|")))
))
if (missing.length > 0) console.log(`rows not measured (their benchmark ran but recorded nothing, see its output above): ${missing.join(", ")}`)
const met = rows.filter((r) => r.verdict.startsWith("met")).length
console.log(`targets met: ${met} of ${rows.length}`)

console.log("")
console.log(`all benchmarks done in ${((performance.now() - started) / 60_000).toFixed(1)} min${failures.length > 0 ? `; failed: ${failures.join(", ")}` : ""}`)
process.exitCode = failures.length > 0 ? 1 : 0
