/**
 * Shared helpers of the benchmarks (not tests): machine info, tables, percentiles, and child processes that are
 * always killed when the benchmark ends or fails.
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { appendFileSync, readFileSync } from "node:fs"
import * as os from "node:os"

export const quick = process.argv.includes("--quick")

/** `--name value` from the command line, or `fallback`. */
export const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback
}

export const machine = (): string =>
  `machine: ${os.cpus()[0]?.model ?? "unknown cpu"}, ${os.cpus().length} cores, ${
    Math.round(os.totalmem() / 2 ** 30)
  } GiB, Node ${process.version}, ${os.platform()} ${os.release()}`

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A markdown table; numbers are right-aligned. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number>>): string => {
  const cells = rows.map((r) => r.map(String))
  const width = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)))
  const numeric = header.map((_, i) => cells.length > 0 && cells.every((r) => /^[-+≈<>~]?[\d.,]+( ?[a-zA-Z%×µ/]+)?×?$/.test(r[i] ?? "")))
  const line = (r: ReadonlyArray<string>) => `| ${r.map((c, i) => (numeric[i] ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join(" | ")} |`
  const rule = `|${width.map((w, i) => (numeric[i] ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`
  return [line(header), rule, ...cells.map(line)].join("\n")
}

export const fixed = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : "n/a")
export const ratio = (n: number, base: number): string => (base > 0 && Number.isFinite(n / base) ? `${(n / base).toFixed(2)}×` : "n/a")
export const kib = (bytes: number): string => fixed(bytes / 1024, 1)
export const mib = (bytes: number): string => fixed(bytes / 2 ** 20, 1)

/** Nearest-rank percentile of sorted values. */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

// ---------------------------------------------------------------------------------------------------------------
// Child processes: every one is registered and killed on any exit of this process.
// ---------------------------------------------------------------------------------------------------------------

const children = new Set<ChildProcess>()

const killAll = () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  children.clear()
}

process.on("exit", killAll)
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    killAll()
    process.exit(130)
  })
}

/**
 * Runs `node file [args]` with `process.execPath`, its output on ours, and resolves with its exit code. The child
 * is killed if this process exits first.
 */
export const runScript = (file: string, args: ReadonlyArray<string>, nodeArgs: ReadonlyArray<string> = []): Promise<number> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, file, ...args], { stdio: "inherit" })
    children.add(child)
    child.on("exit", (code, signal) => {
      children.delete(child)
      resolve(code ?? (signal === null ? 1 : 128))
    })
    // a child that cannot start (e.g. Node itself missing for a moment) is a failed benchmark, not a crash of the run
    child.on("error", (e) => {
      children.delete(child)
      console.log(`could not run ${file}: ${e.message}`)
      resolve(127)
    })
  })

/** A message from a child, or an error when the child exits first. */
export interface Child {
  readonly process: ChildProcess
  /** Sends a request and waits for the child's reply of the same `id`. */
  readonly ask: <A = unknown>(type: string, payload?: Record<string, unknown>, timeoutMs?: number) => Promise<A>
  /** Waits for an unsolicited message of this type. */
  readonly next: <A = unknown>(type: string, timeoutMs?: number) => Promise<A>
  readonly kill: () => Promise<void>
}

/**
 * Spawns `node [nodeArgs] file [args]` with `process.execPath` and an IPC channel; stdout and stderr are the
 * parent's. The child is killed when the parent exits, whatever the reason.
 */
export const spawnChild = (file: string, args: ReadonlyArray<string>, nodeArgs: ReadonlyArray<string> = []): Child => {
  const child = spawn(process.execPath, [...nodeArgs, file, ...args], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  children.add(child)
  const waiting = new Map<string, Array<(m: any) => void>>()
  const inbox: Array<any> = []
  let exited: Error | undefined
  const failures = new Set<(e: Error) => void>()
  child.on("message", (m: any) => {
    const key = m?.id !== undefined ? `#${m.id}` : String(m?.type)
    const list = waiting.get(key)
    const resolve = list?.shift()
    if (resolve !== undefined) resolve(m)
    else inbox.push(m)
  })
  child.on("exit", (code, signal) => {
    children.delete(child)
    exited = new Error(`child ${file} exited (code ${code}, signal ${signal})`)
    for (const f of failures) f(exited)
  })
  const wait = <A>(key: string, timeoutMs: number): Promise<A> =>
    new Promise<A>((resolve, reject) => {
      const queued = inbox.findIndex((m) => (m?.id !== undefined ? `#${m.id}` : String(m?.type)) === key)
      if (queued >= 0) return resolve(inbox.splice(queued, 1)[0])
      if (exited !== undefined) return reject(exited)
      const timer = setTimeout(() => {
        failures.delete(fail)
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${key} from ${file}`))
      }, timeoutMs)
      const fail = (e: Error) => {
        clearTimeout(timer)
        reject(e)
      }
      failures.add(fail)
      const list = waiting.get(key) ?? []
      list.push((m) => {
        clearTimeout(timer)
        failures.delete(fail)
        resolve(m)
      })
      waiting.set(key, list)
    })
  let ids = 0
  return {
    process: child,
    ask: (type, payload = {}, timeoutMs = 120_000) => {
      const id = ++ids
      const reply = wait<any>(`#${id}`, timeoutMs)
      child.send({ type, id, ...payload })
      return reply
    },
    next: (type, timeoutMs = 120_000) => wait(type, timeoutMs),
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once("exit", () => resolve())
        child.kill("SIGKILL")
      })
  }
}

/**
 * The child's side: answers requests through `handlers`, exits when the parent goes away, and exits by itself
 * after `lifetimeMs` whatever happens.
 */
export const serveParent = (
  handlers: Record<string, (m: any) => unknown | Promise<unknown>>,
  lifetimeMs: number
): { readonly send: (m: Record<string, unknown>) => void } => {
  if (process.send === undefined) {
    console.error("this file is a child process of a benchmark; run the benchmark instead")
    process.exit(2)
  }
  process.on("disconnect", () => process.exit(0))
  setTimeout(() => {
    console.error(`benchmark child ${process.argv[1] ?? ""}: lifetime of ${lifetimeMs} ms exceeded, exiting`)
    process.exit(3)
  }, lifetimeMs).unref()
  const send = (m: Record<string, unknown>) => process.send?.(m)
  process.on("message", async (m: any) => {
    const handler = handlers[m?.type]
    if (handler === undefined) return send({ id: m?.id, error: `unknown request ${m?.type}` })
    try {
      send({ id: m.id, ...(((await handler(m)) ?? {}) as object) })
    } catch (e) {
      send({ id: m.id, error: String(e) })
    }
  })
  return { send }
}

/** A full GC (the child must run with --expose-gc), then the memory figures. */
export const settledMemory = async (): Promise<NodeJS.MemoryUsage> => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) {
    gc()
    await sleep(50)
    gc()
  }
  return process.memoryUsage()
}

/** CPU time (user + system, µs) and a monotonic timestamp (ms). */
export const cpuSample = () => {
  const c = process.cpuUsage()
  return { cpuUs: c.user + c.system, at: performance.now() }
}

// ---------------------------------------------------------------------------------------------------------------
// Rows of the summary table (issue 18): each benchmark appends its rows, as JSON lines, to the file `all.ts` names
// in KEEPALIVE_BENCH_ROWS; `all.ts` prints them as one table at the end. Run alone, a benchmark prints its rows.
// ---------------------------------------------------------------------------------------------------------------

/** The rows of the issue's table, in its order; `all.ts` prints them in this order. */
export const ROW_ORDER = [
  "cpu-per-connection",
  "cpu-per-frame",
  "heap-per-connection",
  "rss-per-connection",
  "sessions",
  "detection-burst",
  "simulation",
  "flood-rss",
  "idle-connection-memory",
  "slowloris-memory",
  "rtt-under-flood",
  "churn-rss",
  "idle-rss-server",
  "idle-rss-proxy",
  "cli-start"
] as const
export type RowKey = (typeof ROW_ORDER)[number]

export interface SummaryRow {
  readonly key: RowKey
  /** What is measured, with the size of this run (and "quick" when smaller than the issue's). */
  readonly measure: string
  /** The baseline(s) measured in the same run, or the issue's figure when none can be measured here. */
  readonly baseline: string
  readonly ours: string
  /** Ours against the main baseline. */
  readonly ratio: string
  readonly target: string
  /** "met", "missed by …", or why it was not measured. */
  readonly verdict: string
}

export const ROWS_ENV = "KEEPALIVE_BENCH_ROWS"

/** Records a row of the summary table (and prints it, so a benchmark run alone shows it too). */
export const emitRow = (row: SummaryRow): void => {
  console.log(
    `summary row: ${row.measure}: ${row.ours} (baseline ${row.baseline === "" ? "—" : row.baseline}; ${row.ratio}); target ${row.target}: ${row.verdict}`
  )
  const file = process.env[ROWS_ENV]
  if (file !== undefined && file !== "") appendFileSync(file, JSON.stringify(row) + "\n")
}

/** "met", or how far above `limit` the value is: by the difference (in `format`) and as a ratio of the limit. */
export const atMost = (value: number, limit: number, format: (n: number) => string): string =>
  !Number.isFinite(value) ? "not measured" : value <= limit ? "met" : `missed by ${format(value - limit)} (${fixed(value / limit, 2)}× the limit)`

/** "met", or how far below `goal` the value is. */
export const atLeast = (value: number, goal: number, format: (n: number) => string): string =>
  !Number.isFinite(value) ? "not measured" : value >= goal ? "met" : `missed by ${format(goal - value)} (${fixed((value / goal) * 100, 0)} % of the goal)`

// ---------------------------------------------------------------------------------------------------------------
// Processes seen from the kernel (works for libvirtd, and for a process whose event loop is stuck)
// ---------------------------------------------------------------------------------------------------------------

/** A field of /proc/pid/status in bytes (VmRSS, VmHWM, …), or undefined. */
export const statusField = (pid: number, field: string): number | undefined => {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}
