import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { NodeServices } from "@effect/platform-node"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Dial from "../../src/runtime/Dial.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Server from "../../src/runtime/Server.ts"
import type * as Trace from "../../src/trace/Trace.ts"
import * as Libvirt from "./Libvirt.ts"

beforeAll(() => Libvirt.requirePackages())

const keepaliveCount = (traffic: ReadonlyArray<Trace.TraceEvent>, kind: "transmit" | "receive", proc: number) =>
  traffic.filter((e) => e.kind === kind && Frame.isKeepalive(e.frame.header) && e.frame.header.proc === proc).length

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "keepalive-unix-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("unix transport", () => {
  it.live("our client reaches libvirtd's Unix socket through test+unix:///default?socket=…; keepalive both ways", () =>
    Effect.gen(function*() {
      const daemon = yield* Libvirt.startLibvirtd({ interval: 1, count: 2 })
      const traffic: Array<Trace.TraceEvent> = []
      const client = yield* Dial.connect(`test+unix:///default?socket=${daemon.socket}`, { trace: (e) => void traffic.push(e) })
      assert.isTrue(client.serverKeepalive)
      assert.isAbove((yield* client.call(Remote.RemoteProc.ConnectGetHostname)).payload.length, 4)
      yield* Effect.sleep("2500 millis")
      assert.isAtLeast(keepaliveCount(traffic, "receive", Frame.KeepaliveProc.Ping), 2)
      assert.strictEqual(keepaliveCount(traffic, "transmit", Frame.KeepaliveProc.Pong), keepaliveCount(traffic, "receive", Frame.KeepaliveProc.Ping))
      assert.isUndefined(yield* client.close)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("virsh reaches our server on a Unix socket: it opens, and answers our PINGs", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = Path.join(dir, "keepalive-sock")
      const traffic: Array<Trace.TraceEvent> = []
      yield* Server.listen({ path }, {
        keepalive: { interval: 300, count: 2, policy: "if-supported" },
        trace: (e) => void traffic.push(e)
      })
      const virsh = yield* Libvirt.virsh(`test+unix:///default?socket=${path}`, ["-k", "1", "-K", "2"])
      yield* virsh.waitFor("virsh #")
      yield* Effect.sleep("1500 millis")
      const opened = traffic.some((e) =>
        e.kind === "receive" && e.frame.header.prog === Remote.REMOTE_PROGRAM && e.frame.header.proc === Remote.RemoteProc.ConnectOpen
      )
      assert.isTrue(opened)
      assert.isAtLeast(keepaliveCount(traffic, "transmit", Frame.KeepaliveProc.Ping), 3)
      // every PING is answered, but for one that may be in flight as we count
      assert.isAtLeast(keepaliveCount(traffic, "receive", Frame.KeepaliveProc.Pong), keepaliveCount(traffic, "transmit", Frame.KeepaliveProc.Ping) - 1)
    }).pipe(Effect.scoped))

  it.live("a socket path where nothing listens: ConnectFailed naming the path and ENOENT", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = Path.join(dir, "nobody-sock")
      const error = yield* Effect.flip(Dial.connect(`test+unix:///default?socket=${path}`))
      assert.strictEqual(error._tag, "ConnectFailed")
      assert.include(error.message, path)
      assert.include(error.message, "ENOENT")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
