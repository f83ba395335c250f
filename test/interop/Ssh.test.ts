import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { NodeServices } from "@effect/platform-node"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Connection from "../../src/runtime/Connection.ts"
import * as Dial from "../../src/runtime/Dial.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import type * as Trace from "../../src/trace/Trace.ts"
import * as Libvirt from "./Libvirt.ts"
import * as Sshd from "./Sshd.ts"

beforeAll(() => {
  Libvirt.requirePackages()
  Sshd.requireSsh()
})

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error : undefined

/** libvirtd and sshd, and an ssh URI that reaches the daemon's Unix socket through nc -U on the far side. */
const sshToLibvirtd = Effect.gen(function*() {
  const daemon = yield* Libvirt.startLibvirtd({ interval: 5, count: 5 })
  const sshd = yield* Sshd.startSshd
  const uri = `test+ssh://${sshd.user}@127.0.0.1:${sshd.port}/default?keyfile=${sshd.keyfile}&no_verify=1&no_tty=1&socket=${daemon.socket}`
  return { daemon, sshd, uri }
})

describe("ssh transport through a real sshd to libvirtd", () => {
  it.live("test+ssh://user@127.0.0.1:PORT/default?keyfile=…&socket=…: handshake, calls and keepalive over ssh's stdio", () =>
    Effect.gen(function*() {
      const { sshd, uri } = yield* sshToLibvirtd
      const traffic: Array<Trace.TraceEvent> = []
      const client = yield* Dial.connect(uri, { sshOptions: sshd.sshOptions, trace: (e) => void traffic.push(e) })
      assert.isTrue(client.serverKeepalive)
      assert.isAbove((yield* client.call(Remote.RemoteProc.ConnectGetHostname)).payload.length, 4)
      assert.strictEqual(yield* client.setKeepAlive(300, 2), "started")
      yield* Effect.sleep("1500 millis")
      const pongs = traffic.filter((e) => e.kind === "receive" && Frame.isKeepalive(e.frame.header) && e.frame.header.proc === Frame.KeepaliveProc.Pong)
      assert.isAtLeast(pongs.length, 3)
      assert.isUndefined(yield* client.close)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 30_000)

  it.live("a frozen sshd leg (its session processes SIGSTOP'd): keepalive declares the link dead at (C+1)·I", () =>
    Effect.gen(function*() {
      const { sshd, uri } = yield* sshToLibvirtd
      const client = yield* Dial.connect(uri, { sshOptions: sshd.sshOptions })
      yield* client.setKeepAlive(500, 2)
      yield* Effect.sleep("1200 millis")
      const frozen = yield* sshd.freezeSessions
      const frozenAt = performance.now()
      assert.isAtLeast(frozen.length, 1)
      const error = failureOf(yield* Effect.exit(client.closed))
      const elapsed = performance.now() - frozenAt
      assert.instanceOf(error, Connection.KeepaliveTimeout)
      if (!(error instanceof Connection.KeepaliveTimeout)) return
      assert.strictEqual(error.pingsSent, 2)
      Libvirt.assertClosedAfterFault("ssh: our client vs a frozen sshd leg", elapsed, 500, 2)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 30_000)

  it.live("a key sshd does not accept: ProcessFailed with ssh's exit code and its stderr", () =>
    Effect.gen(function*() {
      const { sshd, daemon } = yield* sshToLibvirtd
      Fs.writeFileSync(Path.join(sshd.dir, "authorized_keys"), "") // our key is no longer authorized
      const error = yield* Effect.flip(Dial.connect(
        `test+ssh://${sshd.user}@127.0.0.1:${sshd.port}/default?keyfile=${sshd.keyfile}&no_verify=1&no_tty=1&socket=${daemon.socket}`,
        { sshOptions: sshd.sshOptions }
      ))
      assert.strictEqual(error._tag, "ProcessFailed")
      assert.include(error.message, "exited with code 255")
      assert.include(error.message, "Permission denied")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 30_000)

  it.live("nothing listening on the ssh port: ProcessFailed carrying ssh's 'Connection refused'", () =>
    Effect.gen(function*() {
      const port = yield* Libvirt.freePort
      const error = yield* Effect.flip(
        Dial.connect(`test+ssh://127.0.0.1:${port}/default?no_verify=1&no_tty=1&socket=/nowhere`, { sshOptions: ["-F", "/dev/null"] })
      )
      assert.strictEqual(error._tag, "ProcessFailed")
      assert.include(error.message, "Connection refused")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 30_000)
})

describe("ext transport", () => {
  const extScript = (dir: string, socket: string) => {
    const script = Path.join(dir, "tunnel.sh")
    Fs.writeFileSync(script, `#!/bin/sh\nexec nc -U ${socket}\n`, { mode: 0o755 })
    return script
  }

  it.live("test+ext:///default?command=SCRIPT speaks over the script's stdio; a frozen tunnel is declared dead", () =>
    Effect.gen(function*() {
      const daemon = yield* Libvirt.startLibvirtd({ interval: 5, count: 5 })
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "keepalive-ext-"))),
        (d) => Effect.sync(() => Fs.rmSync(d, { recursive: true, force: true }))
      )
      const client = yield* Dial.connect(`test+ext:///default?command=${extScript(dir, daemon.socket)}`)
      assert.isTrue(client.serverKeepalive)
      assert.isAbove((yield* client.call(Remote.RemoteProc.ConnectGetHostname)).payload.length, 4)
      yield* client.setKeepAlive(400, 2)
      yield* Effect.sleep("1 second")
      const tunnel = Sshd.descendants(process.pid).find((p) => p.comm === "nc")
      assert.isDefined(tunnel)
      yield* Effect.acquireRelease(
        Effect.sync(() => process.kill(tunnel!.pid, "SIGSTOP")),
        () => Effect.ignore(Effect.try(() => process.kill(tunnel!.pid, "SIGCONT"))) // gone already when it was killed
      )
      const stoppedAt = performance.now()
      const error = failureOf(yield* Effect.exit(client.closed))
      const elapsed = performance.now() - stoppedAt
      assert.instanceOf(error, Connection.KeepaliveTimeout)
      if (error instanceof Connection.KeepaliveTimeout) assert.strictEqual(error.pingsSent, 2)
      // the end reaches the application once the stopped program is gone: Dial kills it with SIGTERM, which a
      // stopped process does not act on, then SIGKILL after 500 ms; so up to 500 ms more than the bound
      Libvirt.assertClosedAfterFault("ext: our client vs a SIGSTOP'd tunnel", elapsed, 400, 2, 100, 500)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 30_000)

  it.live("a command that does not exist: ConnectFailed naming it with ENOENT", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Dial.connect("test+ext:///default?command=/nonexistent/tunnel"))
      assert.strictEqual(error._tag, "ConnectFailed")
      assert.include(error.message, "/nonexistent/tunnel")
      assert.include(error.message, "ENOENT")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
