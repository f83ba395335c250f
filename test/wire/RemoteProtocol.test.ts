import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as Frame from "../../src/wire/Frame.ts"
import * as FrameDecoder from "../../src/wire/FrameDecoder.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import * as Xdr from "../../src/wire/Xdr.ts"
import * as Property from "../helpers/Property.ts"

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ")
const fromHex = (text: string): Uint8Array => Uint8Array.from(text.split(/\s+/).filter((s) => s !== ""), (s) => parseInt(s, 16))
const ascii = (text: string): string => hex(new TextEncoder().encode(text))

const Uint32 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffffffff }))
const Int32 = Schema.Int.check(Schema.isBetween({ minimum: -0x80000000, maximum: 0x7fffffff }))
const OptionalString = Schema.UndefinedOr(Schema.String)
const wellFormed = (s: string | undefined): string | undefined => s === undefined ? undefined : new TextDecoder().decode(new TextEncoder().encode(s))

const success = <A, E extends { readonly message: string }>(result: Result.Result<A, E>): A => {
  if (Result.isFailure(result)) return assert.fail(result.failure.message)
  return result.success
}

const failure = <A, E>(result: Result.Result<A, E>): E => {
  if (Result.isSuccess(result)) return assert.fail("expected a failure")
  return result.failure
}

// The example frames of the reference, §3.4 (the `|` separators removed, "..." filled in from the header).
const REMOTE = "20 00 80 86 00 00 00 01"

describe("RemoteProtocol golden frames (reference §3.4)", () => {
  it("AUTH_LIST call, serial 0, void arguments", () => {
    const bytes = Frame.encode(Frame.make(Remote.callHeader(Remote.RemoteProc.AuthList, 0)))
    assert.strictEqual(hex(bytes), `00 00 00 1c ${REMOTE} 00 00 00 42 00 00 00 00 00 00 00 00 00 00 00 00`)
  })

  it("AUTH_LIST reply: one type, NONE", () => {
    const payload = Remote.encodeAuthListRet({ types: [Remote.AuthType.None] })
    const bytes = Frame.encode(Frame.make(Remote.replyHeader(Remote.RemoteProc.AuthList, 0, Frame.MessageStatus.Ok), payload))
    assert.strictEqual(
      hex(bytes),
      `00 00 00 24 ${REMOTE} 00 00 00 42 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00`
    )
    assert.deepStrictEqual(success(Remote.decodeAuthListRet(payload)), { types: [0] })
  })

  it("SUPPORTS_FEATURE(PROGRAM_KEEPALIVE) call, serial 1", () => {
    const payload = Remote.encodeSupportsFeatureArgs({ feature: Remote.Feature.ProgramKeepalive })
    const bytes = Frame.encode(Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectSupportsFeature, 1), payload))
    assert.strictEqual(
      hex(bytes),
      `00 00 00 20 ${REMOTE} 00 00 00 3c 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 0a`
    )
    assert.deepStrictEqual(success(Remote.decodeSupportsFeatureArgs(payload)), { feature: 10 })
  })

  it("SUPPORTS_FEATURE reply: supported", () => {
    const payload = Remote.encodeSupportsFeatureRet({ supported: 1 })
    const bytes = Frame.encode(Frame.make(Remote.replyHeader(Remote.RemoteProc.ConnectSupportsFeature, 1), payload))
    assert.strictEqual(
      hex(bytes),
      `00 00 00 20 ${REMOTE} 00 00 00 3c 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00 01`
    )
    assert.deepStrictEqual(success(Remote.decodeSupportsFeatureRet(payload)), { supported: 1 })
  })

  it("CONNECT_OPEN \"test:///default\", flags 0, serial 2: 56 bytes", () => {
    const payload = Remote.encodeConnectOpenArgs({ name: "test:///default", flags: 0 })
    const bytes = Frame.encode(Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectOpen, 2), payload))
    assert.strictEqual(bytes.length, 56)
    assert.strictEqual(
      hex(bytes),
      `00 00 00 38 ${REMOTE} 00 00 00 01 00 00 00 00 00 00 00 02 00 00 00 00 ` +
        `00 00 00 01 00 00 00 0f ${ascii("test:///default")} 00 00 00 00 00`
    )
    assert.deepStrictEqual(success(Remote.decodeConnectOpenArgs(payload)), { name: "test:///default", flags: 0 })
  })

  it("the golden frames go through the frame decoder unchanged", () => {
    const frames = [
      Frame.make(Remote.callHeader(Remote.RemoteProc.AuthList, 0)),
      Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectSupportsFeature, 1), Remote.encodeSupportsFeatureArgs({ feature: 10 })),
      Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectOpen, 2), Remote.encodeConnectOpenArgs({ name: "test:///default", flags: 0 }))
    ]
    const bytes = new Uint8Array(frames.reduce((n, f) => n + 28 + f.payload.length, 0))
    let at = 0
    for (const f of frames) {
      const encoded = Frame.encode(f)
      bytes.set(encoded, at)
      at += encoded.length
    }
    const decoded = success(FrameDecoder.decodeAll(bytes))
    assert.deepStrictEqual(decoded.map((f) => f.header), frames.map((f) => f.header))
    assert.deepStrictEqual(decoded.map((f) => hex(f.payload)), frames.map((f) => hex(f.payload)))
  })
})

describe("RemoteProtocol headers and constants", () => {
  it("builds call and reply headers of the remote program", () => {
    assert.deepStrictEqual(Remote.callHeader(60, 7), { prog: 0x20008086, vers: 1, proc: 60, type: 0, serial: 7, status: 0 })
    assert.deepStrictEqual(Remote.replyHeader(1, 3, Frame.MessageStatus.Error), {
      prog: 0x20008086,
      vers: 1,
      proc: 1,
      type: 1,
      serial: 3,
      status: 1
    })
  })

  it("has libvirt's numbers", () => {
    assert.strictEqual(Remote.REMOTE_PROGRAM, 536903814)
    assert.deepStrictEqual(
      [
        Remote.RemoteProc.ConnectOpen,
        Remote.RemoteProc.ConnectClose,
        Remote.RemoteProc.ConnectGetHostname,
        Remote.RemoteProc.ConnectSupportsFeature,
        Remote.RemoteProc.AuthList,
        Remote.RemoteProc.ConnectGetUri,
        Remote.RemoteProc.ConnectListAllDomains,
        Remote.RemoteProc.ConnectRegisterCloseCallback,
        Remote.RemoteProc.ConnectUnregisterCloseCallback
      ],
      [1, 2, 59, 60, 66, 110, 273, 360, 361]
    )
    assert.deepStrictEqual(
      [Remote.Feature.FdPassing, Remote.Feature.ProgramKeepalive, Remote.Feature.RemoteEventCallback, Remote.Feature.RemoteCloseCallback],
      [8, 10, 14, 15]
    )
    assert.deepStrictEqual([
      Remote.ErrorCode.InternalError,
      Remote.ErrorCode.NoSupport,
      Remote.ErrorCode.OperationDenied,
      Remote.ErrorCode.Rpc,
      Remote.ErrorCode.AuthFailed
    ], [1, 3, 29, 39, 45])
    assert.deepStrictEqual([Remote.ErrorDomain.Rpc, Remote.ErrorDomain.Remote, Remote.ErrorLevel.Error, Remote.ConnectFlags.ReadOnly], [7, 13, 2, 1])
  })
})

describe("RemoteProtocol payload codecs", () => {
  it.prop("SUPPORTS_FEATURE args and ret round trip", [Int32, Int32], ([feature, supported]) => {
    assert.deepStrictEqual(success(Remote.decodeSupportsFeatureArgs(Remote.encodeSupportsFeatureArgs({ feature }))), { feature })
    assert.deepStrictEqual(success(Remote.decodeSupportsFeatureRet(Remote.encodeSupportsFeatureRet({ supported }))), { supported })
  }, Property.options())

  it.prop("CONNECT_OPEN args round trip", [OptionalString, Uint32], ([name, flags]) => {
    const bytes = Remote.encodeConnectOpenArgs({ name, flags })
    assert.deepStrictEqual(success(Remote.decodeConnectOpenArgs(bytes)), { name: wellFormed(name), flags })
  }, Property.options())

  it("CONNECT_OPEN with no name sends a null pointer", () => {
    const bytes = Remote.encodeConnectOpenArgs({ name: undefined, flags: Remote.ConnectFlags.ReadOnly })
    assert.strictEqual(hex(bytes), "00 00 00 00 00 00 00 01")
    assert.deepStrictEqual(success(Remote.decodeConnectOpenArgs(bytes)), { name: undefined, flags: 1 })
  })

  it.prop("AUTH_LIST ret round trips up to 20 types", [Schema.Array(Int32).check(Schema.isMaxLength(20))], ([types]) => {
    assert.deepStrictEqual(success(Remote.decodeAuthListRet(Remote.encodeAuthListRet({ types }))), { types })
  }, Property.options())

  it("AUTH_LIST ret refuses 21 types", () => {
    const error = failure(Remote.decodeAuthListRet(Remote.encodeAuthListRet({ types: new Array(21).fill(0) })))
    assert.strictEqual(error.what, "array length")
    assert.strictEqual(error.offset, 0)
  })

  it("decoders refuse truncated and trailing bytes", () => {
    const short = failure(Remote.decodeSupportsFeatureRet(fromHex("00 00 01")))
    assert.deepStrictEqual([short.what, short.offset], ["int", 0])
    const trailing = failure(Remote.decodeSupportsFeatureArgs(fromHex("00 00 00 0a 00 00 00 00")))
    assert.deepStrictEqual([trailing.what, trailing.offset], ["trailing bytes", 4])
    const open = failure(Remote.decodeConnectOpenArgs(fromHex("00 00 00 01 00 00 00 0f 74 65 73 74")))
    assert.deepStrictEqual([open.what, open.offset], ["string body", 8])
    const flags = failure(Remote.decodeConnectOpenArgs(fromHex("00 00 00 00")))
    assert.deepStrictEqual([flags.what, flags.offset], ["uint", 4])
  })
})

const RemoteErrorSchema = Schema.Struct({
  code: Int32,
  domain: Int32,
  message: OptionalString,
  level: Int32,
  str1: OptionalString,
  str2: OptionalString,
  str3: OptionalString,
  int1: Int32,
  int2: Int32
})

/** A remote_error as a daemon would send it for a domain or network error: dom and net present. */
const errorWithDomAndNet = (e: Remote.RemoteErrorPayload): Uint8Array =>
  Xdr.encode((w) =>
    w.int(e.code).int(e.domain).optionalString(e.message).int(e.level)
      .uint(1).string("guest-1").fixedOpaque(new Uint8Array(16).fill(0xab)).int(42) // dom
      .optionalString(e.str1).optionalString(e.str2).optionalString(e.str3)
      .int(e.int1).int(e.int2)
      .uint(1).string("default").fixedOpaque(new Uint8Array(16).fill(0xcd)) // net
  )

describe("remote_error", () => {
  it("remoteError builds an ERROR-level payload with the rest empty", () => {
    assert.deepStrictEqual(Remote.remoteError(Remote.ErrorCode.Rpc, Remote.ErrorDomain.Rpc, "boom"), {
      code: 39,
      domain: 7,
      message: "boom",
      level: 2,
      str1: undefined,
      str2: undefined,
      str3: undefined,
      int1: 0,
      int2: 0
    })
  })

  it("encodes the layout of struct remote_error, dom and net absent", () => {
    const bytes = Remote.encodeRemoteError(Remote.remoteError(1, 7, "abc"))
    assert.strictEqual(
      hex(bytes),
      [
        "00 00 00 01", // code
        "00 00 00 07", // domain
        "00 00 00 01 00 00 00 03 61 62 63 00", // message
        "00 00 00 02", // level
        "00 00 00 00", // dom
        "00 00 00 00", // str1
        "00 00 00 00", // str2
        "00 00 00 00", // str3
        "00 00 00 00", // int1
        "00 00 00 00", // int2
        "00 00 00 00" // net
      ].join(" ")
    )
  })

  it.prop("round trips", [RemoteErrorSchema], ([e]) => {
    const expected = { ...e, message: wellFormed(e.message), str1: wellFormed(e.str1), str2: wellFormed(e.str2), str3: wellFormed(e.str3) }
    assert.deepStrictEqual(success(Remote.decodeRemoteError(Remote.encodeRemoteError(e))), expected)
  }, Property.options())

  it.prop("skips a present dom and net", [RemoteErrorSchema], ([e]) => {
    const expected = { ...e, message: wellFormed(e.message), str1: wellFormed(e.str1), str2: wellFormed(e.str2), str3: wellFormed(e.str3) }
    assert.deepStrictEqual(success(Remote.decodeRemoteError(errorWithDomAndNet(e))), expected)
  }, Property.options())

  it("a dom truncated inside its uuid is an error naming the opaque", () => {
    const e = Remote.remoteError(1, 10, "x")
    const full = errorWithDomAndNet(e)
    // code (4), domain (4), message (4 + 4 + "x" padded to 4), level (4), dom flag (4), dom name (4 + "guest-1"
    // padded to 8): the uuid starts at 40.
    const error = failure(Remote.decodeRemoteError(full.subarray(0, 40 + 10)))
    assert.deepStrictEqual([error.what, error.offset], ["opaque", 40])
  })

  it("a truncated remote_error names what is missing", () => {
    const bytes = Remote.encodeRemoteError(Remote.remoteError(1, 7, "abc"))
    const error = failure(Remote.decodeRemoteError(bytes.subarray(0, bytes.length - 2)))
    assert.deepStrictEqual([error.what, error.offset], ["pointer", bytes.length - 4])
    const code = failure(Remote.decodeRemoteError(bytes.subarray(0, 2)))
    assert.deepStrictEqual([code.what, code.offset], ["int", 0])
  })
})

describe("RemoteCallError", () => {
  it("reads like libvirt: the message, then code and domain", () => {
    const error = Remote.RemoteCallError.fromPayload(
      Remote.RemoteProc.ConnectOpen,
      Remote.remoteError(Remote.ErrorCode.OperationDenied, Remote.ErrorDomain.Remote, "operation forbidden: read only access")
    )
    assert.strictEqual(error._tag, "RemoteCallError")
    assert.strictEqual(error.proc, 1)
    assert.strictEqual(error.code, 29)
    assert.strictEqual(error.domain, 13)
    assert.strictEqual(error.text, "operation forbidden: read only access")
    assert.strictEqual(error.message, "operation forbidden: read only access (code 29, domain 13)")
  })

  it("an absent message becomes empty text", () => {
    const error = Remote.RemoteCallError.fromPayload(60, { ...Remote.remoteError(3, 13, ""), message: undefined })
    assert.strictEqual(error.text, "")
    assert.include(error.message, "code 3, domain 13")
  })

  it("decodes the raw payload of an ERROR reply", () => {
    const payload = Remote.encodeRemoteError(Remote.remoteError(Remote.ErrorCode.NoSupport, Remote.ErrorDomain.Remote, "no AUTH_LIST"))
    const error = Remote.RemoteCallError.fromPayload(Remote.RemoteProc.AuthList, payload)
    assert.deepStrictEqual([error.proc, error.code, error.domain, error.text], [66, 3, 13, "no AUTH_LIST"])
  })

  it("an undecodable payload becomes an RPC error saying so", () => {
    const error = Remote.RemoteCallError.fromPayload(Remote.RemoteProc.ConnectOpen, fromHex("00 00 00 01 00"))
    assert.deepStrictEqual([error.code, error.domain], [Remote.ErrorCode.Rpc, Remote.ErrorDomain.Rpc])
    assert.include(error.text, "XDR int at offset 4")
  })
})
