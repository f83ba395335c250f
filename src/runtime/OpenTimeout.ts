/**
 * The open timeout: one deadline over everything it takes to open a client connection (connecting, TLS,
 * AUTH_LIST, SUPPORTS_FEATURE, CONNECT_OPEN), and the typed error that names the phase it was stuck in.
 *
 * Contract:
 * - {@link bound} fails an effect that has not finished within the timeout with {@link OpenTimeout}, reading the
 *   phase at that moment; the effect itself is interrupted. A timeout that is not a duration gives the default
 *   ({@link defaultTimeout}, 30 seconds); `Duration.infinity` or ≤ 0 sets no bound (libvirt's behaviour).
 * - The phase: until the socket is open (its reader acquired, see {@link watch}), `connect`, or what the transport
 *   says ({@link withTransportPhase}: a TLS socket says `tls` once TCP is up); then the client session's step
 *   ({@link sessionPhase}): `auth-list`, `supports-feature`, `connect-open`.
 * - libvirt has none of this: virsh waits as long as the kernel keeps the TCP connection (a frozen daemon: forever).
 *
 * @since 0.2.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Socket from "effect/socket/Socket"
import type * as Session from "../session/Session.ts"
import * as Durations from "./Durations.ts"
import * as Transport from "./Transport.ts"

/**
 * Where an open can be stuck: the socket connecting, the TLS handshake (with libvirtd's check byte), or waiting for
 * the reply to one of the three handshake calls.
 *
 * @since 0.2.0
 * @category models
 */
export type OpenPhase = "connect" | "tls" | "auth-list" | "supports-feature" | "connect-open"

const WAITING: Record<OpenPhase, string> = {
  connect: "connecting",
  tls: "in the TLS handshake",
  "auth-list": "waiting for the reply to AUTH_LIST",
  "supports-feature": "waiting for the reply to SUPPORTS_FEATURE",
  "connect-open": "waiting for the reply to CONNECT_OPEN"
}

/**
 * The connection did not open within `timeout` ms; it was stuck in `phase`.
 *
 * @since 0.2.0
 * @category errors
 */
export class OpenTimeout extends Data.TaggedError("OpenTimeout")<{
  readonly phase: OpenPhase
  readonly timeout: number
}> {
  override get message(): string {
    return `the connection did not open within ${this.timeout} ms: stuck ${WAITING[this.phase]} (phase ${this.phase})`
  }
}

/**
 * The open timeout when none is given: 30 seconds.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultTimeout: Duration.Duration = Duration.seconds(30)

/**
 * The timeout in ms, or `undefined` for no bound (`Duration.infinity`, ≤ 0). Not a duration: the default.
 *
 * @since 0.2.0
 * @category conversions
 */
export const millis = (timeout: Duration.Input | undefined): number | undefined => {
  const ms = Durations.toMillis(timeout ?? defaultTimeout) ?? Duration.toMillis(defaultTimeout)
  return ms > 0 && Number.isFinite(ms) ? ms : undefined
}

/**
 * Bounds `effect` by the open timeout; `phase` is read when it expires.
 *
 * @since 0.2.0
 * @category combinators
 */
export const bound =
  (timeout: Duration.Input | undefined, phase: () => OpenPhase) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | OpenTimeout, R> => {
    const ms = millis(timeout)
    if (ms === undefined) return effect
    return Effect.timeoutOrElse(effect, {
      duration: Duration.millis(ms),
      orElse: () => Effect.fail(new OpenTimeout({ phase: phase(), timeout: ms }))
    })
  }

/**
 * The open phase of a client session's step: AUTH_LIST (and before it), SUPPORTS_FEATURE, then CONNECT_OPEN.
 *
 * @since 0.2.0
 * @category phases
 */
export const sessionPhase = (phase: Session.ClientPhase | Session.ServerPhase): OpenPhase =>
  phase === "idle" || phase === "auth" ? "auth-list" : phase === "feature" ? "supports-feature" : "connect-open"

const phases = new WeakMap<Socket.Socket, Opening>()

/**
 * Where a socket's opening is: connecting, or (TLS) in the handshake.
 *
 * @since 0.2.0
 * @category models
 */
export type Opening = () => "connect" | "tls"

/**
 * Marks a socket whose opening has steps of its own (a TLS socket: `connect`, then `tls`); `phase` is read while
 * the socket is not open yet.
 *
 * @since 0.2.0
 * @category phases
 */
export const withTransportPhase = (socket: Socket.Socket, phase: Opening): Socket.Socket => {
  phases.set(socket, phase)
  return socket
}

/** The transport phase a socket was marked with, if any. */
const transportPhase = (socket: Socket.Socket): Opening | undefined => phases.get(socket)

/**
 * The same socket, watched: `opening` is its transport phase until its reader has been acquired (it is open), then
 * `undefined`. Its stream stays at hand for the runtime (`Transport.rawOf`).
 *
 * @since 0.2.0
 * @category phases
 */
export const watch = (socket: Socket.Socket): { readonly socket: Socket.Socket; readonly opening: () => "connect" | "tls" | undefined } => {
  let open = false
  const watched = Socket.make({ reader: Effect.tap(socket.reader, () => Effect.sync(() => void (open = true))), writer: socket.writer })
  const raw = Transport.rawOf(socket)
  const phase = transportPhase(socket)
  return {
    socket: raw === undefined ? watched : Transport.withRaw(watched, raw),
    opening: () => (open ? undefined : phase?.() ?? "connect")
  }
}
