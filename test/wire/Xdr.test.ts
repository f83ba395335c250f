import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Result, Schema } from "effect"
import * as Xdr from "../../src/wire/Xdr.ts"
import * as Property from "../helpers/Property.ts"

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ")
const fromHex = (text: string): Uint8Array => Uint8Array.from(text.split(/\s+/).filter((s) => s !== ""), (s) => parseInt(s, 16))

const Uint32 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffffffff }))
const Int32 = Schema.Int.check(Schema.isBetween({ minimum: -0x80000000, maximum: 0x7fffffff }))

/** Well-formed Unicode strings, including astral characters, built from code points (surrogates skipped). */
const UnicodeString = Arbitrary.map(
  Arbitrary.array(Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0x10ffff }))), {
    maxLength: 40
  }),
  (points) => String.fromCodePoint(...points.filter((p) => p < 0xd800 || p > 0xdfff))
)

const utf8Length = (s: string): number => new TextEncoder().encode(s).length
/** What a JS string becomes after a UTF-8 round trip (lone surrogates turn into U+FFFD). */
const wellFormed = (s: string): string => new TextDecoder().decode(new TextEncoder().encode(s))

/** Decodes with `read` and expects an XdrError naming `what` at `offset`. */
const assertXdrError = <A>(
  bytes: Uint8Array,
  read: (r: Xdr.Reader) => Result.Result<A, Xdr.XdrError>,
  what: string,
  offset: number
): Xdr.XdrError => {
  const result = Xdr.decode(bytes, read)
  assert.isTrue(Result.isFailure(result), `expected a failure reading ${what}`)
  if (Result.isSuccess(result)) throw new Error("unreachable")
  const error = result.failure
  assert.instanceOf(error, Xdr.XdrError)
  assert.strictEqual(error._tag, "XdrError")
  assert.strictEqual(error.what, what)
  assert.strictEqual(error.offset, offset)
  assert.include(error.message, what)
  assert.include(error.message, `offset ${offset}`)
  return error
}

const decodeOk = <A>(bytes: Uint8Array, read: (r: Xdr.Reader) => Result.Result<A, Xdr.XdrError>): A => {
  const result = Xdr.decode(bytes, read)
  if (Result.isFailure(result)) return assert.fail(result.failure.message)
  return result.success
}

describe("Xdr round trips", () => {
  it.prop("int", [Int32], ([n]) => {
    const bytes = Xdr.encode((w) => w.int(n))
    assert.strictEqual(bytes.length, 4)
    assert.strictEqual(decodeOk(bytes, (r) => r.int()), n)
  }, Property.options())

  it.prop("uint", [Uint32], ([n]) => {
    const bytes = Xdr.encode((w) => w.uint(n))
    assert.strictEqual(bytes.length, 4)
    assert.strictEqual(decodeOk(bytes, (r) => r.uint()), n)
  }, Property.options())

  it.prop("bool", [Schema.Boolean], ([b]) => {
    assert.strictEqual(decodeOk(Xdr.encode((w) => w.bool(b)), (r) => r.bool()), b)
  }, Property.options())

  it.prop("any JS string comes back as its UTF-8 round trip, padded to 4", [Schema.String], ([s]) => {
    const bytes = Xdr.encode((w) => w.string(s))
    const n = utf8Length(s)
    assert.strictEqual(bytes.length, 4 + n + ((4 - (n % 4)) % 4))
    assert.strictEqual(new DataView(bytes.buffer).getUint32(0), n)
    assert.isTrue(bytes.subarray(4 + n).every((b) => b === 0), "padding is zero")
    assert.strictEqual(decodeOk(bytes, (r) => r.string()), wellFormed(s))
  }, Property.options())

  it.prop("well-formed Unicode strings come back exactly", [UnicodeString], ([s]) => {
    assert.strictEqual(decodeOk(Xdr.encode((w) => w.string(s)), (r) => r.string()), s)
  }, Property.options())

  it.prop("optional string", [Schema.UndefinedOr(Schema.String)], ([s]) => {
    const bytes = Xdr.encode((w) => w.optionalString(s))
    assert.strictEqual(new DataView(bytes.buffer).getUint32(0), s === undefined ? 0 : 1)
    if (s === undefined) assert.strictEqual(bytes.length, 4)
    assert.strictEqual(decodeOk(bytes, (r) => r.optionalString()), s === undefined ? undefined : wellFormed(s))
  }, Property.options())

  it.prop("int array", [Schema.Array(Int32)], ([values]) => {
    const bytes = Xdr.encode((w) => w.intArray(values))
    assert.strictEqual(bytes.length, 4 + 4 * values.length)
    assert.deepStrictEqual(decodeOk(bytes, (r) => r.intArray(1000)), values)
  }, Property.options())

  it.prop("a struct of several items, read back in order", {
    a: Int32,
    b: Schema.UndefinedOr(Schema.String),
    c: Uint32,
    d: Schema.Uint8Array,
    e: Schema.Boolean
  }, ({ a, b, c, d, e }) => {
    const uuid = Uint8Array.from({ length: 16 }, (_, i) => d[i % Math.max(1, d.length)] ?? i)
    const bytes = Xdr.encode((w) => w.int(a).optionalString(b).uint(c).fixedOpaque(uuid).bool(e))
    const decoded = decodeOk(bytes, (r) =>
      Result.gen(function*() {
        return {
          a: yield* r.int(),
          b: yield* r.optionalString(),
          c: yield* r.uint(),
          uuid: yield* r.fixedOpaque(16),
          e: yield* r.bool()
        }
      }))
    assert.deepStrictEqual(decoded, { a, b: b === undefined ? undefined : wellFormed(b), c, uuid, e })
  }, Property.options())
})

describe("Xdr encoding", () => {
  it("writes big-endian words", () => {
    assert.strictEqual(
      hex(Xdr.encode((w) => w.int(-1).int(1).uint(0xfffffffe).bool(true).bool(false))),
      "ff ff ff ff 00 00 00 01 ff ff ff fe 00 00 00 01 00 00 00 00"
    )
  })

  it("pads strings and opaques with zeros to a multiple of 4", () => {
    assert.strictEqual(hex(Xdr.encode((w) => w.string(""))), "00 00 00 00")
    assert.strictEqual(hex(Xdr.encode((w) => w.string("a"))), "00 00 00 01 61 00 00 00")
    assert.strictEqual(hex(Xdr.encode((w) => w.string("abc"))), "00 00 00 03 61 62 63 00")
    assert.strictEqual(hex(Xdr.encode((w) => w.string("abcd"))), "00 00 00 04 61 62 63 64")
    assert.strictEqual(hex(Xdr.encode((w) => w.string("é"))), "00 00 00 02 c3 a9 00 00")
    assert.strictEqual(hex(Xdr.encode((w) => w.fixedOpaque(Uint8Array.of(1, 2, 3, 4, 5)))), "01 02 03 04 05 00 00 00")
  })

  it("writes an optional string as an XDR pointer", () => {
    assert.strictEqual(hex(Xdr.encode((w) => w.optionalString(undefined))), "00 00 00 00")
    assert.strictEqual(hex(Xdr.encode((w) => w.optionalString("ab"))), "00 00 00 01 00 00 00 02 61 62 00 00")
    assert.strictEqual(hex(Xdr.encode((w) => w.optional(7, (w2, n) => w2.int(n)))), "00 00 00 01 00 00 00 07")
  })

  it("grows past its initial capacity", () => {
    const long = "x".repeat(100_000)
    const bytes = Xdr.encode((w) => {
      for (let i = 0; i < 1000; i++) w.int(i)
      w.string(long)
    }, 4)
    assert.strictEqual(bytes.length, 4000 + 4 + 100_000)
    const decoded = decodeOk(bytes, (r) =>
      Result.gen(function*() {
        for (let i = 0; i < 1000; i++) assert.strictEqual(yield* r.int(), i)
        return yield* r.string()
      }))
    assert.strictEqual(decoded, long)
  })
})

describe("Xdr decoding errors", () => {
  it("a truncated int names the int and its offset", () => {
    assertXdrError(fromHex("00 00 00"), (r) => r.int(), "int", 0)
    assertXdrError(
      fromHex("00 00 00 01 00 00"),
      (r) =>
        Result.gen(function*() {
          yield* r.int()
          return yield* r.int()
        }),
      "int",
      4
    )
    assertXdrError(fromHex(""), (r) => r.uint(), "uint", 0)
  })

  it("a truncated string length, body or padding is named as such", () => {
    assertXdrError(fromHex("00 00"), (r) => r.string(), "string length", 0)
    assertXdrError(fromHex("00 00 00 05 61 62"), (r) => r.string(), "string body", 4)
    // The body is there, its padding is not.
    assertXdrError(fromHex("00 00 00 03 61 62 63"), (r) => r.string(), "string padding", 7)
  })

  it("refuses a string longer than its maximum before looking at the body", () => {
    const error = assertXdrError(Xdr.encode((w) => w.string("abcde")), (r) => r.string(4), "string length", 0)
    assert.include(error.message, "5")
    assert.include(error.message, "maximum 4")
    assert.isTrue(Result.isSuccess(Xdr.decode(Xdr.encode((w) => w.string("abcd")), (r) => r.string(4))))
  })

  it("refuses the default maximum, 4194304, plus one", () => {
    const error = assertXdrError(fromHex("00 40 00 01"), (r) => r.string(), "string length", 0)
    assert.include(error.message, "4194305")
    assert.strictEqual(Xdr.STRING_MAX, 4194304)
  })

  it("refuses a string length beyond the remaining bytes without allocating it", () => {
    const before = process.memoryUsage().arrayBuffers
    const error = assertXdrError(fromHex("00 3f ff ff 61 62 63 64"), (r) => r.string(), "string body", 4)
    assert.include(error.message, "4 remain")
    assertXdrError(fromHex("ff ff ff ff"), (r) => r.string(0xffffffff), "string body", 4)
    assert.isBelow(process.memoryUsage().arrayBuffers - before, 1024 * 1024)
  })

  it("accepts nonzero padding bytes, as glibc's XDR does", () => {
    assert.strictEqual(decodeOk(fromHex("00 00 00 01 61 ff ff ff"), (r) => r.string()), "a")
  })

  it("refuses a bool or pointer flag other than 0 and 1", () => {
    const error = assertXdrError(fromHex("00 00 00 02"), (r) => r.bool(), "bool", 0)
    assert.include(error.message, "2")
    assertXdrError(
      fromHex("00 00 00 00 00 00 00 07"),
      (r) =>
        Result.gen(function*() {
          yield* r.int()
          return yield* r.optionalString()
        }),
      "pointer",
      4
    )
  })

  it("names the failing part of an optional value", () => {
    assertXdrError(fromHex("00 00 00 01"), (r) => r.optionalString(), "string length", 4)
    assertXdrError(fromHex("00 00 00 01 00 00 00 09 61"), (r) => r.optionalString(), "string body", 8)
  })

  it("a truncated fixed opaque names the opaque", () => {
    assertXdrError(new Uint8Array(15), (r) => r.fixedOpaque(16), "opaque", 0)
    assertXdrError(new Uint8Array(7), (r) => r.fixedOpaque(5), "opaque", 0)
  })

  it("an int array longer than its maximum or than the bytes left is refused", () => {
    assertXdrError(Xdr.encode((w) => w.intArray([1, 2, 3])), (r) => r.intArray(2), "array length", 0)
    assertXdrError(fromHex("00 00 00 03 00 00 00 01 00 00 00 02"), (r) => r.intArray(20), "array body", 4)
    assertXdrError(fromHex("ff ff ff ff"), (r) => r.intArray(0xffffffff), "array body", 4)
    assertXdrError(fromHex("00 00"), (r) => r.intArray(20), "array length", 0)
  })

  it("refuses trailing bytes", () => {
    const error = assertXdrError(fromHex("00 00 00 01 00 00"), (r) => r.int(), "trailing bytes", 4)
    assert.include(error.message, "2 bytes")
    assertXdrError(fromHex("00"), () => Result.succeed(undefined), "trailing bytes", 0)
  })

  it("a failed read leaves the cursor where it was", () => {
    const r = Xdr.reader(fromHex("00 00 00 01 00 00 00 09 61"))
    assert.isTrue(Result.isFailure(r.optionalString()))
    assert.strictEqual(r.offset, 0)
    assert.isTrue(Result.isFailure(r.string(0)))
    assert.strictEqual(r.offset, 0)
    assert.isTrue(Result.isFailure(r.fixedOpaque(12)))
    assert.strictEqual(r.offset, 0)
    assert.strictEqual(decodeOkReader(r), 1)
    assert.strictEqual(r.offset, 4)
    assert.strictEqual(r.remaining, 5)
    assert.isTrue(Result.isFailure(r.end()))
  })

  it.prop("decoding arbitrary bytes as a struct never throws and fails only with XdrError", [Schema.Uint8Array], ([bytes]) => {
    const result = Xdr.decode(bytes, (r) =>
      Result.gen(function*() {
        const a = yield* r.optionalString(16)
        const b = yield* r.intArray(4)
        const c = yield* r.bool()
        return { a, b, c }
      }))
    if (Result.isFailure(result)) {
      assert.instanceOf(result.failure, Xdr.XdrError)
      assert.isAtLeast(result.failure.offset, 0)
      assert.isAtMost(result.failure.offset, bytes.length)
    }
  }, Property.options())
})

const decodeOkReader = (r: Xdr.Reader): number => {
  const n = r.int()
  if (Result.isFailure(n)) return assert.fail(n.failure.message)
  return n.success
}
