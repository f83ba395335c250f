/**
 * Simulator fidelity: a close travels through the link like data (after what was sent before it, with latency,
 * held by a partition), nothing in flight vanishes unseen, and a refusal's `remote_error` reaches the client.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import * as Socket from "effect/socket/Socket"
import * as Simulation from "../../src/simulation/Simulation.ts"
import * as SimulatedLink from "../../src/simulation/SimulatedLink.ts"
import * as Frame from "../../src/wire/Frame.ts"
import { advance } from "../helpers/VirtualTime.ts"

const link = { latency: 5 }
/** The client pings (I = 1 s, C = 1) and dies first in a partition; the server (I = 2 s, C = 2) gives up at (C+1)·I = 6 s. */
const partitioned = (heal: number): Simulation.Scenario => ({
  seed: 3,
  duration: 20_000,
  server: { interval: 2000, count: 2, policy: "if-supported" },
  client: { keepalive: { interval: 1000, count: 1 } },
  toServer: link,
  toClient: link,
  faults: [{ at: 4100, kind: "partition", direction: "both", duration: heal - 4100 }]
})

const failedAt = (end: Simulation.End) => (end._tag === "Failed" ? { tag: end.error._tag, at: end.at } : undefined)

describe("a close travels through the link", () => {
  it.effect("during a two-way partition, the client's close reaches the server only when the partition heals", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run(partitioned(8000))
      const client = failedAt(out.client)
      const server = failedAt(out.server)
      assert.strictEqual(client?.tag, "KeepaliveTimeout")
      assert.isBelow(client!.at, 8000, "the client gives up inside the partition")
      // the close waited behind the partition (its 5 ms long spent) and arrives as it heals, not when it was sent
      assert.deepStrictEqual(server, { tag: "PeerClosed", at: 8000 })
    }))

  it.effect("when the server's own keepalive fires before the partition heals, the held close is never seen", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run(partitioned(15_000))
      const server = failedAt(out.server)
      assert.strictEqual(server?.tag, "KeepaliveTimeout")
      assert.isBelow(server!.at, 15_000)
    }))

  it.effect("the remote_error of a `required` refusal reaches the client, ahead of the close", () =>
    Effect.gen(function*() {
      const out = yield* Simulation.run({
        ...partitioned(20_000),
        faults: [],
        server: { interval: 2000, count: 2, policy: "required" },
        client: { advertise: false }
      })
      const error = out.trace.find((e) => e.kind === "receive" && e.side === "client" && e.frame.header.status === Frame.MessageStatus.Error)
      assert.isDefined(error, "the client read the error reply")
      assert.strictEqual(out.client._tag, "Failed")
      if (out.client._tag !== "Failed" || out.client.error._tag !== "Refused") return assert.fail(`refused, not ${JSON.stringify(out.client)}`)
      assert.include(out.client.error.message, "keepalive is required")
    }))
})

describe("nothing in flight vanishes unseen", () => {
  /** Reads a socket to its end: the first byte of every chunk, and how the reading ended. */
  const read = (socket: Socket.Socket) =>
    Effect.gen(function*() {
      const reader = yield* socket.reader
      const got: Array<number> = []
      for (;;) {
        const pulled = yield* Effect.exit(reader.pull)
        if (Exit.isFailure(pulled)) return { got, exit: pulled }
        for (const chunk of pulled.value) got.push((chunk as Uint8Array)[0]!)
      }
    })

  it.effect("chunks sent before a close are read before it; chunks that reach a closed socket are counted as lost", () =>
    Effect.gen(function*() {
      const l = yield* SimulatedLink.make({ toServer: { latency: 10 }, toClient: { latency: 10 }, seed: 1 })
      const reading = yield* Effect.forkScoped(read(l.server))
      const client = yield* l.client.writer
      const server = yield* l.server.writer
      yield* client.write(new Uint8Array([1]))
      yield* client.write(new Uint8Array([2]))
      yield* client.write(new Socket.CloseEvent(1000))
      // the server answers before it has read the close: its chunk is in flight to a closed socket
      yield* server.write(new Uint8Array([3]))
      yield* advance(5)
      assert.deepStrictEqual(l.lost(), { client: 0, server: 0 })
      yield* advance(10)
      const { exit, got } = yield* Fiber.join(reading)
      assert.deepStrictEqual(got, [1, 2])
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(l.lost(), { client: 1, server: 0 })
    }))
})
