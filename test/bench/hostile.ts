/**
 * Benchmark (not a test): a server under attack. Four connections flood it, one per frame kind (keepalive PONG,
 * keepalive PING, an unknown keepalive procedure, AUTH_LIST calls), without a handshake and as fast as the socket
 * takes, for 60 s (`--quick`: 15 s). Meanwhile a good client on its own connection does the handshake and sends a
 * PING every 100 ms, timing each PONG. Reported: the server process's peak heap and RSS, and the good client's
 * round trips (p50, p99, max, PINGs unanswered after 5 s).
 *
 * Our server runs in a child process (`hostile-server.ts`), the floods in another (`hostile-attack.ts`), the good
 * client in this one. A server that dies of the attack (heap out of memory) is a result, not a failure of the
 * benchmark. When `libvirtd` is on the PATH, the same attack runs against a real libvirtd (default keepalive
 * 5 s × 5, max_client_requests 5, logging warnings only) in the same run, and both are printed side by side.
 *
 *   node test/bench/hostile.ts [--quick] [--duration seconds] [--target library,libvirtd]
 *
 * Loopback only (127.0.0.1).
 */
import { spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Attack from "../helpers/Attack.ts"
import { arg, fixed, machine, mib, percentile, quick, ratio, sleep, spawnChild, table } from "./util.ts"

const SERVER = fileURLToPath(new URL("./hostile-server.ts", import.meta.url))
const ATTACKER = fileURLToPath(new URL("./hostile-attack.ts", import.meta.url))
const DURATION_S = Number(arg("duration", quick ? "15" : "60"))
const WARMUP_MS = 2000
const PING_EVERY_MS = 100
const LOST_AFTER_MS = 5000
const TARGETS = arg("target", "library,libvirtd").split(",")

/** A server under test: where it listens, its pid, and how it ended if it did. */
interface Target {
  readonly name: string
  readonly port: number
  readonly pid: number
  /** Peak heapUsed reported by the process itself, if it can. */
  readonly peakHeap: () => number | undefined
  /** Set when the process exited during the run. */
  readonly exited: () => string | undefined
  readonly stop: () => Promise<void>
}

interface Outcome {
  readonly name: string
  readonly outcome: string
  readonly peakHeap: number | undefined
  readonly peakRss: number
  readonly baselineRss: number
  readonly warmup: ReadonlyArray<number>
  readonly rtts: ReadonlyArray<number>
  readonly lost: number
  readonly floods: ReadonlyArray<Attack.FloodResult>
}

// ---------------------------------------------------------------------------------------------------------------
// Memory of a process, from the kernel (works for libvirtd too, and for a process whose event loop is stuck)
// ---------------------------------------------------------------------------------------------------------------

const statusField = (pid: number, field: string): number | undefined => {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The two servers
// ---------------------------------------------------------------------------------------------------------------

const startLibrary = async (): Promise<Target> => {
  const child = spawnChild(SERVER, [])
  let peakHeap = 0
  let exited: string | undefined
  const started = performance.now()
  child.process.on("message", (m: { type?: string; heapUsed?: number }) => {
    if (m?.type === "sample" && m.heapUsed !== undefined) peakHeap = Math.max(peakHeap, m.heapUsed)
  })
  child.process.on("exit", (code, signal) => {
    exited = `died after ${((performance.now() - started) / 1000).toFixed(0)} s (${signal ?? `exit code ${code}`}${signal === "SIGABRT" || code === 134 ? ", heap out of memory" : ""})`
  })
  const { port } = await child.next<{ port: number }>("listening", 30_000)
  return {
    name: "this library",
    port,
    pid: child.process.pid ?? -1,
    peakHeap: () => peakHeap,
    exited: () => exited,
    stop: () => child.kill()
  }
}

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const libvirtdVersion = (): string | undefined => {
  const run = spawnSync("libvirtd", ["--version"], { encoding: "utf8" })
  return run.status === 0 ? run.stdout.trim().split(/\s+/).pop() : undefined
}

/** libvirtd on 127.0.0.1 in a temporary directory, no driver modules (the built-in test driver serves test:///default). */
const startLibvirtd = async (): Promise<Target> => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hostile-libvirtd-"))
  const port = await freePort()
  Fs.mkdirSync(Path.join(dir, "drivers"))
  Fs.mkdirSync(Path.join(dir, "run"))
  const conf = Path.join(dir, "libvirtd.conf")
  Fs.writeFileSync(conf, [
    `listen_tls = 0`,
    `listen_tcp = 1`,
    `listen_addr = "127.0.0.1"`,
    `tcp_port = "${port}"`,
    `auth_tcp = "none"`,
    `auth_unix_rw = "none"`,
    `unix_sock_dir = "${Path.join(dir, "run")}"`,
    `keepalive_interval = 5`,
    `keepalive_count = 5`,
    `log_outputs = "3:file:${Path.join(dir, "libvirtd.log")}"`
  ].join("\n") + "\n")
  const child = spawn("libvirtd", ["-f", conf, "-p", Path.join(dir, "libvirtd.pid"), "--listen"], {
    env: { ...process.env, LIBVIRT_DRIVER_DIR: Path.join(dir, "drivers"), XDG_RUNTIME_DIR: Path.join(dir, "run"), XDG_CACHE_HOME: dir, XDG_CONFIG_HOME: dir },
    stdio: "ignore"
  })
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  process.on("exit", kill)
  let exited: string | undefined
  const started = performance.now()
  child.on("exit", (code, signal) => {
    exited = `died after ${((performance.now() - started) / 1000).toFixed(0)} s (${signal ?? `exit code ${code}`})`
  })
  const deadline = performance.now() + 10_000
  while (!(await portOpen(port))) {
    if (exited !== undefined || performance.now() > deadline) {
      kill()
      throw new Error(`libvirtd did not start (${exited ?? "timeout"})`)
    }
    await sleep(50)
  }
  return {
    name: `libvirtd ${libvirtdVersion() ?? ""}`.trim(),
    port,
    pid: child.pid ?? -1,
    peakHeap: () => undefined,
    exited: () => exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM")
        await Promise.race([new Promise((r) => child.once("exit", r)), sleep(3000)])
        kill()
      }
      process.off("exit", kill)
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------------------------------

const attack = async (target: Target): Promise<Outcome> => {
  const attacker = spawnChild(ATTACKER, [])
  let peakRss = 0
  const sampleRss = () => {
    peakRss = Math.max(peakRss, statusField(target.pid, "VmRSS") ?? 0, statusField(target.pid, "VmHWM") ?? 0)
  }
  const sampler = setInterval(sampleRss, 100)
  try {
    await sleep(500)
    const baselineRss = statusField(target.pid, "VmRSS") ?? 0
    const good = await Attack.goodClient(target.port, { intervalMs: PING_EVERY_MS, lostAfterMs: LOST_AFTER_MS })
    await sleep(WARMUP_MS)
    const warmup = good.rtts.length
    const floods = await attacker.ask<{ results: ReadonlyArray<Attack.FloodResult> }>(
      "flood",
      { port: target.port, durationMs: DURATION_S * 1000, kinds: Attack.FLOOD_KINDS },
      DURATION_S * 1000 + 60_000
    )
    sampleRss()
    const { rtts, lost } = await good.stop()
    const exited = target.exited()
    return {
      name: target.name,
      outcome: exited ?? (good.peer.closure() !== undefined && good.peer.closure()!.how !== "ours" ? "closed the good client" : "survived"),
      peakHeap: target.peakHeap(),
      peakRss,
      baselineRss,
      warmup: rtts.slice(0, warmup),
      rtts: rtts.slice(warmup),
      lost,
      floods: floods.results
    }
  } finally {
    clearInterval(sampler)
    await attacker.kill()
  }
}

const run = async (name: string): Promise<Outcome | undefined> => {
  if (name === "libvirtd" && spawnSync("sh", ["-c", "command -v libvirtd"]).status !== 0) {
    console.log("libvirtd is not installed: the attack runs against this library only (apt-get install libvirt-daemon for the comparison)")
    return undefined
  }
  const target = name === "libvirtd" ? await startLibvirtd() : await startLibrary()
  process.stdout.write(`  ${target.name}: attacking for ${DURATION_S} s ...\n`)
  try {
    return await attack(target)
  } finally {
    await target.stop()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------------------

const ms = (n: number) => fixed(n, 2)
const sorted = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)
const floodCell = (o: Outcome, kind: Attack.FloodKind) => {
  const f = o.floods.find((r) => r.kind === kind)
  if (f === undefined) return "n/a"
  const closed = f.closure !== undefined && f.closure.how !== "ours" ? ` (closed at ${(f.closure.ms / 1000).toFixed(1)} s)` : ""
  return `${mib(f.bytesSent)}${closed}`
}

export const main = async () => {
  console.log(`## Hostile: 4 connections flood the server without a handshake, one per frame kind (PONG, PING, unknown keepalive procedure, AUTH_LIST calls), ${DURATION_S} s${quick ? " (quick)" : ""}; a good client PINGs every ${PING_EVERY_MS} ms on its own connection`)
  console.log(machine())
  const outcomes: Array<Outcome> = []
  for (const name of TARGETS) {
    const o = await run(name)
    if (o !== undefined) outcomes.push(o)
  }
  console.log("")
  console.log(table(
    ["server", "outcome", "peak heap MiB", "peak RSS MiB", "RSS before MiB", "RTT before p50 ms", "RTT p50 ms", "RTT p99 ms", "RTT max ms", "PINGs", "unanswered"],
    outcomes.map((o) => {
      const r = sorted(o.rtts)
      return [
        o.name,
        o.outcome,
        o.peakHeap === undefined ? "n/a" : mib(o.peakHeap),
        mib(o.peakRss),
        mib(o.baselineRss),
        ms(percentile(sorted(o.warmup), 50)),
        ms(percentile(r, 50)),
        ms(percentile(r, 99)),
        ms(r.at(-1) ?? Number.NaN),
        r.length,
        o.lost
      ]
    })
  ))
  console.log("")
  console.log("MiB each flood got into the server's socket (and when the server closed it, if it did):")
  console.log(table(["server", ...Attack.FLOOD_KINDS.map((k) => `${k} flood`)], outcomes.map((o) => [o.name, ...Attack.FLOOD_KINDS.map((k) => floodCell(o, k))])))
  const ours = outcomes.find((o) => o.name === "this library")
  const theirs = outcomes.find((o) => o.name.startsWith("libvirtd"))
  if (ours !== undefined && theirs !== undefined) {
    const a = sorted(ours.rtts)
    const b = sorted(theirs.rtts)
    console.log("")
    console.log(`this library / libvirtd: peak RSS ${ratio(ours.peakRss, theirs.peakRss)}, RTT p50 ${ratio(percentile(a, 50), percentile(b, 50))}, p99 ${ratio(percentile(a, 99), percentile(b, 99))}, max ${ratio(a.at(-1) ?? Number.NaN, b.at(-1) ?? Number.NaN)}`)
  }
  console.log("targets (issue 10, reported, not asserted): heap flat, good client's RTT under 200 ms, at least as good as libvirtd")
}

if (import.meta.main) await main()
