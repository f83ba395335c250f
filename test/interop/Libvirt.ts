/**
 * Real libvirt programs for the interop tests: a libvirtd started on 127.0.0.1 with a free port and a temporary
 * directory, virsh, and a libvirt-python client. Every process is scoped: it is stopped (and a stopped daemon
 * continued first) when the test's scope closes, whether the test passed or failed.
 *
 * When the Debian packages are missing the tests fail loudly ({@link requirePackages}); they never pass silently.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import type { Scope } from "effect"
import { freePort } from "../helpers/Ports.ts"

/** Debian's python3, which python3-libvirt installs into (another python3 may come first on the PATH). */
export const PYTHON = "/usr/bin/python3"
/**
 * Checks a detection time measured by the test on its own monotonic clock (`performance.now()`), from the fault it
 * caused (SIGSTOP, a freeze) to the close it observed, and prints it. Until the fault the pinging side hears from
 * its peer at least once an interval (its PINGs are answered), so its last receipt is at most I (and a round trip)
 * before the fault: the close comes no sooner than C·I and no later than (C+1)·I after it, give or take `slack` ms
 * (timer and scheduling delays, the polling of the observation); `alsoLate` ms more on the late side only, where
 * the end is known to reach the application later than the death.
 */
export const assertClosedAfterFault = (label: string, elapsedMs: number, I: number, C: number, slack = 100, alsoLate = 0): void => {
  console.log(
    `${label} (I=${I} ms, C=${C}): closed ${elapsedMs.toFixed(1)} ms after the fault (expected ${C * I}..${(C + 1) * I} ms, ± ${slack}${
      alsoLate > 0 ? `, + ${alsoLate} late` : ""
    })`
  )
  assert.isAtLeast(elapsedMs, C * I - slack, `${label}: closed too soon after the fault`)
  assert.isAtMost(elapsedMs, (C + 1) * I + slack + alsoLate, `${label}: closed too late after the fault`)
}

export const PYTHON_CLIENT = Path.join(import.meta.dirname, "python", "client.py")

/** Fails with a clear message when libvirtd, virsh or libvirt-python is missing. */
export const requirePackages = (): void => {
  const missing: Array<string> = []
  if (spawnSync("libvirtd", ["--version"]).status !== 0) missing.push("libvirtd (Debian package libvirt-daemon)")
  if (spawnSync("virsh", ["--version"]).status !== 0) missing.push("virsh (Debian package libvirt-clients)")
  if (spawnSync(PYTHON, ["-c", "import libvirt"]).status !== 0) missing.push(`libvirt-python for ${PYTHON} (Debian package python3-libvirt)`)
  if (missing.length > 0) {
    throw new Error(
      `the interop tests need the real libvirt; missing: ${
        missing.join(", ")
      }. Install them with: apt-get install -y --no-install-recommends libvirt-daemon libvirt-clients python3-libvirt`
    )
  }
}

export { freePort }

/** Waits until something listens on 127.0.0.1:`port`, until `deadline` (epoch ms). */
export const waitForPort = (port: number, deadline: number): Effect.Effect<void, Error> =>
  Effect.callback<boolean>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  }).pipe(
    Effect.flatMap((up) =>
      up
        ? Effect.void
        : Date.now() > deadline
        ? Effect.fail(new Error(`nothing listens on 127.0.0.1:${port}`))
        : Effect.sleep("50 millis").pipe(Effect.andThen(waitForPort(port, deadline)))
    )
  )

/** A child process whose output is collected; killed when the scope closes. */
export interface Child {
  readonly process: ChildProcess
  /** Standard output and standard error, in the order they arrived. */
  readonly output: () => string
  /** Standard output alone (the lines a script prints, never split by a library's warnings on standard error). */
  readonly stdout: () => string
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Effect.Effect<number | null>
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** Waits until the output contains `text`. */
  readonly waitFor: (text: string, timeoutMs?: number) => Effect.Effect<void, Error>
}

export const spawnScoped = (command: string, args: ReadonlyArray<string>, env: Record<string, string> = {}): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] })
      let output = ""
      let stdout = ""
      child.stdout.on("data", (d: Buffer) => {
        output += d.toString()
        stdout += d.toString()
      })
      child.stderr.on("data", (d: Buffer) => void (output += d.toString()))
      const exit = new Promise<number | null>((resolve) => {
        child.once("exit", (code) => resolve(code))
        child.once("error", () => resolve(-1))
      })
      const result: Child = {
        process: child,
        output: () => output,
        stdout: () => stdout,
        exited: Effect.promise(() => exit),
        signal: (signal) => Effect.sync(() => void child.kill(signal)),
        waitFor: (text, timeoutMs = 10_000) => {
          const deadline = Date.now() + timeoutMs
          const poll: Effect.Effect<void, Error> = Effect.suspend(() =>
            output.includes(text)
              ? Effect.void
              : Date.now() > deadline
              ? Effect.fail(new Error(`"${text}" did not appear in the output of ${command}:\n${output}`))
              : Effect.sleep("20 millis").pipe(Effect.andThen(poll))
          )
          return poll
        }
      }
      return result
    }),
    (child) =>
      Effect.promise(async () => {
        if (child.process.exitCode !== null || child.process.signalCode !== null) return
        child.process.kill("SIGCONT")
        child.process.kill("SIGTERM")
        const exited = await Promise.race([
          new Promise<boolean>((r) => child.process.once("exit", () => r(true))),
          new Promise<boolean>((r) => setTimeout(() => r(false), 3000))
        ])
        if (!exited) child.process.kill("SIGKILL")
      })
  )

/** A running libvirtd. */
export interface Libvirtd {
  readonly port: number
  readonly uri: string
  readonly child: Child
  readonly pid: number
  /** The read-write Unix socket. */
  readonly socket: string
  /** The daemon's log so far (rpc.keepalive at debug level, the rest from warnings on). */
  readonly log: () => string
}

/** TLS settings for {@link startLibvirtd}: a directory with cacert.pem, servercert.pem and serverkey.pem. */
export interface LibvirtdTls {
  readonly port: number
  readonly dir: string
}

/**
 * Starts libvirtd on 127.0.0.1 with the given keepalive settings (seconds), in a temporary directory; with `tls`,
 * it also listens for TLS (x509, client certificates verified) on `tls.port`. Its Unix socket is `socket`. `port`:
 * the TCP port to listen on (default a free one).
 */
export const startLibvirtd = (
  options: { readonly interval: number; readonly count: number; readonly tls?: LibvirtdTls; readonly port?: number }
): Effect.Effect<Libvirtd, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "libvirtd-"))),
      (d) => Effect.sync(() => Fs.rmSync(d, { recursive: true, force: true }))
    )
    // a given port: a daemon restarted where its clients look for it
    const port = options.port ?? (yield* freePort)
    const drivers = Path.join(dir, "drivers")
    const run = Path.join(dir, "run")
    Fs.mkdirSync(drivers)
    Fs.mkdirSync(run)
    const conf = Path.join(dir, "libvirtd.conf")
    const tls = options.tls === undefined ? [`listen_tls = 0`] : [
      `listen_tls = 1`,
      `tls_port = "${options.tls.port}"`,
      `auth_tls = "none"`,
      `ca_file = "${Path.join(options.tls.dir, "cacert.pem")}"`,
      `cert_file = "${Path.join(options.tls.dir, "servercert.pem")}"`,
      `key_file = "${Path.join(options.tls.dir, "serverkey.pem")}"`
    ]
    Fs.writeFileSync(
      conf,
      [
        ...tls,
        `listen_tcp = 1`,
        `listen_addr = "127.0.0.1"`,
        `tcp_port = "${port}"`,
        `auth_tcp = "none"`,
        `auth_unix_rw = "none"`,
        `unix_sock_dir = "${run}"`,
        `keepalive_interval = ${options.interval}`,
        `keepalive_count = ${options.count}`,
        `log_outputs = "1:file:${Path.join(dir, "libvirtd.log")}"`,
        `log_filters = "1:rpc.keepalive 3:rpc 3:util 3:conf"`
      ].join("\n") + "\n"
    )
    // With no driver modules loaded, the built-in test driver serves test:///default.
    const child = yield* spawnScoped("libvirtd", ["-f", conf, "-p", Path.join(dir, "libvirtd.pid"), "--listen"], {
      LIBVIRT_DRIVER_DIR: drivers,
      XDG_RUNTIME_DIR: run,
      XDG_CACHE_HOME: dir,
      XDG_CONFIG_HOME: dir
    })
    yield* waitForPort(port, Date.now() + 10_000).pipe(
      Effect.andThen(options.tls === undefined ? Effect.void : waitForPort(options.tls.port, Date.now() + 10_000)),
      Effect.mapError((e) => new Error(`${e.message}: libvirtd did not start:\n${child.output()}`))
    )
    const socket = Path.join(run, "libvirt-sock")
    const logFile = Path.join(dir, "libvirtd.log")
    const log = () => (Fs.existsSync(logFile) ? Fs.readFileSync(logFile, "utf8") : "")
    return { port, uri: `test+tcp://127.0.0.1:${port}/default`, child, pid: child.process.pid ?? -1, socket, log }
  })

/** Runs virsh against `uri` with the given arguments (scoped: killed if still running when the scope closes). */
export const virsh = (uri: string, args: ReadonlyArray<string>): Effect.Effect<Child, never, Scope.Scope> => spawnScoped("virsh", ["-c", uri, ...args])

/** Runs the libvirt-python client (see python/client.py). */
export const python = (uri: string, mode: "plain" | "keepalive" | "stall" | "no-event-loop", seconds: number, interval = 1, count = 2) =>
  spawnScoped(PYTHON, [PYTHON_CLIENT, uri, mode, String(seconds), String(interval), String(count)])
