import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Result, Schema } from "effect"
import * as Frame from "../../src/wire/Frame.ts"
import * as FrameDecoder from "../../src/wire/FrameDecoder.ts"
import * as Property from "../helpers/Property.ts"

// ---------------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------------

const Uint32 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffffffff }))
const Int32 = Schema.Int.check(Schema.isBetween({ minimum: -0x80000000, maximum: 0x7fffffff }))
const HeaderSchema = Schema.Struct({ prog: Uint32, vers: Uint32, proc: Int32, type: Int32, serial: Uint32, status: Int32 })
const FrameSchema = Schema.Struct({ header: HeaderSchema, payload: Schema.Uint8Array })
const Frames = Arbitrary.array(Arbitrary.schema(FrameSchema), { maxLength: 12 })
const SplitPoints = Arbitrary.array(Arbitrary.schema(Uint32), { maxLength: 40 })

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const lengthWord = (length: number): Uint8Array => {
  const bytes = new Uint8Array(4)
  new DataView(bytes.buffer).setUint32(0, length)
  return bytes
}

/** Cuts `bytes` at the given points (taken modulo length + 1); empty chunks are kept on purpose. */
const chunk = (bytes: Uint8Array, points: ReadonlyArray<number>): Array<Uint8Array> => {
  const cuts = points.map((p) => p % (bytes.length + 1)).sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let from = 0
  for (const cut of cuts) {
    chunks.push(bytes.slice(from, cut))
    from = cut
  }
  chunks.push(bytes.slice(from))
  return chunks
}

interface Outcome {
  readonly frames: ReadonlyArray<Frame.Frame>
  readonly error: { readonly _tag: string; readonly length: number } | undefined
  readonly buffered: number
}

/** Feeds every chunk, checking that nothing follows an error, and collects what came out. */
const run = (chunks: ReadonlyArray<Uint8Array>): Outcome => {
  let state = FrameDecoder.initial
  const frames: Array<Frame.Frame> = []
  let error: FrameDecoder.FrameError | undefined
  for (const c of chunks) {
    const step = FrameDecoder.feed(state, c)
    if (error !== undefined) {
      assert.strictEqual(step.frames.length, 0)
      assert.strictEqual(step.error, error)
    }
    if (step.error !== undefined) {
      assert.isTrue(step.error instanceof FrameDecoder.LengthTooSmall || step.error instanceof FrameDecoder.LengthTooLarge)
      assert.strictEqual(FrameDecoder.buffered(step.state), 0)
    }
    frames.push(...step.frames)
    error ??= step.error
    state = step.state
  }
  return {
    frames,
    error: error === undefined ? undefined : { _tag: error._tag, length: error.length },
    buffered: FrameDecoder.buffered(state)
  }
}

/** A straightforward whole-buffer decoder, written independently of the one under test. */
const model = (bytes: Uint8Array): Outcome => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const frames: Array<Frame.Frame> = []
  let at = 0
  while (bytes.length - at >= 4) {
    const length = view.getUint32(at)
    if (length < 28) return { frames, error: { _tag: "LengthTooSmall", length }, buffered: 0 }
    if (length - 4 > 33554432) return { frames, error: { _tag: "LengthTooLarge", length }, buffered: 0 }
    if (bytes.length - at < length) break
    frames.push({
      header: {
        prog: view.getUint32(at + 4),
        vers: view.getUint32(at + 8),
        proc: view.getInt32(at + 12),
        type: view.getInt32(at + 16),
        serial: view.getUint32(at + 20),
        status: view.getInt32(at + 24)
      },
      payload: bytes.slice(at + 28, at + length)
    })
    at += length
  }
  return { frames, error: undefined, buffered: bytes.length - at }
}

/** Frames compared by value (header fields and payload bytes). */
const plain = (frames: ReadonlyArray<Frame.Frame>) => frames.map((f) => ({ header: { ...f.header }, payload: Array.from(f.payload) }))

const assertSameOutcome = (actual: Outcome, expected: Outcome): void => {
  assert.deepStrictEqual(plain(actual.frames), plain(expected.frames))
  assert.deepStrictEqual(actual.error, expected.error)
  assert.strictEqual(actual.buffered, expected.buffered)
}

const encodeAll = (frames: ReadonlyArray<Frame.Frame>): Uint8Array => concat(frames.map(Frame.encode))

const payloadOf = (size: number, seed: number): Uint8Array => {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed) & 0xff
  return bytes
}

/** Runs of the property over interesting length words: enough for each of the 12 words, and none, several times. */
const LENGTH_RUNS = 400
const InterestingLength = Schema.UndefinedOr(
  Schema.Literals([0, 3, 4, 5, 27, 28, 29, 40, 33554436, 33554437, 0x7fffffff, 0xffffffff])
)

// ---------------------------------------------------------------------------------------------------------------
// properties
// ---------------------------------------------------------------------------------------------------------------

describe("FrameDecoder properties", () => {
  it.prop("any chunking of encoded frames yields the frames, as one feed does", [Frames, SplitPoints], ([frames, points]) => {
    const bytes = encodeAll(frames)
    const whole = run([bytes])
    assert.deepStrictEqual(plain(whole.frames), plain(frames))
    assert.strictEqual(whole.error, undefined)
    assert.strictEqual(whole.buffered, 0)
    assertSameOutcome(run(chunk(bytes, points)), whole)
  }, Property.options())

  it.prop(
    "random bytes never throw and agree with a whole-buffer model under any chunking",
    [Schema.Uint8Array, SplitPoints],
    ([bytes, points]) => {
      const expected = model(bytes)
      assertSameOutcome(run([bytes]), expected)
      assertSameOutcome(run(chunk(bytes, points)), expected)
    },
    Property.options()
  )

  it.prop(
    "frames, then noise behind an interesting length word, then frames: same outcome as the model",
    {
      before: Frames,
      length: InterestingLength,
      noise: Schema.Uint8Array,
      after: Frames,
      cut: Uint32,
      points: SplitPoints
    },
    ({ before, length, noise, after, cut, points }) => {
      const full = concat([
        encodeAll(before),
        length === undefined ? new Uint8Array(0) : lengthWord(length),
        noise,
        encodeAll(after)
      ])
      const bytes = full.subarray(0, full.length - (cut % (full.length + 1)))
      const expected = model(bytes)
      assertSameOutcome(run([bytes]), expected)
      assertSameOutcome(run(chunk(bytes, points)), expected)
    },
    Property.options(LENGTH_RUNS)
  )

  it.prop("feeding the same state twice with the same chunk gives equal results", [Frames, SplitPoints], ([frames, points]) => {
    const chunks = chunk(encodeAll(frames), points)
    let state = FrameDecoder.initial
    for (const c of chunks) {
      const a = FrameDecoder.feed(state, c)
      const b = FrameDecoder.feed(state, c)
      assert.deepStrictEqual(plain(a.frames), plain(b.frames))
      assert.strictEqual(a.error, b.error)
      assert.strictEqual(FrameDecoder.buffered(a.state), FrameDecoder.buffered(b.state))
      state = a.state
    }
  }, Property.options())

  it("the generators reach the cases the properties are about", () => {
    // chunkings that cut inside a length word, inside a header and inside a payload, of streams of several frames
    const cuts = Property.coverage<[ReadonlyArray<Frame.Frame>, ReadonlyArray<number>]>([Frames, SplitPoints], ([frames, points]) => {
      const classes: Array<string> = []
      if (frames.length >= 2) classes.push("2+ frames")
      if (frames.some((f) => f.payload.length > 0)) classes.push("a payload")
      const starts: Array<number> = []
      let at = 0
      for (const f of frames) {
        starts.push(at)
        at += Frame.MIN_FRAME_SIZE + f.payload.length
      }
      for (const p of points) {
        const cut = p % (at + 1)
        const start = [...starts].reverse().find((s) => s <= cut)
        if (start === undefined || cut === start) continue
        classes.push(
          cut - start < Frame.LENGTH_SIZE ? "a cut in a length word" : cut - start < Frame.MIN_FRAME_SIZE ? "a cut in a header" : "a cut in a payload"
        )
      }
      return new Set(classes)
    })
    console.log(Property.describeCoverage("FrameDecoder chunkings", cuts))
    for (const k of ["2+ frames", "a payload", "a cut in a header"]) assert.isAtLeast((cuts.counts[k] ?? 0) / cuts.runs, 0.3, k)
    for (const k of ["a cut in a length word", "a cut in a payload"]) assert.isAtLeast((cuts.counts[k] ?? 0) / cuts.runs, 0.1, k)
    // every interesting length word, and none, behind the frames
    const lengths = Property.coverage<{ length: number | undefined }>(
      { before: Frames, length: InterestingLength, noise: Schema.Uint8Array, after: Frames, cut: Uint32, points: SplitPoints },
      ({ length }) => [String(length)],
      LENGTH_RUNS
    )
    console.log(Property.describeCoverage("FrameDecoder length words", lengths))
    for (const length of ["undefined", "0", "3", "4", "5", "27", "28", "29", "40", "33554436", "33554437", "2147483647", "4294967295"]) {
      assert.isAtLeast(lengths.counts[length] ?? 0, 5, `length word ${length}`)
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------
// examples
// ---------------------------------------------------------------------------------------------------------------

describe("FrameDecoder", () => {
  it("decodes PING and PONG from one chunk", () => {
    const step = FrameDecoder.feed(FrameDecoder.initial, concat([Frame.PING_BYTES, Frame.PONG_BYTES]))
    assert.strictEqual(step.error, undefined)
    assert.deepStrictEqual(step.frames.map((f) => f.header), [Frame.PING.header, Frame.PONG.header])
    assert.strictEqual(FrameDecoder.buffered(step.state), 0)
  })

  it("waits for a length word split over several chunks", () => {
    let state = FrameDecoder.initial
    for (let i = 0; i < 27; i++) {
      const step = FrameDecoder.feed(state, Frame.PING_BYTES.subarray(i, i + 1))
      assert.strictEqual(step.frames.length, 0)
      assert.strictEqual(step.error, undefined)
      assert.strictEqual(FrameDecoder.buffered(step.state), i + 1)
      state = step.state
    }
    const last = FrameDecoder.feed(state, Frame.PING_BYTES.subarray(27))
    assert.deepStrictEqual(last.frames.map((f) => f.header), [Frame.PING.header])
    assert.strictEqual(FrameDecoder.buffered(last.state), 0)
  })

  it("an empty chunk returns the same state and no frames", () => {
    const half = FrameDecoder.feed(FrameDecoder.initial, Frame.PING_BYTES.subarray(0, 10)).state
    for (const state of [FrameDecoder.initial, half]) {
      const step = FrameDecoder.feed(state, new Uint8Array(0))
      assert.strictEqual(step.state, state)
      assert.strictEqual(step.frames.length, 0)
      assert.strictEqual(step.error, undefined)
    }
  })

  it("accepts the smallest frame (length 28) and a length word of exactly MESSAGE_MAX + 4", () => {
    assert.deepStrictEqual(FrameDecoder.feed(FrameDecoder.initial, lengthWord(28)).error, undefined)
    const step = FrameDecoder.feed(FrameDecoder.initial, lengthWord(Frame.MESSAGE_MAX + 4))
    assert.strictEqual(step.error, undefined)
    assert.strictEqual(FrameDecoder.buffered(step.state), 4)
  })

  for (const length of [0, 3, 4, 5, 27]) {
    it(`a length word of ${length} is LengthTooSmall, whole or split`, () => {
      const whole = FrameDecoder.feed(FrameDecoder.initial, concat([lengthWord(length), new Uint8Array(40)]))
      assert.instanceOf(whole.error, FrameDecoder.LengthTooSmall)
      assert.strictEqual(whole.error?._tag, "LengthTooSmall")
      assert.strictEqual(whole.error?.length, length)
      assert.include(whole.error?.message, `length word ${length} `)
      assert.strictEqual(whole.frames.length, 0)
      assert.strictEqual(FrameDecoder.buffered(whole.state), 0)

      const first = FrameDecoder.feed(FrameDecoder.initial, lengthWord(length).subarray(0, 3))
      assert.strictEqual(first.error, undefined)
      const split = FrameDecoder.feed(first.state, lengthWord(length).subarray(3))
      assert.instanceOf(split.error, FrameDecoder.LengthTooSmall)
      assert.strictEqual(split.error?.length, length)
    })
  }

  for (const length of [0xffffffff, Frame.MESSAGE_MAX + 5, 0x80000000]) {
    it(`a length word of ${length} is LengthTooLarge and nothing is buffered`, () => {
      const step = FrameDecoder.feed(FrameDecoder.initial, lengthWord(length))
      assert.instanceOf(step.error, FrameDecoder.LengthTooLarge)
      assert.strictEqual(step.error?._tag, "LengthTooLarge")
      assert.strictEqual(step.error?.length, length)
      assert.include(step.error?.message, `length word ${length} `)
      assert.include(step.error?.message, `${Frame.MESSAGE_MAX}`)
      assert.strictEqual(FrameDecoder.buffered(step.state), 0)
    })
  }

  it("does not allocate the size a (legal) length word claims", () => {
    const before = process.memoryUsage().arrayBuffers
    let state = FrameDecoder.initial
    // A 32 MiB frame announced, then 1000 bytes of it: only those bytes are held.
    state = FrameDecoder.feed(state, lengthWord(Frame.MESSAGE_MAX + 4)).state
    state = FrameDecoder.feed(state, new Uint8Array(1000)).state
    assert.strictEqual(FrameDecoder.buffered(state), 1004)
    const grown = process.memoryUsage().arrayBuffers - before
    assert.isBelow(grown, 8 * 1024 * 1024)
  })

  it("returns the frames before a bad length word in the same chunk", () => {
    const bytes = concat([Frame.PING_BYTES, Frame.PONG_BYTES, lengthWord(7), Frame.PING_BYTES])
    const step = FrameDecoder.feed(FrameDecoder.initial, bytes)
    assert.deepStrictEqual(step.frames.map((f) => f.header), [Frame.PING.header, Frame.PONG.header])
    assert.instanceOf(step.error, FrameDecoder.LengthTooSmall)
    assert.strictEqual(step.error?.length, 7)
  })

  it("returns a frame completed from pending bytes before a bad length word", () => {
    const first = FrameDecoder.feed(FrameDecoder.initial, Frame.PING_BYTES.subarray(0, 20))
    const step = FrameDecoder.feed(first.state, concat([Frame.PING_BYTES.subarray(20), lengthWord(0xffffffff)]))
    assert.deepStrictEqual(step.frames.map((f) => f.header), [Frame.PING.header])
    assert.instanceOf(step.error, FrameDecoder.LengthTooLarge)
  })

  it("a failed state is terminal: no frames and the same error forever", () => {
    const failed = FrameDecoder.feed(FrameDecoder.initial, lengthWord(1))
    const error = failed.error
    assert.isDefined(error)
    for (const c of [Frame.PING_BYTES, new Uint8Array(0), Frame.PONG_BYTES.subarray(0, 3)]) {
      const step = FrameDecoder.feed(failed.state, c)
      assert.strictEqual(step.frames.length, 0)
      assert.strictEqual(step.error, error)
      assert.strictEqual(FrameDecoder.buffered(step.state), 0)
    }
  })

  it("states are immutable: an old state can be continued in two different ways", () => {
    const a = Frame.encode(Frame.make(Frame.keepaliveHeader(1), Uint8Array.of(1, 2, 3, 4)))
    const b = Frame.encode(Frame.make(Frame.keepaliveHeader(1), Uint8Array.of(5, 6, 7, 8)))
    const half = FrameDecoder.feed(FrameDecoder.initial, a.subarray(0, 30)).state
    const withA = FrameDecoder.feed(half, a.subarray(30))
    const withB = FrameDecoder.feed(half, b.subarray(30))
    assert.deepStrictEqual(Array.from(withA.frames[0]!.payload), [1, 2, 3, 4])
    assert.deepStrictEqual(Array.from(withB.frames[0]!.payload), [1, 2, 7, 8])
    assert.strictEqual(FrameDecoder.buffered(half), 30)
  })

  it("keeps no reference to the caller's chunks", () => {
    const frame = Frame.encode(Frame.make(Frame.keepaliveHeader(1), Uint8Array.of(1, 2, 3, 4, 5, 6)))
    const bytes = concat([Frame.PING_BYTES, frame])
    // Cuts inside the length word, the header and the payload, with and without a whole frame in front.
    const patterns = [[1, 2, 3, 29, 30, 31], [28, 30, 38, 59], [33, 60], [5, 40], [58, 61]]
    for (const cuts of patterns) {
      let state = FrameDecoder.initial
      const frames: Array<Frame.Frame> = []
      for (const piece of chunk(bytes, cuts)) {
        const step = FrameDecoder.feed(state, piece)
        piece.fill(0xee) // the caller reuses its read buffer
        frames.push(...step.frames)
        state = step.state
      }
      assert.strictEqual(frames.length, 2, `cuts ${cuts}`)
      assert.deepStrictEqual(frames[0]!.header, Frame.PING.header, `cuts ${cuts}`)
      assert.deepStrictEqual(frames[1]!.header, Frame.keepaliveHeader(1), `cuts ${cuts}`)
      assert.deepStrictEqual(Array.from(frames[1]!.payload), [1, 2, 3, 4, 5, 6], `cuts ${cuts}`)
    }
  })

  it("gives plain, unaliased Uint8Array payloads for Node Buffer input", () => {
    const buffer = Buffer.from(Frame.encode(Frame.make(Frame.keepaliveHeader(2), Uint8Array.of(9, 9))))
    const step = FrameDecoder.feed(FrameDecoder.initial, buffer)
    const payload = step.frames[0]!.payload
    assert.isFalse(Buffer.isBuffer(payload))
    assert.notStrictEqual(payload.buffer, buffer.buffer)
    assert.deepStrictEqual(Array.from(payload), [9, 9])
  })

  it("decodes many small frames in one chunk", () => {
    const count = 10_000
    const bytes = concat(Array.from({ length: count }, (_, i) => (i % 2 === 0 ? Frame.PING_BYTES : Frame.PONG_BYTES)))
    const step = FrameDecoder.feed(FrameDecoder.initial, bytes)
    assert.strictEqual(step.frames.length, count)
    assert.strictEqual(step.frames[count - 1]!.header.proc, Frame.KeepaliveProc.Pong)
    assert.strictEqual(FrameDecoder.buffered(step.state), 0)
  })

  it("assembles a 64 KiB frame fed one byte at a time", () => {
    const payload = payloadOf(64 * 1024, 7)
    const bytes = Frame.encode(Frame.make(Frame.keepaliveHeader(1), payload))
    let state = FrameDecoder.initial
    for (let i = 0; i < bytes.length - 1; i++) {
      const step = FrameDecoder.feed(state, bytes.subarray(i, i + 1))
      if (step.frames.length !== 0 || step.error !== undefined) assert.fail(`unexpected output at byte ${i}`)
      state = step.state
    }
    assert.strictEqual(FrameDecoder.buffered(state), bytes.length - 1)
    const last = FrameDecoder.feed(state, bytes.subarray(bytes.length - 1))
    assert.strictEqual(last.frames.length, 1)
    assert.deepStrictEqual(last.frames[0]!.payload, payload)
  })

  it("assembles a 1 MiB frame fed in 4 KiB chunks, then the frames that share its last chunk", () => {
    const payload = payloadOf(1024 * 1024, 3)
    const bytes = concat([
      Frame.encode(Frame.make(Frame.keepaliveHeader(1), payload)),
      Frame.PING_BYTES,
      Frame.PONG_BYTES.subarray(0, 10)
    ])
    let state = FrameDecoder.initial
    const frames: Array<Frame.Frame> = []
    for (let at = 0; at < bytes.length; at += 4096) {
      const step = FrameDecoder.feed(state, bytes.subarray(at, at + 4096))
      assert.strictEqual(step.error, undefined)
      frames.push(...step.frames)
      state = step.state
    }
    assert.strictEqual(frames.length, 2)
    assert.deepStrictEqual(frames[0]!.payload, payload)
    assert.deepStrictEqual(frames[1]!.header, Frame.PING.header)
    assert.strictEqual(FrameDecoder.buffered(state), 10)
  })
})

describe("FrameDecoder.decodeAll", () => {
  it("decodes a complete byte string", () => {
    const result = FrameDecoder.decodeAll(concat([Frame.PING_BYTES, Frame.PONG_BYTES]))
    assert.isTrue(Result.isSuccess(result))
    if (Result.isSuccess(result)) {
      assert.deepStrictEqual(result.success.map((f) => f.header.proc), [1, 2])
    }
    const empty = FrameDecoder.decodeAll(new Uint8Array(0))
    assert.isTrue(Result.isSuccess(empty) && empty.success.length === 0)
  })

  it("reports leftover bytes as Incomplete", () => {
    const result = FrameDecoder.decodeAll(concat([Frame.PING_BYTES, Frame.PONG_BYTES.subarray(0, 5)]))
    assert.isTrue(Result.isFailure(result))
    if (Result.isFailure(result)) {
      assert.instanceOf(result.failure, FrameDecoder.Incomplete)
      assert.strictEqual(result.failure._tag, "Incomplete")
      if (result.failure._tag === "Incomplete") {
        assert.strictEqual(result.failure.buffered, 5)
        assert.include(result.failure.message, "5 bytes")
      }
    }
  })

  it("reports a framing error", () => {
    const result = FrameDecoder.decodeAll(concat([Frame.PING_BYTES, lengthWord(0xffffffff)]))
    assert.isTrue(Result.isFailure(result))
    if (Result.isFailure(result)) {
      assert.instanceOf(result.failure, FrameDecoder.LengthTooLarge)
    }
  })
})
