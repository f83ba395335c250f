/**
 * Why a connection ended: the typed ends of {@link Connection}, one class per reason, each with a message that
 * says what happened and the numbers that show it.
 *
 * Contract: every end is a tagged error, matchable with `Effect.catchTag`; a connection ends with exactly one of
 * them (or succeeds, with no value, for an orderly close).
 *
 * @since 0.2.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import type * as Effect from "effect/Effect"
import type * as Socket from "effect/socket/Socket"
import * as ForeignProtocol from "../wire/ForeignProtocol.ts"
import type * as FrameDecoder from "../wire/FrameDecoder.ts"
import * as Session from "../session/Session.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import * as Frame from "../wire/Frame.ts"
import * as Xdr from "../wire/Xdr.ts"

/**
 * What went wrong with a socket, down to the system error: the step (open, read, write, close), then the innermost
 * cause's message, which for a Node socket names the system error code and the address
 * (`connect ECONNREFUSED 127.0.0.1:1`, `listen EADDRINUSE: address already in use 127.0.0.1:16509`).
 *
 * @since 0.2.0
 * @category errors
 */
export const describeSocketError = (error: { readonly reason: { readonly _tag: string; readonly cause?: unknown } }): string => {
  const step = error.reason._tag.replace(/^Socket(Server)?/, "").replace(/Error$/, "").toLowerCase()
  let cause: unknown = error.reason.cause
  while (typeof cause === "object" && cause !== null && "cause" in cause && cause.cause !== undefined && !(cause instanceof Error && "code" in cause)) {
    cause = cause.cause
  }
  const detail = cause instanceof Error ? cause.message : cause === undefined ? undefined : String(cause)
  const code = "code" in error.reason ? ` (code ${String(error.reason.code)})` : ""
  return detail === undefined ? `${step}${code}` : `${step}: ${detail}`
}

/**
 * Our own application, not the peer, stalled the connection: the frames delivered to it (`consumer`
 * `"application"`: frames waiting on `frames`; `"handlers"`: a server's calls waiting for a handler slot) filled
 * their bound, so we stopped reading the peer for `stalled` ms, longer than `maxStall`. The peer was not judged
 * (keepalive is paused while we do not read it), so this is never a keepalive death.
 *
 * @since 0.2.0
 * @category errors
 */
export class SlowConsumer extends Data.TaggedError("SlowConsumer")<{
  readonly consumer: "application" | "handlers"
  readonly stalled: number
  readonly pendingFrames: number
  readonly pendingBytes: number
}> {
  override get message(): string {
    const waiting = `${this.pendingFrames} frames, ${this.pendingBytes} bytes waiting`
    if (this.stalled === 0) {
      return `connection closed by a slow consumer: the application's backlog was full (${waiting}) and slowConsumer "end" ends the connection at once; the peer was alive`
    }
    const who = this.consumer === "application" ? "the application did not take its frames" : "the call handlers did not take the waiting calls"
    return `connection closed by a slow consumer: ${who} for ${
      Math.round(this.stalled)
    } ms (${waiting}); reading the peer was stopped meanwhile, so its keepalive was not judged`
  }
}

/**
 * A client call found `maxCallsInFlight` calls unanswered and `maxQueuedCalls` waiting already: it was not sent.
 * Not an end of the connection.
 *
 * @since 0.2.0
 * @category errors
 */
export class TooManyCalls extends Data.TaggedError("TooManyCalls")<{
  readonly inFlight: number
  readonly queued: number
}> {
  override get message(): string {
    return `call not sent: ${this.inFlight} calls unanswered and ${this.queued} waiting for a slot (maxQueuedCalls)`
  }
}

/**
 * Our keepalive gave up on the peer: `pingsSent` PINGs went unanswered over `silence` ms (`silenceDuration`: the
 * same as a `Duration`).
 *
 * @since 0.1.0
 * @category errors
 */
export class KeepaliveTimeout extends Data.TaggedError("KeepaliveTimeout")<{
  readonly silence: number
  readonly pingsSent: number
}> {
  override get message(): string {
    return `connection closed due to keepalive timeout: ${this.pingsSent} PINGs unanswered, ${Math.round(this.silence)} ms of silence`
  }

  /** The silence as a `Duration` (`silence` is the same in milliseconds, on the monotonic clock: not whole). */
  get silenceDuration(): Duration.Duration {
    return Duration.millis(this.silence)
  }
}

/**
 * The peer closed the connection. `midFrame` when it did so in the middle of a frame (`buffered` bytes of it).
 *
 * @since 0.1.0
 * @category errors
 */
export class PeerClosed extends Data.TaggedError("PeerClosed")<{
  readonly midFrame: boolean
  readonly buffered: number
  /**
   * Why, when the peer said so first with libvirt's CONNECT_EVENT_CONNECTION_CLOSED (a proxy whose daemon died:
   * `Keepalive` when the daemon stopped answering its PINGs, `Eof` when it closed).
   */
  readonly closeReason?: CloseReasonName
}> {
  override get message(): string {
    const base = this.midFrame
      ? `the peer closed the connection in the middle of a frame (${this.buffered} bytes of it received)`
      : "the peer closed the connection"
    return this.closeReason === undefined ? base : `${base}: ${CLOSE_REASONS[this.closeReason]}`
  }
}

/**
 * `virConnectCloseReason` by name, as CONNECT_EVENT_CONNECTION_CLOSED carries it.
 *
 * @since 0.2.0
 * @category models
 */
export type CloseReasonName = "Error" | "Eof" | "Keepalive" | "Client" | "Unknown"

const CLOSE_REASONS: Record<CloseReasonName, string> = {
  Error: "its own connection closed on an error",
  Eof: "its own connection reached end of file",
  Keepalive: "its own connection closed due to keepalive timeout",
  Client: "its own connection was closed by its client",
  Unknown: "its own connection closed for a reason it did not name"
}

/**
 * The close reason a CONNECT_EVENT_CONNECTION_CLOSED frame carries; `undefined` for any other frame.
 *
 * @since 0.2.0
 * @category errors
 */
export const closeReasonOf = (frame: Frame.Frame): CloseReasonName | undefined => {
  const h = frame.header
  if (h.prog !== Remote.REMOTE_PROGRAM || h.proc !== EVENT_CONNECTION_CLOSED || h.type !== Frame.MessageType.Message) return undefined
  const reason = Xdr.reader(frame.payload).int()
  const names = ["Error", "Eof", "Keepalive", "Client"] as const
  return Result.isSuccess(reason) ? names[reason.success] ?? "Unknown" : "Unknown"
}

/** REMOTE_PROC_CONNECT_EVENT_CONNECTION_CLOSED. */
const EVENT_CONNECTION_CLOSED = 362

/**
 * The socket failed (open, read or write).
 *
 * @since 0.1.0
 * @category errors
 */
export class SocketFailure extends Data.TaggedError("SocketFailure")<{
  readonly cause: Socket.SocketError
}> {
  override get message(): string {
    return `socket failure: ${describeSocketError(this.cause)}`
  }
}

/**
 * The socket could not be opened: `code` is the system error (`ECONNREFUSED`, `ENOENT`, `EACCES`, `ETIMEDOUT`, …).
 * Every entry point that dials (`Client.connectWith`, the client layers, `Client.reconnecting`, `Dial.connect`)
 * reports a refused or unreachable address with it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectFailed extends Data.TaggedError("ConnectFailed")<{
  readonly address: string
  readonly code: string
  readonly detail: string
}> {
  override get message(): string {
    return `cannot connect to ${this.address}: ${this.code} (${this.detail})`
  }
}

/**
 * The `ConnectFailed` a socket that never opened stands for, when its cause is a system error of `connect` (Node
 * names the code and the address); `undefined` for anything else (a TLS failure, a program that did not start).
 *
 * @since 0.2.0
 * @category errors
 */
export const connectFailure = (error: Socket.SocketError): ConnectFailed | undefined => {
  if (error.reason._tag !== "SocketOpenError") return undefined
  const cause = error.reason.cause as {
    readonly code?: unknown
    readonly syscall?: unknown
    readonly address?: unknown
    readonly port?: unknown
    readonly message?: unknown
  } | undefined
  if (error.reason.kind === "Timeout") return new ConnectFailed({ address: "unknown", code: "ETIMEDOUT", detail: "no connection within the open timeout" })
  if (cause === undefined || cause.syscall !== "connect" || typeof cause.code !== "string") return undefined
  const host = typeof cause.address === "string" ? cause.address : "unknown"
  const address = typeof cause.port === "number" ? `${host.includes(":") ? `[${host}]` : host}:${cause.port}` : host
  return new ConnectFailed({ address, code: cause.code, detail: typeof cause.message === "string" ? cause.message : cause.code })
}

/**
 * Builds the error a connection ends with, without capturing a stack trace: an end is data (its fields and message
 * say what happened, and where in our code is always the same place), and a burst of ends (200 keepalive deadlines
 * at once) must not cost a stack walk each.
 *
 * @since 0.3.0
 * @category errors
 */
export const withoutStack = <E>(make: () => E): E => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}

/**
 * How a socket error ends a connection: {@link ConnectFailed} when the socket never opened for a system reason of
 * `connect`, {@link SocketFailure} otherwise.
 *
 * @since 0.2.0
 * @category errors
 */
export const socketEnd = (error: Socket.SocketError): ConnectFailed | SocketFailure => connectFailure(error) ?? new SocketFailure({ cause: error })

/**
 * The peer sent bytes that are not a libvirt frame. `foreign` says what it sent instead when the stream plainly
 * was another protocol from its first byte (an SSH banner, HTTP, TLS, a text banner); the message then says so.
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedFrame extends Data.TaggedError("MalformedFrame")<{
  readonly error: FrameDecoder.FrameError
  readonly foreign?: ForeignProtocol.Foreign
}> {
  override get message(): string {
    return this.foreign === undefined
      ? `malformed frame from the peer: ${this.error.message}`
      : `${ForeignProtocol.describe(this.foreign)} (${this.error.message})`
  }
}

/**
 * The {@link MalformedFrame} for a framing error, given the first bytes of the stream (see `ForeignProtocol.keep`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const malformedFrame = (error: FrameDecoder.FrameError, head: Uint8Array | undefined): MalformedFrame => {
  const foreign = ForeignProtocol.recognize(head)
  return new MalformedFrame(foreign === undefined ? { error } : { error, foreign })
}

/**
 * The server refused the connection: the client did not advertise keepalive under policy `required`.
 *
 * @since 0.1.0
 * @category errors
 */
export class Refused extends Data.TaggedError("Refused")<{
  /** On the client: the server's error reply (libvirt's VIR_ERR_OPERATION_DENIED and its message). */
  readonly remote?: Remote.RemoteCallError | undefined
}> {
  constructor(args: { readonly remote?: Remote.RemoteCallError | undefined } = {}) {
    super(args)
  }
  override get message(): string {
    return this.remote === undefined
      ? "the connection was refused: keepalive is required and the client did not advertise it"
      : `the connection was refused by the server: ${this.remote.text}`
  }
}

/**
 * The peer flooded us with PINGs: more than the allowed strikes of PINGs closer together than `minInterval` ms.
 *
 * @since 0.1.0
 * @category errors
 */
export class PingFlood extends Data.TaggedError("PingFlood")<{
  readonly strikes: number
  readonly minInterval: number
}> {
  override get message(): string {
    return `connection closed: the peer sent ${this.strikes} PINGs in a row less than ${this.minInterval} ms apart (too many pings)`
  }
}

/**
 * A request on a connection that has already ended.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionClosed extends Data.TaggedError("ConnectionClosed")<{}> {
  override get message(): string {
    return "the connection is closed"
  }
}

/**
 * The peer sent frames faster than the server's flood policing allows: more than `burst` frames at once, or more
 * than `rate` frames per second sustained. Counts frames of every kind (PINGs, PONGs, calls, anything).
 *
 * @since 0.2.0
 * @category errors
 */
export class FrameFlood extends Data.TaggedError("FrameFlood")<{
  readonly rate: number
  readonly burst: number
}> {
  override get message(): string {
    return `connection closed: the peer sent frames faster than ${this.rate} per second (burst ${this.burst})`
  }
}

/**
 * The peer's partial frames would push the bytes buffered across all connections past the server's budget.
 *
 * @since 0.2.0
 * @category errors
 */
export class BufferLimit extends Data.TaggedError("BufferLimit")<{
  readonly buffered: number
  readonly limit: number
}> {
  override get message(): string {
    return `connection closed: its partial frame of ${this.buffered} bytes would exceed the ${this.limit}-byte budget for partial frames`
  }
}

/**
 * The client did not open the connection (CONNECT_OPEN) within the server's handshake timeout.
 *
 * @since 0.2.0
 * @category errors
 */
export class HandshakeTimeout extends Data.TaggedError("HandshakeTimeout")<{
  readonly timeout: number
}> {
  override get message(): string {
    return `connection closed: no CONNECT_OPEN within ${this.timeout} ms`
  }
}

/**
 * Why a connection ended badly.
 *
 * @since 0.1.0
 * @category errors
 */
export type ConnectionError =
  | ConnectFailed
  | KeepaliveTimeout
  | PeerClosed
  | SocketFailure
  | MalformedFrame
  | Refused
  | PingFlood
  | FrameFlood
  | BufferLimit
  | HandshakeTimeout
  | SlowConsumer
  | Session.HandshakeFailed

/**
 * The end of a connection: `closed` (orderly) on success.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionEnd = Effect.Effect<void, ConnectionError>
