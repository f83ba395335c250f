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
 * - the same search with a hash-compacted visited set (`hashCompact`), with its probability of omission;
 * - `--no-sweep`: skip the sweeps; the sweeps run on one thread and on worker threads (one per core).
 *
 *   node --expose-gc test/bench/modelchecker.ts [--before src/verify/ModelCheckerBefore.ts] [--no-sweep]
 */
import { pathToFileURL } from "node:url"
import * as path from "node:path"
import * as ModelChecker from "../../src/verify/ModelChecker.ts"
import * as Workers from "../../src/verify/Workers.ts"
import { arg, fixed, machine, table } from "./util.ts"

const LARGEST = { intervalTicks: 1, countClient: 3, serverIntervalTicks: 1, serverCount: 3, maxDelay: 2 }

type Check = (
  bounds: typeof LARGEST,
  options?: { readonly onProgress?: (explored: number) => void }
) => { readonly statesExplored: number; readonly seconds: number; readonly bytesPerState?: number; readonly omission?: number }

const gc = (globalThis as { gc?: () => void }).gc

const measure = (check: Check) => {
  let wall = 0
  let cpu = 0
  let states = 0
  let bytes: number | undefined
  let omission: number | undefined
  for (let i = 0; i < 5; i++) {
    const c0 = process.cpuUsage()
    const v = check(LARGEST)
    const c = process.cpuUsage(c0)
    states = v.statesExplored
    bytes = v.bytesPerState
    omission = v.omission
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
  return { states, wall, cpu, bytes, heap, omission }
}

const row = (label: string, m: ReturnType<typeof measure>) => [
  m.omission === undefined ? label : `${label} (omission ≤ ${m.omission.toExponential(1)})`,
  m.states,
  fixed(m.wall / 1000, 0),
  fixed(m.cpu / 1000, 0),
  m.bytes === undefined ? "n/a" : m.bytes,
  m.heap === undefined ? "run with --expose-gc" : fixed(m.heap, 0)
]

const sweep = async (label: string, base: ModelChecker.Bounds, workers = 1) => {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const r = await Workers.runParallel(ModelChecker.Sweep.grid({ base }), {}, workers)
  const c = process.cpuUsage(c0)
  const wall = (performance.now() - t0) / 1000
  const ok = r.rows.every((x) => x.verdict.ok && x.verdict.complete)
  return [`${label}, ${workers} thread${workers === 1 ? "" : "s"}`, r.rows.length, r.states, fixed(wall, 1), fixed((c.user + c.system) / 1e6, 1), fixed(r.states / wall / 1000, 0), ok ? "holds" : "VIOLATED"]
}

const main = async () => {
  console.log(machine())
  const rows = [
    row("this checker", measure((b, o) => ModelChecker.check(b, o))),
    row("this checker, hash compaction", measure((b, o) => ModelChecker.check(b, { ...o, hashCompact: true })))
  ]
  const before = arg("before", "")
  if (before !== "") {
    const module = (await import(pathToFileURL(path.resolve(before)).href)) as { check: Check }
    rows.unshift(row(`before (${path.basename(before)})`, measure(module.check)))
  }
  console.log("\nLargest configuration of the sweep: I = 1, C = 3 on both sides, delay 2\n")
  console.log(table(["checker", "states", "k states/s (wall)", "k states/s (CPU)", "bytes/state (search)", "bytes/state (heap growth)"], rows))
  if (process.argv.includes("--no-sweep")) return
  console.log("\nExhaustive sweeps: I ≤ 3, C ≤ 3 on each side, delay ≤ 2 (432 configurations)\n")
  const workers = Workers.defaultWorkers()
  console.log(table(["model", "configurations", "states", "s (wall)", "s (CPU, this thread)", "k states/s (wall)", "verdict"], [
    await sweep("one order at an instant (the original model)", { bothOrders: false }),
    await sweep("both orders at an instant (`verify --sweep --grid settings`)", {}),
    await sweep("both orders at an instant (`verify --sweep --grid settings`)", {}, workers)
  ]))
}

await main()
