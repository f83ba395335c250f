import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Result } from "effect"
import { NodeServices } from "@effect/platform-node"
import * as Socket from "effect/socket/Socket"
import * as Dial from "../../src/runtime/Dial.ts"
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

describe("Dial: where libvirt's client looks for its certificates", () => {
  it("pkipath only, when given", () => {
    assert.deepStrictEqual(Dial.certificatePaths(uri("qemu+tls://h/system?pkipath=/p"), { home: "/home/u", root: false }), {
      ca: ["/p/cacert.pem"],
      cert: ["/p/clientcert.pem"],
      key: ["/p/clientkey.pem"]
    })
  })

  it("a user: ~/.pki/libvirt first, then the system files; root: the system files", () => {
    assert.deepStrictEqual(Dial.certificatePaths(uri("qemu://h/system"), { home: "/home/u", root: false }), {
      ca: ["/home/u/.pki/libvirt/cacert.pem", "/etc/pki/CA/cacert.pem"],
      cert: ["/home/u/.pki/libvirt/clientcert.pem", "/etc/pki/libvirt/clientcert.pem"],
      key: ["/home/u/.pki/libvirt/clientkey.pem", "/etc/pki/libvirt/private/clientkey.pem"]
    })
    assert.deepStrictEqual(Dial.certificatePaths(uri("qemu://h/system"), { home: "/root", root: true }).ca, ["/etc/pki/CA/cacert.pem"])
  })

  it.effect("no CA anywhere: CertificateNotFound naming every place searched", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Dial.loadCredentials(uri("qemu+tls://h/system"), { home: "/nonexistent-home", root: false }))
      assert.strictEqual(error._tag, "CertificateNotFound")
      assert.include(error.message, "/nonexistent-home/.pki/libvirt/cacert.pem")
      assert.include(error.message, "/etc/pki/CA/cacert.pem")
    }).pipe(Effect.provide(NodeServices.layer)))
})

describe("Dial: libvirt's TLS check byte", () => {
  it.effect("a 1 lets the connection go on, and bytes that came with it are kept", () =>
    Effect.gen(function*() {
      const link = yield* Transport.memoryPair
      const checked = Dial.expectCheckByte(link.left, "server:1")
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
      const error = yield* Effect.flip(Effect.scoped(Dial.expectCheckByte(link.left, "server:1").reader))
      assert.strictEqual(error.reason._tag, "SocketOpenError")
      const cause = error.reason._tag === "SocketOpenError" ? error.reason.cause : undefined
      assert.instanceOf(cause, Dial.CertificateRefused)
      assert.include(String((cause as Error).message), "server:1")
    }))
})

describe("Dial: a program's stdio as a socket", () => {
  it.live("what we write comes back from cat; closing stdin ends it cleanly", () =>
    Effect.gen(function*() {
      const socket = yield* Dial.fromProcess("cat", [])
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
      const socket = yield* Dial.fromProcess("sh", ["-c", "echo 'no route to the daemon' >&2; exit 3"])
      const error = yield* Effect.flip(readAll(socket))
      const cause = error.reason._tag === "SocketReadError" ? error.reason.cause : undefined
      assert.instanceOf(cause, Dial.ProcessFailed)
      assert.include(String((cause as Error).message), "exited with code 3: no route to the daemon")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
