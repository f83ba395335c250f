/**
 * Benchmark (not a test): the model checker's speed and memory on the largest configuration of the sweep
 * (I = 1, C = 3 on both sides, delay 2), and the exhaustive sweeps' totals.
 *
 * - states/s: best of 5 runs, by wall clock and by the process's CPU time (the machine may be shared);
 * - bytes/state: the search's own allocation (visited table, tree, memo and hash-consing tables) divided by the
 *   states, and the live heap growth (JS heap and array buffers, after a full GC at the last progress report of
 *   the search, run with `--expose-gc`) divided by the states found by then;
 * - `--before FILE`: the same measures for another checker module exporting `check(bounds, options)` (e.g. the
 *   `src/verify/ModelChecker.ts` of an older commit checked out elsewhere), for before/after tables, in the table
 *   against SPIN too;
 * - the same search with a hash-compacted visited set (`hashCompact`), with its probability of omission;
 * - `--no-sweep`: skip the sweeps; the sweeps run on one thread and on worker threads (one per core);
 * - against SPIN, where `spin` and `gcc` are installed (else skipped, saying so): for each of {@link SPIN_CONFIGS},
 *   the Promela model of the same transition system (`promela.ts`) compiled with `-DSAFETY -DNOREDUCE` and run,
 *   both checkers' states stored (SPIN's is ours plus its initial state) and states/s, best of {@link SPIN_RUNS}
 *   runs each, alternating, after one untimed run of ours (the JIT's warm-up): ours by `Search.check` with no
 *   property (the states SPIN sees: no ghosts), SPIN's from pan's own rate line (its search only, timed in 10 ms
 *   ticks, so its rate is used only from 100 ms up; compiling is not counted). Like with like: exact
 *   storage against SPIN's default exact storage, then our hash compaction against SPIN's (`-DHC4`), with the
 *   states SPIN's compaction omitted. `--spin-only`: only these tables.
 *
 *   node --expose-gc test/bench/modelchecker.ts [--before src/verify/ModelCheckerBefore.ts] [--no-sweep] [--spin-only]
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import { pathToFileURL } from "node:url"
import * as path from "node:path"
import * as ModelChecker from "../../src/verify/ModelChecker.ts"
import * as Workers from "../../src/verify/Workers.ts"
import { promela } from "./promela.ts"
import { arg, fixed, machine, ratio, table } from "./util.ts"

const LARGEST = { intervalTicks: 1, countClient: 3, serverIntervalTicks: 1, serverCount: 3, maxDelay: 2 }

type Check = (
  bounds: ModelChecker.Bounds,
  options?: { readonly onProgress?: (explored: number) => void; readonly properties?: ReadonlyArray<ModelChecker.PropertyName>; readonly hashCompact?: boolean }
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
    // twice: garbage of an earlier checker's runs, freed by the first, must not lower the base later
    gc()
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
  return [
    `${label}, ${workers} thread${workers === 1 ? "" : "s"}`,
    r.rows.length,
    r.states,
    fixed(wall, 1),
    fixed((c.user + c.system) / 1e6, 1),
    fixed(r.states / wall / 1000, 0),
    ok ? "holds" : "VIOLATED"
  ]
}

/** Configurations SPIN and the checker both explore: from no freeze and one setKeepAlive up to the sweep's largest and beyond. */
const SPIN_CONFIGS: ReadonlyArray<readonly [string, ModelChecker.Bounds]> = [
  ["I = C = 1, delay 0, no freeze, no setKeepAlive", {
    allowFreeze: { client: false, server: false },
    maxSetKeepAliveCalls: 0,
    maxDelay: 0,
    intervalTicks: 1,
    countClient: 1,
    serverIntervalTicks: 1,
    serverCount: 1
  }],
  ["I = C = 1, delay 1, no freeze, 1 setKeepAlive", {
    allowFreeze: { client: false, server: false },
    maxSetKeepAliveCalls: 1,
    maxDelay: 1,
    intervalTicks: 1,
    countClient: 1,
    serverIntervalTicks: 1,
    serverCount: 1
  }],
  ["I = C = 1, delay 1, the server may freeze, 1 setKeepAlive", {
    allowFreeze: { client: false, server: true },
    maxSetKeepAliveCalls: 1,
    maxDelay: 1,
    intervalTicks: 1,
    countClient: 1,
    serverIntervalTicks: 1,
    serverCount: 1
  }],
  ["the defaults (I = C = 2, delay 1)", {}],
  ["the sweep's largest (I = 1, C = 3, delay 2)", LARGEST],
  ["the sweep's largest with 3 setKeepAlive calls", { ...LARGEST, maxSetKeepAliveCalls: 3 }]
]

/** Runs of each checker per configuration, alternating; the best rate of each counts. */
const SPIN_RUNS = 5

/** pan's shortest search whose rate is used: it times in 10 ms ticks, so 100 ms is ±10 %. */
const MIN_SPIN_SECONDS = 0.1

const run = (command: string, args: ReadonlyArray<string>, cwd: string): string => {
  const r = spawnSync(command, args, { cwd, encoding: "utf8", maxBuffer: 1 << 26 })
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${r.stderr || r.stdout}`)
  return r.stdout
}

/** The best of {@link SPIN_RUNS} runs of pan (states stored, pan's own rate: 0 when it ran under 10 ms), of ours and of `--before`'s. */
interface Pair {
  readonly stored: number
  readonly spinRate: number
  readonly ours: number
  readonly oursRate: number
  readonly beforeRate: number
}

/** `pan` in `dir` against `Search.check` with no property (and `before`'s check), exact or hash-compacted, alternating runs. */
const race = (dir: string, pan: string, bounds: ModelChecker.Bounds, hashCompact: boolean, before: Check | undefined): Pair => {
  let stored = 0
  let spinRate = 0
  let ours = 0
  let oursRate = 0
  let beforeRate = 0
  // one untimed run each first: the JIT's warm-up, as compiling pan is not counted either
  ModelChecker.check(bounds, { properties: [], hashCompact })
  before?.(bounds, { properties: [], hashCompact })
  for (let i = 0; i < SPIN_RUNS; i++) {
    if (before !== undefined) {
      const b = before(bounds, { properties: [], hashCompact })
      beforeRate = Math.max(beforeRate, b.statesExplored / b.seconds)
    }
    const text = run(pan, ["-m1000000", "-w24"], dir)
    if (!/errors: 0/.test(text)) throw new Error(`pan found an error: ${text}`)
    stored = Number(/(\d+) states, stored/.exec(text)?.[1] ?? 0)
    // pan times its search in 10 ms ticks: below 100 ms its rate is off by 10 % or more, so it is not used
    const elapsed = Number(/elapsed time ([\d.e+-]+) seconds/.exec(text)?.[1] ?? 0)
    if (elapsed >= MIN_SPIN_SECONDS) spinRate = Math.max(spinRate, Number(/rate\s+([\d.]+) states\/second/.exec(text)?.[1] ?? 0))
    const v = ModelChecker.check(bounds, { properties: [], hashCompact })
    ours = v.statesExplored
    oursRate = Math.max(oursRate, v.statesExplored / v.seconds)
  }
  return { stored, spinRate, ours, oursRate, beforeRate }
}

const rate = (r: number): string => (r > 0 ? fixed(r / 1000, 0) : "n/a (pan under 100 ms)")

/** The two tables against SPIN (exact storage; hash compaction), with `before`'s rates when given, or why they are skipped. */
const spin = (before?: Check): string => {
  const missing = ["spin", "gcc"].filter((c) => spawnSync(c, [c === "spin" ? "-V" : "--version"]).status !== 0)
  if (missing.length > 0) return `SPIN: skipped (${missing.join(" and ")} not installed)`
  const version = run("spin", ["-V"], ".").trim()
  const exact: Array<ReadonlyArray<string | number>> = []
  const compact: Array<ReadonlyArray<string | number>> = []
  for (const [label, bounds] of SPIN_CONFIGS) {
    const model = promela(bounds)
    if (typeof model === "string") {
      exact.push([label, model, "", "", "", ""])
      continue
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keepalive-spin-"))
    try {
      fs.writeFileSync(path.join(dir, "keepalive.pml"), model.source)
      fs.writeFileSync(path.join(dir, "keepalive.h"), model.header)
      run("spin", ["-a", "keepalive.pml"], dir)
      run("gcc", ["-O2", "-DSAFETY", "-DNOREDUCE", "-o", "pan", "pan.c"], dir)
      const e = race(dir, "./pan", bounds, false, before)
      const was = before === undefined ? [] : [rate(e.beforeRate), e.spinRate > 0 ? ratio(e.beforeRate, e.spinRate) : "n/a"]
      exact.push([label, e.ours, e.stored, ...was, rate(e.oursRate), rate(e.spinRate), e.spinRate > 0 ? ratio(e.oursRate, e.spinRate) : "n/a"])
      if (e.spinRate === 0) continue
      run("gcc", ["-O2", "-DSAFETY", "-DNOREDUCE", "-DHC4", "-o", "pan-hc", "pan.c"], dir)
      const c = race(dir, "./pan-hc", bounds, true, undefined)
      compact.push([
        label,
        c.ours,
        c.stored,
        e.ours - c.ours,
        e.stored - c.stored,
        rate(c.oursRate),
        rate(c.spinRate),
        c.spinRate > 0 ? ratio(c.oursRate, c.spinRate) : "n/a"
      ])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  return `Against SPIN (${version}; pan -DSAFETY -DNOREDUCE -m1000000 -w24; no property checked by either; best of ${SPIN_RUNS} runs each, alternating, ours after one untimed warm-up run):

Exact state storage (SPIN's default; ours by default):

${
    table([
      "configuration",
      "states (ours)",
      "states stored (SPIN)",
      ...(before === undefined ? [] : ["k states/s (before)", "before / SPIN"]),
      "k states/s (ours)",
      "k states/s (SPIN)",
      "ours / SPIN"
    ], exact)
  }

Hash compaction (ours: --hash-compact, 64-bit signatures; SPIN: -DHC4), where SPIN's exact run lasted 100 ms or more:

${
    table([
      "configuration",
      "states (ours)",
      "states stored (SPIN)",
      "omitted (ours)",
      "omitted (SPIN)",
      "k states/s (ours)",
      "k states/s (SPIN)",
      "ours / SPIN"
    ], compact)
  }`
}

const main = async () => {
  console.log(machine())
  const beforeFile = arg("before", "")
  const before = beforeFile === "" ? undefined : ((await import(pathToFileURL(path.resolve(beforeFile)).href)) as { check: Check }).check
  if (process.argv.includes("--spin-only")) {
    console.log(`\n${spin(before)}`)
    return
  }
  const rows = [
    row("this checker", measure((b, o) => ModelChecker.check(b, o))),
    row("this checker, hash compaction", measure((b, o) => ModelChecker.check(b, { ...o, hashCompact: true })))
  ]
  if (before !== undefined) rows.unshift(row(`before (${path.basename(beforeFile)})`, measure(before)))
  console.log("\nLargest configuration of the sweep: I = 1, C = 3 on both sides, delay 2\n")
  console.log(table(["checker", "states", "k states/s (wall)", "k states/s (CPU)", "bytes/state (search)", "bytes/state (heap growth)"], rows))
  console.log(`\n${spin(before)}`)
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
