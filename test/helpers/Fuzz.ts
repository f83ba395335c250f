/**
 * Frame fuzzing shared by the fast test (`npm test`) and the long one (`npm run test:stress`): random frames,
 * mutated frames (bit flips, truncations, huge and tiny lengths) and random bytes, fed to the streaming decoder
 * in random chunks. It checks that nothing throws, that the decoder never holds more than one frame's worth of
 * bytes, and that every bad length gets a typed error naming it.
 */
import * as Frame from "../../src/wire/Frame.ts"
import * as FrameDecoder from "../../src/wire/FrameDecoder.ts"
import { random } from "../../src/simulation/SimulatedLink.ts"

export interface FuzzReport {
  readonly cases: number
  readonly frames: number
  readonly errors: Readonly<Record<string, number>>
  readonly maxBuffered: number
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

const mutate = (bytes: Uint8Array, next: () => number): Uint8Array => {
  const out = new Uint8Array(bytes)
  const view = new DataView(out.buffer)
  switch (Math.floor(next() * 5)) {
    case 0: { // bit flips
      const flips = 1 + Math.floor(next() * 4)
      for (let i = 0; i < flips; i++) {
        const at = Math.floor(next() * out.length)
        out[at] = out[at]! ^ (1 << Math.floor(next() * 8))
      }
      return out
    }
    case 1: // truncation
      return out.subarray(0, Math.floor(next() * out.length))
    case 2: // a huge length
      view.setUint32(0, Frame.MESSAGE_MAX + 5 + Math.floor(next() * 2 ** 31))
      return out
    case 3: // a tiny length
      view.setUint32(0, Math.floor(next() * Frame.MIN_FRAME_SIZE))
      return out
    default: { // random bytes
      const junk = new Uint8Array(1 + Math.floor(next() * 64))
      for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(next() * 256)
      return junk
    }
  }
}

/** Runs `cases` fuzz cases from `seed`; throws (failing the test) on any broken expectation. */
export const fuzz = (cases: number, seed: number): FuzzReport => {
  const next = random(seed)
  const errors: Record<string, number> = {}
  let frames = 0
  let maxBuffered = 0
  for (let c = 0; c < cases; c++) {
    // a stream: a few valid frames, then one mutated frame, then (maybe) more valid frames
    const parts: Array<Uint8Array> = []
    const before = Math.floor(next() * 3)
    for (let i = 0; i < before; i++) parts.push(validFrame(next))
    const bad = mutate(validFrame(next), next)
    parts.push(bad)
    if (next() < 0.5) parts.push(validFrame(next))
    const total = parts.reduce((n, p) => n + p.length, 0)
    const stream = new Uint8Array(total)
    let at = 0
    for (const p of parts) {
      stream.set(p, at)
      at += p.length
    }
    // feed it in random chunks
    let state = FrameDecoder.initial
    let offset = 0
    while (offset < stream.length) {
      const size = 1 + Math.floor(next() * 64)
      const step = FrameDecoder.feed(state, stream.subarray(offset, offset + size))
      offset += size
      state = step.state
      frames += step.frames.length
      for (const f of step.frames) {
        if (f.payload.length + Frame.MIN_FRAME_SIZE > Frame.MESSAGE_MAX + 4) throw new Error("a frame over the maximum was returned")
      }
      const held = FrameDecoder.buffered(state)
      if (held > maxBuffered) maxBuffered = held
      if (step.error !== undefined) {
        const e = step.error
        if (e._tag !== "LengthTooSmall" && e._tag !== "LengthTooLarge") throw new Error(`untyped error ${String(e)}`)
        if (!e.message.includes(String(e.length))) throw new Error(`the error does not name the length: ${e.message}`)
        if (e._tag === "LengthTooSmall" && e.length >= Frame.MIN_FRAME_SIZE) throw new Error(`LengthTooSmall for ${e.length}`)
        if (e._tag === "LengthTooLarge" && e.length - 4 <= Frame.MESSAGE_MAX) throw new Error(`LengthTooLarge for ${e.length}`)
        errors[e._tag] = (errors[e._tag] ?? 0) + 1
        break
      }
    }
  }
  return { cases, frames, errors, maxBuffered }
}
