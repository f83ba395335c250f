/**
 * The typed client against our own server, written with `Libvirt.handler`, on the in-memory link under TestClock:
 * typed calls and their errors, events as Streams (order, filtering by callback ID, deregistration, a slow
 * subscriber), close reasons, and subscriptions carried over a reconnect.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Queue, Schedule, Stream } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import * as Connection from "../../src/runtime/Connection.ts"
import * as Libvirt from "../../src/runtime/Libvirt.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Procedures from "../../src/wire/Procedures.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Xdr from "../../src/wire/Xdr.ts"
import { advance } from "../helpers/VirtualTime.ts"

const TEST_DOMAIN: Procedures.Domain = { name: "test", uuid: "6695eb01-f6a4-8304-79aa-97f2502e193f", id: 1 }
const OTHER: Procedures.Domain = { name: "other", uuid: "00000000-0000-0000-0000-000000000002", id: -1 }

/** A fake daemon's state: callback IDs handed out and taken back. */
interface Daemon {
  readonly registered: Array<number>
  readonly deregistered: Array<number>
  readonly closeCallbacks: Array<"register" | "unregister">
}

const implementations = (daemon: Daemon): Libvirt.Implementations => {
  let next = 1
  return {
    ConnectGetHostname: () => Effect.succeed({ hostname: "fake-host" }),
    DomainLookupByName: ({ name }) =>
      name === TEST_DOMAIN.name
        ? Effect.succeed({ dom: TEST_DOMAIN })
        : Effect.fail(new Remote.RemoteCallError({ proc: 23, code: 42, domain: 10, text: `Domain not found: ${name}` })),
    ConnectListAllDomains: ({ flags }) => Effect.succeed({ domains: flags === 0 ? [TEST_DOMAIN, OTHER] : [TEST_DOMAIN], ret: flags === 0 ? 2 : 1 }),
    ConnectGetVersion: () => Effect.succeed({ hvVer: 9_000_000n }),
    ConnectDomainEventCallbackRegisterAny: () =>
      Effect.sync(() => {
        daemon.registered.push(next)
        return { callbackId: next++ }
      }),
    ConnectDomainEventCallbackDeregisterAny: ({ callbackId }) => Effect.sync(() => void daemon.deregistered.push(callbackId)),
    ConnectRegisterCloseCallback: () => Effect.sync(() => void daemon.closeCallbacks.push("register")),
    ConnectUnregisterCloseCallback: () => Effect.sync(() => void daemon.closeCallbacks.push("unregister"))
  }
}

const newDaemon = (): Daemon => ({ registered: [], deregistered: [], closeCallbacks: [] })

/** Our server with the typed handler on one end of a link, handing out its connection; the client's socket. */
const serverOn = (daemon: Daemon, handler: Server.Handler = Libvirt.handler(implementations(daemon))) =>
  Effect.gen(function*() {
    const link = yield* Transport.memoryPair
    const handed = yield* Deferred.make<Connection.Connection>()
    yield* Effect.forkScoped(Effect.scoped(Server.handleSocket(link.right, { handler, onConnection: (c) => Deferred.succeed(handed, c) })))
    return { socket: link.left, server: Deferred.await(handed) }
  })

const connected = (daemon: Daemon, handler?: Server.Handler) =>
  Effect.gen(function*() {
    const { socket, server } = yield* serverOn(daemon, handler)
    const client = yield* Client.connect(socket, { name: "test:///default" })
    const libvirt = yield* Libvirt.make(client)
    return { client, libvirt, server: yield* server }
  })

const lifecycle = (callbackId: number, dom: Procedures.Domain, event: number, detail = 0) => ({ callbackId, dom, event, detail })

describe("Libvirt: typed calls", () => {
  it.effect("methods come from the declarations: arguments encoded, replies decoded", () =>
    Effect.gen(function*() {
      const { libvirt } = yield* connected(newDaemon())
      assert.deepStrictEqual(yield* libvirt.connectGetHostname(), { hostname: "fake-host" })
      assert.deepStrictEqual(yield* libvirt.connectGetVersion(), { hvVer: 9_000_000n })
      assert.deepStrictEqual(yield* libvirt.domainLookupByName({ name: "test" }), { dom: TEST_DOMAIN })
      const all = yield* libvirt.connectListAllDomains({ needResults: 1, flags: 0 })
      assert.deepStrictEqual(all.domains.map((d) => d.name), ["test", "other"])
      assert.strictEqual(all.ret, 2)
      const active = yield* libvirt.connectListAllDomains({ needResults: 1, flags: Procedures.ListAllDomainsFlags.Active })
      assert.deepStrictEqual(active.domains, [TEST_DOMAIN])
    }).pipe(Effect.scoped))

  it.effect("libvirt's error reply is a RemoteCallError; an unimplemented procedure gets the server's 'not supported'", () =>
    Effect.gen(function*() {
      const { libvirt } = yield* connected(newDaemon())
      const missing = yield* Effect.flip(libvirt.domainLookupByName({ name: "nope" }))
      assert.strictEqual(missing._tag, "RemoteCallError")
      assert.strictEqual(missing._tag === "RemoteCallError" ? missing.text : "", "Domain not found: nope")
      const unsupported = yield* Effect.flip(libvirt.connectGetCapabilities())
      assert.strictEqual(unsupported._tag === "RemoteCallError" ? unsupported.code : -1, Remote.ErrorCode.NoSupport)
    }).pipe(Effect.scoped))

  it.effect("a reply that does not decode is a DecodeError naming the procedure, the item and the offset", () =>
    Effect.gen(function*() {
      // a hostname reply whose string claims 100 bytes and carries 4
      const bad = Xdr.encode((w) => w.uint(100).uint(0))
      const { libvirt } = yield* connected(newDaemon(), () => Effect.succeed(bad))
      const error = yield* Effect.flip(libvirt.connectGetHostname())
      assert.instanceOf(error, Procedures.DecodeError)
      if (!(error instanceof Procedures.DecodeError)) return
      assert.strictEqual(error.procedure, "ConnectGetHostname")
      assert.strictEqual(error.proc, 59)
      assert.strictEqual(error.part, "reply")
      assert.strictEqual(error.what, "hostname (string body)")
      assert.strictEqual(error.offset, 4)
      assert.include(error.message, "ConnectGetHostname (59) reply")
      // trailing bytes are refused too, at the offset where they start
      const trailing = yield* Effect.flip(Libvirt.call(
        (yield* connected(newDaemon(), () => Effect.succeed(Xdr.encode((w) => w.string("h").uint(7))))).client,
        Procedures.calls.ConnectGetHostname,
        undefined
      ))
      assert.strictEqual(trailing._tag === "DecodeError" ? `${trailing.what}@${trailing.offset}` : "", "trailing bytes@8")
    }).pipe(Effect.scoped))

  it.effect("the server's side: arguments that do not decode get libvirt's RPC error naming the procedure and offset", () =>
    Effect.gen(function*() {
      const { client } = yield* connected(newDaemon())
      const error = yield* Effect.flip(client.call(23, Xdr.encode((w) => w.uint(50))))
      assert.strictEqual(error._tag, "RemoteCallError")
      if (error._tag !== "RemoteCallError") return
      assert.strictEqual(error.code, Remote.ErrorCode.Rpc)
      assert.include(error.text, "DomainLookupByName (23) args: name (string body) at offset 4")
    }).pipe(Effect.scoped))
})

describe("Libvirt: events as Streams", () => {
  it.effect("lifecycle events arrive in order for their callback ID only; the scope's end deregisters", () =>
    Effect.gen(function*() {
      const daemon = newDaemon()
      const { libvirt, server } = yield* connected(daemon)
      const collected = yield* libvirt.domainEvents({ domain: TEST_DOMAIN }).pipe(Stream.take(3), Stream.runCollect, Effect.forkScoped)
      yield* advance(0)
      assert.deepStrictEqual(daemon.registered, [1])
      const send = (body: ReturnType<typeof lifecycle>) => Libvirt.sendEvent(server, Procedures.messages.DomainEventCallbackLifecycle, body)
      yield* send(lifecycle(1, TEST_DOMAIN, Procedures.LifecycleEvent.Started, 1))
      yield* send(lifecycle(7, OTHER, Procedures.LifecycleEvent.Defined)) // another callback: not ours
      yield* send(lifecycle(1, TEST_DOMAIN, Procedures.LifecycleEvent.Suspended))
      yield* send(lifecycle(1, TEST_DOMAIN, Procedures.LifecycleEvent.Stopped, 2))
      const events = yield* Fiber.join(collected)
      assert.deepStrictEqual(events.map((e) => [e.type, e.detail]), [["Started", 1], ["Suspended", 0], ["Stopped", 2]])
      assert.deepStrictEqual(events[0]!.domain, TEST_DOMAIN)
      yield* advance(0)
      assert.deepStrictEqual(daemon.deregistered, [1])
    }).pipe(Effect.scoped))

  it.effect("a slow subscriber loses its own events, counted; the connection and a prompt subscriber lose nothing", () =>
    Effect.gen(function*() {
      const daemon = newDaemon()
      const { libvirt, server, client } = yield* connected(daemon)
      const slowTaken = yield* Queue.unbounded<Libvirt.LifecycleEvent>()
      const gate = yield* Deferred.make<void>()
      // the slow one takes one event, then stalls until the gate opens
      yield* libvirt.domainEvents({ capacity: 2 }).pipe(
        Stream.runForEach((e) => Queue.offer(slowTaken, e).pipe(Effect.andThen(Deferred.await(gate)))),
        Effect.forkScoped
      )
      const prompt = yield* libvirt.domainEvents().pipe(Stream.take(10), Stream.runCollect, Effect.forkScoped)
      yield* advance(0)
      assert.deepStrictEqual(daemon.registered, [1, 2])
      const send = (id: number, i: number) =>
        Libvirt.sendEvent(server, Procedures.messages.DomainEventCallbackLifecycle, lifecycle(id, TEST_DOMAIN, Procedures.LifecycleEvent.Resumed, i))
      // the slow one takes event 0 and stalls on it
      yield* send(1, 0)
      yield* advance(0)
      assert.deepStrictEqual((yield* Queue.takeAll(slowTaken)).map((e) => e.detail), [0])
      for (let i = 1; i < 10; i++) yield* send(1, i)
      for (let i = 0; i < 10; i++) yield* send(2, i)
      assert.deepStrictEqual((yield* Fiber.join(prompt)).map((e) => e.detail), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      // the slow one holds event 0 and a backlog of 2 (events 1 and 2): 7 dropped
      assert.strictEqual(yield* libvirt.dropped, 7)
      assert.isTrue((yield* client.status).alive)
      assert.isTrue(yield* libvirt.isAlive)
      yield* Deferred.succeed(gate, undefined)
      yield* advance(0)
      assert.deepStrictEqual((yield* Queue.takeAll(slowTaken)).map((e) => e.detail), [1, 2])
    }).pipe(Effect.scoped))

  it.effect("close events: the server's CONNECTION_CLOSED reason, then the connection's own end; the Stream ends with it", () =>
    Effect.gen(function*() {
      const daemon = newDaemon()
      const { libvirt, server } = yield* connected(daemon)
      const collected = yield* libvirt.closeEvents().pipe(Stream.runCollect, Effect.forkScoped)
      const domains = yield* libvirt.domainEvents().pipe(Stream.runCollect, Effect.forkScoped)
      yield* advance(0)
      assert.deepStrictEqual(daemon.closeCallbacks, ["register"])
      yield* Libvirt.sendEvent(server, Procedures.messages.ConnectEventConnectionClosed, { reason: Procedures.CloseReason.Keepalive })
      yield* advance(0)
      yield* server.close
      const events = yield* Fiber.join(collected)
      assert.deepStrictEqual(events, [
        { reason: "Keepalive", code: 2, source: "server" },
        { reason: "Eof", code: 1, source: "connection" }
      ])
      assert.deepStrictEqual(yield* Fiber.join(domains), [])
      assert.isFalse(yield* libvirt.isAlive)
      // a subscription after the end fails at once
      const late = yield* Effect.flip(Stream.runCollect(libvirt.domainEvents()))
      assert.strictEqual(late._tag, "ConnectionClosed")
    }).pipe(Effect.scoped))

  it.effect("closing our client gives the close reason Client", () =>
    Effect.gen(function*() {
      const { libvirt, client } = yield* connected(newDaemon())
      const collected = yield* libvirt.closeEvents().pipe(Stream.runCollect, Effect.forkScoped)
      yield* advance(0)
      yield* client.close
      assert.deepStrictEqual((yield* Fiber.join(collected)).map((e) => e.reason), ["Client"])
    }).pipe(Effect.scoped))

  it.effect("a reconnecting client registers every subscription again on the new connection", () =>
    Effect.gen(function*() {
      const daemons: Array<Daemon> = []
      const servers = yield* Queue.unbounded<Connection.Connection>()
      const dial = Effect.gen(function*() {
        const daemon = newDaemon()
        daemons.push(daemon)
        const { socket, server } = yield* serverOn(daemon)
        yield* Effect.forkScoped(Effect.flatMap(server, (s) => Queue.offer(servers, s)))
        return socket
      })
      const kept = yield* Client.reconnecting(dial, { name: "test:///default" }, Schedule.spaced("1 second"))
      const libvirt = yield* Libvirt.fromReconnecting(kept)
      const taken = yield* Queue.unbounded<Libvirt.LifecycleEvent>()
      yield* libvirt.domainEvents().pipe(Stream.runForEach((e) => Queue.offer(taken, e)), Effect.forkScoped)
      const first = yield* Queue.take(servers)
      yield* advance(0)
      assert.deepStrictEqual(daemons[0]!.registered, [1])
      yield* Libvirt.sendEvent(first, Procedures.messages.DomainEventCallbackLifecycle, lifecycle(1, TEST_DOMAIN, Procedures.LifecycleEvent.Started))
      assert.strictEqual((yield* Queue.take(taken)).type, "Started")
      // the first daemon goes away; one second later the client is back on a new one
      yield* first.close
      yield* advance(1000)
      const second = yield* Queue.take(servers)
      yield* advance(0)
      assert.deepStrictEqual(daemons[1]!.registered, [1])
      assert.deepStrictEqual(yield* libvirt.connectGetHostname(), { hostname: "fake-host" })
      yield* Libvirt.sendEvent(second, Procedures.messages.DomainEventCallbackLifecycle, lifecycle(1, TEST_DOMAIN, Procedures.LifecycleEvent.Stopped))
      assert.strictEqual((yield* Queue.take(taken)).type, "Stopped")
    }).pipe(Effect.scoped))

  it.effect("a call waiting for the new connection runs after the subscriptions are registered on it", () =>
    Effect.gen(function*() {
      const daemons: Array<Daemon> = []
      const dial = Effect.gen(function*() {
        const daemon = newDaemon()
        daemons.push(daemon)
        // the hostname says how many subscriptions the daemon had when the call reached it
        // and registering takes the daemon a while
        const base = implementations(daemon)
        const handler = Libvirt.handler({
          ...base,
          ConnectDomainEventCallbackRegisterAny: (args, connection) =>
            Effect.delay(base.ConnectDomainEventCallbackRegisterAny!(args, connection), "100 millis"),
          ConnectGetHostname: () => Effect.sync(() => ({ hostname: `${daemon.registered.length}` }))
        })
        const { socket, server } = yield* serverOn(daemon, handler)
        if (daemons.length === 1) yield* Effect.forkScoped(Effect.flatMap(server, (s) => s.close))
        return socket
      })
      const kept = yield* Client.reconnecting(dial, { name: "test:///default" }, Schedule.spaced("1 second"))
      const libvirt = yield* Libvirt.fromReconnecting(kept)
      yield* libvirt.domainEvents().pipe(Stream.runDrain, Effect.forkScoped)
      yield* advance(100)
      // the first daemon closed at once: this call waits for the second connection
      const call = yield* libvirt.connectGetHostname().pipe(Effect.forkScoped)
      yield* advance(1000)
      yield* advance(100)
      assert.deepStrictEqual(yield* Fiber.join(call), { hostname: "1" })
    }).pipe(Effect.scoped))

  it.effect("an open that fails leaves no subscription behind", () =>
    Effect.gen(function*() {
      const { libvirt, server } = yield* connected(newDaemon(), () => Effect.fail(Remote.RemoteCallError.fromPayload(316, Remote.remoteError(1, 7, "no"))))
      const exit = yield* Effect.exit(Stream.runCollect(libvirt.domainEvents()))
      assert.isTrue(Exit.isFailure(exit))
      yield* Libvirt.sendEvent(server, Procedures.messages.DomainEventCallbackLifecycle, lifecycle(1, TEST_DOMAIN, 2))
      yield* advance(0)
      assert.strictEqual(yield* libvirt.dropped, 0)
    }).pipe(Effect.scoped))
})
