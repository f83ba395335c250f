/**
 * The typed procedures against the real libvirtd 9.0 (test driver): every declared call round trips and agrees
 * with libvirt-python and virsh; lifecycle events arrive in order as a Stream; close reasons; and Wireshark's
 * libvirt dissector decodes our session without a malformed packet.
 */
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Fiber, Queue, Stream } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import * as Libvirt from "../../src/runtime/Libvirt.ts"
import type * as Trace from "../../src/trace/Trace.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Procedures from "../../src/wire/Procedures.ts"
import * as Pcap from "../helpers/Pcap.ts"
import * as Daemon from "./Libvirt.ts"

beforeAll(() => Daemon.requirePackages())

const FACTS = Path.join(import.meta.dirname, "python", "facts.py")

/** libvirt-python's view of the daemon (see python/facts.py). */
const facts = (uri: string, domain = "test") => {
  const run = spawnSync(Daemon.PYTHON, [FACTS, uri, domain], { encoding: "utf8" })
  if (run.status !== 0) throw new Error(`facts.py failed: ${run.stderr}`)
  return JSON.parse(run.stdout)
}

/** virsh's answer, trimmed. */
const virsh = (uri: string, ...args: Array<string>): string => {
  const run = spawnSync("virsh", ["-c", uri, ...args], { encoding: "utf8" })
  if (run.status !== 0) throw new Error(`virsh ${args.join(" ")} failed: ${run.stderr}`)
  return run.stdout.trim()
}

const connected = Effect.gen(function*() {
  const daemon = yield* Daemon.startLibvirtd({ interval: 5, count: 5 })
  const traffic: Array<Trace.TraceEvent> = []
  const socket = yield* Transport.tcp({ host: "127.0.0.1", port: daemon.port })
  const client = yield* Client.connect(socket, { name: "test:///default", trace: (e) => void traffic.push(e) })
  const libvirt = yield* Libvirt.make(client)
  return { daemon, client, libvirt, traffic }
})

const NEW_DOMAIN = `<domain type='test'><name>typed</name><memory>8192</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>`
const TRANSIENT = NEW_DOMAIN.replace("typed", "transient")

describe("typed procedures against libvirtd 9.0", () => {
  it.live("the connection: every answer agrees with libvirt-python and virsh", () =>
    Effect.gen(function*() {
      const { daemon, libvirt } = yield* connected
      const python = facts(daemon.uri)
      assert.strictEqual((yield* libvirt.connectGetHostname()).hostname, python.hostname)
      assert.strictEqual((yield* libvirt.connectGetHostname()).hostname, virsh(daemon.uri, "hostname"))
      assert.strictEqual((yield* libvirt.connectGetType()).type, python.type)
      assert.strictEqual((yield* libvirt.connectGetVersion()).hvVer, BigInt(python.version))
      assert.strictEqual((yield* libvirt.connectGetLibVersion()).libVer, BigInt(python.libVersion))
      assert.strictEqual((yield* libvirt.connectGetLibVersion()).libVer, 9_000_000n)
      assert.strictEqual((yield* libvirt.connectGetUri()).uri, "test:///default")
      // the daemon's own answer (the test driver: secure); libvirt-python's also weighs the transport (plain TCP: not)
      assert.strictEqual((yield* libvirt.connectIsSecure()).secure, 1)
      assert.strictEqual(python.secure, 0)
      assert.strictEqual((yield* libvirt.connectGetCapabilities()).capabilities, python.capabilities)
      const node = yield* libvirt.nodeGetInfo()
      const [model, memoryMiB, cpus, mhz, nodes, sockets, cores, threads] = python.nodeInfo
      assert.deepStrictEqual(
        [node.model, Number(node.memory / 1024n), node.cpus, node.mhz, node.nodes, node.sockets, node.cores, node.threads],
        [model, memoryMiB, cpus, mhz, nodes, sockets, cores, threads]
      )
      assert.strictEqual((yield* libvirt.connectNumOfDomains()).num, python.numOfDomains)
      assert.isTrue(yield* libvirt.isAlive)
    }).pipe(Effect.scoped))

  it.live("domains, networks and storage pools: lists, lookups, info, state and XML agree with libvirt-python", () =>
    Effect.gen(function*() {
      const { daemon, libvirt } = yield* connected
      const python = facts(daemon.uri)
      const all = yield* libvirt.connectListAllDomains({ needResults: 1, flags: 0 })
      assert.deepStrictEqual(all.domains.map((d) => [d.name, d.uuid, d.id]).sort(), python.domains)
      assert.strictEqual(all.ret, python.domains.length)
      const active = yield* libvirt.connectListAllDomains({ needResults: 1, flags: Procedures.ListAllDomainsFlags.Active })
      assert.deepStrictEqual(active.domains.map((d) => d.name).sort(), python.activeDomains)
      const nets = yield* libvirt.connectListAllNetworks({ needResults: 1, flags: 0 })
      assert.deepStrictEqual(nets.nets.map((n) => [n.name, n.uuid]).sort(), python.networks)
      const pools = yield* libvirt.connectListAllStoragePools({ needResults: 1, flags: 0 })
      assert.deepStrictEqual(pools.pools.map((p) => [p.name, p.uuid]).sort(), python.pools)
      assert.deepStrictEqual((yield* libvirt.networkLookupByName({ name: nets.nets[0]!.name })).net, nets.nets[0])
      assert.deepStrictEqual((yield* libvirt.storagePoolLookupByName({ name: pools.pools[0]!.name })).pool, pools.pools[0])

      const { dom } = yield* libvirt.domainLookupByName({ name: "test" })
      assert.deepStrictEqual([dom.name, dom.uuid, dom.id], ["test", python.domain.uuid, python.domain.id])
      assert.strictEqual(dom.uuid, virsh(daemon.uri, "domuuid", "test"))
      assert.deepStrictEqual((yield* libvirt.domainLookupByUuid({ uuid: dom.uuid })).dom, dom)
      assert.deepStrictEqual((yield* libvirt.domainLookupById({ id: dom.id })).dom, dom)
      const info = yield* libvirt.domainGetInfo({ dom })
      assert.deepStrictEqual([info.state, Number(info.maxMem), Number(info.memory), info.nrVirtCpu], python.domain.info)
      const state = yield* libvirt.domainGetState({ dom, flags: 0 })
      assert.deepStrictEqual([state.state, state.reason], python.domain.state)
      assert.strictEqual(state.state, Procedures.DomainState.Running)
      assert.strictEqual((yield* libvirt.domainGetXmlDesc({ dom, flags: 0 })).xml, python.domain.xml)
      assert.strictEqual((yield* libvirt.domainIsActive({ dom })).active, python.domain.active)
      assert.strictEqual((yield* libvirt.domainIsPersistent({ dom })).persistent, python.domain.persistent)
      const missing = yield* Effect.flip(libvirt.domainLookupByName({ name: "no-such-domain" }))
      assert.strictEqual(missing._tag, "RemoteCallError")
    }).pipe(Effect.scoped))

  it.live("start, suspend, resume, destroy of the test domain: lifecycle events in order, states as virsh sees them", () =>
    Effect.gen(function*() {
      const { daemon, libvirt } = yield* connected
      const { dom } = yield* libvirt.domainLookupByName({ name: "test" })
      const seen = yield* Queue.unbounded<Libvirt.LifecycleEvent>()
      const others = yield* (yield* libvirt.registerDomainEvents()).pipe(Stream.take(4), Stream.runCollect, Effect.forkScoped)
      yield* (yield* libvirt.registerDomainEvents({ domain: dom })).pipe(Stream.runForEach((e) => Queue.offer(seen, e)), Effect.forkScoped)
      const next = Effect.map(Queue.take(seen), (e) => [e.domain.name, e.type, e.detail])
      yield* libvirt.domainSuspend({ dom })
      assert.deepStrictEqual(yield* next, ["test", "Suspended", 0])
      assert.strictEqual(virsh(daemon.uri, "domstate", "test"), "paused")
      yield* libvirt.domainResume({ dom })
      assert.deepStrictEqual(yield* next, ["test", "Resumed", 0])
      assert.strictEqual(virsh(daemon.uri, "domstate", "test"), "running")
      yield* libvirt.domainDestroy({ dom })
      assert.deepStrictEqual(yield* next, ["test", "Stopped", 1])
      assert.strictEqual(virsh(daemon.uri, "domstate", "test"), "shut off")
      const stopped = (yield* libvirt.domainLookupByName({ name: "test" })).dom
      assert.strictEqual(stopped.id, -1)
      yield* libvirt.domainCreate({ dom: stopped })
      assert.deepStrictEqual(yield* next, ["test", "Started", 0])
      assert.strictEqual((yield* libvirt.domainGetState({ dom: stopped, flags: 0 })).state, Procedures.DomainState.Running)
      // a subscription to every domain saw the same four, in the same order
      assert.deepStrictEqual((yield* Fiber.join(others)).map((e) => e.type), ["Suspended", "Resumed", "Stopped", "Started"])
    }).pipe(Effect.scoped))

  it.live("define, create, reboot, shutdown, undefine, and a transient domain: every call and its events", () =>
    Effect.gen(function*() {
      const { daemon, libvirt } = yield* connected
      const seen = yield* Queue.unbounded<Libvirt.LifecycleEvent>()
      yield* (yield* libvirt.registerDomainEvents()).pipe(Stream.runForEach((e) => Queue.offer(seen, e)), Effect.forkScoped)
      const next = Effect.map(Queue.take(seen), (e) => `${e.domain.name} ${e.type} ${e.detail}`).pipe(Effect.timeout("10 seconds"))
      const { dom } = yield* libvirt.domainDefineXml({ xml: NEW_DOMAIN })
      assert.strictEqual(dom.name, "typed")
      assert.strictEqual(yield* next, "typed Defined 0")
      assert.include(virsh(daemon.uri, "list", "--all", "--name"), "typed")
      const started = (yield* libvirt.domainCreateWithFlags({ dom, flags: 0 })).dom
      assert.isAbove(started.id, 0)
      assert.strictEqual(yield* next, "typed Started 0")
      // the test driver reboots at once, with no lifecycle event; a shutdown is one event, stopped (shutdown)
      yield* libvirt.domainReboot({ dom: started, flags: 0 })
      assert.strictEqual((yield* libvirt.domainGetState({ dom, flags: 0 })).state, Procedures.DomainState.Running)
      yield* libvirt.domainShutdown({ dom: started })
      assert.strictEqual(yield* next, "typed Stopped 0")
      assert.strictEqual(virsh(daemon.uri, "domstate", "typed"), "shut off")
      yield* libvirt.domainCreate({ dom })
      assert.strictEqual(yield* next, "typed Started 0")
      yield* libvirt.domainShutdownFlags({ dom, flags: 0 })
      assert.strictEqual(yield* next, "typed Stopped 0")
      yield* libvirt.domainCreate({ dom })
      assert.strictEqual(yield* next, "typed Started 0")
      yield* libvirt.domainDestroyFlags({ dom, flags: 0 })
      assert.strictEqual(yield* next, "typed Stopped 1")
      yield* libvirt.domainUndefine({ dom })
      assert.strictEqual(yield* next, "typed Undefined 0")
      const redefined = (yield* libvirt.domainDefineXmlFlags({ xml: NEW_DOMAIN, flags: 0 })).dom
      assert.strictEqual(yield* next, "typed Defined 0")
      yield* libvirt.domainUndefineFlags({ dom: redefined, flags: 0 })
      assert.strictEqual(yield* next, "typed Undefined 0")
      assert.notInclude(virsh(daemon.uri, "list", "--all", "--name"), "typed")
      const transient = (yield* libvirt.domainCreateXml({ xmlDesc: TRANSIENT, flags: 0 })).dom
      assert.strictEqual(yield* next, "transient Started 0")
      assert.strictEqual((yield* libvirt.domainIsPersistent({ dom: transient })).persistent, 0)
      yield* libvirt.domainDestroy({ dom: transient })
      assert.strictEqual(yield* next, "transient Stopped 1")
    }).pipe(Effect.scoped))

  it.live("close callback: registered and unregistered; the daemon's end is the close reason Eof", () =>
    Effect.gen(function*() {
      const { daemon, libvirt } = yield* connected
      yield* libvirt.connectRegisterCloseCallback()
      yield* libvirt.connectUnregisterCloseCallback()
      // a callback registered and deregistered by hand; a second deregistration is refused
      const { callbackId } = yield* libvirt.connectDomainEventCallbackRegisterAny({ eventId: Procedures.DomainEventId.Lifecycle })
      yield* libvirt.connectDomainEventCallbackDeregisterAny({ callbackId })
      const again = yield* Effect.flip(libvirt.connectDomainEventCallbackDeregisterAny({ callbackId }))
      assert.strictEqual(again._tag, "RemoteCallError")
      const reasons = yield* (yield* libvirt.registerCloseEvents()).pipe(Stream.runCollect, Effect.forkScoped)
      const lifecycle = yield* (yield* libvirt.registerDomainEvents()).pipe(Stream.runCollect, Effect.forkScoped)
      yield* daemon.child.signal("SIGTERM")
      assert.deepStrictEqual(yield* Fiber.join(reasons), [{ reason: "Eof", code: Procedures.CloseReason.Eof, source: "connection" }])
      assert.deepStrictEqual(yield* Fiber.join(lifecycle), [])
      assert.isFalse(yield* libvirt.isAlive)
    }).pipe(Effect.scoped))

  it.live("Wireshark's libvirt dissector names every procedure of our session and finds nothing malformed", () =>
    Effect.gen(function*() {
      const { libvirt, traffic } = yield* connected
      const { dom } = yield* libvirt.domainLookupByName({ name: "test" })
      const events = yield* (yield* libvirt.registerDomainEvents({ domain: dom })).pipe(Stream.take(2), Stream.runCollect, Effect.forkScoped)
      yield* libvirt.connectGetHostname()
      yield* libvirt.connectListAllDomains({ needResults: 1, flags: 0 })
      yield* libvirt.domainGetInfo({ dom })
      yield* libvirt.domainGetState({ dom, flags: 0 })
      yield* libvirt.nodeGetInfo()
      yield* libvirt.domainSuspend({ dom })
      yield* libvirt.domainResume({ dom })
      yield* Fiber.join(events)
      const segments = traffic.flatMap((e): Array<Pcap.Segment> =>
        e.kind === "transmit" ? [{ fromClient: true, frame: e.frame }] : e.kind === "receive" ? [{ fromClient: false, frame: e.frame }] : []
      )
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "pcap-"))
      const file = Path.join(dir, "session.pcap")
      Fs.writeFileSync(file, Pcap.pcap(segments))
      const run = spawnSync("tshark", ["-r", file, "-V", "-Y", "libvirt"], { encoding: "utf8" })
      const malformed = spawnSync("tshark", ["-r", file, "-Y", "_ws.malformed || _ws.expert.severity >= error"], { encoding: "utf8" })
      assert.strictEqual(run.status, 0, run.stderr)
      // the dissector reads our payloads too: the domain's name in DOMAIN_LOOKUP_BY_NAME's reply
      const names = spawnSync("tshark", ["-r", file, "-T", "fields", "-e", "libvirt.remote_nonnull_domain.name", "-Y", "libvirt.procedure == 23"], {
        encoding: "utf8"
      })
      Fs.rmSync(dir, { recursive: true, force: true })
      assert.include(names.stdout.split("\n").map((l) => l.trim()), "test")
      assert.strictEqual(malformed.stdout.trim(), "", "no malformed packet")
      const named = new Set([...run.stdout.matchAll(/procedure: ([A-Z_0-9]+) \((\d+)\)/g)].map((m) => `${m[1]} ${m[2]}`))
      for (
        const expected of [
          "DOMAIN_LOOKUP_BY_NAME 23",
          "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY 316",
          "CONNECT_GET_HOSTNAME 59",
          "CONNECT_LIST_ALL_DOMAINS 273",
          "DOMAIN_GET_INFO 16",
          "DOMAIN_GET_STATE 212",
          "NODE_GET_INFO 6",
          "DOMAIN_SUSPEND 34",
          "DOMAIN_RESUME 28",
          "DOMAIN_EVENT_CALLBACK_LIFECYCLE 318"
        ]
      ) assert.isTrue(named.has(expected), `tshark names ${expected}: ${[...named].join(", ")}`)
      // our names agree with the dissector's for every declared procedure it showed
      for (const entry of named) {
        const [name, number] = entry.split(" ")
        const ours = Procedures.nameOf(Number(number))
        if (ours !== undefined) assert.strictEqual(ours.toUpperCase(), name)
      }
    }).pipe(Effect.scoped))
})
