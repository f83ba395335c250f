/**
 * The servers the server-side benchmarks measure (not tests): this library's `Server.listen` in a child process
 * (`hostile-server.ts`), and a real libvirtd on 127.0.0.1 in a temporary directory. Both are killed when the
 * benchmark ends, whatever the reason; their memory is read from /proc, the same way for both.
 */
import { spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { sleep, spawnChild, statusField } from "./util.ts"

const SERVER = fileURLToPath(new URL("./hostile-server.ts", import.meta.url))

/** A server under test: where it listens, its pid, and how it ended if it did. */
export interface Target {
  readonly name: string
  readonly port: number
  readonly pid: number
  /** Peak heapUsed reported by the process itself, if it can. */
  readonly peakHeap: () => number | undefined
  /** Set when the process exited during the run. */
  readonly exited: () => string | undefined
  readonly stop: () => Promise<void>
  /** Requests to the process, when it is ours (this library's server); undefined for libvirtd. */
  readonly ask?: <A = unknown>(type: string, payload?: Record<string, unknown>, timeoutMs?: number) => Promise<A>
}

/** The process's resident memory now (bytes), or NaN when it is gone. */
export const rssOf = (pid: number): number => statusField(pid, "VmRSS") ?? Number.NaN

export interface LibraryOptions {
  /** max_clients (default: the library's, 5000). */
  readonly maxClients?: number
}

export const startLibrary = async (options: LibraryOptions = {}): Promise<Target> => {
  const child = spawnChild(SERVER, options.maxClients === undefined ? [] : ["--max-clients", String(options.maxClients)], ["--expose-gc"])
  let peakHeap = 0
  let exited: string | undefined
  const started = performance.now()
  child.process.on("message", (m: { type?: string; heapUsed?: number }) => {
    if (m?.type === "sample" && m.heapUsed !== undefined) peakHeap = Math.max(peakHeap, m.heapUsed)
  })
  child.process.on("exit", (code, signal) => {
    exited = `died after ${((performance.now() - started) / 1000).toFixed(0)} s (${signal ?? `exit code ${code}`}${
      signal === "SIGABRT" || code === 134 ? ", heap out of memory" : ""
    })`
  })
  const { port } = await child.next<{ port: number }>("listening", 30_000)
  return {
    name: "this library",
    port,
    pid: child.process.pid ?? -1,
    peakHeap: () => peakHeap,
    exited: () => exited,
    stop: () => child.kill(),
    ask: child.ask
  }
}

export const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

export const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

export const libvirtdInstalled = (): boolean => spawnSync("sh", ["-c", "command -v libvirtd"]).status === 0

export const libvirtdVersion = (): string | undefined => {
  const run = spawnSync("libvirtd", ["--version"], { encoding: "utf8" })
  return run.status === 0 ? run.stdout.trim().split(/\s+/).pop() : undefined
}

export interface LibvirtdOptions {
  /** max_clients and max_anonymous_clients (default: libvirtd's, 5000 and 20). */
  readonly maxClients?: number
}

/**
 * libvirtd on 127.0.0.1 in a temporary directory, no driver modules (the built-in test driver serves
 * test:///default): default keepalive 5 s × 5, max_client_requests 5, logging warnings only to a file.
 */
export const startLibvirtd = async (options: LibvirtdOptions = {}): Promise<Target> => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "bench-libvirtd-"))
  const port = await freePort()
  Fs.mkdirSync(Path.join(dir, "drivers"))
  Fs.mkdirSync(Path.join(dir, "run"))
  const conf = Path.join(dir, "libvirtd.conf")
  Fs.writeFileSync(
    conf,
    [
      `listen_tls = 0`,
      `listen_tcp = 1`,
      `listen_addr = "127.0.0.1"`,
      `tcp_port = "${port}"`,
      `auth_tcp = "none"`,
      `auth_unix_rw = "none"`,
      `unix_sock_dir = "${Path.join(dir, "run")}"`,
      `keepalive_interval = 5`,
      `keepalive_count = 5`,
      ...(options.maxClients === undefined
        ? []
        : [`max_clients = ${options.maxClients}`, `max_anonymous_clients = ${options.maxClients}`, `max_queued_clients = 1000`]),
      `log_outputs = "3:file:${Path.join(dir, "libvirtd.log")}"`
    ].join("\n") + "\n"
  )
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
      process.off("exit", kill)
      Fs.rmSync(dir, { recursive: true, force: true })
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
