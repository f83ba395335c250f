/**
 * Frame fuzzing shared by the fast test (`npm test`) and the long one (`npm run test:stress`): random frames,
 * mutated frames (bit flips, truncations, huge and tiny lengths) and random bytes, fed to the streaming decoder
 * in random chunks. It checks that nothing throws, that the decoder never holds more than one frame's worth of
 * bytes, and that every stream ends as libvirt's framing rule says: each stream is walked length word by length
 * word (the rule, written out below, not the decoder), and the decoder must return exactly the frames before the
 * first bad length word, then exactly that error with that length, from the chunk that completes that word.
 * A huge or tiny length injected by a mutation is recorded, and must be the one reported.
 */
import * as Frame from "../../src/wire/Frame.ts"
import * as FrameDecoder from "../../src/wire/FrameDecoder.ts"
import { random } from "../../src/simulation/SimulatedLink.ts"

export interface FuzzReport {
  /** The seed the cases were drawn from: `fuzz(cases, seed)` replays them. */
  readonly seed: number
  readonly cases: number
  readonly frames: number
  readonly errors: Readonly<Record<string, number>>
  readonly maxBuffered: number
  /** Cases whose mutation injected a bad length (huge or tiny), and how many of them ended with exactly it. */
  readonly injected: number
  readonly injectedReported: number
}

/** What libvirt's framing makes of a whole stream: the whole frames, then the first bad length word (where it ends), if any. */
const expectedEnd = (
  stream: Uint8Array
): { readonly frames: number; readonly bad?: { readonly tag: "LengthTooSmall" | "LengthTooLarge"; readonly length: number; readonly wordEnd: number } } => {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength)
  let at = 0
  let frames = 0
  while (stream.length - at >= Frame.LENGTH_SIZE) {
    const length = view.getUint32(at)
    const wordEnd = at + Frame.LENGTH_SIZE
    if (length < Frame.MIN_FRAME_SIZE) return { frames, bad: { tag: "LengthTooSmall", length, wordEnd } }
    if (length - Frame.LENGTH_SIZE > Frame.MESSAGE_MAX) return { frames, bad: { tag: "LengthTooLarge", length, wordEnd } }
    if (stream.length - at < length) break
    at += length
    frames++
  }
  return { frames }
}

const validFrame = (next: () => number): Uint8Array => {
  const payload = new Uint8Array(Math.floor(next() * 64) * 4)
  for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(next() * 256)
  return Frame.encode(Frame.make({
    prog: Math.floor(next() * 2 ** 32),
    vers: Math.floor(next() * 4),
    proc: Math.floor(next() * 400),
    type: Math.floor(next() * 7),
    serial: Math.floor(next() * 2 ** 32),
    status: Math.floor(next() * 3)
  }, payload))
}

/** A mutated frame, and the length word it injected when the mutation was a huge or tiny length. */
const mutate = (bytes: Uint8Array, next: () => number): { readonly bytes: Uint8Array; readonly injected?: number } => {
  const out = new Uint8Array(bytes)
  const view = new DataView(out.buffer)
  switch (Math.floor(next() * 5)) {
    case 0: { // bit flips
      const flips = 1 + Math.floor(next() * 4)
      for (let i = 0; i < flips; i++) {
        const at = Math.floor(next() * out.length)
        out[at] = out[at]! ^ (1 << Math.floor(next() * 8))
      }
      return { bytes: out }
    }
    case 1: // truncation
      return { bytes: out.subarray(0, Math.floor(next() * out.length)) }
    case 2: { // a huge length
      const injected = Frame.MESSAGE_MAX + 5 + Math.floor(next() * 2 ** 31)
      view.setUint32(0, injected)
      return { bytes: out, injected }
    }
    case 3: { // a tiny length
      const injected = Math.floor(next() * Frame.MIN_FRAME_SIZE)
      view.setUint32(0, injected)
      return { bytes: out, injected }
    }
    default: { // random bytes
      const junk = new Uint8Array(1 + Math.floor(next() * 64))
      for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(next() * 256)
      return { bytes: junk }
    }
  }
}

/** Runs `cases` fuzz cases from `seed`; throws (failing the test) on any broken expectation. */
export const fuzz = (cases: number, seed: number): FuzzReport => {
  const next = random(seed)
  const errors: Record<string, number> = {}
  let frames = 0
  let maxBuffered = 0
  let injected = 0
  let injectedReported = 0
  for (let c = 0; c < cases; c++) {
    // a stream: a few valid frames, then one mutated frame, then (maybe) more valid frames
    const parts: Array<Uint8Array> = []
    const before = Math.floor(next() * 3)
    for (let i = 0; i < before; i++) parts.push(validFrame(next))
    const bad = mutate(validFrame(next), next)
    parts.push(bad.bytes)
    if (next() < 0.5) parts.push(validFrame(next))
    const total = parts.reduce((n, p) => n + p.length, 0)
    const stream = new Uint8Array(total)
    let at = 0
    for (const p of parts) {
      stream.set(p, at)
      at += p.length
    }
    const expected = expectedEnd(stream)
    // feed it in random chunks
    let state = FrameDecoder.initial
    let offset = 0
    let decoded = 0
    let error: { readonly tag: string; readonly length: number; readonly chunkEnd: number; readonly chunkStart: number } | undefined
    while (offset < stream.length) {
      const size = 1 + Math.floor(next() * 64)
      const step = FrameDecoder.feed(state, stream.subarray(offset, offset + size))
      const start = offset
      offset += size
      state = step.state
      decoded += step.frames.length
      for (const f of step.frames) {
        if (f.payload.length + Frame.MIN_FRAME_SIZE > Frame.MESSAGE_MAX + 4) throw new Error("a frame over the maximum was returned")
      }
      const held = FrameDecoder.buffered(state)
      if (held > maxBuffered) maxBuffered = held
      if (step.error !== undefined) {
        const e = step.error
        if (e._tag !== "LengthTooSmall" && e._tag !== "LengthTooLarge") throw new Error(`untyped error ${String(e)}`)
        if (!e.message.includes(String(e.length))) throw new Error(`the error does not name the length: ${e.message}`)
        errors[e._tag] = (errors[e._tag] ?? 0) + 1
        error = { tag: e._tag, length: e.length, chunkStart: start, chunkEnd: Math.min(offset, stream.length) }
        break
      }
    }
    frames += decoded
    const fail = (what: string) => {
      throw new Error(`case ${c} (seed ${seed}): ${what}; expected ${JSON.stringify(expected)}, got ${decoded} frames and ${JSON.stringify(error)}`)
    }
    if (decoded !== expected.frames) fail("not the frames before the first bad length word")
    if (expected.bad === undefined) {
      if (error !== undefined) fail("an error where the stream has no bad length word")
      continue
    }
    if (error === undefined) fail("no error for a bad length word")
    if (error!.tag !== expected.bad.tag || error!.length !== expected.bad.length) fail("not the error of the first bad length word")
    // refused at the length word itself, not once the bytes it claims have arrived
    if (!(error!.chunkStart < expected.bad.wordEnd && expected.bad.wordEnd <= error!.chunkEnd))
      fail("the error did not come from the chunk that completes the bad length word")
    if (bad.injected !== undefined) {
      injected++
      // a mutated frame follows whole frames only, so its length word is the first bad one
      if (error!.length === bad.injected) injectedReported++
      else fail(`the injected length ${bad.injected} was not the one reported`)
    }
  }
  return { seed, cases, frames, errors, maxBuffered, injected, injectedReported }
}
