/**
 * The session: one libvirt connection as a pure state machine, for either role, in both directions.
 *
 * Contract:
 * - {@link step}`(state, input) → [state, commands]` and {@link nextDeadline}`(state)`, with the same rules as the
 *   keepalive core: time is an input (monotonic ms), nothing throws, nothing is mutated, no I/O. The driver
 *   carries out the commands in order: `Transmit` before a following `Close` matters (a refusal is sent, then
 *   the socket is closed).
 * - The session owns the keepalive-relevant part of libvirt's remote program:
 *   - client: the open sequence AUTH_LIST → SUPPORTS_FEATURE(PROGRAM_KEEPALIVE) → CONNECT_OPEN, serials from 0,
 *     CONNECT_CLOSE on Close, and setKeepAlive's answers (started, stopped, or unsupported when the server said
 *     the feature is unsupported). Its own calls never reuse a serial that went out on the connection: a remote
 *     call the application sends as is (`Send`, a proxy's relayed call) moves the next serial past its own;
 *   - server: answers AUTH_LIST, SUPPORTS_FEATURE and CONNECT_OPEN/CLOSE itself, pings a client only after it
 *     advertised and only if the policy allows, and under policy `required` refuses CONNECT_OPEN from a client
 *     that did not advertise (a remote_error reply, then Close); with `delegateOpen` (a proxy) CONNECT_OPEN is
 *     delivered once the policy let it through, and the application's reply to it opens the connection;
 *   - both: every PING is answered, every received frame resets our own countdown, and the two directions are
 *     independent (each side pings with its own interval and count).
 * - Everything the session does not handle is passed on as `Deliver` (received) or `Transmit` (sent by the
 *   application through `Send`/`Call`). A server replies itself to calls it cannot route (unknown program, or
 *   any procedure before CONNECT_OPEN).
 * - Misuse by the application (a Call before the connection is open, setKeepAlive on a server, …) gives a
 *   `Rejected` command with a typed error and changes nothing.
 * - A server created with a `handshakeTimeout` ({@link ServerLimits}) has a handshake deadline: while it is in `handshake`,
 *   {@link nextDeadline} is the earlier of the keepalive deadline and that one, and a `Tick` at or past it gives
 *   `Close` with reason `handshake-timeout` (before any PING due at the same time).
 *
 * The negotiation design is a {@link ProtocolVariant}: libvirt's (default) or the seed-000 draft. The keepalive
 * rules are a second, independent choice ({@link Keepalive.Rules}): ours (default) or libvirt 9.0's, with its
 * whole-second wall clock, its timer and its event loop; under libvirt's rules a server ignores policy `required`
 * (libvirtd ignores `keepalive_required`) and pings an advertising client under any policy but `disabled`.
 * - {@link key} is the identity of a state up to its keepalive core's `now` (which no later input can observe): two
 *   states with the same key behave alike. It covers every field, so a field added to a state is part of it.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import * as Frame from "../wire/Frame.ts"
import * as Keepalive from "../core/Keepalive.ts"
import * as ProtocolVariant from "./ProtocolVariant.ts"
import * as Remote from "../wire/RemoteProtocol.ts"

// ---------------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------------

/**
 * Seed 001's server policy: `disabled` never pings (answers only; the default), `if-supported` pings clients
 * that advertised, `required` also refuses to open a connection for a client that did not advertise.
 *
 * @since 0.1.0
 * @category models
 */
export type Policy = "disabled" | "if-supported" | "required"

/**
 * Policing of PING floods, like gRPC's `too_many_pings`: a PING that arrives less than `minInterval` ms after the
 * previous one is a strike; a PING at a decent interval clears the strikes; more than `strikes` strikes in a row
 * closes the connection (reason `ping-flood`). Every PING is still answered until then. Off unless configured:
 * libvirt has no such rule.
 *
 * @since 0.1.0
 * @category models
 */
export interface PingPolicing {
  readonly minInterval: number
  readonly strikes: number
}

/**
 * A server's keepalive settings, with libvirtd.conf's meaning, in milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions {
  /** keepalive_interval in ms; ≤ 0 answers only. */
  readonly interval: number
  /** keepalive_count. */
  readonly count: number
  readonly policy: Policy
  readonly variant?: ProtocolVariant.ProtocolVariant
  readonly policing?: PingPolicing
  /** The keepalive rules. Default `"ours"`. */
  readonly rules?: Keepalive.Rules
  /**
   * A proxy's server: the connection is opened by a daemon behind it. CONNECT_OPEN (once the policy let it through)
   * is delivered to the application instead of answered, and the application's `Send` of the reply to it settles
   * the open (status OK opens; an error leaves the connection unopened). Once open, SUPPORTS_FEATURE queries other
   * than PROGRAM_KEEPALIVE and FD_PASSING are delivered too, so the daemon behind answers them. Default false.
   */
  readonly delegateOpen?: boolean
}

/**
 * A server connection's limits that are not keepalive settings, given when it is created.
 *
 * @since 0.2.0
 * @category models
 */
export interface ServerLimits {
  /**
   * libvirtd.conf's `handshake_timeout`, in ms: a connection still in `handshake` this long after it was accepted
   * is closed (reason `handshake-timeout`). Absent, ≤ 0 or not finite: no limit (the default).
   */
  readonly handshakeTimeout?: number
}

/**
 * A client's options.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  /**
   * Whether the client supports keepalive and says so while opening (libvirt's client does when an event loop
   * is registered). Default true.
   */
  readonly advertise?: boolean
  readonly variant?: ProtocolVariant.ProtocolVariant
  readonly policing?: PingPolicing
  /** The keepalive rules. Default `"ours"`. */
  readonly rules?: Keepalive.Rules
  /** libvirt's rules: the event loop runs (false: registered but not run until `RunLoop`). Default true. */
  readonly eventLoop?: boolean
}

/**
 * libvirtd's defaults (interval 5 s, count 5) under seed 001's default policy, `disabled`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultServerOptions: ServerOptions = { interval: 5000, count: 5, policy: "disabled" }

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * An input that the session cannot accept in its current phase or role.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotAllowed extends Data.TaggedError("NotAllowed")<{
  readonly input: Input["_tag"]
  readonly reason: string
}> {
  override get message(): string {
    return `${this.input} not allowed: ${this.reason}`
  }
}

/**
 * The server's answer during the open sequence could not be used.
 *
 * @since 0.1.0
 * @category errors
 */
export class HandshakeFailed extends Data.TaggedError("HandshakeFailed")<{
  readonly step: "auth" | "feature" | "open"
  readonly reason: string
  readonly remote: Remote.RemoteCallError | undefined
}> {
  override get message(): string {
    return `libvirt handshake failed at ${this.step}: ${this.reason}`
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs and commands
// ---------------------------------------------------------------------------------------------------------------

/**
 * An input to the session. Every input carries `now`, monotonic milliseconds.
 *
 * - `Open` (client): start the open sequence for the connection `name` (e.g. `"test:///default"`).
 * - `Received`: a whole frame from the peer.
 * - `Call` (client, open): a remote-program call from the application; the session assigns the serial.
 * - `Send`: any frame from the application, passed on as is (e.g. a server's reply to a delivered call).
 * - `SetKeepAlive` (client): virConnectSetKeepAlive (the draft's StartKeepAlive); `interval ≤ 0` stops.
 * - `AllowKeepAlive` (client, draft variant only): ask the feature and send ADVERTISE.
 * - `Tick`: a deadline was reached.
 * - `Pause` / `Resume`: the driver stopped / started again reading the peer because of its own limits (call
 *   slots, the application's backlog); the keepalive countdown halts, then restarts (see the keepalive core).
 * - `Close`: client: CONNECT_CLOSE, then Close on its reply; server: Close now.
 * - `ClockStep`: the wall clock jumped by `by` ms (libvirt's rules read it; ours ignore it).
 * - `RunLoop`: the event loop starts running (libvirt's rules, a client created with `eventLoop: false`).
 *
 * @since 0.1.0
 * @category models
 */
export type Input =
  | { readonly _tag: "Open"; readonly now: number; readonly name: string | undefined; readonly flags: number }
  | { readonly _tag: "Received"; readonly now: number; readonly frame: Frame.Frame }
  | { readonly _tag: "Call"; readonly now: number; readonly proc: number; readonly payload: Uint8Array }
  | { readonly _tag: "Send"; readonly now: number; readonly frame: Frame.Frame }
  | { readonly _tag: "SetKeepAlive"; readonly now: number; readonly interval: number; readonly count: number }
  | { readonly _tag: "AllowKeepAlive"; readonly now: number }
  | { readonly _tag: "Tick"; readonly now: number }
  | { readonly _tag: "Pause"; readonly now: number }
  | { readonly _tag: "Resume"; readonly now: number }
  | { readonly _tag: "Close"; readonly now: number }
  | { readonly _tag: "ClockStep"; readonly now: number; readonly by: number }
  | { readonly _tag: "RunLoop"; readonly now: number }

/**
 * Input constructors.
 *
 * @since 0.1.0
 * @category constructors
 */
export const Input = {
  Open: (now: number, name: string | undefined, flags = 0): Input => ({ _tag: "Open", now, name, flags }),
  Received: (now: number, frame: Frame.Frame): Input => ({ _tag: "Received", now, frame }),
  Call: (now: number, proc: number, payload: Uint8Array = new Uint8Array(0)): Input => ({ _tag: "Call", now, proc, payload }),
  Send: (now: number, frame: Frame.Frame): Input => ({ _tag: "Send", now, frame }),
  SetKeepAlive: (now: number, interval: number, count: number): Input => ({ _tag: "SetKeepAlive", now, interval, count }),
  AllowKeepAlive: (now: number): Input => ({ _tag: "AllowKeepAlive", now }),
  Tick: (now: number): Input => ({ _tag: "Tick", now }),
  Pause: (now: number): Input => ({ _tag: "Pause", now }),
  Resume: (now: number): Input => ({ _tag: "Resume", now }),
  Close: (now: number): Input => ({ _tag: "Close", now }),
  ClockStep: (now: number, by: number): Input => ({ _tag: "ClockStep", now, by }),
  RunLoop: (now: number): Input => ({ _tag: "RunLoop", now })
} as const

/**
 * Why a session ended. `handshake-timeout`: a server's connection was not open within its `handshakeTimeout`.
 *
 * @since 0.1.0
 * @category models
 */
export type CloseReason = "keepalive-timeout" | "refused" | "open-failed" | "closed" | "ping-flood" | "handshake-timeout"

/**
 * The answer to `SetKeepAlive` (and to the draft's AllowKeepAlive): `started`, `stopped`, or `unsupported`
 * (virConnectSetKeepAlive's return value 1: the server does not support keepalive).
 *
 * @since 0.1.0
 * @category models
 */
export type KeepAliveOutcome = "started" | "stopped" | "unsupported" | "allowed"

/**
 * What the session asks its driver to do, in order.
 *
 * - `Transmit`: write this frame.
 * - `Deliver`: hand this received frame to the application.
 * - `Opened`: the connection is open. Client: `keepalive` says whether the server supports it. Server:
 *   `keepalive` says whether the client advertised it.
 * - `OpenFailed` (client): the open sequence failed; a `Close` follows.
 * - `KeepAlive`: the answer to SetKeepAlive / AllowKeepAlive.
 * - `PeerDead`: our keepalive gave up on the peer; a `Close` follows.
 * - `Close`: close the connection, after writing what came before.
 * - `Rejected`: the input was not accepted; nothing changed.
 * - `PingFlood`: the peer broke the PING policing rule; a `Close` follows.
 *
 * @since 0.1.0
 * @category models
 */
export type Command =
  | { readonly _tag: "Transmit"; readonly frame: Frame.Frame }
  | { readonly _tag: "Deliver"; readonly frame: Frame.Frame }
  | { readonly _tag: "Opened"; readonly keepalive: boolean }
  | { readonly _tag: "OpenFailed"; readonly error: HandshakeFailed }
  | { readonly _tag: "KeepAlive"; readonly outcome: KeepAliveOutcome }
  | { readonly _tag: "PeerDead"; readonly silence: number; readonly pingsSent: number }
  | { readonly _tag: "Close"; readonly reason: CloseReason; readonly cause?: CloseCause }
  | { readonly _tag: "Rejected"; readonly error: NotAllowed | Keepalive.InvalidKeepaliveConfig }
  | { readonly _tag: "PingFlood"; readonly strikes: number; readonly minInterval: number }

/**
 * What made the session close, when its reason has details: the same command that reported it just before the
 * `Close` (so the runtime reads the end from the `Close` alone).
 *
 * @since 0.3.0
 * @category models
 */
export type CloseCause = Extract<Command, { readonly _tag: "PeerDead" | "OpenFailed" | "PingFlood" }>

const NONE: ReadonlyArray<Command> = []
const TRANSMIT_PONG: Command = { _tag: "Transmit", frame: Frame.PONG }
const TRANSMIT_PING: Command = { _tag: "Transmit", frame: Frame.PING }
const PONG_ONLY: ReadonlyArray<Command> = [TRANSMIT_PONG]
const PING_ONLY: ReadonlyArray<Command> = [TRANSMIT_PING]

// ---------------------------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------------------------

/**
 * Where a client is in its life: `idle` (before Open), the three open steps, `open`, `closing` (CONNECT_CLOSE
 * sent), `closed`.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientPhase = "idle" | "auth" | "feature" | "opening" | "open" | "closing" | "closed"

/**
 * Where a server connection is: `handshake` (before CONNECT_OPEN), `open`, `closed`.
 *
 * @since 0.1.0
 * @category models
 */
export type ServerPhase = "handshake" | "open" | "closed"

/**
 * PING-flood policing state: the rule, when the last PING arrived, and the strikes so far.
 *
 * @since 0.1.0
 * @category models
 */
export interface Flood {
  readonly policing: PingPolicing | undefined
  readonly lastPingAt: number | undefined
  readonly strikes: number
}

/**
 * A client session.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientState {
  readonly role: "client"
  readonly variant: ProtocolVariant.ProtocolVariant
  readonly phase: ClientPhase
  readonly keepalive: Keepalive.State
  readonly advertise: boolean
  /** The next serial to use for a call. */
  readonly serial: number
  /** The serial of the handshake call (or AllowKeepAlive's feature query) awaiting its reply. */
  readonly pending: number | undefined
  readonly name: string | undefined
  readonly flags: number
  /** What the server said about PROGRAM_KEEPALIVE; undefined when it was not asked. */
  readonly serverKeepalive: boolean | undefined
  /** Draft variant: a feature query from AllowKeepAlive is in flight. */
  readonly allowing: boolean
  readonly closeReason: CloseReason | undefined
  readonly flood: Flood
}

/**
 * A server session (one accepted connection).
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerState {
  readonly role: "server"
  readonly variant: ProtocolVariant.ProtocolVariant
  readonly phase: ServerPhase
  readonly keepalive: Keepalive.State
  readonly options: ServerOptions
  /** The client advertised keepalive (libvirt: asked the feature; draft: sent ADVERTISE). */
  readonly advertised: boolean
  /** `delegateOpen`: the serial of the CONNECT_OPEN delivered and not answered yet. */
  readonly opening: number | undefined
  /** When the connection is closed if it is still in `handshake` (`handshakeTimeout` after it was accepted). */
  readonly handshakeDeadline: number | undefined
  readonly closeReason: CloseReason | undefined
  readonly flood: Flood
}

/**
 * A session of either role.
 *
 * @since 0.1.0
 * @category models
 */
export type State = ClientState | ServerState

/**
 * A client session created at `now`; send `Open` to start the handshake.
 *
 * @since 0.1.0
 * @category constructors
 */
export const client = (now: number, options: ClientOptions = {}): ClientState => ({
  role: "client",
  variant: options.variant ?? ProtocolVariant.libvirt,
  phase: "idle",
  keepalive: Keepalive.make(now, { rules: options.rules ?? "ours", loop: options.eventLoop ?? true }),
  advertise: options.advertise ?? true,
  serial: 0,
  pending: undefined,
  name: undefined,
  flags: 0,
  serverKeepalive: undefined,
  allowing: false,
  closeReason: undefined,
  flood: { policing: options.policing, lastPingAt: undefined, strikes: 0 }
})

/**
 * Validates server options: the interval and count as for the keepalive core, and a known policy.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateServerOptions = (
  options: ServerOptions
): Result.Result<ServerOptions, Keepalive.InvalidKeepaliveConfig | InvalidPolicy> => {
  if (options.policy !== "disabled" && options.policy !== "if-supported" && options.policy !== "required") {
    return Result.fail(new InvalidPolicy({ value: String(options.policy) }))
  }
  return Result.map(Keepalive.validate(options.interval, options.count), () => options)
}

/**
 * A server policy that is not one of `disabled`, `if-supported`, `required`.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidPolicy extends Data.TaggedError("InvalidPolicy")<{ readonly value: string }> {
  override get message(): string {
    return `invalid keepalive policy "${this.value}": expected disabled, if-supported or required`
  }
}

/**
 * A server session for a connection accepted at `now`. Validate the options first with
 * {@link validateServerOptions}; invalid settings reach the core as a refused Start and the server then never
 * pings. With `limits.handshakeTimeout`, the session's deadline while in `handshake` is `now + handshakeTimeout`
 * at the latest, and a Tick at or past it closes the connection (reason `handshake-timeout`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const server = (now: number, options: ServerOptions = defaultServerOptions, limits: ServerLimits = {}): ServerState => ({
  role: "server",
  variant: options.variant ?? ProtocolVariant.libvirt,
  phase: "handshake",
  keepalive: Keepalive.make(now, { rules: options.rules ?? "ours" }),
  options,
  advertised: false,
  opening: undefined,
  handshakeDeadline: handshakeDeadline(now, limits.handshakeTimeout),
  closeReason: undefined,
  flood: { policing: options.policing, lastPingAt: undefined, strikes: 0 }
})

/**
 * The same server session with a handshake limit counted from `now` (the connection's runtime applies its
 * `handshakeTimeout` option this way to the session it is given). A client session is returned as it is.
 *
 * @since 0.3.0
 * @category constructors
 */
export const limitHandshake = <S extends State>(state: S, now: number, limits: ServerLimits): S =>
  state.role === "server" && limits.handshakeTimeout !== undefined ? { ...state, handshakeDeadline: handshakeDeadline(now, limits.handshakeTimeout) } : state

// ---------------------------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------------------------

/** A server's handshake deadline: `handshakeTimeout` after `now`, when it is a positive finite time. */
const handshakeDeadline = (now: number, timeout: number | undefined): number | undefined =>
  timeout !== undefined && timeout > 0 && Number.isFinite(timeout) ? now + timeout : undefined

/** The handshake deadline in force: a server's, while it is in `handshake`. */
const handshakeDue = (state: State): number | undefined => state.role === "server" && state.phase === "handshake" ? state.handshakeDeadline : undefined

const keepaliveDue = (state: State): number | undefined => state.phase === "closed" ? undefined : Keepalive.nextDeadline(state.keepalive)

/**
 * The next time the session wants a `Tick`, or undefined: the keepalive core's deadline, and for a server still
 * in `handshake`, its handshake deadline when that comes first.
 *
 * @since 0.1.0
 * @category getters
 */
export const nextDeadline = (state: State): number | undefined => {
  const keepalive = keepaliveDue(state)
  const handshake = handshakeDue(state)
  return handshake === undefined || (keepalive !== undefined && keepalive <= handshake) ? keepalive : handshake
}

/**
 * True once the session has ended (closed, refused, or the peer declared dead).
 *
 * @since 0.1.0
 * @category getters
 */
export const isClosed = (state: State): boolean => state.phase === "closed"

/**
 * A snapshot for status displays: whether the peer is alive, the last receipt, PINGs outstanding, and whether
 * we are pinging.
 *
 * @since 0.1.0
 * @category getters
 */
export const status = (state: State) => ({
  alive: Keepalive.isAlive(state.keepalive) && state.phase !== "closed",
  lastReceived: state.keepalive.lastReceived,
  pingsOutstanding: state.keepalive.pingsSent,
  pinging: Keepalive.isRunning(state.keepalive)
})

/**
 * This side's keepalive countdown: PINGs still allowed before the peer is declared dead, the count configured,
 * and the next check (undefined when this side does not ping).
 *
 * @since 0.1.0
 * @category getters
 */
export const countdown = (state: State): { readonly pingsLeft: number; readonly count: number; readonly deadline: number | undefined } => ({
  pingsLeft: Math.max(0, state.keepalive.count - state.keepalive.pingsSent),
  count: state.keepalive.count,
  deadline: nextDeadline(state)
})

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

/** Runs one keepalive-core input and turns its commands into session commands. */
const keepalive = <S extends State>(state: S, input: Keepalive.Input, extra: ReadonlyArray<Command> = NONE): readonly [S, ReadonlyArray<Command>] => {
  const [ka, out] = Keepalive.step(state.keepalive, input)
  const next = ka === state.keepalive ? state : { ...state, keepalive: ka }
  if (out.length === 0) return [next, extra]
  if (out.length === 1 && extra.length === 0) {
    const only = out[0]!
    if (only._tag === "SendPong") return [next, PONG_ONLY]
    if (only._tag === "SendPing") return [next, PING_ONLY]
  }
  const commands: Array<Command> = []
  let closed = false
  for (const c of out) {
    switch (c._tag) {
      case "SendPing":
        commands.push(TRANSMIT_PING)
        break
      case "SendPong":
        commands.push(TRANSMIT_PONG)
        break
      case "PeerDead": {
        const dead: CloseCause = { _tag: "PeerDead", silence: c.silence, pingsSent: c.pingsSent }
        commands.push(dead, { _tag: "Close", reason: "keepalive-timeout", cause: dead })
        closed = true
        break
      }
      case "ConfigRejected":
        commands.push({ _tag: "Rejected", error: c.error })
        break
    }
  }
  for (const c of extra) commands.push(c)
  return [closed ? { ...next, phase: "closed", closeReason: "keepalive-timeout" } : next, commands]
}

/** How a received frame counts for the keepalive core (the draft's ADVERTISE is a keepalive message like any other). */
const classify = (header: Frame.Header): Keepalive.Received => {
  const kind = Frame.keepaliveKind(header)
  if (kind === undefined) return "other"
  if (kind === "ping") return "ping"
  if (kind === "pong") return "pong"
  return "keepalive-other"
}

const isRemote = (h: Frame.Header): boolean => h.prog === Remote.REMOTE_PROGRAM && h.vers === Remote.REMOTE_VERSION

/** A remote call the application sent as is (a proxy relays its client's): our next serial goes past its own. */
const pastSerial = (state: ClientState, h: Frame.Header): ClientState =>
  isRemote(h) && h.type === Frame.MessageType.Call && h.serial >= state.serial ? { ...state, serial: h.serial + 1 } : state

const call = (proc: number, serial: number, payload?: Uint8Array): Command => ({
  _tag: "Transmit",
  frame: Frame.make(Remote.callHeader(proc, serial), payload)
})

const reply = (request: Frame.Header, payload?: Uint8Array): Command => ({
  _tag: "Transmit",
  frame: Frame.make(Remote.replyHeader(request.proc, request.serial, Frame.MessageStatus.Ok), payload)
})

const errorReply = (request: Frame.Header, code: number, message: string, domain: number = Remote.ErrorDomain.Rpc): Command => ({
  _tag: "Transmit",
  frame: Remote.errorReply(request, Remote.libvirtError(code, domain, message))
})

const rejected = (state: State, input: Input["_tag"], reason: string): Step => [
  state,
  [{ _tag: "Rejected", error: new NotAllowed({ input, reason }) }]
]

/**
 * The result of one step: the next state and the commands to carry out, in order.
 *
 * @since 0.1.0
 * @category models
 */
export type Step = readonly [State, ReadonlyArray<Command>]

// ---------------------------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------------------------

const clientCall = (state: ClientState, proc: number, payload?: Uint8Array): readonly [ClientState, Command] => [
  { ...state, serial: state.serial + 1 },
  call(proc, state.serial, payload)
]

/** Sends the next handshake call, making it the pending one. */
const handshakeCall = (state: ClientState, phase: ClientPhase, proc: number, payload?: Uint8Array, before: ReadonlyArray<Command> = NONE): Step => {
  const [next, command] = clientCall({ ...state, phase, pending: state.serial }, proc, payload)
  return [next, [...before, command]]
}

const sendOpen = (state: ClientState): Step =>
  handshakeCall(state, "opening", Remote.RemoteProc.ConnectOpen, Remote.encodeConnectOpenArgs({ name: state.name, flags: state.flags }))

const openFailed = (state: ClientState, error: HandshakeFailed): Step => {
  const failed: CloseCause = { _tag: "OpenFailed", error }
  return [{ ...state, phase: "closed", pending: undefined, closeReason: "open-failed" }, [failed, { _tag: "Close", reason: "open-failed", cause: failed }]]
}

const remoteFailure = (frame: Frame.Frame): Remote.RemoteCallError | undefined => {
  if (frame.header.status !== Frame.MessageStatus.Error) return undefined
  return Remote.RemoteCallError.fromPayload(frame.header.proc, frame.payload)
}

/** The reply to the pending handshake call (or to AllowKeepAlive's feature query). */
const clientHandshakeReply = (state: ClientState, frame: Frame.Frame): Step => {
  const failure = remoteFailure(frame)
  const settled: ClientState = { ...state, pending: undefined }
  if (state.allowing) {
    // Draft: AllowKeepAlive's SUPPORTS_FEATURE reply; when supported, ADVERTISE follows.
    const ret = failure === undefined ? Remote.decodeSupportsFeatureRet(frame.payload) : undefined
    const supported = ret !== undefined && Result.isSuccess(ret) && ret.success.supported !== 0
    const next: ClientState = { ...settled, allowing: false, serverKeepalive: supported }
    return [
      next,
      supported
        ? [{ _tag: "Transmit", frame: Frame.make(Frame.keepaliveHeader(Frame.KeepaliveProc.Advertise)) }, { _tag: "KeepAlive", outcome: "allowed" }]
        : [{ _tag: "KeepAlive", outcome: "unsupported" }]
    ]
  }
  switch (state.phase) {
    case "auth": {
      if (failure !== undefined) {
        // An old server without AUTH_LIST: libvirt carries on without authentication.
        if (failure.code !== Remote.ErrorCode.NoSupport) {
          return openFailed(state, new HandshakeFailed({ step: "auth", reason: failure.message, remote: failure }))
        }
      } else {
        const ret = Remote.decodeAuthListRet(frame.payload)
        if (Result.isFailure(ret)) return openFailed(state, new HandshakeFailed({ step: "auth", reason: ret.failure.message, remote: undefined }))
        const types = ret.success.types
        if (types.length > 0 && !types.includes(Remote.AuthType.None)) {
          return openFailed(
            state,
            new HandshakeFailed({
              step: "auth",
              reason: `the server requires authentication (${types.join(", ")}), which this client does not implement`,
              remote: undefined
            })
          )
        }
      }
      return state.advertise && state.variant.queryFeatureAtOpen
        ? handshakeCall(
          settled,
          "feature",
          Remote.RemoteProc.ConnectSupportsFeature,
          Remote.encodeSupportsFeatureArgs({ feature: Remote.Feature.ProgramKeepalive })
        )
        : sendOpen(settled)
    }
    case "feature": {
      if (failure !== undefined) return openFailed(state, new HandshakeFailed({ step: "feature", reason: failure.message, remote: failure }))
      const ret = Remote.decodeSupportsFeatureRet(frame.payload)
      if (Result.isFailure(ret)) return openFailed(state, new HandshakeFailed({ step: "feature", reason: ret.failure.message, remote: undefined }))
      return sendOpen({ ...settled, serverKeepalive: ret.success.supported !== 0 })
    }
    case "opening": {
      if (failure !== undefined) return openFailed(state, new HandshakeFailed({ step: "open", reason: failure.message, remote: failure }))
      return [{ ...settled, phase: "open" }, [{ _tag: "Opened", keepalive: settled.serverKeepalive === true }]]
    }
    case "closing":
      return [{ ...settled, phase: "closed", closeReason: "closed" }, [{ _tag: "Close", reason: "closed" }]]
    default:
      return [settled, [{ _tag: "Deliver", frame }]]
  }
}

const clientReceived = (state: ClientState, now: number, frame: Frame.Frame): Step => {
  const [next, out] = keepalive(state, Keepalive.Input.Received(now, classify(frame.header)))
  if (Frame.isKeepalive(frame.header)) return [next, out]
  const h = frame.header
  if (next.pending !== undefined && isRemote(h) && h.type === Frame.MessageType.Reply && h.serial === next.pending) {
    return clientHandshakeReply(next, frame)
  }
  return [next, [{ _tag: "Deliver", frame }]]
}

const setKeepAlive = (state: ClientState, now: number, interval: number, count: number): Step => {
  if (state.phase !== "open") return rejected(state, "SetKeepAlive", `the connection is ${state.phase}, not open`)
  const valid = Keepalive.validate(interval, count, Keepalive.rulesOf(state.keepalive))
  if (Result.isFailure(valid)) return [state, [{ _tag: "Rejected", error: valid.failure }]]
  if (state.serverKeepalive !== true) return [state, [{ _tag: "KeepAlive", outcome: "unsupported" }]]
  // libvirt's remoteConnectSetKeepAlive stops the keepalive for an interval ≤ 0 (its Start would be a no-op)
  const stops = interval <= 0 && Keepalive.rulesOf(state.keepalive) === "libvirt"
  const [next] = keepalive(state, stops ? Keepalive.Input.Stop(now) : Keepalive.Input.Start(now, interval, count))
  return [next, [{ _tag: "KeepAlive", outcome: interval > 0 ? "started" : "stopped" }]]
}

/** The inputs that reach the role-specific steps (the keepalive-only ones are handled before). */
type RoleInput = Exclude<Input, { readonly _tag: "Tick" | "Pause" | "Resume" | "ClockStep" | "RunLoop" }>

const clientStep = (state: ClientState, input: RoleInput): Step => {
  switch (input._tag) {
    case "Received":
      return clientReceived(state, input.now, input.frame)
    case "Open": {
      if (state.phase !== "idle") return rejected(state, "Open", `the connection is ${state.phase}`)
      return handshakeCall({ ...state, name: input.name, flags: input.flags }, "auth", Remote.RemoteProc.AuthList)
    }
    case "Call": {
      if (state.phase !== "open") return rejected(state, "Call", `the connection is ${state.phase}, not open`)
      const [next, command] = clientCall(state, input.proc, input.payload)
      return [next, [command]]
    }
    case "Send":
      return [pastSerial(state, input.frame.header), [{ _tag: "Transmit", frame: input.frame }]]
    case "SetKeepAlive":
      return setKeepAlive(state, input.now, input.interval, input.count)
    case "AllowKeepAlive": {
      if (!state.variant.advertiseMessage)
        return rejected(state, "AllowKeepAlive", "only the draft protocol has AllowKeepAlive; libvirt advertises while opening")
      if (state.phase !== "open") return rejected(state, "AllowKeepAlive", `the connection is ${state.phase}, not open`)
      if (!state.advertise) return [state, [{ _tag: "KeepAlive", outcome: "unsupported" }]]
      if (state.allowing) return rejected(state, "AllowKeepAlive", "already in progress")
      const [next, command] = clientCall(
        { ...state, pending: state.serial, allowing: true },
        Remote.RemoteProc.ConnectSupportsFeature,
        Remote.encodeSupportsFeatureArgs({ feature: Remote.Feature.ProgramKeepalive })
      )
      return [next, [command]]
    }
    case "Close": {
      if (state.phase !== "open") return [{ ...state, phase: "closed", closeReason: "closed" }, [{ _tag: "Close", reason: "closed" }]]
      return handshakeCall(state, "closing", Remote.RemoteProc.ConnectClose)
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------------------

/** The client advertised: start our pings if the policy allows. */
const advertisedBy = (state: ServerState, now: number, extra: ReadonlyArray<Command>): Step => {
  const marked: ServerState = { ...state, advertised: true }
  if (state.advertised || state.options.policy === "disabled") return [marked, extra]
  const [next, out] = keepalive(marked, Keepalive.Input.Start(now, state.options.interval, state.options.count))
  // A refused configuration is the operator's error, not the client's: the server just never pings.
  return [next, [...out.filter((c) => c._tag !== "Rejected"), ...extra]]
}

const serverCall = (state: ServerState, now: number, frame: Frame.Frame): Step => {
  const h = frame.header
  if (!isRemote(h)) {
    return [state, [errorReply(h, Remote.ErrorCode.Rpc, `Cannot find program ${h.prog >>> 0} version ${h.vers >>> 0}`)]]
  }
  switch (h.proc) {
    case Remote.RemoteProc.AuthList:
      return [state, [reply(h, Remote.encodeAuthListRet({ types: [Remote.AuthType.None] }))]]
    case Remote.RemoteProc.ConnectSupportsFeature: {
      // libvirtd's XDR decoding ignores bytes after the arguments
      const args = Remote.decodeSupportsFeatureArgs(frame.payload, "ignore")
      if (Result.isFailure(args)) return [state, [errorReply(h, Remote.ErrorCode.Rpc, "Unable to decode message payload")]]
      const feature = args.success.feature
      const isKeepalive = feature === Remote.Feature.ProgramKeepalive
      // libvirtd answers the transport's features (keepalive, fd passing) before CONNECT_OPEN, the rest only after
      if (state.phase !== "open" && !isKeepalive && feature !== Remote.Feature.FdPassing) {
        return [state, [errorReply(h, Remote.ErrorCode.InternalError, "hypervisor connection not open")]]
      }
      if (relaysFeature(state, feature)) return [state, [{ _tag: "Deliver", frame }]]
      const answer = reply(h, Remote.encodeSupportsFeatureRet({ supported: isKeepalive ? 1 : 0 }))
      if (isKeepalive && state.variant.featureQueryAdvertises) return advertisedBy(state, now, [answer])
      return [state, [answer]]
    }
    case Remote.RemoteProc.ConnectOpen: {
      if (state.phase === "open") return [state, [errorReply(h, Remote.ErrorCode.InternalError, "connection already open")]]
      if (state.opening !== undefined) return [state, [errorReply(h, Remote.ErrorCode.InternalError, "connection already being opened")]]
      const args = Remote.decodeConnectOpenArgs(frame.payload, "ignore")
      if (Result.isFailure(args)) return [state, [errorReply(h, Remote.ErrorCode.Rpc, "Unable to decode message payload")]]
      const name = args.success.name
      if (name !== undefined && !Remote.isParseableUri(name)) {
        return [state, [errorReply(h, Remote.ErrorCode.InternalError, `Unable to parse URI ${name}`, Remote.ErrorDomain.Uri)]]
      }
      if (state.options.policy === "required" && !state.advertised && Keepalive.rulesOf(state.keepalive) === "ours") {
        return [
          { ...state, phase: "closed", closeReason: "refused" },
          [
            errorReply(h, Remote.ErrorCode.OperationDenied, "keepalive is required by this server (policy required), and the client did not advertise it"),
            { _tag: "Close", reason: "refused" }
          ]
        ]
      }
      if (state.options.delegateOpen === true) return [{ ...state, opening: h.serial }, [{ _tag: "Deliver", frame }]]
      return [{ ...state, phase: "open" }, [reply(h), { _tag: "Opened", keepalive: state.advertised }]]
    }
    case Remote.RemoteProc.ConnectClose:
      return [{ ...state, phase: "closed", closeReason: "closed" }, [reply(h), { _tag: "Close", reason: "closed" }]]
    default:
      // libvirtd's order: an unknown procedure first, then a known one before CONNECT_OPEN
      if (!Remote.isKnownProcedure(h.proc)) return [state, [errorReply(h, Remote.ErrorCode.Rpc, `unknown procedure: ${h.proc}`)]]
      if (state.phase !== "open") return [state, [errorReply(h, Remote.ErrorCode.InternalError, "hypervisor connection not open")]]
      return [state, [{ _tag: "Deliver", frame }]]
  }
}

const serverReceived = (state: ServerState, now: number, frame: Frame.Frame): Step => {
  const h = frame.header
  const [next, out] = keepalive(state, Keepalive.Input.Received(now, classify(h)))
  const kind = Frame.keepaliveKind(h)
  if (kind !== undefined) {
    if (state.variant.advertiseMessage && kind === "advertise") return advertisedBy(next, now, out)
    return [next, out]
  }
  if (h.type === Frame.MessageType.Call) {
    // libvirtd (virNetServerProgramDispatchCall): a call must carry status OK
    if (h.status !== Frame.MessageStatus.Ok) return [next, [errorReply(h, Remote.ErrorCode.Rpc, `Unexpected message status ${h.status >>> 0}`)]]
    return serverCall(next, now, frame)
  }
  // Not a call: streams and the like belong to the application; frames of unknown programs are dropped.
  return [next, isRemote(h) ? [{ _tag: "Deliver", frame }] : NONE]
}

/** `delegateOpen`: features the daemon behind answers (keepalive is this leg's own; fds cannot cross a proxy). */
const relaysFeature = (state: ServerState, feature: number): boolean =>
  state.options.delegateOpen === true && state.phase === "open" &&
  feature !== Remote.Feature.ProgramKeepalive && feature !== Remote.Feature.FdPassing

/** `delegateOpen`: whether the application's frame is the reply to the CONNECT_OPEN being opened. */
const answersOpen = (state: ServerState, frame: Frame.Frame): boolean => {
  const h = frame.header
  return state.opening === h.serial && isRemote(h) && h.type === Frame.MessageType.Reply && h.proc === Remote.RemoteProc.ConnectOpen
}

/** `delegateOpen`: the reply to CONNECT_OPEN goes out; status OK opens the connection. */
const openAnswered = (state: ServerState, frame: Frame.Frame): Step => {
  const settled: ServerState = { ...state, opening: undefined }
  const transmit: Command = { _tag: "Transmit", frame }
  return frame.header.status === Frame.MessageStatus.Ok
    ? [{ ...settled, phase: "open" }, [transmit, { _tag: "Opened", keepalive: state.advertised }]]
    : [settled, [transmit]]
}

const serverStep = (state: ServerState, input: RoleInput): Step => {
  switch (input._tag) {
    case "Received":
      return serverReceived(state, input.now, input.frame)
    case "Send":
      if (answersOpen(state, input.frame)) return openAnswered(state, input.frame)
      return [state, [{ _tag: "Transmit", frame: input.frame }]]
    case "Close":
      return [{ ...state, phase: "closed", closeReason: "closed" }, [{ _tag: "Close", reason: "closed" }]]
    default:
      return rejected(state, input._tag, "a server session accepts only Received, Send, Tick and Close; its keepalive comes from its options")
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Step
// ---------------------------------------------------------------------------------------------------------------

/**
 * Advances a session by one input. A closed session accepts nothing: application inputs are `Rejected`,
 * received frames and Ticks are ignored.
 *
 * @since 0.1.0
 * @category transitions
 */
export const step = (state: State, input: Input): Step => {
  if (state.phase === "closed") {
    return input._tag === "Received" || input._tag === "Tick" || input._tag === "Close" || input._tag === "Pause" || input._tag === "Resume" ||
        input._tag === "ClockStep" || input._tag === "RunLoop"
      ? [state, NONE]
      : rejected(state, input._tag, "the connection is closed")
  }
  if (input._tag === "Received" && state.flood.policing !== undefined && Frame.keepaliveKind(input.frame.header) === "ping") {
    const flood = police(state.flood, input.now)
    if (flood.strikes > (state.flood.policing.strikes)) {
      const flooded: CloseCause = { _tag: "PingFlood", strikes: flood.strikes, minInterval: state.flood.policing.minInterval }
      return [{ ...state, flood, phase: "closed", closeReason: "ping-flood" }, [flooded, { _tag: "Close", reason: "ping-flood", cause: flooded }]]
    }
    const policed = { ...state, flood }
    return policed.role === "client" ? clientStep(policed, input) : serverStep(policed, input)
  }
  if (input._tag === "Tick" && isHandshakeDue(state, input.now)) return handshakeTimedOut(state)
  if (input._tag === "Tick") return keepalive(state, Keepalive.Input.Tick(input.now))
  if (input._tag === "Pause") return keepalive(state, Keepalive.Input.Pause(input.now))
  if (input._tag === "Resume") return keepalive(state, Keepalive.Input.Resume(input.now))
  if (input._tag === "ClockStep") return keepalive(state, Keepalive.Input.ClockStep(input.now, input.by))
  if (input._tag === "RunLoop") return keepalive(state, Keepalive.Input.RunLoop(input.now))
  return state.role === "client" ? clientStep(state, input) : serverStep(state, input)
}

/** A server still in `handshake` at or past its handshake deadline. */
const isHandshakeDue = (state: State, now: number): boolean => {
  const due = handshakeDue(state)
  return due !== undefined && now >= due
}

const handshakeTimedOut = (state: State): Step => [
  { ...state, phase: "closed", closeReason: "handshake-timeout" },
  [{ _tag: "Close", reason: "handshake-timeout" }]
]

const police = (flood: Flood, now: number): Flood => {
  const early = flood.lastPingAt !== undefined && flood.policing !== undefined && now - flood.lastPingAt < flood.policing.minInterval
  return { policing: flood.policing, lastPingAt: now, strikes: early ? flood.strikes + 1 : 0 }
}

// ---------------------------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------------------------

/** Appends a value's text to `parts`: every own field of an object in order, recursively (Frames never occur). */
const keyOf = (value: unknown, parts: Array<string>, skipNow: boolean): void => {
  if (value === null || typeof value !== "object") {
    parts.push(typeof value === "string" ? JSON.stringify(value) : String(value))
    return
  }
  parts.push("{")
  for (const field of Object.keys(value)) {
    if (skipNow && field === "now") continue
    parts.push(field, ":")
    keyOf((value as Record<string, unknown>)[field], parts, false)
  }
  parts.push("}")
}

/**
 * The identity of a session state up to its keepalive core's `now`: every field of the state, its options and its
 * keepalive core, by name and value. Two states with the same key differ at most in that `now`, which no later
 * input can observe (inputs carry newer times), so they behave alike; states that differ in any other field get
 * different keys. The model checker hash-conses sessions by it.
 *
 * @since 0.1.0
 * @category getters
 */
export const key = (state: State): string => {
  const parts: Array<string> = []
  for (const field of Object.keys(state)) {
    parts.push(field, ":")
    keyOf((state as unknown as Record<string, unknown>)[field], parts, field === "keepalive")
  }
  return parts.join("")
}

/**
 * A representative of the states with the same {@link key}: the one whose keepalive core's `now` is
 * `Keepalive.representative`'s.
 *
 * @since 0.1.0
 * @category getters
 */
export const representative = (state: State): State => {
  const keepalive = Keepalive.representative(state.keepalive)
  return keepalive === state.keepalive ? state : { ...state, keepalive }
}
