/**
 * A pure, streaming decoder of libvirt frames: feed it byte chunks as they arrive, get whole frames back.
 *
 * Contract:
 * - {@link feed} takes a state and a chunk and returns the next state, the frames the chunk completed, in order, and
 *   an error or `undefined`. Any chunking of the same byte string yields the same frames and the same error.
 * - States are immutable values: feeding the same state twice gives equal results, and an old state stays usable.
 * - Chunks belong to the caller and are never kept: bytes waiting for the rest of a frame are copied into the state,
 *   and each frame's payload is a copy of its own (a plain `Uint8Array`, even when the chunk is a Node `Buffer`).
 * - The length word is checked as soon as its 4 bytes are in, before anything is allocated for the frame:
 *   - a length below {@link Frame.MIN_FRAME_SIZE} (28) is {@link LengthTooSmall}. libvirt refuses a length below 4 in
 *     virNetMessageDecodeLength and a body of 1..23 bytes (length 5..27) in virNetMessageDecodeHeader, and an empty
 *     body (length 4) leads to "unexpected zero/negative length request"; a body shorter than the header can never be
 *     valid, so this decoder refuses all of them at the length word;
 *   - a length whose body (length − 4) exceeds {@link Frame.MESSAGE_MAX} is {@link LengthTooLarge}, exactly libvirt's
 *     check.
 *   Frames completed before the bad length word are still returned with the error. A failed state is terminal: every
 *   later feed returns no frames and the same error.
 * - Cost: bytes of a partial frame are appended to a growable buffer (doubling, never beyond the frame's length, and
 *   never allocated from the claimed length alone), so a frame trickled one byte at a time costs O(its bytes) in time
 *   and at most about twice its bytes in memory. The buffer is appended in place only by the newest state derived
 *   from it; feeding an older state again copies, so states stay immutable values. A completed frame's payload is a
 *   copy of its own unless the buffer held exactly that frame, so no larger buffer outlives it. A large frame
 *   arriving in many small chunks costs O(its size); a chunk holding many small frames is walked by offset, each
 *   frame copied once. An empty chunk allocates no buffer.
 *
 * Pure: no I/O, no clock, no exceptions.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import * as Frame from "./Frame.ts"

/**
 * A length word below 28: the frame could not even hold the length word and the 24-byte header. libvirt refuses
 * lengths below 4 at the length word and shorter bodies later, when it decodes the header; this decoder refuses all
 * of them at the length word.
 *
 * @since 0.1.0
 * @category errors
 */
export class LengthTooSmall extends Data.TaggedError("LengthTooSmall")<{
  readonly length: number
}> {
  override get message(): string {
    return `frame length word ${this.length} is below the ${Frame.MIN_FRAME_SIZE}-byte minimum (length word + header)`
  }
}

/**
 * A length word whose body (length − 4) exceeds `MESSAGE_MAX` (33554432).
 *
 * @since 0.1.0
 * @category errors
 */
export class LengthTooLarge extends Data.TaggedError("LengthTooLarge")<{
  readonly length: number
}> {
  override get message(): string {
    return `frame length word ${this.length} is too large: a body of ${this.length - Frame.LENGTH_SIZE} bytes exceeds the maximum of ${Frame.MESSAGE_MAX}`
  }
}

/**
 * Why a byte stream cannot be framed. Either error is fatal to the connection, as in libvirt.
 *
 * @since 0.1.0
 * @category errors
 */
export type FrameError = LengthTooSmall | LengthTooLarge

/**
 * {@link decodeAll} was given bytes that end in the middle of a frame.
 *
 * @since 0.1.0
 * @category errors
 */
export class Incomplete extends Data.TaggedError("Incomplete")<{
  readonly buffered: number
}> {
  override get message(): string {
    return `${this.buffered} bytes left over after the last whole frame`
  }
}

declare const DecoderStateBrand: unique symbol

/**
 * The decoder's state: the bytes of an incomplete frame, or a terminal error. Immutable, and opaque: use
 * {@link initial}, {@link feed} and {@link buffered}.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecoderState {
  readonly [DecoderStateBrand]: "DecoderState"
}

/**
 * What one {@link feed} produced: the next state, the frames completed (in order) and the error that stopped the
 * stream, if any.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodeStep {
  readonly state: DecoderState
  readonly frames: ReadonlyArray<Frame.Frame>
  readonly error: FrameError | undefined
}

/** Who may append in place: the state whose size equals `end`. Shared by the states derived from one buffer. */
interface Cell {
  end: number
}

interface State {
  /** The incomplete frame's bytes in `buffer[0, size)`. */
  readonly buffer: Uint8Array | undefined
  readonly cell: Cell | undefined
  readonly size: number
  /** The frame's length word once its 4 bytes are in, else 0. */
  readonly frameLength: number
  readonly error: FrameError | undefined
}

const makeState = (
  buffer: Uint8Array | undefined,
  cell: Cell | undefined,
  size: number,
  frameLength: number,
  error: FrameError | undefined
): DecoderState => ({ buffer, cell, size, frameLength, error } satisfies State) as unknown as DecoderState

const internal = (state: DecoderState): State => state as unknown as State

/**
 * The state before any byte has arrived.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initial: DecoderState = makeState(undefined, undefined, 0, 0, undefined)

/**
 * How many bytes the state holds while waiting for the rest of a frame (0 in a failed state).
 *
 * @since 0.1.0
 * @category getters
 */
export const buffered = (state: DecoderState): number => internal(state).size

const NO_FRAMES: ReadonlyArray<Frame.Frame> = Object.freeze([])
const EMPTY = new Uint8Array(0)

const copy = (source: Uint8Array, start: number, end: number): Uint8Array => {
  const size = end - start
  const out = new Uint8Array(size)
  if (size <= 32) {
    for (let i = 0; i < size; i++) out[i] = source[start + i]!
  } else {
    out.set(source.subarray(start, end))
  }
  return out
}

const readLength = (bytes: Uint8Array, at: number): number => ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0

const checkLength = (length: number): FrameError | undefined =>
  length < Frame.MIN_FRAME_SIZE
    ? new LengthTooSmall({ length })
    : length - Frame.LENGTH_SIZE > Frame.MESSAGE_MAX
    ? new LengthTooLarge({ length })
    : undefined

/**
 * Decodes the whole frame at `bytes[start, start + length)`. Unless `owned` (the bytes were assembled for this frame
 * alone), the payload is copied out of `bytes`. `undefined` is unreachable: the length word was checked to be at least
 * MIN_FRAME_SIZE, so the body always holds the header.
 */
const frameAt = (bytes: Uint8Array, start: number, length: number, owned: boolean): Frame.Frame | undefined => {
  const decoded = Frame.decodeBody(bytes.subarray(start + Frame.LENGTH_SIZE, start + length))
  if (Result.isFailure(decoded)) return undefined
  if (owned) return decoded.success
  const { header, payload } = decoded.success
  return { header, payload: payload.length === 0 ? EMPTY : copy(payload, 0, payload.length) }
}

const failed = (frames: ReadonlyArray<Frame.Frame>, error: FrameError): DecodeStep => ({
  state: makeState(undefined, undefined, 0, 0, error),
  frames,
  error
})

/**
 * `s`'s bytes followed by `chunk[0, n)`: in place when `s` owns the end of its buffer and it has room, else in a new
 * buffer of twice the size needed (at most `limit`, the frame's length when known).
 */
const append = (s: State, chunk: Uint8Array, n: number, limit: number): { buffer: Uint8Array; cell: Cell } => {
  const needed = s.size + n
  if (s.buffer !== undefined && s.cell !== undefined && s.cell.end === s.size && needed <= s.buffer.length) {
    s.buffer.set(n === chunk.length ? chunk : chunk.subarray(0, n), s.size)
    s.cell.end = needed
    return { buffer: s.buffer, cell: s.cell }
  }
  const capacity = Math.max(needed, Math.min(limit, Math.max(64, needed * 2)))
  const buffer = new Uint8Array(capacity)
  if (s.buffer !== undefined) buffer.set(s.buffer.subarray(0, s.size))
  buffer.set(n === chunk.length ? chunk : chunk.subarray(0, n), s.size)
  return { buffer, cell: { end: needed } }
}

/** A state holding `s`'s bytes and the head of `chunk`, still short of a whole frame. */
const grow = (s: State, chunk: Uint8Array, n: number, frameLength: number): DecodeStep => {
  const { buffer, cell } = append(s, chunk, n, frameLength > 0 ? frameLength : Frame.MIN_FRAME_SIZE)
  return { state: makeState(buffer, cell, s.size + n, frameLength, undefined), frames: NO_FRAMES, error: undefined }
}

/**
 * Feeds one chunk: returns the next state, the frames the chunk completed and the error that stopped the stream.
 *
 * @since 0.1.0
 * @category decoding
 */
export const feed = (state: DecoderState, chunk: Uint8Array): DecodeStep => {
  const s = internal(state)
  if (s.error !== undefined) return { state, frames: NO_FRAMES, error: s.error }
  const n = chunk.length
  if (n === 0) return { state, frames: NO_FRAMES, error: undefined }

  let frames: Array<Frame.Frame> | undefined
  let offset = 0

  if (s.size > 0) {
    // Complete the pending frame first.
    let frameLength = s.frameLength
    if (frameLength === 0) {
      if (s.size + n < Frame.LENGTH_SIZE) return grow(s, chunk, n, 0)
      const word = new Uint8Array(Frame.LENGTH_SIZE)
      word.set(s.buffer!.subarray(0, s.size))
      word.set(chunk.subarray(0, Frame.LENGTH_SIZE - s.size), s.size)
      frameLength = readLength(word, 0)
      const error = checkLength(frameLength)
      if (error !== undefined) return failed(NO_FRAMES, error)
    }
    const wanted = frameLength - s.size
    if (n < wanted) return grow(s, chunk, n, frameLength)
    const { buffer } = append(s, chunk, wanted, frameLength)
    const frame = frameAt(buffer, 0, frameLength, buffer.length === frameLength)
    if (frame === undefined) return failed(NO_FRAMES, new LengthTooSmall({ length: frameLength }))
    frames = [frame]
    offset = wanted
  }

  while (n - offset >= Frame.LENGTH_SIZE) {
    const frameLength = readLength(chunk, offset)
    const error = checkLength(frameLength)
    if (error !== undefined) return failed(frames ?? NO_FRAMES, error)
    if (n - offset < frameLength) {
      const rest = copy(chunk, offset, n)
      return {
        state: makeState(rest, { end: n - offset }, n - offset, frameLength, undefined),
        frames: frames ?? NO_FRAMES,
        error: undefined
      }
    }
    const frame = frameAt(chunk, offset, frameLength, false)
    if (frame === undefined) return failed(frames ?? NO_FRAMES, new LengthTooSmall({ length: frameLength }))
    if (frames === undefined) frames = [frame]
    else frames.push(frame)
    offset += frameLength
  }

  return {
    state: offset === n ? initial : makeState(copy(chunk, offset, n), { end: n - offset }, n - offset, 0, undefined),
    frames: frames ?? NO_FRAMES,
    error: undefined
  }
}

/**
 * Decodes a complete byte string: its frames, the first framing error, or {@link Incomplete} when the bytes end in
 * the middle of a frame.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeAll = (bytes: Uint8Array): Result.Result<ReadonlyArray<Frame.Frame>, FrameError | Incomplete> => {
  const step = feed(initial, bytes)
  if (step.error !== undefined) return Result.fail(step.error)
  const left = buffered(step.state)
  return left > 0 ? Result.fail(new Incomplete({ buffered: left })) : Result.succeed(step.frames)
}
