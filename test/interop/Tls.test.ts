import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { NodeServices } from "@effect/platform-node"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Connection from "../../src/runtime/Connection.ts"
import * as Dial from "../../src/runtime/Dial.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as TlsServer from "../../src/runtime/TlsServer.ts"
import type * as Trace from "../../src/trace/Trace.ts"
import * as Libvirt from "./Libvirt.ts"
import * as Pki from "./Pki.ts"

beforeAll(() => Libvirt.requirePackages())

/** A libvirtd listening for TLS on a free port with the test PKI (keepalive 1 s × 2). */
const tlsDaemon = Effect.gen(function*() {
  const pki = yield* Pki.makePki
  const tlsPort = yield* Libvirt.freePort
  const daemon = yield* Libvirt.startLibvirtd({ interval: 1, count: 2, tls: { port: tlsPort, dir: pki.server } })
  return { pki, daemon, tlsPort, uri: (pkipath: string, host = "127.0.0.1") => `test+tls://${host}:${tlsPort}/default?pkipath=${pkipath}` }
})

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error : undefined

describe("TLS (x509) against a real libvirtd 9.0", () => {
  it.live("handshake, calls and keepalive both ways over TLS; CONNECT_CLOSE at the end", () =>
    Effect.gen(function*() {
      const { pki, uri } = yield* tlsDaemon
      const traffic: Array<Trace.TraceEvent> = []
      const client = yield* Dial.connect(uri(pki.client), { trace: (e) => void traffic.push(e) })
      assert.isTrue(client.serverKeepalive)
      const hostname = yield* client.call(Remote.RemoteProc.ConnectGetHostname)
      assert.isAbove(hostname.payload.length, 4)
      yield* Effect.sleep("2500 millis") // libvirtd (1 s) pings us while we are idle
      assert.strictEqual(yield* client.setKeepAlive(300, 2), "started")
      yield* Effect.sleep("1 second")
      const count = (kind: "transmit" | "receive", proc: number) =>
        traffic.filter((e) => e.kind === kind && Frame.isKeepalive(e.frame.header) && e.frame.header.proc === proc).length
      assert.isAtLeast(count("receive", Frame.KeepaliveProc.Ping), 2)
      assert.strictEqual(count("transmit", Frame.KeepaliveProc.Pong), count("receive", Frame.KeepaliveProc.Ping))
      assert.isAtLeast(count("transmit", Frame.KeepaliveProc.Ping), 3)
      assert.isAtLeast(count("receive", Frame.KeepaliveProc.Pong), count("transmit", Frame.KeepaliveProc.Ping) - 1)
      assert.isUndefined(yield* client.close)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 30_000)

  it.live(
    "declares a SIGSTOP'd libvirtd dead over TLS after its C PINGs go unanswered (I=500 ms, C=2), between C·I and (C+1)·I after the SIGSTOP",
    () =>
      Effect.gen(function*() {
        const { pki, uri, daemon } = yield* tlsDaemon
        const client = yield* Dial.connect(uri(pki.client))
        yield* client.setKeepAlive(500, 2)
        yield* Effect.sleep("1200 millis")
        yield* daemon.child.signal("SIGSTOP")
        const stoppedAt = performance.now()
        const end = yield* Effect.exit(client.closed)
        const elapsed = performance.now() - stoppedAt
        const error = failureOf(end)
        assert.instanceOf(error, Connection.KeepaliveTimeout)
        if (!(error instanceof Connection.KeepaliveTimeout)) return
        assert.strictEqual(error.pingsSent, 2)
        Libvirt.assertClosedAfterFault("TLS: our client vs a SIGSTOP'd libvirtd", elapsed, 500, 2)
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)),
    30_000
  )

  it.live("without pkipath the certificates are found in ~/.pki/libvirt, where libvirt's client looks", () =>
    Effect.gen(function*() {
      const { pki, tlsPort } = yield* tlsDaemon
      const home = Path.join(pki.root, "home")
      Fs.mkdirSync(Path.join(home, ".pki"), { recursive: true })
      Fs.cpSync(pki.client, Path.join(home, ".pki", "libvirt"), { recursive: true })
      const client = yield* Dial.connect(`test+tls://127.0.0.1:${tlsPort}/default`, { pki: { home, root: false } })
      assert.isTrue(client.serverKeepalive)
      assert.isUndefined(yield* client.close)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("nothing listening: ConnectFailed with the address and ECONNREFUSED", () =>
    Effect.gen(function*() {
      const pki = yield* Pki.makePki
      const port = yield* Libvirt.freePort
      const error = yield* Effect.flip(Dial.connect(`test+tls://127.0.0.1:${port}/default?pkipath=${pki.client}`))
      assert.strictEqual(error._tag, "ConnectFailed")
      assert.include(error.message, `127.0.0.1:${port}`)
      assert.include(error.message, "ECONNREFUSED")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})

/**
 * A server with the certificate in `serverDir`: libvirtd where it starts with it, our TLS server where libvirtd
 * refuses to start (an expired certificate).
 */
const serverWith = (kind: "libvirtd" | "ours", serverDir: string) =>
  kind === "ours"
    ? Effect.map(TlsServer.listen({ host: "127.0.0.1", port: 0, pkipath: serverDir }), (l) => l.port)
    : Effect.gen(function*() {
      const port = yield* Libvirt.freePort
      yield* Libvirt.startLibvirtd({ interval: 1, count: 2, tls: { port, dir: serverDir } })
      return port
    })

const certificateCases: ReadonlyArray<{
  readonly name: string
  readonly server: "libvirtd" | "ours"
  readonly serverDir: (pki: Pki.Pki) => string
  readonly clientDir: (pki: Pki.Pki) => string
  readonly tag: Dial.DialError["_tag"]
  readonly mentions: ReadonlyArray<string>
}> = [
  {
    name: "a CA that did not sign libvirtd's certificate",
    server: "libvirtd",
    serverDir: (p) => p.server,
    clientDir: (p) => p.otherCaClient,
    tag: "UntrustedCertificate",
    mentions: ["other-client/cacert.pem"]
  },
  {
    name: "a libvirtd certificate for another host name",
    server: "libvirtd",
    serverDir: (p) => p.wrongHostServer,
    clientDir: (p) => p.client,
    tag: "HostnameMismatch",
    mentions: [`"127.0.0.1"`]
  },
  {
    name: "our client certificate from another CA (libvirtd closes without the check byte)",
    server: "libvirtd",
    serverDir: (p) => p.server,
    clientDir: (p) => p.foreignClient,
    tag: "CertificateRefused",
    mentions: ["before the check byte"]
  },
  {
    name: "the client's pkipath without clientkey.pem, before any I/O",
    server: "libvirtd",
    serverDir: (p) => p.server,
    clientDir: (p) => p.incompleteClient,
    tag: "CertificateNotFound",
    mentions: ["client key", "incomplete-client/clientkey.pem"]
  },
  {
    name: "an expired server certificate (our server: libvirtd will not start with one)",
    server: "ours",
    serverDir: (p) => p.expiredServer,
    clientDir: (p) => p.client,
    tag: "ExpiredCertificate",
    mentions: ["CERT_HAS_EXPIRED"]
  }
]

describe("TLS certificate problems are typed errors that say which", () => {
  for (const c of certificateCases) {
    it.live(`${c.name}: ${c.tag}`, () =>
      Effect.gen(function*() {
        const pki = yield* Pki.makePki
        const port = yield* serverWith(c.server, c.serverDir(pki))
        const error = yield* Effect.flip(Dial.connect(`test+tls://127.0.0.1:${port}/default?pkipath=${c.clientDir(pki)}`))
        assert.strictEqual(error._tag, c.tag, error.message)
        for (const m of [...c.mentions, ...(c.tag === "CertificateNotFound" ? [] : [`127.0.0.1:${port}`])]) assert.include(error.message, m)
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
  }

  it.live("no_verify=1 accepts the expired certificate, as libvirt's client does", () =>
    Effect.gen(function*() {
      const pki = yield* Pki.makePki
      const port = yield* serverWith("ours", pki.expiredServer)
      const client = yield* Dial.connect(`test+tls://127.0.0.1:${port}/default?pkipath=${pki.client}&no_verify=1`)
      assert.isTrue(client.serverKeepalive)
      assert.isUndefined(yield* client.close)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})

describe("virsh against our TLS server", () => {
  it.live("virsh -c test+tls://127.0.0.1:PORT/default?pkipath=DIR opens, and keepalive runs both ways over TLS", () =>
    Effect.gen(function*() {
      const pki = yield* Pki.makePki
      const traffic: Array<Trace.TraceEvent> = []
      const { port } = yield* TlsServer.listen({ host: "127.0.0.1", port: 0, pkipath: pki.server }, {
        keepalive: { interval: 300, count: 2, policy: "if-supported" },
        trace: (e) => void traffic.push(e)
      })
      const virsh = yield* Libvirt.virsh(`test+tls://127.0.0.1:${port}/default?pkipath=${pki.client}`, ["-k", "1", "-K", "2"])
      yield* virsh.waitFor("virsh #")
      yield* Effect.sleep("1500 millis")
      const count = (kind: "transmit" | "receive", proc: number) =>
        traffic.filter((e) => e.kind === kind && Frame.isKeepalive(e.frame.header) && e.frame.header.proc === proc).length
      const opened = traffic.some((e) =>
        e.kind === "receive" && e.frame.header.proc === Remote.RemoteProc.ConnectOpen && e.frame.header.prog === Remote.REMOTE_PROGRAM
      )
      assert.isTrue(opened)
      assert.isAtLeast(count("transmit", Frame.KeepaliveProc.Ping), 3)
      // every PING is answered, but for one that may be in flight as we count
      assert.isAtLeast(count("receive", Frame.KeepaliveProc.Pong), count("transmit", Frame.KeepaliveProc.Ping) - 1)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("virsh with a certificate from another CA does not connect to our server; virsh says why", () =>
    Effect.gen(function*() {
      const pki = yield* Pki.makePki
      const { port } = yield* TlsServer.listen({ host: "127.0.0.1", port: 0, pkipath: pki.server })
      const virsh = yield* Libvirt.virsh(`test+tls://127.0.0.1:${port}/default?pkipath=${pki.foreignClient}`, ["list"])
      const code = yield* virsh.exited.pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(code, 1)
      // libvirt's client checks its own certificate against the CA it trusts before it connects, and says which
      assert.include(virsh.output(), "error: failed to connect to the hypervisor")
      assert.include(virsh.output(), `Our own certificate ${pki.foreignClient}/clientcert.pem failed validation`)
      assert.include(virsh.output(), "The certificate hasn't got a known issuer")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
