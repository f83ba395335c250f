/**
 * Traces as text: frames described in libvirt's words, and timelines drawn as the numbered arrows of the
 * 2011 libvir-list emails ("4b. S -> C keepalive PING").
 *
 * Contract:
 * - {@link TraceEvent} is the vocabulary every layer above the session speaks about a run; {@link ofCommand} is
 *   the one mapping of session commands to trace events.
 * - Pure functions from trace events to strings; nothing is printed here.
 * - Numbering: every transmitted frame gets the next number. Keepalive frames carry the letter of their flow,
 *   as in the emails: `a` for client-initiated pinging (C → S PING, S → C PONG), `b` for server-initiated
 *   pinging (S → C PING, C → S PONG, and the draft's ADVERTISE).
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Frame from "../wire/Frame.ts"
import * as Procedures from "../wire/Procedures.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import type * as Session from "../session/Session.ts"

/**
 * A side of a connection.
 *
 * @since 0.1.0
 * @category models
 */
export type Side = "client" | "server"

/**
 * What happened, when.
 *
 * - `transmit`: `from` wrote `frame`.
 * - `receive`: `frame` reached `side`, which processed it (the events it caused follow).
 * - `event`: a session command other than Transmit/Deliver at `side` (Opened, PeerDead, Close, KeepAlive, …).
 * - `deliver`: a frame handed to `side`'s application.
 * - `freeze` / `thaw`.
 * - `note`: something outside the sessions happened (a fault injected by a simulation, …).
 * - `countdown`: this side's keepalive countdown changed (PINGs left, next check).
 *
 * @since 0.1.0
 * @category models
 */
export type TraceEvent =
  | { readonly at: number; readonly kind: "transmit"; readonly from: Side; readonly frame: Frame.Frame }
  | { readonly at: number; readonly kind: "receive"; readonly side: Side; readonly frame: Frame.Frame }
  | { readonly at: number; readonly kind: "deliver"; readonly side: Side; readonly frame: Frame.Frame }
  | { readonly at: number; readonly kind: "event"; readonly side: Side; readonly command: Session.Command }
  | { readonly at: number; readonly kind: "freeze" | "thaw"; readonly side: Side }
  | { readonly at: number; readonly kind: "note"; readonly text: string }
  | {
    readonly at: number
    readonly kind: "countdown"
    readonly side: Side
    /** PINGs still allowed before the peer is declared dead, and the count configured. */
    readonly pingsLeft: number
    readonly count: number
    /** The next keepalive check (absolute ms), or undefined when this side does not ping. */
    readonly deadline: number | undefined
  }

/**
 * The one mapping of a session command to the event a trace records: a `Transmit` is `from` the side's `transmit`,
 * a `Deliver` its `deliver`, every other command an `event` at the side. Which commands a recorder keeps is its own
 * choice (the runtime records a frame when it writes it, not when the session asks).
 *
 * @since 0.2.0
 * @category constructors
 */
export const ofCommand = (at: number, side: Side, command: Session.Command): TraceEvent =>
  command._tag === "Transmit"
    ? { at, kind: "transmit", from: side, frame: command.frame }
    : command._tag === "Deliver"
    ? { at, kind: "deliver", side, frame: command.frame }
    : { at, kind: "event", side, command }

const PROC_NAMES: Readonly<Record<number, string>> = {
  ...Object.fromEntries([...Object.values(Procedures.calls), ...Object.values(Procedures.messages)].map((p) => [p.number, Procedures.nameOf(p.number)!])),
  [Remote.RemoteProc.ConnectOpen]: "connect_open",
  [Remote.RemoteProc.ConnectClose]: "connect_close",
  [Remote.RemoteProc.ConnectGetType]: "connect_get_type",
  [Remote.RemoteProc.ConnectGetVersion]: "connect_get_version",
  [Remote.RemoteProc.ConnectGetHostname]: "connect_get_hostname",
  [Remote.RemoteProc.ConnectSupportsFeature]: "supports_feature",
  [Remote.RemoteProc.AuthList]: "auth_list",
  [Remote.RemoteProc.ConnectGetUri]: "connect_get_uri",
  [Remote.RemoteProc.ConnectListAllDomains]: "connect_list_all_domains"
}

const FEATURE_NAMES: Readonly<Record<number, string>> = {
  [Remote.Feature.FdPassing]: "FD_PASSING",
  [Remote.Feature.ProgramKeepalive]: "KEEPALIVE",
  [Remote.Feature.RemoteEventCallback]: "REMOTE_EVENT_CALLBACK",
  [Remote.Feature.RemoteCloseCallback]: "REMOTE_CLOSE_CALLBACK"
}

const KEEPALIVE_NAMES: Record<Exclude<Frame.KeepaliveKind, "keepalive-other">, string> = {
  ping: "PING",
  pong: "PONG",
  advertise: "ADVERTISE"
}

const remoteDetail = (frame: Frame.Frame): string => {
  const { proc, type } = frame.header
  if (proc === Remote.RemoteProc.ConnectSupportsFeature) {
    if (type === Frame.MessageType.Call) {
      const args = Remote.decodeSupportsFeatureArgs(frame.payload)
      return Result.isSuccess(args) ? ` (${FEATURE_NAMES[args.success.feature] ?? args.success.feature})` : ""
    }
    const ret = Remote.decodeSupportsFeatureRet(frame.payload)
    return Result.isSuccess(ret) ? ` (${ret.success.supported !== 0 ? "TRUE" : "FALSE"})` : ""
  }
  if (proc === Remote.RemoteProc.ConnectOpen && type === Frame.MessageType.Call) {
    const args = Remote.decodeConnectOpenArgs(frame.payload)
    return Result.isSuccess(args) ? ` (${args.success.name === undefined ? "default" : JSON.stringify(args.success.name)})` : ""
  }
  return ""
}

/**
 * Names a frame the way the emails do: `keepalive PING`, `remote_supports_feature_args (KEEPALIVE)`,
 * `remote_supports_feature_ret (TRUE)`, `remote_error (connection not open)`.
 *
 * @since 0.1.0
 * @category rendering
 */
export const describeFrame = (frame: Frame.Frame): string => {
  const h = frame.header
  const kind = Frame.keepaliveKind(h)
  if (kind !== undefined) return `keepalive ${kind === "keepalive-other" ? `procedure ${h.proc}` : KEEPALIVE_NAMES[kind]}`
  if (h.prog !== Remote.REMOTE_PROGRAM) return `program 0x${(h.prog >>> 0).toString(16)} procedure ${h.proc}`
  const name = PROC_NAMES[h.proc] ?? `procedure_${h.proc}`
  if (h.type === Frame.MessageType.Reply && h.status === Frame.MessageStatus.Error) {
    const error = Remote.decodeRemoteError(frame.payload)
    return `remote_error for ${name}${Result.isSuccess(error) && error.success.message !== undefined ? ` (${error.success.message})` : ""}`
  }
  const suffix = h.type === Frame.MessageType.Call ? "args" : h.type === Frame.MessageType.Reply ? "ret" : "message"
  return `remote_${name}_${suffix}${remoteDetail(frame)}`
}

const flowOf = (from: Side, frame: Frame.Frame): string => {
  const kind = Frame.keepaliveKind(frame.header)
  if (kind === undefined) return ""
  const clientPings = (from === "client" && kind === "ping") || (from === "server" && kind === "pong")
  return clientPings ? "a" : "b"
}

const letter = (side: Side): string => (side === "client" ? "C" : "S")

/**
 * The number of an arrow in the emails' style: `7.` for the handshake, `7a.` / `7b.` for keepalive frames of
 * flow a (client pings) or b (server pings).
 *
 * @since 0.1.0
 * @category rendering
 */
export const number = (n: number, from: Side, frame: Frame.Frame): string => `${n}${flowOf(from, frame)}.`

/**
 * Formats a time in ms as seconds with millisecond precision, right-aligned.
 *
 * @since 0.1.0
 * @category rendering
 */
export const formatTime = (ms: number): string => `${(ms / 1000).toFixed(3).padStart(8)}s`

/**
 * Describes a session command for a trace line (`client: peer dead after 3000 ms, 2 PINGs unanswered`).
 *
 * @since 0.1.0
 * @category rendering
 */
export const describeCommand = (side: Side, command: Session.Command): string => {
  const who = side === "client" ? "C" : "S"
  switch (command._tag) {
    case "Opened":
      return side === "client"
        ? `${who}: connection open (server keepalive support: ${command.keepalive ? "yes" : "no"})`
        : `${who}: connection open (client advertised keepalive: ${command.keepalive ? "yes" : "no"})`
    case "OpenFailed":
      return `${who}: open failed: ${command.error.message}`
    case "KeepAlive":
      return `${who}: keepalive ${command.outcome}`
    case "PeerDead":
      return `${who}: peer dead: ${command.pingsSent} PINGs unanswered, ${Math.round(command.silence)} ms of silence`
    case "Close":
      return `${who}: closes the connection (${command.reason})`
    case "Rejected":
      return `${who}: rejected: ${command.error.message}`
    case "PingFlood":
      return `${who}: PING flood: ${command.strikes} PINGs in a row less than ${command.minInterval} ms apart`
    case "Transmit":
    case "Deliver":
      return `${who}: ${describeFrame(command.frame)}`
  }
}

/**
 * Draws a trace as numbered arrows with timestamps, one line per frame written, plus indented notes for the
 * sessions' other events.
 *
 * **Example**
 * ```text
 *    2.000s   7b. S -> C keepalive PING
 *    2.000s   8b. C -> S keepalive PONG
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const arrows = (trace: ReadonlyArray<TraceEvent>, options: ArrowOptions = {}): string => {
  const lines: Array<string> = []
  const receipts = options.receipts === true ? receiptTimes(trace) : undefined
  let n = 0
  trace.forEach((e, i) => {
    if (drawsArrow(e, options)) n++
    const line = arrowLine(n, e, options)
    if (line === undefined) return
    const at = receipts?.get(i)
    lines.push(
      receipts === undefined || e.kind !== "transmit" ? line : `${line}  ${at === undefined ? "(never received)" : `(received at ${formatTime(at).trim()})`}`
    )
  })
  return lines.join("\n")
}

/**
 * When each transmitted frame was received: per direction, the k-th frame written is the k-th received, as on a
 * stream (frames that never arrive are the last ones). Keys are indices into `trace`.
 *
 * @since 0.1.0
 * @category rendering
 */
export const receiptTimes = (trace: ReadonlyArray<TraceEvent>): ReadonlyMap<number, number> => {
  const received: Record<Side, Array<number>> = { client: [], server: [] }
  for (const e of trace) if (e.kind === "receive") received[e.side].push(e.at)
  const written: Record<Side, number> = { client: 0, server: 0 }
  const times = new Map<number, number>()
  trace.forEach((e, i) => {
    if (e.kind !== "transmit") return
    const at = received[e.from === "client" ? "server" : "client"][written[e.from]++]
    if (at !== undefined) times.set(i, at)
  })
  return times
}

/**
 * Options of {@link arrows} and {@link arrowLine}.
 *
 * - `notes` (default true): also draw the sessions' events (open, dead, close, …) as indented notes.
 * - `received` (default false): draw received frames as arrows from the peer. Use it for a trace of one side
 *   whose peer is not traced (a server talking to virsh, a client talking to libvirtd).
 * - `receipts` (default false): end each arrow with the time its frame was received (or "never received").
 *
 * @since 0.1.0
 * @category models
 */
export interface ArrowOptions {
  readonly notes?: boolean
  readonly received?: boolean
  readonly receipts?: boolean
}

/**
 * True when an event is drawn as a numbered arrow under these options.
 *
 * @since 0.1.0
 * @category rendering
 */
export const drawsArrow = (e: TraceEvent, options: ArrowOptions = {}): boolean => e.kind === "transmit" || (e.kind === "receive" && options.received === true)

/**
 * One line of {@link arrows}: `n` is the arrow's number (count with {@link drawsArrow}). Undefined for events that
 * draw no line.
 *
 * @since 0.1.0
 * @category rendering
 */
export const arrowLine = (n: number, e: TraceEvent, options: ArrowOptions = {}): string | undefined => {
  if (e.kind === "transmit" || (e.kind === "receive" && options.received === true)) {
    const from = e.kind === "transmit" ? e.from : e.side === "client" ? "server" : "client"
    return `${formatTime(e.at)}  ${number(n, from, e.frame).padStart(5)} ${letter(from)} -> ${letter(from === "client" ? "server" : "client")} ${
      describeFrame(e.frame)
    }`
  }
  if (e.kind === "receive" || e.kind === "countdown" || options.notes === false) return undefined
  if (e.kind === "note") return `${formatTime(e.at)}         ${e.text}`
  const text = e.kind === "event"
    ? describeCommand(e.side, e.command)
    : e.kind === "deliver"
    ? `${letter(e.side)}: delivered ${describeFrame(e.frame)}`
    : `${letter(e.side)}: ${e.kind === "freeze" ? "frozen (socket open, nothing processed)" : "thawed"}`
  return `${formatTime(e.at)}         ${text}`
}

/**
 * A side's keepalive countdown over time, one line per change: PINGs left of the count (as a bar), and the time
 * to the next check. Drawn from the trace's `countdown` events.
 *
 * **Example**
 * ```text
 * S countdown
 *    0.034s  PINGs left ■■ 2/2  next check in 2.000s
 *    2.034s  PINGs left ■□ 1/2  next check in 2.000s
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const timeline = (trace: ReadonlyArray<TraceEvent>, side: Side): string => {
  const lines = [`${letter(side)} countdown`]
  const ms = (t: number) => formatTime(Math.round(t)).trim()
  for (const e of trace) {
    if (e.kind !== "countdown" || e.side !== side) continue
    const bar = "\u25a0".repeat(Math.min(e.pingsLeft, 20)) + "\u25a1".repeat(Math.min(Math.max(0, e.count - e.pingsLeft), 20))
    const next = e.deadline === undefined ? "not pinging" : `next check in ${ms(e.deadline - e.at)}`
    lines.push(`${formatTime(e.at)}  PINGs left ${bar.padEnd(Math.max(4, Math.min(e.count, 20)))} ${e.pingsLeft}/${e.count}  ${next}`)
  }
  if (lines.length === 1) lines.push("           this side never pinged")
  return lines.join("\n")
}
