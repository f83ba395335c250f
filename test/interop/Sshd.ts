/**
 * A real sshd (Debian's openssh-server) for the ssh interop tests: on 127.0.0.1 with a free port, a temporary host
 * key and a temporary authorized client key, in a temporary directory. Scoped: sshd is stopped, frozen session
 * processes are continued and the directory is removed when the scope closes.
 */
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect } from "effect"
import type { Scope } from "effect"
import * as Libvirt from "./Libvirt.ts"

/** A running sshd. */
export interface Sshd {
  readonly port: number
  readonly pid: number
  readonly dir: string
  /** The client's private key (authorized for the current user). */
  readonly keyfile: string
  /** ssh options that keep the client away from the user's own configuration and known hosts. */
  readonly sshOptions: ReadonlyArray<string>
  /** The current user's name. */
  readonly user: string
  /** Freezes (SIGSTOP) the sshd processes serving connections, not the listener: the link dies silently. */
  readonly freezeSessions: Effect.Effect<ReadonlyArray<number>>
}

const keygen = (file: string) => {
  const r = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file], { encoding: "utf8" })
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`)
}

/** The processes below `pid` (children, grandchildren, ...), with their command names. */
export const descendants = (pid: number): Array<{ readonly pid: number; readonly comm: string }> => {
  const all = Fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).flatMap((d) => {
    try {
      const stat = Fs.readFileSync(`/proc/${d}/stat`, "utf8")
      const close = stat.lastIndexOf(")")
      const comm = stat.slice(stat.indexOf("(") + 1, close)
      const ppid = Number(stat.slice(close + 2).split(" ")[1])
      return [{ pid: Number(d), ppid, comm }]
    } catch {
      return []
    }
  })
  const out: Array<{ pid: number; comm: string }> = []
  const walk = (p: number) => {
    for (const c of all.filter((x) => x.ppid === p)) {
      out.push({ pid: c.pid, comm: c.comm })
      walk(c.pid)
    }
  }
  walk(pid)
  return out
}

/** Fails loudly when sshd, ssh or nc is missing. */
export const requireSsh = (): void => {
  const missing = [["/usr/sbin/sshd", "-V", "openssh-server"], ["ssh", "-V", "openssh-client"], ["nc", "-h", "netcat-openbsd"]]
    .filter(([cmd, arg]) => spawnSync(cmd!, [arg!]).error !== undefined)
    .map(([, , pkg]) => pkg)
  if (missing.length > 0) throw new Error(`the ssh interop tests need: ${missing.join(", ")} (apt-get install -y openssh-server netcat-openbsd)`)
}

/** Starts sshd on 127.0.0.1 with a free port. */
export const startSshd: Effect.Effect<Sshd, Error, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "keepalive-sshd-"))),
    (d) => Effect.sync(() => Fs.rmSync(d, { recursive: true, force: true }))
  )
  const port = yield* Libvirt.freePort
  const hostKey = Path.join(dir, "host_key")
  const keyfile = Path.join(dir, "client_key")
  keygen(hostKey)
  keygen(keyfile)
  Fs.copyFileSync(`${keyfile}.pub`, Path.join(dir, "authorized_keys"))
  // sshd's privilege separation directory is compiled in; the package creates it only when the service starts
  Fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 })
  const config = Path.join(dir, "sshd_config")
  Fs.writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${Path.join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${Path.join(dir, "authorized_keys")}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      "LogLevel ERROR"
    ].join("\n") + "\n"
  )
  const child = yield* Libvirt.spawnScoped("/usr/sbin/sshd", ["-D", "-e", "-f", config])
  yield* Libvirt.waitForPort(port, Date.now() + 10_000).pipe(Effect.mapError((e) => new Error(`${e.message}: sshd did not start:\n${child.output()}`)))
  const pid = child.process.pid ?? -1
  const frozen = new Set<number>()
  yield* Effect.addFinalizer(() => Effect.sync(() => frozen.forEach((p) => void tryKill(p, "SIGCONT"))))
  return {
    port,
    pid,
    dir,
    keyfile,
    user: Os.userInfo().username,
    sshOptions: ["-F", "/dev/null", "-o", `UserKnownHostsFile=${Path.join(dir, "known_hosts")}`, "-o", "IdentitiesOnly=yes"],
    freezeSessions: Effect.sync(() => {
      const sessions = descendants(pid).filter((p) => p.comm === "sshd").map((p) => p.pid)
      for (const p of sessions) if (tryKill(p, "SIGSTOP")) frozen.add(p)
      return sessions
    })
  }
})

const tryKill = (pid: number, signal: NodeJS.Signals): boolean => {
  try {
    process.kill(pid, signal)
    return true
  } catch {
    return false
  }
}
