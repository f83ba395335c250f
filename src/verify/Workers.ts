/**
 * Sweeps on worker threads: the configurations of a sweep are independent, so they are checked in parallel, one
 * worker thread per core.
 *
 * Contract:
 * - {@link runParallel}`(configs, options, workers)` gives the same rows, in the same order, as `Sweep.run`: each
 *   worker checks one configuration at a time and asks for the next, so a long configuration does not hold up the
 *   others. With one worker or few configurations it runs on the calling thread (no thread is started).
 * - A verdict crosses threads as data; a row whose verdict is a violation or invalid bounds is checked again on the
 *   calling thread, so its counterexample and its typed errors are exactly those of `Sweep.run`.
 * - Every worker is terminated when the sweep ends or fails.
 *
 * @since 0.1.0
 */
import { availableParallelism } from "node:os"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"
import * as Sweep from "./Sweep.ts"

const ROLE = "effect-keepalive/sweep-worker"

/** Options that cross to a worker (everything but the callback). */
type Portable = Omit<Sweep.RunOptions, "onRow">

interface Job {
  readonly index: number
  readonly config: Sweep.Config
}

interface Done {
  readonly index: number
  readonly row: Sweep.Row
}

/** A row as data: no trace, no failing tolerance verdict (the calling thread recomputes rows that need them). */
const portable = (row: Sweep.Row): Sweep.Row => {
  const { violation: _v, invalid: _i, ...verdict } = row.verdict
  const tolerance = row.measures === undefined ? undefined : (({ failure: _f, ...t }) => t)(row.measures.tolerance)
  return {
    config: row.config,
    verdict: { ...verdict, ...(row.verdict.violation === undefined ? {} : { violation: { ...row.verdict.violation, trace: [] } }) } as Sweep.Row["verdict"],
    ...(row.measures === undefined ? {} : { measures: { ...row.measures, tolerance: tolerance! } })
  }
}

/** The worker side: checks each configuration it is sent and posts the row back. */
const serve = (options: Portable): void => {
  const tolerances = new Map()
  parentPort!.on("message", (job: Job) => {
    const done: Done = { index: job.index, row: portable(Sweep.checkRow(job.config, options, tolerances)) }
    parentPort!.postMessage(done)
  })
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) serve((workerData as { options: Portable }).options)

/**
 * The number of worker threads a sweep uses by default: the machine's parallelism.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultWorkers = (): number => availableParallelism()

/** A row that needs the calling thread: its trace or typed errors were left behind. */
const needsRecheck = (row: Sweep.Row): boolean => row.verdict.violation !== undefined || row.verdict.ok === false

/**
 * Checks every configuration on `workers` threads; the rows come back in grid order, as `Sweep.run` gives them.
 * `onRow` is called as rows arrive (their index says where they go).
 *
 * @since 0.1.0
 * @category running
 */
export const runParallel = async (configs: ReadonlyArray<Sweep.Config>, options: Sweep.RunOptions = {}, workers = defaultWorkers()): Promise<Sweep.Result> => {
  const threads = Math.min(workers, configs.length)
  if (threads <= 1 || configs.length < 4) return Sweep.run(configs, options)
  const { onRow, ...portableOptions } = options
  const rows: Array<Sweep.Row | undefined> = new Array(configs.length)
  const pool = Array.from({ length: threads }, () => new Worker(new URL(import.meta.url), { workerData: { role: ROLE, options: portableOptions } }))
  try {
    await Promise.all(pool.map((worker) => drain(worker, configs, rows, options, onRow)))
  } finally {
    await Promise.all(pool.map((w) => w.terminate()))
  }
  return Sweep.resultOf(rows as Array<Sweep.Row>)
}

/** The shared cursor of {@link drain}: the next configuration to hand out, per rows array. */
const cursors = new WeakMap<Array<Sweep.Row | undefined>, number>()

const next = (rows: Array<Sweep.Row | undefined>): number => {
  const at = cursors.get(rows) ?? 0
  cursors.set(rows, at + 1)
  return at
}

/** Feeds one worker until the configurations run out. */
const drain = (
  worker: Worker,
  configs: ReadonlyArray<Sweep.Config>,
  rows: Array<Sweep.Row | undefined>,
  options: Sweep.RunOptions,
  onRow: Sweep.RunOptions["onRow"]
): Promise<void> =>
  new Promise((resolve, reject) => {
    const send = () => {
      const index = next(rows)
      if (index >= configs.length) return resolve()
      worker.postMessage({ index, config: configs[index]! } satisfies Job)
    }
    worker.on("message", (done: Done) => {
      const row = needsRecheck(done.row) ? Sweep.checkRow(configs[done.index]!, options) : done.row
      rows[done.index] = row
      onRow?.(row, done.index)
      send()
    })
    worker.on("error", reject)
    worker.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`sweep worker exited with ${code}`))))
    send()
  })
