import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as Frame from "../../src/wire/Frame.ts"
import * as Property from "../helpers/Property.ts"

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ")

const Uint32 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffffffff }))
const Int32 = Schema.Int.check(Schema.isBetween({ minimum: -0x80000000, maximum: 0x7fffffff }))
const HeaderSchema = Schema.Struct({ prog: Uint32, vers: Uint32, proc: Int32, type: Int32, serial: Uint32, status: Int32 })

describe("Frame", () => {
  it("PING is the 28 bytes libvirt 9.0 sends", () => {
    assert.strictEqual(
      hex(Frame.PING_BYTES),
      "00 00 00 1c 6b 65 65 70 00 00 00 01 00 00 00 01 00 00 00 02 00 00 00 00 00 00 00 00"
    )
    assert.strictEqual(hex(Frame.encode(Frame.PING)), hex(Frame.PING_BYTES))
  })

  it("PONG is the 28 bytes libvirt 9.0 sends", () => {
    assert.strictEqual(
      hex(Frame.PONG_BYTES),
      "00 00 00 1c 6b 65 65 70 00 00 00 01 00 00 00 02 00 00 00 02 00 00 00 00 00 00 00 00"
    )
  })

  it("decodes PING back into the keepalive header with an empty payload", () => {
    const decoded = Frame.decodeBody(Frame.PING_BYTES.subarray(Frame.LENGTH_SIZE))
    assert.isTrue(Result.isSuccess(decoded))
    if (Result.isSuccess(decoded)) {
      assert.deepStrictEqual(decoded.success.header, Frame.keepaliveHeader(Frame.KeepaliveProc.Ping))
      assert.strictEqual(decoded.success.payload.length, 0)
      assert.isTrue(Frame.isKeepalive(decoded.success.header))
    }
  })

  it("keeps proc and status signed and serial unsigned on the wire", () => {
    const header: Frame.Header = { prog: 0x20008086, vers: 1, proc: -1, type: 1, serial: 0xfffffffe, status: -2 }
    const bytes = Frame.encode(Frame.make(header, Uint8Array.of(9, 8, 7)))
    assert.strictEqual(hex(bytes.subarray(0, 4)), "00 00 00 1f")
    assert.strictEqual(hex(bytes.subarray(12, 16)), "ff ff ff ff")
    const decoded = Frame.decodeBody(bytes.subarray(4))
    assert.isTrue(Result.isSuccess(decoded))
    if (Result.isSuccess(decoded)) {
      assert.deepStrictEqual(decoded.success.header, header)
      assert.deepStrictEqual(Array.from(decoded.success.payload), [9, 8, 7])
    }
  })

  it.prop("encode then decodeBody gives the frame back", [HeaderSchema, Schema.Uint8Array], ([header, payload]) => {
    const bytes = Frame.encode(Frame.make(header, payload))
    assert.strictEqual(bytes.length, Frame.MIN_FRAME_SIZE + payload.length)
    assert.strictEqual(new DataView(bytes.buffer).getUint32(0), bytes.length)
    const decoded = Frame.decodeBody(bytes.subarray(Frame.LENGTH_SIZE))
    assert.isTrue(Result.isSuccess(decoded))
    if (Result.isSuccess(decoded)) {
      assert.deepStrictEqual(decoded.success.header, header)
      assert.deepStrictEqual(Array.from(decoded.success.payload), Array.from(payload))
    }
  }, Property.options())

  it("reports a body shorter than the header as HeaderTooShort with its size", () => {
    for (const size of [0, 1, 4, 23]) {
      const decoded = Frame.decodeBody(new Uint8Array(size))
      assert.isTrue(Result.isFailure(decoded))
      if (Result.isFailure(decoded)) {
        assert.instanceOf(decoded.failure, Frame.HeaderTooShort)
        assert.strictEqual(decoded.failure._tag, "HeaderTooShort")
        assert.strictEqual(decoded.failure.size, size)
        assert.include(decoded.failure.message, `${size} bytes`)
      }
    }
    assert.isTrue(Result.isSuccess(Frame.decodeBody(new Uint8Array(Frame.HEADER_SIZE))))
  })
})
