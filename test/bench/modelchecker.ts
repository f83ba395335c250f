/**
 * Benchmark (not a test): the model checker's speed and memory on the largest configuration of the sweep
 * (I = 1, C = 3 on both sides, delay 2), and the exhaustive sweeps' totals.
 *
 * - states/s: best of 5 runs, by wall clock and by the process's CPU time (the machine may be shared);
 * - bytes/state: the search's own allocation (visited table, tree, memo and hash-consing tables) divided by the
 *   states, and the live heap growth (JS heap and array buffers, after a full GC at the last progress report of
 *   the search, run with `--expose-gc`) divided by the states found by then;
 * - `--before FILE`: the same measures for another checker module exporting `check(bounds)` (e.g. an older
 *   `ModelChecker.ts` copied into `src/verify/`), for before/after tables;
 * - `--no-sweep`: skip the sweeps.
 *
 *   node --expose-gc test/bench/modelchecker.ts [--before src/verify/ModelCheckerBefore.ts] [--no-sweep]
 */
import { pathToFileURL } from "node:url"
import * as path from "node:path"
import * as ModelChecker from "../../src/verify/ModelChecker.ts"
import { arg, fixed, machine, table } from "./util.ts"

const LARGEST = { intervalTicks: 1, countClient: 3, serverIntervalTicks: 1, serverCount: 3, maxDelay: 2 }

type Check = (
  bounds: typeof LARGEST,
  options?: { readonly onProgress?: (explored: number) => void }
) => { readonly statesExplored: number; readonly seconds: number; readonly bytesPerState?: number }

const gc = (globalThis as { gc?: () => void }).gc

const measure = (check: Check) => {
  let wall = 0
  let cpu = 0
  let states = 0
  let bytes: number | undefined
  for (let i = 0; i < 5; i++) {
    const c0 = process.cpuUsage()
    const v = check(LARGEST)
    const c = process.cpuUsage(c0)
    states = v.statesExplored
    bytes = v.bytesPerState
    wall = Math.max(wall, v.statesExplored / v.seconds)
    cpu = Math.max(cpu, v.statesExplored / ((c.user + c.system) / 1e6))
  }
  let heap: number | undefined
  if (gc !== undefined) {
    // the live heap while the search runs: a full GC at each progress report, against the heap before it
    const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers
    gc()
    const base = used()
    check(LARGEST, {
      onProgress: (explored) => {
        gc()
        heap = (used() - base) / explored
      }
    })
  }
  return { states, wall, cpu, bytes, heap }
}

const row = (label: string, m: ReturnType<typeof measure>) => [
  label,
  m.states,
  fixed(m.wall / 1000, 0),
  fixed(m.cpu / 1000, 0),
  m.bytes === undefined ? "n/a" : m.bytes,
  m.heap === undefined ? "run with --expose-gc" : fixed(m.heap, 0)
]

const sweep = (label: string, base: ModelChecker.Bounds) => {
  const c0 = process.cpuUsage()
  const r = ModelChecker.Sweep.run(ModelChecker.Sweep.grid({ base }))
  const c = process.cpuUsage(c0)
  const ok = r.rows.every((x) => x.verdict.ok && x.verdict.complete)
  return [label, r.rows.length, r.states, fixed(r.seconds, 1), fixed((c.user + c.system) / 1e6, 1), fixed(r.states / r.seconds / 1000, 0), ok ? "holds" : "VIOLATED"]
}

const main = async () => {
  console.log(machine())
  const rows = [row("this checker", measure((b, o) => ModelChecker.check(b, o)))]
  const before = arg("before", "")
  if (before !== "") {
    const module = (await import(pathToFileURL(path.resolve(before)).href)) as { check: Check }
    rows.unshift(row(`before (${path.basename(before)})`, measure(module.check)))
  }
  console.log("\nLargest configuration of the sweep: I = 1, C = 3 on both sides, delay 2\n")
  console.log(table(["checker", "states", "k states/s (wall)", "k states/s (CPU)", "bytes/state (search)", "bytes/state (heap growth)"], rows))
  if (process.argv.includes("--no-sweep")) return
  console.log("\nExhaustive sweeps: I ≤ 3, C ≤ 3 on each side, delay ≤ 2 (432 configurations)\n")
  console.log(table(["model", "configurations", "states", "s (wall)", "s (CPU)", "k states/s", "verdict"], [
    sweep("one order at an instant (the original model)", { bothOrders: false }),
    sweep("both orders at an instant (`verify --sweep`)", {})
  ]))
}

await main()
