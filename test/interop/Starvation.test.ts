/**
 * A busy peer is not a dead peer, side by side with the real libvirt 9.0: a libvirt-python client (event loop
 * running, setKeepAlive(1, 2)) makes slow calls on one connection while it answers every PING.
 *
 * - Directly against libvirtd (keepalive 1 s × 2, max_client_requests 5): five saves to FIFOs that nobody reads
 *   block five workers; libvirtd stops reading the client ("Client hit max requests limit 5") and kills it for the
 *   PONGs it never read, at (C+1)·I. With four it lives.
 * - Through `keepalive proxy`: the proxy keeps four calls in flight on the daemon leg and the rest wait in the
 *   proxy, so the same client, with 5 and with 20 slow calls, stays connected and gets every reply.
 * - Against our own server (keepalive 1 s × 2, max_client_requests 5), whose handler takes 8 s per call: 20 slow
 *   calls, and the client stays connected.
 *
 * Times are measured on this test's clock, from the first line the client prints after starting its calls.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect } from "effect"
import { NodeServices } from "@effect/platform-node"
import * as Server from "../../src/runtime/Server.ts"
import * as Proxy from "../../src/tools/Proxy.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Xdr from "../../src/wire/Xdr.ts"
import * as Libvirt from "./Libvirt.ts"

beforeAll(() => Libvirt.requirePackages())

const SLOW_CALLS = Path.join(import.meta.dirname, "python", "slow_calls.py")
const I = 1
const C = 2

/** `n` FIFOs in a temporary directory, removed (and any reader closed) when the scope closes. */
const fifos = (n: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "fifos-"))
      const paths = Array.from({ length: n }, (_, i) => Path.join(dir, `fifo${i}`))
      const made = spawnSync("mkfifo", paths)
      if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr.toString()}`)
      const readers: Array<number> = []
      /** Opens every FIFO for reading: the daemon's blocked open() returns and each save completes. */
      const release = () => {
        for (const p of paths) readers.push(Fs.openSync(p, Fs.constants.O_RDONLY | Fs.constants.O_NONBLOCK))
      }
      return { dir, release, readers }
    }),
    (f) =>
      Effect.sync(() => {
        for (const fd of f.readers) Fs.closeSync(fd)
        Fs.rmSync(f.dir, { recursive: true, force: true })
      })
  )

/** The slow-calls client (python/slow_calls.py): `n` calls of kind `call` on one connection, for at most `seconds`. */
const slowCalls = (uri: string, call: "save" | "hostname", n: number, seconds: number, fifoDir = "") =>
  Libvirt.spawnScoped(Libvirt.PYTHON, [SLOW_CALLS, uri, call, String(n), String(I), String(C), String(seconds), fifoDir])

/**
 * The seconds (on the client's clock, since its calls started) of the first line of its standard output that
 * contains `text` (libvirt's own warnings go to standard error and can arrive between the pieces of a line).
 */
const secondsOf = (output: string, text: string): number | undefined => {
  const line = output.split("\n").find((l) => l.includes(text))
  return line === undefined ? undefined : Number(line.split(" ")[0])
}

describe("slow calls that fill libvirtd's max_client_requests, from a client that answers every PING", () => {
  it.live("directly against libvirtd: 5 slow saves get the client killed for keepalive at (C+1)·I; 4 do not", () =>
    Effect.gen(function*() {
      const daemon = yield* Libvirt.startLibvirtd({ interval: I, count: C })
      const five = yield* fifos(5)
      const killed = yield* slowCalls(daemon.uri, "save", 5, 10, five.dir)
      yield* killed.waitFor("close callback", 10_000)
      yield* killed.waitFor(" alive ", 10_000) // the script's line, not libvirt's "keepalive" warnings
      const at = secondsOf(killed.stdout(), "close callback")!
      console.log(`libvirtd 9.0, keepalive ${I} s × ${C}, 5 slow calls: the client was killed ${at.toFixed(3)} s after its calls started\n${killed.output()}`)
      // the daemon stopped reading at the limit, then closed the connection for keepalive (the client sees the end of
      // the socket) about (C+1)·I later, on its whole-second clock
      assert.include(daemon.log(), "Client hit max requests limit 5")
      assert.include(daemon.log(), "connection closed due to keepalive timeout")
      assert.include(killed.output(), "alive 0")
      assert.isAtLeast(at, (C + 1) * I - 1)
      assert.isAtMost(at, (C + 1) * I + 2)
      five.release()
      // the control: four slow calls leave libvirtd reading, and the client lives
      const four = yield* fifos(4)
      const alive = yield* slowCalls(daemon.uri, "save", 4, 2 * (C + 1) * I, four.dir)
      yield* alive.waitFor(" alive ", 20_000)
      assert.notInclude(alive.output(), "close callback")
      assert.include(alive.output(), "alive 1 replies 0")
      four.release()
    }).pipe(Effect.scoped), 60_000)

  for (const n of [5, 20]) {
    it.live(
      `through keepalive proxy: ${n} slow saves; the client stays connected for twice libvirtd's kill time and gets every reply`,
      () =>
        Effect.gen(function*() {
          const daemon = yield* Libvirt.startLibvirtd({ interval: I, count: C })
          const proxy = yield* Proxy.listen({ host: "127.0.0.1", port: 0 }, {
            upstream: daemon.uri,
            keepalive: { interval: I * 1000, count: C, policy: "if-supported" }
          })
          const f = yield* fifos(n)
          const client = yield* slowCalls(`test+tcp://127.0.0.1:${proxy.port}/default`, "save", n, 60, f.dir)
          yield* client.waitFor("calls", 10_000)
          yield* Effect.sleep(`${2 * (C + 1) * I} seconds`)
          assert.notInclude(client.output(), "close callback", client.output())
          f.release()
          yield* client.waitFor(`replies ${n}`, 20_000)
          console.log(
            `through the proxy, ${n} slow calls: the client lived ${
              secondsOf(client.stdout(), "replies")?.toFixed(3)
            } s and got every reply\n${client.output()}`
          )
          assert.include(client.output(), `alive 1 replies ${n}`)
          assert.notInclude(client.output(), "close callback")
          // the first save succeeds; the domain is then saved (shut off), so the later ones are refused: each got its reply
          assert.include(client.output(), "ok")
        }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)),
      90_000
    )
  }

  it.live(
    "against our server (max_client_requests 5, 8 s per call): 20 slow calls, the client stays connected and gets every reply",
    () =>
      Effect.gen(function*() {
        const handler: Server.Handler = (call) =>
          call.header.proc === Remote.RemoteProc.ConnectGetHostname
            ? Effect.sleep("8 seconds").pipe(Effect.as(Xdr.encode((w) => w.string("slow-host"))))
            : Effect.succeed(undefined)
        const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, { keepalive: { interval: I * 1000, count: C, policy: "if-supported" }, handler })
        const client = yield* slowCalls(`test+tcp://127.0.0.1:${server.port}/default`, "hostname", 20, 60)
        yield* client.waitFor("replies 20", 60_000)
        const lived = secondsOf(client.stdout(), "replies")!
        console.log(`our server, 20 calls of 8 s, 5 at a time: the client lived ${lived.toFixed(3)} s and got every reply`)
        assert.include(client.output(), "alive 1 replies 20")
        assert.notInclude(client.output(), "close callback")
        // 20 calls, 5 at a time, 8 s each: the last replies come after 4 rounds
        assert.isAtLeast(lived, 4 * 8 - 1)
      }).pipe(Effect.scoped),
    90_000
  )
})
