/**
 * Minimal XDR (RFC 4506): what libvirt's remote program needs (the items behind {@link XdrSchema}'s codecs).
 *
 * Contract:
 * - Every item is big-endian and takes a multiple of 4 bytes; strings and opaques are zero-padded to 4.
 * - Encoding is total: {@link encode} runs a builder against a fresh {@link Writer} and returns the bytes. Ints are
 *   truncated to 32 bits like the frame header; limits (string and array maxima) are the decoder's business, as in
 *   libvirt, where an oversized value is refused by the receiving side.
 * - Decoding never throws: {@link decode} runs a struct decoder against a fresh {@link Reader} whose every read returns
 *   a `Result` with a typed {@link XdrError} naming what was being read and where, then demands that every byte was
 *   consumed. A length word is checked against its maximum and against the bytes that remain before anything is
 *   allocated, so a hostile length costs nothing.
 * - Decoding is as lenient as glibc's XDR where libvirt relies on it (nonzero padding bytes are accepted) and as strict
 *   as RFC 4506 elsewhere (a bool or pointer flag other than 0 or 1 is refused; libvirt only ever sends 0 or 1).
 *
 * Pure: a Writer or Reader is a local cursor owned by one {@link encode} or {@link decode} call; no I/O, no clock,
 * no exceptions.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"

/**
 * `REMOTE_STRING_MAX` (also `VIR_NET_MESSAGE_STRING_MAX`): the default maximum length of a decoded string.
 *
 * @since 0.1.0
 * @category constants
 */
export const STRING_MAX = 4194304

/**
 * A read that failed: `what` names the item being read (for example "int", "string length", "string body",
 * "string padding", "bool", "pointer", "opaque", "array length", "array body", "trailing bytes"), `offset` is the
 * byte offset where that item starts, and `detail` says what was wrong with it.
 *
 * @since 0.1.0
 * @category errors
 */
export class XdrError extends Data.TaggedError("XdrError")<{
  readonly what: string
  readonly offset: number
  readonly detail: string
}> {
  override get message(): string {
    return `XDR ${this.what} at offset ${this.offset}: ${this.detail}`
  }
}

const padding = (length: number): number => (4 - (length & 3)) & 3

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder("utf-8")

/**
 * A growable XDR buffer builder. Each method appends one item and returns the writer, so struct encoders read as a
 * chain. Use it through {@link encode}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Writer {
  /** Appends a signed 32-bit int (the value is truncated to 32 bits). */
  int(value: number): Writer
  /** Appends an unsigned 32-bit int (the value is truncated to 32 bits). */
  uint(value: number): Writer
  /** Appends a bool: 1 or 0. */
  bool(value: boolean): Writer
  /** Appends a string: its UTF-8 byte length, the bytes, zero padding to 4. */
  string(value: string): Writer
  /** Appends an optional string (an XDR pointer): 0, or 1 and the string. */
  optionalString(value: string | undefined): Writer
  /** Appends an XDR pointer: 0 for `undefined`, else 1 and whatever `write` appends for the value. */
  optional<A>(value: A | undefined, write: (writer: Writer, value: A) => void): Writer
  /** Appends fixed-length opaque data and its zero padding to 4. */
  fixedOpaque(bytes: Uint8Array): Writer
  /** Appends a variable-length array of signed ints: the count, then each int. */
  intArray(values: ReadonlyArray<number>): Writer
  /** Appends a signed 64-bit hyper (the value is truncated to 64 bits). */
  hyper(value: bigint): Writer
  /** Appends an unsigned 64-bit hyper (the value is truncated to 64 bits). */
  uhyper(value: bigint): Writer
  /** Appends variable-length opaque data: its length, the bytes, zero padding to 4. */
  opaque(bytes: Uint8Array): Writer
}

class WriterImpl implements Writer {
  private bytes: Uint8Array
  private view: DataView
  length = 0

  constructor(capacity: number) {
    this.bytes = new Uint8Array(Math.max(16, capacity))
    this.view = new DataView(this.bytes.buffer)
  }

  private ensure(extra: number): void {
    const needed = this.length + extra
    if (needed <= this.bytes.length) return
    let capacity = this.bytes.length * 2
    while (capacity < needed) capacity *= 2
    const next = new Uint8Array(capacity)
    next.set(this.bytes.subarray(0, this.length))
    this.bytes = next
    this.view = new DataView(next.buffer)
  }

  int(value: number): Writer {
    this.ensure(4)
    this.view.setInt32(this.length, value | 0)
    this.length += 4
    return this
  }

  uint(value: number): Writer {
    this.ensure(4)
    this.view.setUint32(this.length, value >>> 0)
    this.length += 4
    return this
  }

  bool(value: boolean): Writer {
    return this.uint(value ? 1 : 0)
  }

  string(value: string): Writer {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    this.ensure(4 + value.length * 3 + 3)
    const start = this.length + 4
    const { written } = utf8Encoder.encodeInto(value, this.bytes.subarray(start))
    this.view.setUint32(this.length, written)
    const end = start + written
    const padded = end + padding(written)
    this.bytes.fill(0, end, padded)
    this.length = padded
    return this
  }

  optionalString(value: string | undefined): Writer {
    return value === undefined ? this.uint(0) : this.uint(1).string(value)
  }

  optional<A>(value: A | undefined, write: (writer: Writer, value: A) => void): Writer {
    if (value === undefined) return this.uint(0)
    this.uint(1)
    write(this, value)
    return this
  }

  fixedOpaque(bytes: Uint8Array): Writer {
    const padded = bytes.length + padding(bytes.length)
    this.ensure(padded)
    this.bytes.set(bytes, this.length)
    this.bytes.fill(0, this.length + bytes.length, this.length + padded)
    this.length += padded
    return this
  }

  intArray(values: ReadonlyArray<number>): Writer {
    this.ensure(4 + values.length * 4)
    this.uint(values.length)
    for (const value of values) this.int(value)
    return this
  }

  hyper(value: bigint): Writer {
    this.ensure(8)
    this.view.setBigInt64(this.length, BigInt.asIntN(64, value))
    this.length += 8
    return this
  }

  uhyper(value: bigint): Writer {
    this.ensure(8)
    this.view.setBigUint64(this.length, BigInt.asUintN(64, value))
    this.length += 8
    return this
  }

  opaque(bytes: Uint8Array): Writer {
    return this.uint(bytes.length).fixedOpaque(bytes)
  }

  finish(): Uint8Array {
    return this.length === this.bytes.length ? this.bytes : this.bytes.slice(0, this.length)
  }
}

/**
 * Runs `build` against a fresh {@link Writer} and returns exactly the bytes it appended.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (build: (writer: Writer) => void, initialCapacity = 64): Uint8Array => {
  const writer = new WriterImpl(initialCapacity)
  build(writer)
  return writer.finish()
}

/**
 * A cursor over a byte array. Each read returns a `Result`; a successful read advances the cursor past the item and
 * its padding, a failed read leaves it where it was. Use it through {@link decode}, where it pairs naturally with
 * `Result.gen`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reader {
  /** The offset of the next unread byte. */
  readonly offset: number
  /** How many bytes are left to read. */
  readonly remaining: number
  /** Reads a signed 32-bit int. */
  int(): Result.Result<number, XdrError>
  /** Reads an unsigned 32-bit int. */
  uint(): Result.Result<number, XdrError>
  /** Reads a bool, refusing anything but 0 and 1. */
  bool(): Result.Result<boolean, XdrError>
  /** Reads a string of at most `max` bytes (default {@link STRING_MAX}) as UTF-8; invalid sequences become U+FFFD. */
  string(max?: number): Result.Result<string, XdrError>
  /** Reads an optional string (an XDR pointer): `undefined` when absent. */
  optionalString(max?: number): Result.Result<string | undefined, XdrError>
  /** Reads an XDR pointer: the 0|1 flag, then, if 1, the value with `read`. */
  optional<A>(read: (reader: Reader) => Result.Result<A, XdrError>): Result.Result<A | undefined, XdrError>
  /** Reads `size` bytes of fixed-length opaque data and their padding; returns a copy. */
  fixedOpaque(size: number): Result.Result<Uint8Array, XdrError>
  /** Reads a variable-length array of signed ints of at most `max` elements. */
  intArray(max: number): Result.Result<ReadonlyArray<number>, XdrError>
  /** Reads a signed 64-bit hyper. */
  hyper(): Result.Result<bigint, XdrError>
  /** Reads an unsigned 64-bit hyper. */
  uhyper(): Result.Result<bigint, XdrError>
  /** Reads variable-length opaque data of at most `max` bytes; returns a copy. */
  opaque(max: number): Result.Result<Uint8Array, XdrError>
  /**
   * Reads the count of a variable-length array named `name` (the cursor moves past the count word), refusing a
   * count above `max` or one whose `minSize`-byte elements could not fit in the bytes left.
   */
  count(name: string, max: number, minSize: number): Result.Result<number, XdrError>
  /** Succeeds when every byte has been read, else fails with "trailing bytes". */
  end(): Result.Result<void, XdrError>
}

class ReaderImpl implements Reader {
  readonly bytes: Uint8Array
  readonly view: DataView
  offset = 0

  constructor(bytes: Uint8Array) {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get remaining(): number {
    return this.bytes.length - this.offset
  }

  private shortError(what: string, at: number, needed: number): XdrError {
    return new XdrError({ what, offset: at, detail: `needs ${needed} bytes, ${this.bytes.length - at} remain` })
  }

  private short(what: string, at: number, needed: number): Result.Result<never, XdrError> {
    return Result.fail(this.shortError(what, at, needed))
  }

  int(): Result.Result<number, XdrError> {
    return this.word("int", true)
  }

  uint(): Result.Result<number, XdrError> {
    return this.word("uint", false)
  }

  private word(what: string, signed: boolean): Result.Result<number, XdrError> {
    const at = this.offset
    if (this.bytes.length - at < 4) return this.short(what, at, 4)
    this.offset = at + 4
    return Result.succeed(signed ? this.view.getInt32(at) : this.view.getUint32(at))
  }

  /** Reads a 0|1 word: the boolean, or the error (not wrapped, so callers can re-type it cheaply). */
  private flag(what: string): boolean | XdrError {
    const at = this.offset
    if (this.bytes.length - at < 4) return this.shortError(what, at, 4)
    const value = this.view.getUint32(at)
    if (value > 1) return new XdrError({ what, offset: at, detail: `value ${value} is neither 0 nor 1` })
    this.offset = at + 4
    return value === 1
  }

  bool(): Result.Result<boolean, XdrError> {
    const value = this.flag("bool")
    return typeof value === "boolean" ? Result.succeed(value) : Result.fail(value)
  }

  /**
   * Reads a length word and checks it against `max` and against the bytes left, before anything is allocated;
   * returns the count (cursor unmoved) or the error.
   */
  private counted(name: string, max: number, unit: number): number | XdrError {
    const at = this.offset
    if (this.bytes.length - at < 4) return this.shortError(`${name} length`, at, 4)
    const count = this.view.getUint32(at)
    if (count > max) {
      return new XdrError({ what: `${name} length`, offset: at, detail: `length ${count} exceeds the maximum ${max}` })
    }
    const size = count * unit
    const body = at + 4
    if (size > this.bytes.length - body) {
      return new XdrError({
        what: `${name} body`,
        offset: body,
        detail: `length ${count} needs ${size} bytes, ${this.bytes.length - body} remain`
      })
    }
    return count
  }

  string(max: number = STRING_MAX): Result.Result<string, XdrError> {
    const length = this.counted("string", max, 1)
    if (typeof length !== "number") return Result.fail(length)
    const start = this.offset + 4
    const end = start + length
    const padded = end + padding(length)
    if (padded > this.bytes.length) return this.short("string padding", end, padded - end)
    this.offset = padded
    return Result.succeed(utf8Decoder.decode(this.bytes.subarray(start, end)))
  }

  optionalString(max: number = STRING_MAX): Result.Result<string | undefined, XdrError> {
    return this.optional((reader) => reader.string(max))
  }

  optional<A>(read: (reader: Reader) => Result.Result<A, XdrError>): Result.Result<A | undefined, XdrError> {
    const at = this.offset
    const present = this.flag("pointer")
    if (typeof present !== "boolean") return Result.fail(present)
    if (!present) return Result.succeed(undefined)
    const value = read(this)
    if (Result.isFailure(value)) this.offset = at
    return value
  }

  fixedOpaque(size: number): Result.Result<Uint8Array, XdrError> {
    const at = this.offset
    const padded = size + padding(size)
    if (this.bytes.length - at < padded) return this.short("opaque", at, padded)
    this.offset = at + padded
    return Result.succeed(this.bytes.slice(at, at + size))
  }

  intArray(max: number): Result.Result<ReadonlyArray<number>, XdrError> {
    const count = this.counted("array", max, 4)
    if (typeof count !== "number") return Result.fail(count)
    const values = new Array<number>(count)
    let at = this.offset + 4
    for (let i = 0; i < count; i++) {
      values[i] = this.view.getInt32(at)
      at += 4
    }
    this.offset = at
    return Result.succeed(values)
  }

  hyper(): Result.Result<bigint, XdrError> {
    return this.wide("hyper", true)
  }

  uhyper(): Result.Result<bigint, XdrError> {
    return this.wide("unsigned hyper", false)
  }

  private wide(what: string, signed: boolean): Result.Result<bigint, XdrError> {
    const at = this.offset
    if (this.bytes.length - at < 8) return this.short(what, at, 8)
    this.offset = at + 8
    return Result.succeed(signed ? this.view.getBigInt64(at) : this.view.getBigUint64(at))
  }

  opaque(max: number): Result.Result<Uint8Array, XdrError> {
    const length = this.counted("opaque", max, 1)
    if (typeof length !== "number") return Result.fail(length)
    const start = this.offset + 4
    const padded = start + length + padding(length)
    if (padded > this.bytes.length) return this.short("opaque padding", start + length, padded - start - length)
    this.offset = padded
    return Result.succeed(this.bytes.slice(start, start + length))
  }

  count(name: string, max: number, minSize: number): Result.Result<number, XdrError> {
    const count = this.counted(name, max, minSize)
    if (typeof count !== "number") return Result.fail(count)
    this.offset += 4
    return Result.succeed(count)
  }

  end(): Result.Result<void, XdrError> {
    return this.offset === this.bytes.length ? Result.void : Result.fail(this.trailing())
  }

  trailing(): XdrError {
    return new XdrError({
      what: "trailing bytes",
      offset: this.offset,
      detail: `${this.bytes.length - this.offset} bytes left unread`
    })
  }
}

/**
 * A fresh {@link Reader} at offset 0 of `bytes`. The bytes are only read, never kept beyond the values returned
 * (strings are decoded, opaques copied).
 *
 * @since 0.1.0
 * @category decoding
 */
export const reader = (bytes: Uint8Array): Reader => new ReaderImpl(bytes)

/**
 * Runs a struct decoder against a fresh {@link Reader} over `bytes`, then requires that every byte was read.
 *
 * **Example** (A two-field struct)
 *
 * ```ts
 * const decodeArgs = (bytes: Uint8Array) =>
 *   Xdr.decode(bytes, (r) => Result.gen(function*() {
 *     const name = yield* r.optionalString()
 *     const flags = yield* r.uint()
 *     return { name, flags }
 *   }))
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = <A>(
  bytes: Uint8Array,
  read: (reader: Reader) => Result.Result<A, XdrError>,
  trailing: "refuse" | "ignore" = "refuse"
): Result.Result<A, XdrError> => {
  const r = new ReaderImpl(bytes)
  const value = read(r)
  if (Result.isFailure(value) || trailing === "ignore") return value
  return r.remaining === 0 ? value : Result.fail(r.trailing())
}
