import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import * as Net from "node:net"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Xdr from "../../src/wire/Xdr.ts"
import * as Libvirt from "./Libvirt.ts"

beforeAll(() => Libvirt.requirePackages())

const frame = (header: Partial<Frame.Header>, payload: Uint8Array = new Uint8Array(0)) =>
  Frame.encode(
    Frame.make({
      prog: Remote.REMOTE_PROGRAM,
      vers: Remote.REMOTE_VERSION,
      proc: 0,
      type: Frame.MessageType.Call,
      serial: 0,
      status: Frame.MessageStatus.Ok,
      ...header
    }, payload)
  )

const call = (serial: number, proc: number, payload?: Uint8Array) => frame({ serial, proc }, payload)

/** CONNECT_OPEN's arguments by hand: the name as raw bytes (length, bytes, then `padding`), or null; then flags. */
const openArgs = (name: Uint8Array | null, flags = 0, padding?: Uint8Array) => {
  const parts: Array<number> = []
  const int = (n: number) => parts.push((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255)
  if (name === null) int(0)
  else {
    int(1)
    int(name.length)
    parts.push(...name, ...(padding ?? new Uint8Array((4 - (name.length % 4)) % 4)))
  }
  int(flags)
  return new Uint8Array(parts)
}

const ascii = (text: string) => new TextEncoder().encode(text)
const openCall = (serial: number) => call(serial, Remote.RemoteProc.ConnectOpen, openArgs(ascii("test:///default")))
const int32 = (n: number) => Xdr.encode((w) => w.int(n))

/**
 * Each case on a connection of its own: the frames before it (each answered), then the case's frame. `differs` says
 * why our server answers otherwise, on purpose.
 */
const cases: ReadonlyArray<{ readonly what: string; readonly before: ReadonlyArray<Uint8Array>; readonly request: Uint8Array; readonly differs?: string }> = [
  {
    what: "CONNECT_OPEN with a name that is not UTF-8",
    before: [],
    request: call(0, Remote.RemoteProc.ConnectOpen, openArgs(new Uint8Array([0x74, 0xff, 0xfe, 0x3a]))),
    differs: "refused with the same error, but our strings are Unicode: the bytes that are not UTF-8 come back as U+FFFD"
  },
  {
    what: "CONNECT_OPEN with a name in UTF-8 that is not ASCII",
    before: [],
    request: call(0, Remote.RemoteProc.ConnectOpen, openArgs(ascii("t\u00e9st:///default")))
  },
  { what: "CONNECT_OPEN with a space in the name", before: [], request: call(0, Remote.RemoteProc.ConnectOpen, openArgs(ascii("test:///a b"))) },
  { what: "CONNECT_OPEN with a stray % in the name", before: [], request: call(0, Remote.RemoteProc.ConnectOpen, openArgs(ascii("test:///a%zz"))) },
  {
    what: "CONNECT_OPEN with an unknown driver",
    before: [],
    request: call(0, Remote.RemoteProc.ConnectOpen, openArgs(ascii("nosuch:///default"))),
    differs: "our server has no hypervisor drivers: it opens any name libvirt can parse"
  },
  {
    what: "CONNECT_OPEN with a name whose padding is not zero",
    before: [],
    request: call(0, Remote.RemoteProc.ConnectOpen, openArgs(ascii("test:///default"), 0, new Uint8Array([7])))
  },
  {
    what: "CONNECT_OPEN with a name whose padding is missing",
    before: [],
    request: call(0, Remote.RemoteProc.ConnectOpen, openArgs(ascii("test:///default"), 0, new Uint8Array(0)))
  },
  {
    what: "CONNECT_OPEN with a null name",
    before: [],
    request: call(0, Remote.RemoteProc.ConnectOpen, openArgs(null)),
    differs: "no name asks the daemon for its default connection; ours has no drivers to choose among and opens"
  },
  {
    what: "CONNECT_OPEN with trailing bytes",
    before: [],
    request: call(0, Remote.RemoteProc.ConnectOpen, new Uint8Array([...openArgs(ascii("test:///default")), 0, 0, 0, 9]))
  },
  { what: "CONNECT_OPEN with an unknown flag", before: [], request: call(0, Remote.RemoteProc.ConnectOpen, openArgs(ascii("test:///default"), 1 << 20)) },
  { what: "SUPPORTS_FEATURE(-1)", before: [openCall(0)], request: call(1, Remote.RemoteProc.ConnectSupportsFeature, int32(-1)) },
  { what: "SUPPORTS_FEATURE(-1) before CONNECT_OPEN", before: [], request: call(0, Remote.RemoteProc.ConnectSupportsFeature, int32(-1)) },
  {
    what: "SUPPORTS_FEATURE(10) with trailing bytes",
    before: [openCall(0)],
    request: call(1, Remote.RemoteProc.ConnectSupportsFeature, new Uint8Array([...int32(10), 0, 0, 0, 1]))
  },
  { what: "a call of type 99", before: [openCall(0)], request: frame({ serial: 1, proc: Remote.RemoteProc.ConnectGetHostname, type: 99 }) },
  {
    what: "a stream frame before CONNECT_OPEN",
    before: [],
    request: frame({ serial: 0, proc: Remote.RemoteProc.ConnectGetHostname, type: Frame.MessageType.Stream })
  },
  {
    what: "a reply sent by the client",
    before: [openCall(0)],
    request: frame({ serial: 1, proc: Remote.RemoteProc.ConnectGetHostname, type: Frame.MessageType.Reply })
  }
]

/** What a server did with a case: the replies to it (hex) within 300 ms, and whether it closed the connection. */
const outcome = (port: number, c: (typeof cases)[number]) =>
  Effect.callback<{ readonly replies: ReadonlyArray<string>; readonly closed: boolean }, Error>((resume) => {
    const replies: Array<string> = []
    const socket = Net.connect({ host: "127.0.0.1", port })
    let buffer = Buffer.alloc(0)
    let answered = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    const finish = (closed: boolean) => {
      if (timer !== undefined) clearTimeout(timer)
      socket.destroy()
      resume(Effect.succeed({ replies, closed }))
    }
    const next = () => {
      if (answered < c.before.length) return void socket.write(c.before[answered]!)
      socket.write(c.request)
      timer = setTimeout(() => finish(false), 300)
    }
    socket.on("connect", next)
    socket.on("close", () => finish(true))
    socket.on("error", () => {})
    socket.on("data", (data: Buffer) => {
      buffer = Buffer.concat([buffer, data])
      while (buffer.length >= 4 && buffer.length >= buffer.readUInt32BE(0)) {
        const length = buffer.readUInt32BE(0)
        const bytes = buffer.subarray(0, length)
        buffer = buffer.subarray(length)
        if (answered < c.before.length) {
          answered++
          next()
        } else replies.push(bytes.toString("hex"))
      }
    })
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeout("10 seconds"))

const describeReply = (hex: string) => {
  const bytes = Buffer.from(hex, "hex")
  const e = Remote.decodeRemoteError(bytes.subarray(Frame.HEADER_SIZE + 4))
  return Result.isSuccess(e) ? e.success.message : `status ${bytes.readUInt32BE(24)}`
}

const errorOf = (hex: string) => {
  const e = Remote.decodeRemoteError(Buffer.from(hex, "hex").subarray(Frame.HEADER_SIZE + 4))
  return Result.isSuccess(e) ? e.success : undefined
}

describe("malformed requests are answered as libvirtd 9.0 answers them", () => {
  it.live("each case: the same replies, byte for byte, and the same close; the differences on purpose, as stated", () =>
    Effect.gen(function*() {
      const daemon = yield* Libvirt.startLibvirtd({ interval: 5, count: 5 })
      const ours = yield* Server.listen({ host: "127.0.0.1", port: 0 })
      for (const c of cases) {
        const theirs = yield* outcome(daemon.port, c)
        const mine = yield* outcome(ours.port, c)
        const shown = `${c.what}: libvirtd ${JSON.stringify(theirs.replies.map(describeReply))}, ours ${JSON.stringify(mine.replies.map(describeReply))}`
        if (c.differs === undefined) {
          assert.deepStrictEqual(mine, theirs, shown)
        } else if (c.differs.startsWith("refused")) {
          const [a, b] = [errorOf(theirs.replies[0]!), errorOf(mine.replies[0]!)]
          assert.deepStrictEqual([b?.code, b?.domain, b?.message?.replace(/\uFFFD/g, "?")], [a?.code, a?.domain, a?.message?.replace(/\uFFFD/g, "?")], shown)
        } else {
          // libvirtd refuses; we open
          assert.isDefined(errorOf(theirs.replies[0]!), shown)
          assert.deepStrictEqual(mine.replies.map(describeReply), ["status 0"], shown)
        }
      }
    }).pipe(Effect.scoped))
})
