import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { NodeServices } from "@effect/platform-node"
import { spawnSync } from "node:child_process"
import * as Client from "../../src/runtime/Client.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Probe from "../../src/tools/Probe.ts"
import * as Proxy from "../../src/tools/Proxy.ts"
import * as Listeners from "../helpers/Listeners.ts"

const STUCK = "the connection did not open within 200 ms: stuck waiting for the reply to AUTH_LIST (phase auth-list)"

const cli = (...args: ReadonlyArray<string>) => {
  const run = spawnSync(process.execPath, ["src/tools/cli.ts", ...args], { encoding: "utf8", timeout: 60_000 })
  return { code: run.status, out: run.stdout + run.stderr }
}

describe("The open timeout in the tools: a daemon that accepts and never answers", () => {
  it.live("the probe reports Unreachable with kind OpenTimeout and the phase, at the timeout, and exits with 2", () =>
    Effect.gen(function*() {
      const port = yield* Listeners.silent
      const events: Array<Probe.ProbeEvent> = []
      const summary = yield* Probe.run({
        uri: `test+tcp://127.0.0.1:${port}/default`,
        interval: 1000,
        count: 5,
        stop: undefined,
        connectTimeout: 200,
        onEvent: (e) => Effect.sync(() => void events.push(e)),
        onSummary: () => Effect.void
      })
      assert.strictEqual(summary.exitCode, 2)
      assert.isAtLeast(summary.elapsed, 199)
      assert.strictEqual(events.length, 1)
      const [event] = events
      assert.strictEqual(event?._tag, "Unreachable")
      if (event?._tag !== "Unreachable") return
      assert.strictEqual(event.kind, "OpenTimeout")
      assert.strictEqual(event.error, STUCK)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("the proxy answers the client's CONNECT_OPEN with libvirt's error naming the phase of the upstream open", () =>
    Effect.gen(function*() {
      const upstream = yield* Listeners.silent
      const failures: Array<string> = []
      const proxy = yield* Proxy.listen({ host: "127.0.0.1", port: 0 }, {
        upstream: `test+tcp://127.0.0.1:${upstream}/default`,
        keepalive: { interval: 5000, count: 5, policy: "if-supported" },
        upstreamTimeout: 200,
        onEvent: (e) => Effect.sync(() => void (e._tag === "OpenFailed" && failures.push(e.error)))
      })
      const start = yield* Clock.currentTimeMillis
      const socket = yield* Transport.tcp({ host: "127.0.0.1", port: proxy.port })
      const error = yield* Effect.flip(Effect.scoped(Client.connect(socket, { name: "test:///default", openTimeout: "5 seconds" })))
      assert.isAtLeast((yield* Clock.currentTimeMillis) - start, 199)
      assert.strictEqual(error._tag, "HandshakeFailed")
      assert.include(error.message, `unable to open the upstream connection to test+tcp://127.0.0.1:${upstream}/default: ${STUCK}`)
      assert.deepStrictEqual(failures, [STUCK])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("keepalive probe --open-timeout (alias --timeout): UNREACHABLE naming the phase, exit code 2", () =>
    Effect.gen(function*() {
      const port = yield* Listeners.silent
      const uri = `test+tcp://127.0.0.1:${port}/default`
      for (const flag of ["--open-timeout", "--timeout"]) {
        const { code, out } = cli("probe", uri, flag, "200ms")
        assert.strictEqual(code, 2, out)
        assert.include(out, `UNREACHABLE: ${STUCK}`)
      }
    }).pipe(Effect.scoped))

  it("the flags are in --help, and a bad value is refused naming the flag", () => {
    assert.include(cli("probe", "--help").out, "--open-timeout")
    assert.include(cli("proxy", "--help").out, "--upstream-timeout")
    const bad = cli("probe", "test+tcp://127.0.0.1:1/default", "--open-timeout", "soon")
    assert.notStrictEqual(bad.code, 0)
    assert.include(bad.out, "--open-timeout")
  })
})
