import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as Server from "../../src/runtime/Server.ts"
import * as ServerConfig from "../../src/runtime/ServerConfig.ts"

describe("ServerConfig: libvirtd.conf's keys, validated", () => {
  it.effect("defaults are libvirtd's: 5 s, 5, and seed 001's default policy (disabled)", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* ServerConfig.fromEnv({}), { interval: 5000, count: 5, policy: "disabled" })
    }))

  it.effect("environment variables in constant case, fractions of a second allowed, ≤ 0 answers only", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        yield* ServerConfig.fromEnv({ KEEPALIVE_INTERVAL: "0.25", KEEPALIVE_COUNT: "3", KEEPALIVE_POLICY: "required" }),
        { interval: 250, count: 3, policy: "required" }
      )
      assert.deepStrictEqual(yield* ServerConfig.fromEnv({ KEEPALIVE_INTERVAL: "-1" }), { interval: -1000, count: 5, policy: "disabled" })
    }))

  const badEnv: ReadonlyArray<readonly [Record<string, string>, string]> = [
    [{ KEEPALIVE_INTERVAL: "soon" }, "keepalive_interval"],
    [{ KEEPALIVE_INTERVAL: "2147484" }, "keepalive_interval"],
    [{ KEEPALIVE_INTERVAL: "0.0001" }, "keepalive_interval"],
    [{ KEEPALIVE_COUNT: "-1" }, "keepalive_count"],
    [{ KEEPALIVE_COUNT: "1.5" }, "keepalive_count"],
    [{ KEEPALIVE_POLICY: "always" }, "keepalive_policy"]
  ]
  for (const [env, key] of badEnv) {
    it.effect(`a bad value is a ConfigError naming the key: ${JSON.stringify(env)}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(ServerConfig.fromEnv(env))
        assert.strictEqual(error._tag, "ConfigError")
        assert.include(error.message, key)
      }))
  }

  it.effect("decode validates a libvirtd.conf-style object and names the key", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* ServerConfig.decode({ keepalive_interval: 2, keepalive_count: 0 }), { interval: 2000, count: 0, policy: "disabled" })
      const error = yield* Effect.flip(ServerConfig.decode({ keepalive_count: "many" }))
      assert.include(error.message, "keepalive_count")
    }))

  it.effect("a server refuses to start with invalid options, with a typed error", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Effect.scoped(Server.listen({ host: "127.0.0.1", port: 0 }, { keepalive: { interval: 1000, count: -2, policy: "if-supported" } }))
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.include(String(exit.cause), "InvalidKeepaliveConfig")
      const policy = yield* Effect.exit(
        Effect.scoped(Server.listen({ host: "127.0.0.1", port: 0 }, { keepalive: { interval: 1000, count: 2, policy: "sometimes" as never } }))
      )
      assert.isTrue(Exit.isFailure(policy) && String(policy.cause).includes("InvalidPolicy"))
    }))

  it.effect("server limits: libvirtd.conf's max_clients and max_client_requests, and our own keys, from the environment", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* ServerConfig.limitsFromEnv({}), {})
      assert.deepStrictEqual(
        yield* ServerConfig.limitsFromEnv({
          MAX_CLIENTS: "100",
          MAX_CLIENT_REQUESTS: "2",
          HANDSHAKE_TIMEOUT: "1.5",
          MAX_BUFFERED_BYTES: "1048576",
          MAX_QUEUED_BYTES: "65536",
          MAX_FRAME_RATE: "500"
        }),
        {
          maxClients: 100,
          maxClientRequests: 2,
          handshakeTimeout: 1500,
          maxBufferedBytes: 1048576,
          maxQueuedBytes: 65536,
          policing: { rate: 500, burst: 1000 }
        }
      )
      for (const [key, value] of [["MAX_CLIENTS", "0"], ["MAX_CLIENT_REQUESTS", "many"], ["HANDSHAKE_TIMEOUT", "-1"], ["MAX_FRAME_BURST", "0.5"]] as const) {
        const error = yield* Effect.flip(ServerConfig.limitsFromEnv({ [key]: value }))
        assert.include(error.message, key.toLowerCase())
      }
    }))
})
