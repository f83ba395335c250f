import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit, Queue } from "effect"
import * as Connection from "../../src/runtime/Connection.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Server from "../../src/runtime/Server.ts"
import type * as Session from "../../src/session/Session.ts"
import * as Trace from "../../src/trace/Trace.ts"
import * as Libvirt from "./Libvirt.ts"

beforeAll(() => Libvirt.requirePackages())

/** Our server on a free loopback port, recording every connection and all traffic. */
const ourServer = (keepalive: Session.ServerOptions) =>
  Effect.gen(function*() {
    const traffic: Array<Trace.TraceEvent> = []
    const connections = yield* Queue.unbounded<Connection.Connection>()
    const listening = yield* Server.listen({ host: "127.0.0.1", port: 0 }, {
      keepalive,
      trace: (e) => void traffic.push(e),
      onConnection: (c) => Queue.offer(connections, c).pipe(Effect.asVoid)
    })
    const received = (what: string) => traffic.filter((e) => e.kind === "receive" && Trace.describeFrame(e.frame) === what)
    const sent = (what: string) => traffic.filter((e) => e.kind === "transmit" && Trace.describeFrame(e.frame) === what)
    return {
      uri: `test+tcp://127.0.0.1:${listening.port}/default`,
      traffic,
      nextConnection: Queue.take(connections),
      received,
      sent,
      calls: () => traffic.flatMap((e) => (e.kind === "receive" && e.frame.header.type === Frame.MessageType.Call ? [Trace.describeFrame(e.frame)] : []))
    }
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>) => Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error : undefined

describe("virsh against our server", () => {
  it.live("virsh list: the open and close sequence is served; the unsupported call is a clear error, not a hang", () =>
    Effect.gen(function*() {
      const server = yield* ourServer({ interval: 1000, count: 2, policy: "if-supported" })
      const virsh = yield* Libvirt.virsh(server.uri, ["-k", "1", "-K", "2", "list"])
      const code = yield* virsh.exited.pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(code, 1)
      assert.include(virsh.output(), "error: this function is not supported by the connection driver")
      // what libvirt 9.0's client actually sends to open and close a connection, observed here
      assert.deepStrictEqual(server.calls(), [
        "remote_auth_list_args",
        "remote_supports_feature_args (KEEPALIVE)",
        "remote_connect_open_args (\"test:///default\")",
        "remote_supports_feature_args (REMOTE_EVENT_CALLBACK)",
        "remote_supports_feature_args (REMOTE_CLOSE_CALLBACK)",
        "remote_connect_list_all_domains_args",
        "remote_connect_num_of_domains_args",
        "remote_connect_close_args"
      ])
    }).pipe(Effect.scoped))

  it.live("an interactive virsh -k 1 -K 2 pings us every second; we answer; frozen, it is dropped at our bound", () =>
    Effect.gen(function*() {
      const server = yield* ourServer({ interval: 300, count: 2, policy: "if-supported" })
      const virsh = yield* Libvirt.virsh(server.uri, ["-k", "1", "-K", "2"])
      yield* virsh.waitFor("virsh #")
      const connection = yield* server.nextConnection
      yield* Effect.sleep("2500 millis")
      // our 300 ms PINGs keep virsh's 1 s countdown quiet; virsh answers each of them
      assert.isAtLeast(server.sent("keepalive PING").length, 6)
      assert.strictEqual(server.received("keepalive PONG").length, server.sent("keepalive PING").length)
      yield* virsh.signal("SIGSTOP")
      const stoppedAt = performance.now()
      const end = yield* Effect.exit(connection.closed)
      const elapsed = performance.now() - stoppedAt
      const error = failureOf(end)
      assert.instanceOf(error, Connection.KeepaliveTimeout)
      if (error instanceof Connection.KeepaliveTimeout) assert.strictEqual(error.pingsSent, 2)
      Libvirt.assertClosedAfterFault("our server vs a SIGSTOP'd virsh", elapsed, 300, 2, 50)
    }).pipe(Effect.scoped))
})

describe("libvirt-python against our server", () => {
  it.live("with its event loop running, it advertises, answers our PINGs, and stays open", () =>
    Effect.gen(function*() {
      const server = yield* ourServer({ interval: 400, count: 2, policy: "if-supported" })
      const client = yield* Libvirt.python(server.uri, "plain", 3)
      assert.strictEqual(yield* client.exited.pipe(Effect.timeout("15 seconds")), 0)
      assert.include(client.output(), "alive 1")
      assert.include(client.output(), "closed")
      assert.isAtLeast(server.sent("keepalive PING").length, 5)
      assert.strictEqual(server.received("keepalive PONG").length, server.sent("keepalive PING").length)
      assert.strictEqual(server.received("remote_connect_close_args").length, 1)
    }).pipe(Effect.scoped))

  it.live("conn.setKeepAlive(1, 2): the client pings us and we answer", () =>
    Effect.gen(function*() {
      const server = yield* ourServer({ interval: 0, count: 5, policy: "disabled" })
      const client = yield* Libvirt.python(server.uri, "keepalive", 3.5, 1, 2)
      assert.strictEqual(yield* client.exited.pipe(Effect.timeout("15 seconds")), 0)
      assert.include(client.output(), "setKeepAlive 0")
      assert.isAtLeast(server.received("keepalive PING").length, 3)
      assert.strictEqual(server.sent("keepalive PONG").length, server.received("keepalive PING").length)
      assert.strictEqual(server.sent("keepalive PING").length, 0)
    }).pipe(Effect.scoped))

  it.live("a client that advertised but stopped running its event loop is dropped at our bound", () =>
    Effect.gen(function*() {
      const server = yield* ourServer({ interval: 300, count: 2, policy: "if-supported" })
      const client = yield* Libvirt.python(server.uri, "stall", 3)
      const connection = yield* server.nextConnection
      // the client stops its event loop right after it prints "opened": its last frame came before that line, and it
      // sends nothing after, so the close is due (C+1)·I after the line at the latest, and (C+1)·I after the open
      // reply (less the time that line took to reach us) at the earliest
      yield* client.waitFor("opened")
      const stalledAt = performance.now()
      const end = yield* Effect.exit(connection.closed)
      const elapsed = performance.now() - stalledAt
      const error = failureOf(end)
      assert.instanceOf(error, Connection.KeepaliveTimeout)
      if (error instanceof Connection.KeepaliveTimeout) assert.strictEqual(error.pingsSent, 2)
      console.log(`our server vs a stalled libvirt-python (I=300 ms, C=2): closed ${elapsed.toFixed(1)} ms after it said "opened" (expected 900)`)
      assert.isAtLeast(elapsed, 900 - 150)
      assert.isAtMost(elapsed, 900 + 50)
      // the stalled client itself notices nothing until it runs its event loop again (libvirt's stale-connection case)
      yield* client.exited.pipe(Effect.timeout("15 seconds"))
      assert.include(client.output(), "opened")
    }).pipe(Effect.scoped))

  it.live("policy required: without an event loop the client does not advertise and is refused at CONNECT_OPEN", () =>
    Effect.gen(function*() {
      const server = yield* ourServer({ interval: 1000, count: 2, policy: "required" })
      const client = yield* Libvirt.python(server.uri, "no-event-loop", 1)
      assert.strictEqual(yield* client.exited.pipe(Effect.timeout("15 seconds")), 3)
      assert.include(client.output(), "open failed:")
      assert.include(client.output(), "keepalive is required")
      assert.strictEqual(server.received("remote_supports_feature_args (KEEPALIVE)").length, 0)
      const connection = yield* server.nextConnection
      assert.deepStrictEqual(yield* Effect.flip(connection.closed), new Connection.Refused())
    }).pipe(Effect.scoped))

  it.live("policy required: with an event loop the client advertises and is served", () =>
    Effect.gen(function*() {
      const server = yield* ourServer({ interval: 500, count: 2, policy: "required" })
      const client = yield* Libvirt.python(server.uri, "plain", 1.2)
      assert.strictEqual(yield* client.exited.pipe(Effect.timeout("15 seconds")), 0)
      assert.include(client.output(), "alive 1")
      assert.strictEqual(server.received(`remote_supports_feature_args (KEEPALIVE)`).length, 1)
    }).pipe(Effect.scoped))
})
