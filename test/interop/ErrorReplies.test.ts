import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import * as Net from "node:net"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Libvirt from "./Libvirt.ts"

beforeAll(() => Libvirt.requirePackages())

const call = (serial: number, proc: number, payload: Uint8Array = new Uint8Array(0), prog = Remote.REMOTE_PROGRAM, vers = Remote.REMOTE_VERSION) =>
  Frame.encode(Frame.make({ prog, vers, proc, type: Frame.MessageType.Call, serial, status: Frame.MessageStatus.Ok }, payload))

const open = (serial: number) => call(serial, Remote.RemoteProc.ConnectOpen, Remote.encodeConnectOpenArgs({ name: "test:///default", flags: 0 }))

/** The same requests, in order, on one connection; what libvirtd refuses is compared byte for byte. */
const requests: ReadonlyArray<readonly [string, Uint8Array]> = [
  ["a known procedure before CONNECT_OPEN (GET_HOSTNAME)", call(0, Remote.RemoteProc.ConnectGetHostname)],
  ["an unknown procedure before CONNECT_OPEN (9999)", call(1, 9999)],
  ["an unknown program", call(2, 1, new Uint8Array(0), 0x12345678)],
  ["the remote program in version 2", call(3, Remote.RemoteProc.ConnectGetHostname, new Uint8Array(0), Remote.REMOTE_PROGRAM, 2)],
  ["SUPPORTS_FEATURE without its argument", call(4, Remote.RemoteProc.ConnectSupportsFeature)],
  ["CONNECT_OPEN", open(5)],
  ["an unknown procedure after CONNECT_OPEN (9999)", call(6, 9999)],
  ["a negative procedure (-1)", call(7, -1)],
  ["a gap in libvirt's numbering (107)", call(8, 107)],
  ["a server-to-client message number as a call (CONNECT_EVENT_CONNECTION_CLOSED, 362)", call(9, 362)],
  ["CONNECT_OPEN again", open(10)]
]

/** Sends each request after the previous reply; returns the replies' bytes in order. */
const exchange = (port: number) =>
  Effect.callback<ReadonlyArray<Uint8Array>, Error>((resume) => {
    const replies: Array<Uint8Array> = []
    const socket = Net.connect({ host: "127.0.0.1", port })
    let buffer = Buffer.alloc(0)
    const next = () => {
      const request = requests[replies.length]
      if (request === undefined) {
        socket.destroy()
        resume(Effect.succeed(replies))
      } else socket.write(request[1])
    }
    socket.on("connect", next)
    socket.on("error", (e) => resume(Effect.fail(e)))
    socket.on("data", (data: Buffer) => {
      buffer = Buffer.concat([buffer, data])
      while (buffer.length >= 4 && buffer.length >= buffer.readUInt32BE(0)) {
        const length = buffer.readUInt32BE(0)
        replies.push(new Uint8Array(buffer.subarray(0, length)))
        buffer = buffer.subarray(length)
        next()
      }
    })
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeout("10 seconds"))

const errorOf = (bytes: Uint8Array) => {
  const e = Remote.decodeRemoteError(bytes.subarray(Frame.HEADER_SIZE + 4))
  return Result.isSuccess(e) ? e.success : undefined
}

describe("error replies byte-identical to libvirtd 9.0", () => {
  it.live("the same refused requests get the same bytes from libvirtd and from our server", () =>
    Effect.gen(function*() {
      const daemon = yield* Libvirt.startLibvirtd({ interval: 5, count: 5 })
      const ours = yield* Server.listen({ host: "127.0.0.1", port: 0 })
      const theirs = yield* exchange(daemon.port)
      const mine = yield* exchange(ours.port)
      assert.strictEqual(mine.length, requests.length)
      requests.forEach(([what], i) => {
        const a = Buffer.from(theirs[i]!).toString("hex")
        const b = Buffer.from(mine[i]!).toString("hex")
        assert.strictEqual(b, a, `${what}: libvirtd sent ${JSON.stringify(errorOf(theirs[i]!))}, we sent ${JSON.stringify(errorOf(mine[i]!))}`)
      })
    }).pipe(Effect.scoped))

  it.live("a known procedure our server does not serve follows libvirtd's NO_SUPPORT convention", () =>
    Effect.gen(function*() {
      const ours = yield* Server.listen({ host: "127.0.0.1", port: 0 })
      const replies = yield* Effect.callback<Uint8Array, Error>((resume) => {
        const socket = Net.connect({ host: "127.0.0.1", port: ours.port })
        let buffer = Buffer.alloc(0)
        socket.on("connect", () => socket.write(Buffer.concat([open(0), call(1, Remote.RemoteProc.ConnectListAllDomains, new Uint8Array(8))])))
        socket.on("data", (data: Buffer) => {
          buffer = Buffer.concat([buffer, data])
          const first = buffer.length >= 4 ? buffer.readUInt32BE(0) : Infinity
          if (buffer.length >= first + 4 && buffer.length >= first + buffer.readUInt32BE(first)) {
            socket.destroy()
            resume(Effect.succeed(new Uint8Array(buffer.subarray(first))))
          }
        })
        return Effect.sync(() => socket.destroy())
      }).pipe(Effect.timeout("10 seconds"))
      assert.deepStrictEqual(errorOf(replies), {
        code: Remote.ErrorCode.NoSupport,
        domain: Remote.ErrorDomain.Domain,
        message: "this function is not supported by the connection driver: virConnectListAllDomains",
        level: Remote.ErrorLevel.Error,
        str1: "this function is not supported by the connection driver: %s",
        str2: "virConnectListAllDomains",
        str3: undefined,
        int1: -1,
        int2: -1
      })
    }).pipe(Effect.scoped))
})
