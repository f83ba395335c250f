/**
 * Every benchmark (not tests), one after the other, each in its own process so that none inherits another's heap,
 * timers or sockets: the keepalive core, scale over TCP, in-memory sessions, detection precision, simulation
 * speed, a server under attack. `--quick` gives shorter runs (the core benchmark has a single size).
 *
 *   node test/bench/all.ts [--quick] [--only core,scale,sessions,detection,simulation,hostile]
 */
import { fileURLToPath } from "node:url"
import { arg, machine, quick, runScript } from "./util.ts"

const BENCHMARKS = [
  { name: "core", file: "core.ts", title: "Keepalive core: inputs per second against a mutable baseline" },
  { name: "scale", file: "scale.ts", title: "Scale: TCP connections, CPU and memory per connection" },
  { name: "sessions", file: "sessions.ts", title: "In-memory sessions: heap per session, bounded or not" },
  { name: "detection", file: "detection.ts", title: "Detection precision over TCP" },
  { name: "simulation", file: "simulation.ts", title: "Simulation speed" },
  { name: "hostile", file: "hostile.ts", title: "Hostile: a server under floods, against libvirtd when installed" }
] as const

const only = arg("only", BENCHMARKS.map((b) => b.name).join(",")).split(",")
const selected = BENCHMARKS.filter((b) => only.includes(b.name))

console.log(`# effect-keepalive benchmarks${quick ? " (quick)" : ""}`)
console.log(machine())
const started = performance.now()
const failures: Array<string> = []
for (const b of selected) {
  console.log("")
  console.log(`# ${b.title} (${b.file})`)
  const t0 = performance.now()
  const code = await runScript(fileURLToPath(new URL(`./${b.file}`, import.meta.url)), quick ? ["--quick"] : [])
  console.log(`(${b.name}: ${((performance.now() - t0) / 1000).toFixed(0)} s${code === 0 ? "" : `, exit code ${code}`})`)
  if (code !== 0) failures.push(b.name)
}
console.log("")
console.log(`all benchmarks done in ${((performance.now() - started) / 60_000).toFixed(1)} min${failures.length > 0 ? `; failed: ${failures.join(", ")}` : ""}`)
process.exitCode = failures.length > 0 ? 1 : 0
