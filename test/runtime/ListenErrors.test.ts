import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Net from "node:net"
import { Effect, Layer } from "effect"
import { NodeServices } from "@effect/platform-node"
import * as Server from "../../src/runtime/Server.ts"
import * as Proxy from "../../src/tools/Proxy.ts"

/** A port held by a plain Node server for the scope. */
const busyPort = Effect.acquireRelease(
  Effect.callback<Net.Server>((resume) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

const expectBusy = (error: { readonly _tag: string; readonly message: string }, port: number) => {
  assert.strictEqual(error._tag, "ListenFailed")
  assert.include(error.message, `127.0.0.1:${port}`)
  assert.include(error.message, "EADDRINUSE")
}

describe("A busy port says the same from every entry point: ListenFailed, the address and EADDRINUSE", () => {
  it.live("Server.listen, Server.layerTcp, Server.layer over Server.layerSocketServer, Proxy.listen", () =>
    Effect.gen(function*() {
      const port = yield* busyPort
      const where = { host: "127.0.0.1", port }
      expectBusy(yield* Effect.flip(Server.listen(where)), port)
      expectBusy(yield* Effect.flip(Layer.build(Server.layerTcp(where))), port)
      expectBusy(yield* Effect.flip(Layer.build(Server.layer().pipe(Layer.provide(Server.layerSocketServer(where))))), port)
      const proxy = Proxy.listen(where, { upstream: "test+tcp://127.0.0.1:1/default", keepalive: { interval: 5000, count: 5, policy: "required" } })
      expectBusy(yield* Effect.flip(proxy.pipe(Effect.provide(NodeServices.layer))), port)
    }).pipe(Effect.scoped))

  it.live("keepalive proxy prints the address and the code, and exits with 2", () =>
    Effect.gen(function*() {
      const port = yield* busyPort
      const run = spawnSync(process.execPath, ["src/tools/cli.ts", "proxy", "--listen", `127.0.0.1:${port}`, "--upstream", "test+tcp://127.0.0.1:1/default"], {
        encoding: "utf8",
        timeout: 60_000
      })
      assert.strictEqual(run.status, 2)
      assert.include(run.stderr, `cannot listen on 127.0.0.1:${port}`)
      assert.include(run.stderr, "EADDRINUSE")
    }).pipe(Effect.scoped))
})
