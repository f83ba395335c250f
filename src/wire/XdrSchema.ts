/**
 * A small XDR schema layer: codecs for the items of RFC 4506 and their composition into libvirt's structs, each
 * declared once and used both ways.
 *
 * Contract:
 * - A {@link Codec} writes a value of its type and reads one back; the TypeScript type of a struct comes from its
 *   declaration ({@link Type}). A struct's fields are written in the order they are declared; a field whose codec
 *   admits `undefined` (an {@link optional} pointer) is an optional property.
 * - Encoding is total ({@link encode}); the decoder's limits (string, opaque and array maxima) are checked on
 *   {@link decode}, as libvirt's receiving side checks them.
 * - Decoding never throws: {@link decode} returns a `Result` whose failure is an `Xdr.XdrError` with the byte offset
 *   where the bad item starts and, in `what`, the path to it (e.g. `domains[2].uuid (opaque)`), and it refuses
 *   trailing bytes. A count is checked against its maximum and the bytes left before anything is allocated.
 *
 * Pure: no I/O, no clock, no exceptions.
 *
 * @since 0.2.0
 */
import * as Result from "effect/Result"
import * as Xdr from "./Xdr.ts"

/**
 * Writes and reads values of type `A` as XDR.
 *
 * @since 0.2.0
 * @category models
 */
export interface Codec<A> {
  /** Appends `value` to the writer. */
  readonly write: (writer: Xdr.Writer, value: A) => void
  /** Reads one value at the reader's cursor. */
  readonly read: (reader: Xdr.Reader) => Result.Result<A, Xdr.XdrError>
}

/**
 * The type a codec reads and writes.
 *
 * @since 0.2.0
 * @category models
 */
export type Type<C> = C extends Codec<infer A> ? A : never

/**
 * A signed 32-bit int (also every enum and libvirt's `char`, `short` and `unsigned char` fields widened by XDR).
 *
 * @since 0.2.0
 * @category primitives
 */
export const int: Codec<number> = { write: (w, v) => void w.int(v), read: (r) => r.int() }

/**
 * An unsigned 32-bit int.
 *
 * @since 0.2.0
 * @category primitives
 */
export const uint: Codec<number> = { write: (w, v) => void w.uint(v), read: (r) => r.uint() }

/**
 * A signed 64-bit hyper, as a `bigint`.
 *
 * @since 0.2.0
 * @category primitives
 */
export const hyper: Codec<bigint> = { write: (w, v) => void w.hyper(v), read: (r) => r.hyper() }

/**
 * An unsigned 64-bit hyper, as a `bigint`.
 *
 * @since 0.2.0
 * @category primitives
 */
export const uhyper: Codec<bigint> = { write: (w, v) => void w.uhyper(v), read: (r) => r.uhyper() }

/**
 * An XDR bool (0 or 1; anything else is refused on decode).
 *
 * @since 0.2.0
 * @category primitives
 */
export const bool: Codec<boolean> = { write: (w, v) => void w.bool(v), read: (r) => r.bool() }

/**
 * A string of at most `max` UTF-8 bytes (default libvirt's `REMOTE_STRING_MAX`): libvirt's `remote_nonnull_string`.
 *
 * @since 0.2.0
 * @category primitives
 */
export const string = (max: number = Xdr.STRING_MAX): Codec<string> => ({
  write: (w, v) => void w.string(v),
  read: (r) => r.string(max)
})

/**
 * Fixed-length opaque data of `size` bytes (a UUID is `fixedOpaque(16)`). Encoding writes exactly `size` bytes:
 * shorter values are zero-filled, longer ones cut.
 *
 * @since 0.2.0
 * @category primitives
 */
export const fixedOpaque = (size: number): Codec<Uint8Array> => ({
  write: (w, v) => {
    const bytes = new Uint8Array(size)
    bytes.set(v.subarray(0, size))
    w.fixedOpaque(bytes)
  },
  read: (r) => r.fixedOpaque(size)
})

/**
 * Variable-length opaque data of at most `max` bytes.
 *
 * @since 0.2.0
 * @category primitives
 */
export const opaque = (max: number): Codec<Uint8Array> => ({
  write: (w, v) => void w.opaque(v),
  read: (r) => r.opaque(max)
})

/**
 * Nothing: the payload of a procedure without arguments or without a reply.
 *
 * @since 0.2.0
 * @category primitives
 */
export const empty: Codec<void> = { write: () => {}, read: () => Result.void }

/** Puts `step` in front of the path in a failure's `what`: a leaf `string length` becomes `name (string length)`. */
const within = (step: string, error: Xdr.XdrError): Xdr.XdrError => {
  const wrapped = error.what.includes(" (")
  const what = !wrapped ? `${step} (${error.what})` : error.what.startsWith("[") ? `${step}${error.what}` : `${step}.${error.what}`
  return new Xdr.XdrError({ what, offset: error.offset, detail: error.detail })
}

/**
 * An XDR pointer (`T *`): absent is `undefined`.
 *
 * @since 0.2.0
 * @category combinators
 */
export const optional = <A>(codec: Codec<A>): Codec<A | undefined> => ({
  write: (w, v) => void w.optional(v, codec.write),
  read: (r) => r.optional(codec.read)
})

/**
 * A variable-length array of at most `max` elements. `minSize` is the fewest bytes an element takes (4 unless
 * told), used to refuse a count that cannot fit before allocating.
 *
 * @since 0.2.0
 * @category combinators
 */
export const array = <A>(codec: Codec<A>, max: number, minSize = 4): Codec<ReadonlyArray<A>> => ({
  write: (w, values) => {
    w.uint(values.length)
    for (const value of values) codec.write(w, value)
  },
  read: (r) => {
    const count = r.count("array", max, minSize)
    if (Result.isFailure(count)) return Result.fail(count.failure)
    return readItems(r, codec, count.success)
  }
})

/**
 * A fixed-length array of exactly `size` elements (no count on the wire). Encoding writes `size` elements:
 * missing ones are written as `fill`.
 *
 * @since 0.2.0
 * @category combinators
 */
export const fixedArray = <A>(codec: Codec<A>, size: number, fill: A): Codec<ReadonlyArray<A>> => ({
  write: (w, values) => {
    for (let i = 0; i < size; i++) codec.write(w, i < values.length ? values[i]! : fill)
  },
  read: (r) => readItems(r, codec, size)
})

const readItems = <A>(r: Xdr.Reader, codec: Codec<A>, count: number): Result.Result<ReadonlyArray<A>, Xdr.XdrError> => {
  const items = new Array<A>(count)
  for (let i = 0; i < count; i++) {
    const item = codec.read(r)
    if (Result.isFailure(item)) return Result.fail(within(`[${i}]`, item.failure))
    items[i] = item.success
  }
  return Result.succeed(items)
}

/**
 * A C `char name[size]` as rpcgen encodes it: `size` ints, one per byte. Read as the text before the first NUL
 * (UTF-8); written as the UTF-8 bytes, cut to `size` and NUL-filled.
 *
 * @since 0.2.0
 * @category combinators
 */
export const charArray = (size: number): Codec<string> => {
  const items = fixedArray(int, size, 0)
  return transform(
    items,
    (chars) => {
      const bytes = Uint8Array.from(chars, (c) => c & 0xff)
      const nul = bytes.indexOf(0)
      return new TextDecoder().decode(nul < 0 ? bytes : bytes.subarray(0, nul))
    },
    (text) => Array.from(new TextEncoder().encode(text).subarray(0, size), (b) => (b > 127 ? b - 256 : b))
  )
}

/**
 * A codec of `B` over a codec of `A`, with total conversions both ways.
 *
 * @since 0.2.0
 * @category combinators
 */
export const transform = <A, B>(codec: Codec<A>, decode: (a: A) => B, encode: (b: B) => A): Codec<B> => ({
  write: (w, v) => codec.write(w, encode(v)),
  read: (r) => Result.map(codec.read(r), decode)
})

/** Keys whose codec admits `undefined`. */
type OptionalKeys<F> = { [K in keyof F]: undefined extends Type<F[K]> ? K : never }[keyof F]

/**
 * The value of a struct declared with `fields`: every field, the optional pointers as optional properties.
 *
 * @since 0.2.0
 * @category models
 */
export type StructType<F extends Record<string, Codec<any>>> =
  & { readonly [K in Exclude<keyof F, OptionalKeys<F>>]: Type<F[K]> }
  & { readonly [K in OptionalKeys<F>]?: Type<F[K]> }

/**
 * A struct: its fields in declaration order.
 *
 * **Example** (libvirt's `remote_nonnull_domain`)
 *
 * ```ts
 * const Domain = XdrSchema.struct({ name: XdrSchema.string(), uuid: XdrSchema.fixedOpaque(16), id: XdrSchema.int })
 * type Domain = XdrSchema.Type<typeof Domain> // { readonly name: string; readonly uuid: Uint8Array; readonly id: number }
 * ```
 *
 * @since 0.2.0
 * @category combinators
 */
export const struct = <F extends Record<string, Codec<any>>>(fields: F): Codec<Simplify<StructType<F>>> => {
  const entries = Object.entries(fields)
  return {
    write: (w, value) => {
      for (const [key, codec] of entries) codec.write(w, (value as Record<string, unknown>)[key])
    },
    read: (r) => {
      const out: Record<string, unknown> = {}
      for (const [key, codec] of entries) {
        const item = codec.read(r)
        if (Result.isFailure(item)) return Result.fail(within(key, item.failure))
        if (item.success !== undefined) out[key] = item.success
      }
      return Result.succeed(out as Simplify<StructType<F>>)
    }
  }
}

/** Flattens an intersection for readable hover types. */
type Simplify<A> = { [K in keyof A]: A[K] } & {}

/**
 * One arm of a {@link union}: its discriminant and its value.
 *
 * @since 0.2.0
 * @category models
 */
export type UnionType<C extends Record<number, Codec<any>>> = {
  [K in keyof C]: { readonly tag: K; readonly value: Type<C[K]> }
}[keyof C]

/**
 * A discriminated union on an int: the discriminant, then the arm's value. An unknown discriminant is refused on
 * decode (libvirt declares no default arms).
 *
 * @since 0.2.0
 * @category combinators
 */
export const union = <C extends Record<number, Codec<any>>>(arms: C): Codec<UnionType<C>> => ({
  write: (w, v) => {
    w.int(Number(v.tag))
    arms[v.tag as number]!.write(w, v.value)
  },
  read: (r) => {
    const at = r.offset
    const tag = r.int()
    if (Result.isFailure(tag)) return Result.fail(within("discriminant", tag.failure))
    const arm = arms[tag.success]
    if (arm === undefined) {
      return Result.fail(new Xdr.XdrError({ what: "union discriminant", offset: at, detail: `no arm for ${tag.success}` }))
    }
    return Result.map(arm.read(r), (value) => ({ tag: tag.success, value }) as UnionType<C>)
  }
})

/**
 * The bytes of `value` under `codec`.
 *
 * @since 0.2.0
 * @category encoding
 */
export const encode = <A>(codec: Codec<A>, value: A): Uint8Array => Xdr.encode((w) => codec.write(w, value))

/**
 * Decodes all of `bytes` with `codec`: the value, or an `XdrError` naming the path and the byte offset.
 *
 * @since 0.2.0
 * @category decoding
 */
export const decode = <A>(codec: Codec<A>, bytes: Uint8Array): Result.Result<A, Xdr.XdrError> => Xdr.decode(bytes, codec.read)
