import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Duration, Effect, Option, Result } from "effect"
import * as LibvirtConf from "../../src/runtime/LibvirtConf.ts"
import * as Proxy from "../../src/tools/Proxy.ts"
import * as ProxyConfig from "../../src/tools/ProxyConfig.ts"

const CONF = `# the proxy in front of a libvirtd whose max_client_requests is 3
upstream_uri = "test+tcp://127.0.0.1:1/default"
keepalive_interval = 2
keepalive_count = 3
keepalive_policy = "if-supported"
upstream_max_client_requests = 3
max_pending_frames = 64
upstream_timeout = 2
`

const writeConf = (text: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "proxy-conf-"))
      const file = Path.join(dir, "proxy.conf")
      Fs.writeFileSync(file, text)
      return file
    }),
    (file) => Effect.sync(() => Fs.rmSync(Path.dirname(file), { recursive: true, force: true }))
  )

/** Runs the CLI until it prints a line containing `until` (or exits); its output and exit code. */
const cliUntil = (args: ReadonlyArray<string>, until: string) =>
  Effect.promise(() =>
    new Promise<{ readonly out: string; readonly code: number | null }>((resolve) => {
      const child = spawn(process.execPath, ["src/tools/cli.ts", ...args], { stdio: ["ignore", "pipe", "pipe"] })
      let out = ""
      const seen = (d: Buffer) => {
        out += d.toString()
        if (out.includes(until)) child.kill("SIGTERM")
      }
      child.stdout.on("data", seen)
      child.stderr.on("data", seen)
      child.once("exit", (code) => resolve({ out, code }))
    })
  )

describe("keepalive proxy --config: libvirtd.conf-style keys", () => {
  it.effect("the file's keys become the proxy's settings, in milliseconds; absent keys stay absent", () =>
    Effect.gen(function*() {
      const file = yield* writeConf(CONF)
      const settings = yield* ProxyConfig.config.parse(yield* LibvirtConf.fromFile(file))
      assert.deepStrictEqual(settings.upstream, Option.some("test+tcp://127.0.0.1:1/default"))
      assert.deepStrictEqual(settings.interval, Option.some(2000))
      assert.deepStrictEqual(settings.count, Option.some(3))
      assert.deepStrictEqual(settings.policy, Option.some("if-supported"))
      assert.deepStrictEqual(settings.upstreamMaxClientRequests, Option.some(3))
      assert.deepStrictEqual(settings.maxPendingFrames, Option.some(64))
      assert.deepStrictEqual(settings.upstreamTimeout, Option.some(2000))
      assert.isTrue(Option.isNone(settings.maxClients))
      assert.isTrue(Option.isNone(settings.handshakeTimeout))
    }).pipe(Effect.scoped))

  it("a flag overrides the file, the file the default", () => {
    assert.strictEqual(ProxyConfig.resolve(Option.some(1), Option.some(2), 3), 1)
    assert.strictEqual(ProxyConfig.resolve(Option.none(), Option.some(2), 3), 2)
    assert.strictEqual(ProxyConfig.resolve(Option.none<number>(), Option.none(), 3), 3)
  })

  it.live("the CLI listens with the file's settings, and --policy overrides the file's", () =>
    Effect.gen(function*() {
      const file = yield* writeConf(CONF)
      const run = yield* cliUntil(["proxy", "--config", file, "--listen", "127.0.0.1:0", "--policy", "required"], "PROXY")
      assert.include(run.out, "-> test+tcp://127.0.0.1:1/default: policy required, keepalive 2000 ms x 3 on both legs")
    }).pipe(Effect.scoped))

  it.live("a key set to a bad value is refused, naming the key and the value, with exit code 2", () =>
    Effect.gen(function*() {
      const file = yield* writeConf(`upstream_uri = "test+tcp://127.0.0.1:1/default"\nupstream_max_client_requests = 0\n`)
      const run = yield* cliUntil(["proxy", "--config", file, "--listen", "127.0.0.1:0"], "PROXY")
      assert.strictEqual(run.code, 2)
      assert.include(run.out, "upstream_max_client_requests")
      assert.include(run.out, "0")
    }).pipe(Effect.scoped))
})

describe("Proxy options: durations at the public edge", () => {
  it("intervals and timeouts take a Duration.Input, a plain number being milliseconds", () => {
    const base = { upstream: "test+tcp://127.0.0.1:16509/default" }
    const valid = (options: Omit<Proxy.ProxyOptions, "upstream">) => Result.isSuccess(Proxy.validate({ ...base, ...options }))
    assert.isTrue(valid({ keepalive: { interval: "5 seconds", count: 5, policy: "if-supported" }, upstreamTimeout: "2 seconds", handshakeTimeout: 60_000 }))
    assert.isTrue(valid({ keepalive: { interval: 5000, count: 5, policy: "if-supported" }, upstreamKeepalive: { interval: Duration.millis(250), count: 3 } }))
    const bad = Proxy.validate({ ...base, keepalive: { interval: 5000, count: 5, policy: "if-supported" }, upstreamTimeout: "soon" as Duration.Input })
    assert.isTrue(Result.isFailure(bad) && bad.failure._tag === "InvalidProxyOption" && bad.failure.option === "upstreamTimeout")
  })
})
