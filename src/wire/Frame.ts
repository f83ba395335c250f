/**
 * libvirt RPC frames: the 24-byte message header and whole-frame encoding.
 *
 * Contract:
 * - A frame on the wire is `uint32 length` (big-endian, counting its own 4 bytes), then the header of six
 *   big-endian 32-bit words (prog, vers, proc, type, serial, status), then the payload.
 * - {@link encode} never throws for a header whose fields are 32-bit values; {@link decodeHeader} reads a header
 *   from a body that the framing layer has already delimited and reports a short body as a typed error.
 * - {@link keepaliveKind} is the one classification of a keepalive frame (PING, PONG, ADVERTISE, other).
 * - Keepalive PING and PONG are exactly the 28 bytes libvirt 9.0 sends ({@link PING_BYTES}, {@link PONG_BYTES}).
 *
 * Pure: no I/O, no clock, no exceptions.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"

/**
 * The size of the length word that starts every frame.
 *
 * @since 0.1.0
 * @category constants
 */
export const LENGTH_SIZE = 4

/**
 * The size of the message header (six XDR words).
 *
 * @since 0.1.0
 * @category constants
 */
export const HEADER_SIZE = 24

/**
 * The smallest legal frame: a length word and a header with no payload.
 *
 * @since 0.1.0
 * @category constants
 */
export const MIN_FRAME_SIZE = LENGTH_SIZE + HEADER_SIZE

/**
 * VIR_NET_MESSAGE_MAX in libvirt 9.0: the largest header + payload (the length word excluded).
 *
 * @since 0.1.0
 * @category constants
 */
export const MESSAGE_MAX = 33554432

/**
 * `enum virNetMessageType`.
 *
 * @since 0.1.0
 * @category constants
 */
export const MessageType = {
  Call: 0,
  Reply: 1,
  Message: 2,
  Stream: 3,
  CallWithFds: 4,
  ReplyWithFds: 5,
  StreamHole: 6
} as const

/**
 * `enum virNetMessageStatus`.
 *
 * @since 0.1.0
 * @category constants
 */
export const MessageStatus = {
  Ok: 0,
  Error: 1,
  Continue: 2
} as const

/**
 * `KEEPALIVE_PROGRAM`: "keep" in ASCII.
 *
 * @since 0.1.0
 * @category constants
 */
export const KEEPALIVE_PROGRAM = 0x6b656570

/**
 * `KEEPALIVE_PROTOCOL_VERSION`.
 *
 * @since 0.1.0
 * @category constants
 */
export const KEEPALIVE_VERSION = 1

/**
 * `enum keepalive_procedure`. `Advertise` exists only in the seed-000 draft variant (see `DraftProtocol`);
 * libvirt as shipped knows only PING and PONG.
 *
 * @since 0.1.0
 * @category constants
 */
export const KeepaliveProc = {
  Ping: 1,
  Pong: 2,
  Advertise: 3
} as const

/**
 * The message header, `struct virNetMessageHeader`. Every field is a 32-bit value; `proc` is signed on the wire.
 *
 * @since 0.1.0
 * @category models
 */
export interface Header {
  readonly prog: number
  readonly vers: number
  readonly proc: number
  readonly type: number
  readonly serial: number
  readonly status: number
}

/**
 * A decoded frame: its header and its raw XDR payload.
 *
 * @since 0.1.0
 * @category models
 */
export interface Frame {
  readonly header: Header
  readonly payload: Uint8Array
}

const EMPTY = new Uint8Array(0)

/**
 * Builds a frame from a header and an optional payload.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (header: Header, payload: Uint8Array = EMPTY): Frame => ({ header, payload })

/**
 * The keepalive message header for a procedure: type MESSAGE, serial 0, status OK, as virKeepAliveMessage builds it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const keepaliveHeader = (proc: number): Header => ({
  prog: KEEPALIVE_PROGRAM,
  vers: KEEPALIVE_VERSION,
  proc,
  type: MessageType.Message,
  serial: 0,
  status: MessageStatus.Ok
})

/**
 * The keepalive PING frame.
 *
 * @since 0.1.0
 * @category constants
 */
export const PING: Frame = make(keepaliveHeader(KeepaliveProc.Ping))

/**
 * The keepalive PONG frame.
 *
 * @since 0.1.0
 * @category constants
 */
export const PONG: Frame = make(keepaliveHeader(KeepaliveProc.Pong))

/**
 * Writes a header into `target` at `offset` (24 bytes).
 *
 * @since 0.1.0
 * @category encoding
 */
export const writeHeader = (target: DataView, offset: number, header: Header): void => {
  target.setUint32(offset, header.prog >>> 0)
  target.setUint32(offset + 4, header.vers >>> 0)
  target.setInt32(offset + 8, header.proc | 0)
  target.setInt32(offset + 12, header.type | 0)
  target.setUint32(offset + 16, header.serial >>> 0)
  target.setInt32(offset + 20, header.status | 0)
}

/**
 * Encodes a whole frame: length word, header, payload.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (frame: Frame): Uint8Array => {
  const total = MIN_FRAME_SIZE + frame.payload.length
  const bytes = new Uint8Array(total)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, total)
  writeHeader(view, LENGTH_SIZE, frame.header)
  bytes.set(frame.payload, MIN_FRAME_SIZE)
  return bytes
}

/**
 * The 28 bytes of a keepalive PING, as libvirt 9.0 sends them.
 *
 * @since 0.1.0
 * @category constants
 */
export const PING_BYTES: Uint8Array = encode(PING)

/**
 * The 28 bytes of a keepalive PONG, as libvirt 9.0 sends them.
 *
 * @since 0.1.0
 * @category constants
 */
export const PONG_BYTES: Uint8Array = encode(PONG)

/**
 * A frame body too short to hold the 24-byte header.
 *
 * @since 0.1.0
 * @category errors
 */
export class HeaderTooShort extends Data.TaggedError("HeaderTooShort")<{
  readonly size: number
}> {
  override get message(): string {
    return `frame body of ${this.size} bytes cannot hold the ${HEADER_SIZE}-byte header`
  }
}

/**
 * Reads the header and payload from a frame body (the bytes after the length word).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeBody = (body: Uint8Array): Result.Result<Frame, HeaderTooShort> => {
  if (body.length < HEADER_SIZE) return Result.fail(new HeaderTooShort({ size: body.length }))
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const header: Header = {
    prog: view.getUint32(0),
    vers: view.getUint32(4),
    proc: view.getInt32(8),
    type: view.getInt32(12),
    serial: view.getUint32(16),
    status: view.getInt32(20)
  }
  return Result.succeed({ header, payload: body.subarray(HEADER_SIZE) })
}

/**
 * True for a keepalive-program message (prog, vers and type MESSAGE match), whatever its procedure, serial or
 * status: exactly the test virKeepAliveCheckMessage applies before it consumes a frame.
 *
 * @since 0.1.0
 * @category guards
 */
export const isKeepalive = (header: Header): boolean =>
  header.prog === KEEPALIVE_PROGRAM && header.vers === KEEPALIVE_VERSION && header.type === MessageType.Message

/**
 * What a keepalive message is: a PING, a PONG, the draft's ADVERTISE, or another keepalive procedure.
 *
 * @since 0.2.0
 * @category models
 */
export type KeepaliveKind = "ping" | "pong" | "advertise" | "keepalive-other"

/**
 * The one classification of a keepalive frame: its {@link KeepaliveKind} when {@link isKeepalive} holds, else
 * `undefined` (the frame belongs to the application). Every layer that tells PINGs from PONGs asks this.
 *
 * @since 0.2.0
 * @category guards
 */
export const keepaliveKind = (header: Header): KeepaliveKind | undefined => {
  if (!isKeepalive(header)) return undefined
  switch (header.proc) {
    case KeepaliveProc.Ping:
      return "ping"
    case KeepaliveProc.Pong:
      return "pong"
    case KeepaliveProc.Advertise:
      return "advertise"
    default:
      return "keepalive-other"
  }
}
