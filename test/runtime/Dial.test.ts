import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Result } from "effect"
import { NodeServices } from "@effect/platform-node"
import * as Socket from "effect/socket/Socket"
import * as Certificates from "../../src/runtime/Certificates.ts"
import * as ChildSocket from "../../src/runtime/ChildSocket.ts"
import * as ConnectionError from "../../src/runtime/ConnectionError.ts"
import * as Dial from "../../src/runtime/Dial.ts"
import * as DialError from "../../src/runtime/DialError.ts"
import * as TlsCheck from "../../src/runtime/TlsCheck.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Uri from "../../src/runtime/Uri.ts"

const uri = (text: string) => Result.getOrThrow(Uri.parse(text))

/** Reads until the peer closes; the text read, or the error that ended it. */
const readAll = (socket: Socket.Socket) =>
  Effect.gen(function*() {
    const { pull } = yield* socket.reader
    let text = ""
    while (true) {
      const chunks = yield* pull.pipe(Effect.catchReason("SocketError", "SocketCloseError", () => Effect.succeed(undefined)))
      if (chunks === undefined) return text
      for (const c of chunks) text += typeof c === "string" ? c : new TextDecoder().decode(c)
    }
  }).pipe(Effect.scoped)

describe("Certificates: where libvirt's client looks for its certificates", () => {
  it("pkipath only, when given", () => {
    assert.deepStrictEqual(Certificates.certificatePaths(uri("qemu+tls://h/system?pkipath=/p"), { home: "/home/u", root: false }), {
      ca: ["/p/cacert.pem"],
      cert: ["/p/clientcert.pem"],
      key: ["/p/clientkey.pem"]
    })
  })

  it("a user: ~/.pki/libvirt first, then the system files; root: the system files", () => {
    assert.deepStrictEqual(Certificates.certificatePaths(uri("qemu://h/system"), { home: "/home/u", root: false }), {
      ca: ["/home/u/.pki/libvirt/cacert.pem", "/etc/pki/CA/cacert.pem"],
      cert: ["/home/u/.pki/libvirt/clientcert.pem", "/etc/pki/libvirt/clientcert.pem"],
      key: ["/home/u/.pki/libvirt/clientkey.pem", "/etc/pki/libvirt/private/clientkey.pem"]
    })
    assert.deepStrictEqual(Certificates.certificatePaths(uri("qemu://h/system"), { home: "/root", root: true }).ca, ["/etc/pki/CA/cacert.pem"])
  })

  it.effect("no CA anywhere: CertificateNotFound naming every place searched", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Certificates.loadCredentials(uri("qemu+tls://h/system"), { home: "/nonexistent-home", root: false }))
      assert.strictEqual(error._tag, "CertificateNotFound")
      assert.include(error.message, "/nonexistent-home/.pki/libvirt/cacert.pem")
      assert.include(error.message, "/etc/pki/CA/cacert.pem")
    }).pipe(Effect.provide(NodeServices.layer)))
})

describe("TlsCheck: libvirt's TLS check byte", () => {
  it.effect("a 1 lets the connection go on, and bytes that came with it are kept", () =>
    Effect.gen(function*() {
      const link = yield* Transport.memoryPair
      const checked = TlsCheck.expectCheckByte(link.left, "server:1")
      yield* Effect.scoped(Effect.gen(function*() {
        const w = yield* link.right.writer
        yield* w.write(new Uint8Array([1, 0x68, 0x69]))
        yield* w.write("!")
      }))
      assert.strictEqual(yield* readAll(checked), "hi!")
    }))

  it.effect("anything else is CertificateRefused, as an open error", () =>
    Effect.gen(function*() {
      const link = yield* Transport.memoryPair
      yield* Effect.scoped(Effect.flatMap(link.right.writer, (w) => w.write(new Uint8Array([0]))))
      const error = yield* Effect.flip(Effect.scoped(TlsCheck.expectCheckByte(link.left, "server:1").reader))
      assert.strictEqual(error.reason._tag, "SocketOpenError")
      const cause = error.reason._tag === "SocketOpenError" ? error.reason.cause : undefined
      assert.instanceOf(cause, DialError.CertificateRefused)
      assert.include(String((cause as Error).message), "server:1")
    }))
})

describe("ChildSocket: a program's stdio as a socket", () => {
  it.live("what we write comes back from cat; closing stdin ends it cleanly", () =>
    Effect.gen(function*() {
      const socket = yield* ChildSocket.fromProcess("cat", [])
      const reading = yield* readAll(socket).pipe(Effect.forkScoped)
      yield* Effect.scoped(Effect.gen(function*() {
        const w = yield* socket.writer
        yield* w.write("hello ")
        yield* w.writeAll([new TextEncoder().encode("world")])
      }))
      assert.strictEqual(yield* Fiber.join(reading), "hello world")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("a program that fails: ProcessFailed with its exit code and stderr", () =>
    Effect.gen(function*() {
      const socket = yield* ChildSocket.fromProcess("sh", ["-c", "echo 'no route to the daemon' >&2; exit 3"])
      const error = yield* Effect.flip(readAll(socket))
      const cause = error.reason._tag === "SocketReadError" ? error.reason.cause : undefined
      assert.instanceOf(cause, DialError.ProcessFailed)
      assert.include(String((cause as Error).message), "exited with code 3: no route to the daemon")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})

describe("DialError: a connection that failed to open, explained", () => {
  const open = (cause: unknown, kind: "Unknown" | "Timeout" = "Unknown") =>
    new ConnectionError.SocketFailure({ cause: new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind, cause }) }) })
  const tls = { address: "host:16514", tls: { host: "host", ca: "/p/cacert.pem" } }
  const tcp = { address: "host:16509", tls: undefined }
  const tagged = (code: string) => Object.assign(new Error(code.toLowerCase()), { code })

  it("by Node's code: an untrusted, expired or mismatched certificate, another TLS failure, a refused address", () => {
    const table: ReadonlyArray<[DialError.DialTarget, unknown, string]> = [
      [tls, tagged("SELF_SIGNED_CERT_IN_CHAIN"), "UntrustedCertificate"],
      [tls, tagged("CERT_HAS_EXPIRED"), "ExpiredCertificate"],
      [tls, tagged("ERR_TLS_CERT_ALTNAME_INVALID"), "HostnameMismatch"],
      [tls, tagged("ERR_SSL_WRONG_VERSION_NUMBER"), "TlsFailure"],
      [tls, tagged("ECONNREFUSED"), "ConnectFailed"],
      [tcp, tagged("CERT_HAS_EXPIRED"), "ConnectFailed"],
      [tcp, "no code at all", "ConnectFailed"]
    ]
    for (const [target, cause, tag] of table) {
      const explained = DialError.explain(target)(open(cause))
      assert.strictEqual(explained._tag, tag, `${JSON.stringify(target)} ${String(cause)}`)
      assert.include((explained as Error).message, target.address)
    }
  })

  it("a transport's own reason is taken out as it is; a timeout is ETIMEDOUT; other errors pass unchanged", () => {
    const refused = new DialError.CertificateRefused({ address: "host:16514", detail: "the check byte was 0, not 1" })
    assert.strictEqual(DialError.explain(tls)(open(refused)), refused)
    const timedOut = DialError.explain(tcp)(open(undefined, "Timeout"))
    assert.instanceOf(timedOut, DialError.ConnectFailed)
    assert.strictEqual((timedOut as DialError.ConnectFailed).code, "ETIMEDOUT")
    const failed = new DialError.ProcessFailed({ command: "ssh host", exitCode: 255, stderr: "" })
    const read = new ConnectionError.SocketFailure({ cause: new Socket.SocketError({ reason: new Socket.SocketReadError({ cause: failed }) }) })
    assert.strictEqual(DialError.explain(tcp)(read), failed)
    const other = new ConnectionError.PeerClosed({ midFrame: false, buffered: 0 })
    assert.strictEqual(DialError.explain(tcp)(other), other)
  })

  it("a ConnectFailed names the address as the URI names it", () => {
    const resolved = new DialError.ConnectFailed({ address: "10.0.0.1:16509", code: "ECONNREFUSED", detail: "refused" })
    const explained = DialError.explain(tcp)(resolved)
    assert.instanceOf(explained, DialError.ConnectFailed)
    assert.deepInclude(explained, { address: "host:16509", code: "ECONNREFUSED" })
  })
})

describe("Dial: the names it has always exported", () => {
  it("re-exports the errors, the certificate search, the check byte and the program socket", () => {
    assert.strictEqual(Dial.CertificateRefused, DialError.CertificateRefused)
    assert.strictEqual(Dial.ConnectFailed, ConnectionError.ConnectFailed)
    assert.strictEqual(Dial.certificatePaths, Certificates.certificatePaths)
    assert.strictEqual(Dial.loadCredentials, Certificates.loadCredentials)
    assert.strictEqual(Dial.CHECK_BYTE, TlsCheck.CHECK_BYTE)
    assert.strictEqual(Dial.expectCheckByte, TlsCheck.expectCheckByte)
    assert.strictEqual(Dial.fromProcess, ChildSocket.fromProcess)
  })
})
