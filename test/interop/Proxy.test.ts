/**
 * `keepalive proxy` in front of a real libvirtd 9.0 (test driver, 127.0.0.1, a free port, a temporary directory):
 * virsh and libvirt-python through the proxy, policy `required`, a frozen virsh, a frozen daemon, and hostile
 * peers against the proxy with the daemon behind it unharmed. Everything is started here and stopped afterwards.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { NodeServices } from "@effect/platform-node"
import * as Proxy from "../../src/tools/Proxy.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Attack from "../helpers/Attack.ts"
import * as Libvirt from "./Libvirt.ts"

beforeAll(() => Libvirt.requirePackages())

const I = 1000
const C = 2
/** Calls the never-reading attacker sends in one write (0.56 MB). */
const STUFFED_CALLS = 20_000

/** A libvirtd (its own keepalive 2 s × 2) and the proxy in front of it (I × C, policy required), with its events. */
const proxied = (options: Partial<Proxy.ProxyOptions> = {}) =>
  Effect.gen(function*() {
    const daemon = yield* Libvirt.startLibvirtd({ interval: 2, count: 2 })
    const events: Array<Proxy.ProxyEvent> = []
    const listening = yield* Proxy.listen({ host: "127.0.0.1", port: 0 }, {
      upstream: daemon.uri,
      keepalive: { interval: I, count: C, policy: "required" },
      onEvent: (e) => Effect.sync(() => void events.push(e)),
      ...options
    })
    const uri = `test+tcp://127.0.0.1:${listening.port}/default`
    const ended = () => events.flatMap((e) => (e._tag === "Ended" ? [e] : []))
    return { daemon, port: listening.port, uri, events, ended }
  })

const output = (uri: string, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const child = yield* Libvirt.virsh(uri, args)
    const code = yield* child.exited
    // 'exit' can come before the last of stdout: wait for the streams to close
    yield* Effect.callback<void>((resume) => {
      const out = child.process.stdout
      if (out === null || out.closed) return resume(Effect.void)
      out.once("close", () => resume(Effect.void))
    })
    return { code, text: child.output() }
  })

const waitUntil = (predicate: () => boolean, timeoutMs: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!predicate() && Date.now() < deadline) yield* Effect.sleep("20 millis")
    return predicate()
  })

describe("keepalive proxy in front of a real libvirtd", () => {
  it.live("virsh list, version and hostname give the same output through the proxy as direct", () =>
    Effect.gen(function*() {
      const { daemon, uri, ended } = yield* proxied()
      for (const args of [["list", "--all"], ["version"], ["hostname"], ["domstate", "test"]]) {
        const direct = yield* output(daemon.uri, args)
        const through = yield* output(uri, args)
        assert.strictEqual(direct.code, 0, direct.text)
        assert.strictEqual(through.code, 0, through.text)
        assert.strictEqual(through.text, direct.text, `virsh ${args.join(" ")}`)
      }
      assert.isTrue(yield* waitUntil(() => ended().length === 4, 2000))
      for (const e of ended()) assert.strictEqual(e.reason, "closed by the client")
      // every proxied connection to the daemon is closed again
      assert.isTrue(yield* waitUntil(() => Attack.heldOnPort(daemon.port) === 0, 3000))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 30_000)

  it.live("policy required: a libvirt-python client without an event loop is refused; with one it opens", () =>
    Effect.gen(function*() {
      const { daemon, uri, events } = yield* proxied()
      const refused = yield* Libvirt.python(uri, "no-event-loop", 0.2)
      assert.strictEqual(yield* refused.exited, 3, refused.output())
      assert.include(refused.output(), "keepalive is required by this server (policy required), and the client did not advertise it")
      // the refused client never reached the daemon
      assert.isFalse(events.some((e) => e._tag === "Opened"))
      // libvirtd itself lets the same client in: the policy is the proxy's
      const direct = yield* Libvirt.python(daemon.uri, "no-event-loop", 0.2)
      assert.strictEqual(yield* direct.exited, 0, direct.output())
      const advertising = yield* Libvirt.python(uri, "keepalive", 1.5, 1, 2)
      assert.strictEqual(yield* advertising.exited, 0, advertising.output())
      assert.include(advertising.output(), "alive 1")
      assert.isTrue(events.some((e) => e._tag === "Opened" && e.advertised))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 30_000)

  it.live(
    `a frozen (SIGSTOP) virsh is dropped after C PINGs, between C·I and (C+1)·I = ${(C + 1) * I} ms after the SIGSTOP, and its upstream connection closed`,
    () =>
      Effect.gen(function*() {
        const { daemon, uri, events, ended } = yield* proxied()
        // interactive virsh: it stays connected while its stdin is open
        const shell = yield* Libvirt.spawnScoped("virsh", ["-c", uri])
        assert.isTrue(yield* waitUntil(() => events.some((e) => e._tag === "Opened"), 5000))
        assert.strictEqual(Attack.heldOnPort(daemon.port), 1)
        yield* Effect.sleep("300 millis")
        yield* shell.signal("SIGSTOP")
        const stoppedAt = performance.now()
        assert.isTrue(yield* waitUntil(() => ended().length === 1, 6000))
        const elapsed = performance.now() - stoppedAt
        const end = ended()[0]!
        assert.strictEqual(end.by, "client")
        assert.strictEqual(end.error?._tag, "KeepaliveTimeout")
        if (end.error?._tag !== "KeepaliveTimeout") return
        assert.strictEqual(end.error.pingsSent, C)
        // the observation polls: up to one poll late
        Libvirt.assertClosedAfterFault("proxy vs a SIGSTOP'd virsh", elapsed, I, C, 150)
        assert.isTrue(yield* waitUntil(() => Attack.heldOnPort(daemon.port) === 0, 2000), "the upstream connection is closed")
        yield* shell.signal("SIGCONT")
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)),
    30_000
  )

  it.live("a frozen daemon is declared dead on the upstream leg; virsh gets libvirt's keepalive error through the close event", () =>
    Effect.gen(function*() {
      const { daemon, uri, events, ended } = yield* proxied()
      const shell = yield* Libvirt.spawnScoped("virsh", ["-c", uri])
      assert.isTrue(yield* waitUntil(() => events.some((e) => e._tag === "Opened"), 5000))
      yield* Effect.sleep("500 millis")
      yield* daemon.child.signal("SIGSTOP")
      assert.isTrue(yield* waitUntil(() => ended().length === 1, 6000))
      const end = ended()[0]!
      assert.strictEqual(end.by, "upstream")
      assert.strictEqual(end.error?._tag, "KeepaliveTimeout")
      yield* shell.waitFor("due to keepalive timeout", 3000)
      assert.include(shell.output(), `Disconnected from ${uri} due to keepalive timeout`)
      yield* daemon.child.signal("SIGCONT")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 30_000)

  it.live("hostile peers against the proxy: each is closed or contained, and libvirtd behind it is unharmed", () =>
    Effect.gen(function*() {
      const { daemon, port, uri, ended } = yield* proxied()
      const attacks = Effect.promise(async () => {
        // floods of every frame kind, before and after the handshake
        const floods: Array<Attack.FloodResult> = []
        for (const handshake of [false, true]) {
          floods.push(...await Promise.all(Attack.FLOOD_KINDS.map((kind) => Attack.flood(port, { kind, handshake, durationMs: 1500 }))))
        }
        // slowloris: partial frames held open
        const partial = await Attack.holdPartial(port, 50, Attack.partialFrame(1024, 100))
        // a call flood past the open, never reading the replies: relayed to the daemon only as fast as it answers
        const stuffed = await Attack.connect(port, { keepFrames: 16 })
        await Attack.handshake(stuffed, true)
        stuffed.socket.pause()
        const hostname = Frame.encode(Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectGetHostname, 9)))
        stuffed.socket.write(Attack.repeated(hostname, STUFFED_CALLS * hostname.length))
        const storm = await Attack.storm(port, 300)
        return { floods, partial, stuffed, storm }
      })
      const { floods, partial, stuffed, storm } = yield* attacks
      // keepalive floods break the frame policing and are closed; a call flood is answered by the proxy itself
      // (AUTH_LIST) at whatever rate the flooder reads, and closed only when that rate exceeds the policing
      for (const f of floods) if (f.kind !== "call") assert.isDefined(f.closure, `${f.kind} flood (handshake ${f.handshake}) was not closed`)
      assert.isAtLeast(storm.opened, 290)
      // while the attackers still hold their sockets, the proxy serves virsh and the daemon holds at most one
      // connection per opened attacker
      const through = yield* output(uri, ["hostname"])
      assert.strictEqual(through.code, 0, through.text)
      assert.isAtMost(Attack.heldOnPort(daemon.port), 2)
      // the caller that never reads: its calls reach libvirtd at most max_client_requests at a time; once they are
      // relayed (or its replies fill our output and we stop reading it) it is silent, and dropped (C+1)·I later
      // (the attacker's paused socket cannot see the close: we look at the proxy's side)
      assert.isTrue(yield* waitUntil(() => ended().some((e) => e.relayed.up >= STUFFED_CALLS / 2), 20_000))
      assert.isFalse(Attack.serverHolds(port, stuffed.localPort))
      stuffed.destroy()
      const stuffedEnd = ended().find((e) => e.relayed.up >= STUFFED_CALLS / 2)
      assert.isDefined(stuffedEnd)
      assert.strictEqual(stuffedEnd?.error?._tag, "KeepaliveTimeout")
      for (const p of partial) p.destroy()
      assert.isTrue(yield* waitUntil(() => Attack.heldOnPort(daemon.port) === 0, 3000), "every upstream connection is closed")
      // libvirtd unharmed: still running, answers directly and through the proxy
      assert.isNull(daemon.child.process.exitCode)
      const direct = yield* output(daemon.uri, ["list", "--all"])
      const again = yield* output(uri, ["list", "--all"])
      assert.strictEqual(direct.code, 0, direct.text)
      assert.strictEqual(again.code, 0, again.text)
      assert.strictEqual(again.text, direct.text)
      const opened = ended().filter((e) => e.relayed.up > 0)
      console.log(`hostile peers vs the proxy: ${
        floods.filter((f) => f.closure !== undefined).length
      } of ${floods.length} floods closed, ${partial.length} slowloris held, ${storm.opened} storm connections; ${ended().length} connections ended, ${opened.length} of them relayed to libvirtd; the never-reader relayed ${stuffedEnd?.relayed.up} calls up and ${stuffedEnd?.relayed.down} replies down before it was dropped (${stuffedEnd?.reason}); libvirtd holds ${
        Attack.heldOnPort(daemon.port)
      } sockets afterwards`)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)
})
