import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { ConfigProvider, Effect } from "effect"
import * as ClientConfig from "../../src/runtime/ClientConfig.ts"
import * as LibvirtConf from "../../src/runtime/LibvirtConf.ts"
import * as ServerConfig from "../../src/runtime/ServerConfig.ts"

const LIBVIRTD_CONF = `# libvirtd.conf, as shipped, with a few keys set
listen_tls = 0
listen_tcp = 1   # trailing comment
tcp_port = "16509"
auth_tcp = "none"
access_drivers = [ "polkit",
                   "nop" ]
max_clients = 200
max_client_requests = 3
keepalive_interval = 2
keepalive_count = 4
keepalive_policy = "required"  # ours: seed 001's policy
log_outputs = "1:file:/tmp/x#not-a-comment"
`

const withFile = (text: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "keepalive-conf-"))
      const path = Path.join(dir, "libvirtd.conf")
      Fs.writeFileSync(path, text)
      return path
    }),
    (path) => Effect.sync(() => Fs.rmSync(Path.dirname(path), { recursive: true, force: true }))
  )

describe("LibvirtConf: libvirt's configuration files as a ConfigProvider", () => {
  it.effect("parses strings, integers, lists over several lines and comments", () =>
    Effect.gen(function*() {
      const values = yield* LibvirtConf.parse(LIBVIRTD_CONF)
      assert.deepStrictEqual(values["access_drivers"], ["polkit", "nop"])
      assert.strictEqual(values["tcp_port"], "16509")
      assert.strictEqual(values["listen_tcp"], "1")
      assert.strictEqual(values["log_outputs"], "1:file:/tmp/x#not-a-comment")
    }))

  it.effect("a line it cannot read is an error naming the line", () =>
    Effect.gen(function*() {
      const e1 = yield* Effect.flip(LibvirtConf.parse("a = 1\nkeepalive_interval = five\n", "libvirtd.conf"))
      assert.strictEqual(e1.line, 2)
      assert.include(e1.message, "libvirtd.conf:2")
      const e2 = yield* Effect.flip(LibvirtConf.parse("just words\n"))
      assert.include(e2.message, "key = value")
      const e3 = yield* Effect.flip(LibvirtConf.parse("x = [ \"a\" \"b\" ]\n"))
      assert.include(e3.message, "malformed list")
    }))

  it.effect("a real libvirtd.conf file feeds the server's keepalive settings and limits", () =>
    Effect.gen(function*() {
      const path = yield* withFile(LIBVIRTD_CONF)
      const provider = yield* LibvirtConf.fromFile(path)
      assert.deepStrictEqual(yield* ServerConfig.config.parse(provider), { interval: 2000, count: 4, policy: "required" })
      const limits = yield* ServerConfig.limits.parse(provider)
      assert.strictEqual(limits.maxClients, 200)
      assert.strictEqual(limits.maxClientRequests, 3)
      const missing = yield* Effect.flip(LibvirtConf.fromFile(Path.join(path, "nope")))
      assert.strictEqual(missing._tag, "ConfFileError")
    }).pipe(Effect.scoped))

  it.effect("environment variables in constant case under a plain provider: never a silent default", () =>
    Effect.gen(function*() {
      const env = ConfigProvider.fromEnv({ env: { KEEPALIVE_INTERVAL: "1", KEEPALIVE_COUNT: "2", KEEPALIVE_POLICY: "if-supported" } })
      assert.deepStrictEqual(yield* ServerConfig.config.parse(env), { interval: 1000, count: 2, policy: "if-supported" })
      const bad = yield* Effect.flip(ServerConfig.config.parse(ConfigProvider.fromEnv({ env: { KEEPALIVE_COUNT: "lots" } })))
      assert.include(bad.message, "KEEPALIVE_COUNT")
      assert.include(bad.message, "lots")
    }))

  it.effect("the client's settings: uri_default and its keepalive, from a file or the environment", () =>
    Effect.gen(function*() {
      const path = yield* withFile(`uri_default = "qemu+tls://host/system"\nkeepalive_interval = 3\n`)
      const fromFile = yield* ClientConfig.config.parse(yield* LibvirtConf.fromFile(path))
      assert.deepStrictEqual(fromFile, { uri: "qemu+tls://host/system", keepalive: { interval: 3000, count: 5 } })
      const fromEnv = yield* ClientConfig.config.parse(ConfigProvider.fromEnv({ env: { KEEPALIVE_COUNT: "1" } }))
      assert.deepStrictEqual(fromEnv, { uri: undefined, keepalive: { interval: 5000, count: 1 } })
      const bad = yield* Effect.flip(ClientConfig.config.parse(ConfigProvider.fromEnv({ env: { KEEPALIVE_INTERVAL: "-x" } })))
      assert.include(bad.message, "KEEPALIVE_INTERVAL")
    }).pipe(Effect.scoped))
})
