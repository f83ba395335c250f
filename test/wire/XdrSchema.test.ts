import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Result, Schema } from "effect"
import * as Xdr from "../../src/wire/Xdr.ts"
import * as S from "../../src/wire/XdrSchema.ts"
import * as Property from "../helpers/Property.ts"

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ")

/** Every property runs from the shared seed (printed; `PROPERTY_SEED` replays another). */
const SEEDED = Property.options()

const Int32 = Schema.Int.check(Schema.isBetween({ minimum: -0x80000000, maximum: 0x7fffffff }))
const Uint32 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffffffff }))
const Bytes = Arbitrary.map(
  Arbitrary.array(Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 255 }))), { maxLength: 40 }),
  (a) => Uint8Array.from(a)
)
const Hyper = Arbitrary.map(
  Arbitrary.array(Arbitrary.schema(Uint32), { minLength: 2, maxLength: 2 }),
  ([hi, lo]) => BigInt.asIntN(64, (BigInt(hi!) << 32n) | BigInt(lo!))
)

const roundTrip = <A>(codec: S.Codec<A>, value: A): A => {
  const decoded = S.decode(codec, S.encode(codec, value))
  if (Result.isFailure(decoded)) return assert.fail(decoded.failure.message)
  return decoded.success
}

const failure = <A>(codec: S.Codec<A>, bytes: Uint8Array): Xdr.XdrError => {
  const decoded = S.decode(codec, bytes)
  if (Result.isSuccess(decoded)) return assert.fail("expected a failure")
  return decoded.failure
}

describe("XdrSchema: every primitive round trips (from the printed seed)", () => {
  it.prop("int", [Int32], ([n]) => assert.strictEqual(roundTrip(S.int, n), n), SEEDED)
  it.prop("uint", [Uint32], ([n]) => assert.strictEqual(roundTrip(S.uint, n), n), SEEDED)
  it.prop("hyper", [Hyper], ([n]) => assert.strictEqual(roundTrip(S.hyper, n), n), SEEDED)
  it.prop("unsigned hyper", [Hyper], ([n]) => assert.strictEqual(roundTrip(S.uhyper, BigInt.asUintN(64, n)), BigInt.asUintN(64, n)), SEEDED)
  it.prop("bool", [Schema.Boolean], ([b]) => assert.strictEqual(roundTrip(S.bool, b), b), SEEDED)
  it.prop("string", [Schema.String], ([s]) => assert.strictEqual(roundTrip(S.string(), s), new TextDecoder().decode(new TextEncoder().encode(s))), SEEDED)
  it.prop("opaque, padded to 4", [Bytes], ([b]) => {
    const bytes = S.encode(S.opaque(64), b)
    assert.strictEqual(bytes.length, 4 + b.length + ((4 - (b.length % 4)) % 4))
    assert.deepStrictEqual(roundTrip(S.opaque(64), b), b)
  }, SEEDED)
  it.prop("fixed opaque (16 bytes, no length)", [Bytes], ([b]) => {
    const sixteen = Uint8Array.from({ length: 16 }, (_, i) => b[i] ?? 0)
    assert.strictEqual(S.encode(S.fixedOpaque(16), sixteen).length, 16)
    assert.deepStrictEqual(roundTrip(S.fixedOpaque(16), sixteen), sixteen)
  }, SEEDED)
  it.prop("optional pointer", [Schema.UndefinedOr(Int32)], ([n]) => assert.strictEqual(roundTrip(S.optional(S.int), n), n), SEEDED)
  it.prop(
    "array with a maximum",
    [Schema.Array(Int32).check(Schema.isMaxLength(8))],
    ([a]) => assert.deepStrictEqual(roundTrip(S.array(S.int, 8), a), a),
    SEEDED
  )
  it.prop("union on an int", [Int32, Schema.String], ([n, s]) => {
    const codec = S.union({ 1: S.int, 7: S.string() })
    assert.deepStrictEqual(roundTrip(codec, { tag: 1, value: n }), { tag: 1, value: n })
    assert.deepStrictEqual(roundTrip(codec, { tag: 7, value: s }), { tag: 7, value: new TextDecoder().decode(new TextEncoder().encode(s)) })
  }, SEEDED)
})

describe("XdrSchema: structs", () => {
  const Domain = S.struct({ name: S.string(), uuid: S.fixedOpaque(16), id: S.int })
  const Args = S.struct({ eventId: S.int, dom: S.optional(Domain), flags: S.uint })

  it("fields are written in declaration order, with no framing of their own", () => {
    const bytes = S.encode(Domain, { name: "ab", uuid: new Uint8Array(16).fill(0xee), id: -1 })
    assert.strictEqual(hex(bytes), "00 00 00 02 61 62 00 00 " + "ee ".repeat(16) + "ff ff ff ff")
  })

  it("an optional field is an optional property: absent on decode, a 0 pointer on the wire", () => {
    const bytes = S.encode(Args, { eventId: 3, flags: 1 })
    assert.strictEqual(hex(bytes), "00 00 00 03 00 00 00 00 00 00 00 01")
    assert.deepStrictEqual(roundTrip(Args, { eventId: 3, flags: 1 }), { eventId: 3, flags: 1 })
  })

  it("a failure names the path to the bad item and its byte offset", () => {
    // dom present, its name claims 9 bytes and carries 4
    const bytes = Xdr.encode((w) => w.int(0).uint(1).uint(9).uint(0))
    const error = failure(Args, bytes)
    assert.strictEqual(error.what, "dom.name (string body)")
    assert.strictEqual(error.offset, 12)
    const list = failure(S.array(Domain, 4, 24), Xdr.encode((w) => w.uint(5)))
    assert.strictEqual(`${list.what}@${list.offset}`, "array length@0")
    const items = S.struct({ domains: S.array(Domain, 4) })
    const short = failure(items, Xdr.encode((w) => w.uint(2).string("a").fixedOpaque(new Uint8Array(16)).int(1).string("b").uint(0)))
    assert.strictEqual(short.what, "domains[1].uuid (opaque)")
    assert.strictEqual(short.offset, 40)
  })

  it("a count that cannot fit in the bytes left is refused before anything is allocated", () => {
    const error = failure(S.array(Domain, 16384, 24), Xdr.encode((w) => w.uint(16384)))
    assert.strictEqual(error.what, "array body")
    assert.include(error.detail, "needs 393216 bytes")
  })

  it("an unknown union arm is refused at the discriminant", () => {
    const error = failure(S.union({ 1: S.int }), Xdr.encode((w) => w.int(2).int(0)))
    assert.strictEqual(`${error.what}@${error.offset}`, "union discriminant@0")
  })

  it("a C char array: one int per byte, read up to the NUL", () => {
    const codec = S.charArray(8)
    const bytes = S.encode(codec, "i686")
    assert.strictEqual(bytes.length, 32)
    assert.strictEqual(hex(bytes.subarray(0, 8)), "00 00 00 69 00 00 00 36")
    assert.strictEqual(roundTrip(codec, "i686"), "i686")
    assert.strictEqual(roundTrip(codec, "twelve chars"), "twelve c")
  })

  it("trailing bytes are refused", () => {
    const error = failure(S.int, Xdr.encode((w) => w.int(1).int(2)))
    assert.strictEqual(`${error.what}@${error.offset}`, "trailing bytes@4")
  })
})
