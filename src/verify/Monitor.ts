/**
 * A monitor of the keepalive properties over a recorded trace (the simulator's, or any run of the runtime): the
 * same {@link Properties} the model checker checks, judged from the trace's history.
 *
 * Contract:
 * - {@link monitor}`(trace, setup)` is pure: it walks the events in order and returns every violation found (at
 *   most one per property), each with the time it happened. An empty list means every property held.
 * - What the monitor knows besides the trace is the {@link Setup}: the server's settings and policy, the
 *   client's setKeepAlive requests in the order it made them, the end of the run, and the timer slack.
 * - Frames count when a side processes them (`receive` events) and when it writes them (`transmit`); freezes,
 *   thaws and crash notes stop and resume the judging of a side. A side that crashed or closed is no longer
 *   judged; a PING it received must be answered within 250 ms (a PONG may wait for the socket) while it lives.
 * - `no-false-death`: each side's frames are matched, in order, with the peer's receipts; a death declared while
 *   a frame of the peer has waited unread longer than `transit` is false, unless a fault (freeze, crash,
 *   partition, slow reader) touched the run. Before open, the open and handshake timeouts (when the setup gives
 *   them) bound how long a side may wait for the connection to open.
 * - The runtime's own notes count too: "<side> stopped reading" pauses the judging of that side (its keepalive is
 *   paused: the silence is its own), "<side> reads again" resumes it and counts as a receipt; "C: gives up
 *   opening" / "S: gives up opening" is a side giving up before open (judged by `no-false-death`), and it and
 *   "C: connection ends" / "S: connection ends" end the connection for both.
 * - With `healthy` the design property `no-healthy-death` is judged too, on deaths in runs no fault touched.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Frame from "../wire/Frame.ts"
import type * as ProtocolVariant from "../session/ProtocolVariant.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import type * as Session from "../session/Session.ts"
import type * as Trace from "../trace/Trace.ts"
import * as Properties from "./Properties.ts"

/**
 * What the monitor needs to know about a run besides its trace. Times in ms.
 *
 * @since 0.1.0
 * @category models
 */
export interface Setup {
  readonly variant: ProtocolVariant.ProtocolVariant
  readonly policy: Session.Policy
  readonly serverInterval: number
  readonly serverCount: number
  /**
   * The client's setKeepAlive calls made before any in the trace (the initial one), in order; later calls are
   * read from the trace's notes "setKeepAlive(interval, count)".
   */
  readonly requests: ReadonlyArray<{ readonly interval: number; readonly count: number }>
  /** The end of the run. */
  readonly end: number
  /** How late a timer may fire. Default 0. */
  readonly slack?: number
  /** Whether the client was configured to advertise keepalive. Default true. */
  readonly advertises?: boolean
  /** The longest the network takes to carry a frame, for `no-false-death`. Default 250 ms. */
  readonly transit?: number
  /** The client's open timeout, judged before open; absent: not judged. */
  readonly openTimeout?: number
  /** The server's handshake timeout, judged before open; absent: not judged. */
  readonly handshakeTimeout?: number
  /**
   * Judge the design property `no-healthy-death` too: no side gives up on a peer while no fault (freeze, crash,
   * partition, slow reader) touched the run. Default false (the network's delay alone can break it).
   */
  readonly healthy?: boolean
}

/**
 * A violation seen in a trace, with its time.
 *
 * @since 0.1.0
 * @category models
 */
export interface Seen extends Properties.Violation {
  readonly at: number
}

const SIDES: ReadonlyArray<Trace.Side> = ["client", "server"]
const GRACE = 250

interface SideState {
  readonly g: Properties.Ghost
  frozen: boolean
  /** Stopped reading by its own limits, keepalive paused. */
  paused: boolean
  /** When it last thawed (0 if never): a timer that came due while frozen fires then. */
  thawed: number
  gone: boolean
  /** When an unanswered PING arrived, or -1. */
  pongDue: number
  /** PINGs received and not answered yet: a PONG beyond them answers nothing. */
  pingsOwed: number
  /** When each frame the peer sent and this side has not read yet was sent, oldest first. */
  readonly unread: Array<number>
  opened: boolean
}

interface Run {
  readonly setup: Setup
  readonly rules: Properties.Rules
  readonly sides: Record<Trace.Side, SideState>
  readonly seen: Array<Seen>
  /** setKeepAlive calls not answered yet, oldest first. */
  readonly requests: Array<{ readonly interval: number; readonly count: number }>
  /** A fault touched the run: `no-false-death` is no longer judged. */
  faulted: boolean
}

const kindOf = (frame: Frame.Frame): "ping" | "pong" | "advertise" | "query-keepalive" | "feature-true" | "other" => {
  const h = frame.header
  const keepalive = Frame.keepaliveKind(h)
  if (keepalive !== undefined) return keepalive === "keepalive-other" ? "other" : keepalive
  if (h.prog !== Remote.REMOTE_PROGRAM || h.proc !== Remote.RemoteProc.ConnectSupportsFeature) return "other"
  if (h.type === Frame.MessageType.Call) {
    const args = Remote.decodeSupportsFeatureArgs(frame.payload)
    return Result.isSuccess(args) && args.success.feature === Remote.Feature.ProgramKeepalive ? "query-keepalive" : "other"
  }
  const ret = h.type === Frame.MessageType.Reply && h.status === Frame.MessageStatus.Ok ? Remote.decodeSupportsFeatureRet(frame.payload) : undefined
  return ret !== undefined && Result.isSuccess(ret) && ret.success.supported !== 0 ? "feature-true" : "other"
}

const note = (run: Run, at: number, v: Properties.Violation | undefined): void => {
  if (v !== undefined && !run.seen.some((s) => s.property === v.property)) run.seen.push({ ...v, at })
}

const receive = (run: Run, side: Trace.Side, at: number, frame: Frame.Frame): void => {
  const s = run.sides[side]
  const kind = kindOf(frame)
  s.unread.shift()
  Properties.received(s.g, at)
  if (side === "client" && kind === "feature-true") s.g.agreed = true
  if (
    side === "server" && !s.g.agreed &&
    ((kind === "advertise" && run.setup.variant.advertiseMessage) || (kind === "query-keepalive" && run.setup.variant.featureQueryAdvertises))
  ) {
    s.g.agreed = true
    if (run.setup.policy !== "disabled" && run.setup.serverInterval > 0) Properties.settingsChanged(s.g, at, run.setup.serverInterval, run.setup.serverCount)
  }
  if (kind === "ping" && s.pongDue < 0) s.pongDue = at
  if (kind === "ping") s.pingsOwed++
}

const transmit = (run: Run, side: Trace.Side, at: number, frame: Frame.Frame): void => {
  const s = run.sides[side]
  const kind = kindOf(frame)
  run.sides[side === "client" ? "server" : "client"].unread.push(at)
  if (kind === "pong") {
    s.pongDue = -1
    note(run, at, Properties.checkPongs(s.pingsOwed, 1, side))
    s.pingsOwed = Math.max(0, s.pingsOwed - 1)
  }
  if (side === "client" && (kind === "query-keepalive" || kind === "advertise")) note(run, at, Properties.checkAdvertisement(run.setup.advertises ?? true))
  if (kind !== "ping") return
  if (side === "server") note(run, at, Properties.checkServerPing(s.g.agreed, run.setup.policy))
  note(run, at, Properties.checkPing(s.g, at, run.rules, side))
  Properties.pinged(s.g, at)
}

const command = (run: Run, side: Trace.Side, at: number, c: Session.Command): void => {
  const s = run.sides[side]
  switch (c._tag) {
    case "PeerDead":
      note(run, at, Properties.checkDeath(s.g, at, run.rules, side))
      note(
        run,
        at,
        Properties.checkFalseDeath(!run.faulted, s.unread[0] ?? -1, run.setup.transit ?? GRACE, at, run.rules, {
          side,
          act: "dead",
          frame: "frame",
          why: "it did not read it"
        })
      )
      if (run.setup.healthy === true)
        note(run, at, Properties.checkHealthyDeath(!run.faulted, s.g.lastReceipt, s.unread[0] ?? -1, run.setup.transit ?? GRACE, at, run.rules, side, "dead"))
      s.g.dead = true
      return
    case "Opened":
      s.opened = true
      if (side === "server") note(run, at, Properties.checkOpenAnswer(true, s.g.agreed, run.setup.policy))
      return
    case "Close":
      if (side === "server" && c.reason === "refused") note(run, at, Properties.checkOpenAnswer(false, s.g.agreed, run.setup.policy))
      // the connection ends for both: the peer reads EOF
      run.sides.client.gone = true
      run.sides.server.gone = true
      return
    case "KeepAlive": {
      if (side !== "client" || c.outcome === "allowed") return
      const request = run.requests.shift()
      if (request === undefined) return
      if (s.g.agreed) Properties.settingsChanged(s.g, at, request.interval, request.count)
      else Properties.refused(s.g, at)
      return
    }
    case "Rejected":
      // a refused setKeepAlive (the connection not open, invalid settings) changes nothing
      if (side === "client" && (c.error._tag === "InvalidKeepaliveConfig" || c.error.input === "SetKeepAlive")) run.requests.shift()
      return
    default:
      return
  }
}

/** Liveness and unanswered PINGs of every side still judged, at `at` (`more`: events at `at` may still follow). */
const overdue = (run: Run, at: number, more: boolean): void => {
  for (const side of SIDES) {
    const s = run.sides[side]
    if (s.frozen || s.gone || s.paused) continue
    note(run, at, Properties.checkOverdue(s.g, at, run.rules, side, more))
    const timeout = side === "client" ? run.setup.openTimeout : run.setup.handshakeTimeout
    // a frozen side's timeout fires when it thaws, if it came due meanwhile
    if (!s.opened && timeout !== undefined && timeout > 0) note(run, at, Properties.checkOpenOverdue(at, Math.max(timeout, s.thawed), run.rules, side, more))
    if (s.pongDue >= 0 && at - s.pongDue > GRACE) note(run, s.pongDue, Properties.checkAnswered(false, false, side))
  }
}

/** A side's runtime stopped reading (its keepalive paused) or reads again (a receipt). */
const reading = (run: Run, at: number, text: string): void => {
  const match = /^(client|server) (stopped reading|reads again)/.exec(text)
  if (match === null) return
  const s = run.sides[match[1] as Trace.Side]
  s.paused = match[2] === "stopped reading"
  if (!s.paused) Properties.readingAgain(s.g, at)
}

/** A side gives up opening (its open or handshake timeout) or its connection ends outside the session: both are gone. */
const ending = (run: Run, at: number, text: string): void => {
  const match = /^([CS]): (gives up opening|connection ends)/.exec(text)
  if (match === null) return
  const side: Trace.Side = match[1] === "C" ? "client" : "server"
  const s = run.sides[side]
  if (match[2] === "gives up opening" && !s.opened && !s.gone) {
    const act = side === "client" ? "open-timeout" : "handshake-timeout"
    note(
      run,
      at,
      Properties.checkFalseDeath(!run.faulted, s.unread[0] ?? -1, run.setup.transit ?? GRACE, at, run.rules, {
        side,
        act,
        frame: "frame",
        why: "it did not read it"
      })
    )
  }
  run.sides.client.gone = true
  run.sides.server.gone = true
}

/**
 * A note: a setKeepAlive call joins the requests; a crash makes the crashed side gone, and after a process crash
 * its peer reads EOF and is gone too; the runtime's reading and ending notes (see {@link reading}, {@link ending}).
 */
const noted = (run: Run, at: number, text: string): void => {
  reading(run, at, text)
  ending(run, at, text)
  if (/^network: partition|reads at most|crashes/.test(text)) run.faulted = true
  const call = /setKeepAlive\((-?\d+), (\d+)\)/.exec(text)
  if (call !== null) run.requests.push({ interval: Number(call[1]), count: Number(call[2]) })
  const match = /^([CS]): crashes/.exec(text)
  if (match === null) return
  run.sides[match[1] === "C" ? "client" : "server"].gone = true
  if (text.includes("sockets close")) {
    run.sides.client.gone = true
    run.sides.server.gone = true
  }
}

const step = (run: Run, e: Trace.TraceEvent): void => {
  overdue(run, e.at, true)
  switch (e.kind) {
    case "receive":
      return receive(run, e.side, e.at, e.frame)
    case "transmit":
      return transmit(run, e.from, e.at, e.frame)
    case "event":
      return command(run, e.side, e.at, e.command)
    case "freeze":
      run.sides[e.side].frozen = true
      run.faulted = true
      return
    case "thaw":
      run.sides[e.side].frozen = false
      run.sides[e.side].thawed = e.at
      Properties.resumed(run.sides[e.side].g, e.at)
      return
    case "note":
      return noted(run, e.at, e.text)
    default:
      return
  }
}

const finish = (run: Run): void => {
  overdue(run, run.setup.end, false)
}

const sideState = (): SideState => ({
  g: Properties.ghost(0),
  frozen: false,
  paused: false,
  thawed: 0,
  gone: false,
  pongDue: -1,
  pingsOwed: 0,
  unread: [],
  opened: false
})

/**
 * Judges every property on a trace. Returns the violations, at most one per property, in the order found.
 *
 * @since 0.1.0
 * @category monitoring
 */
export const monitor = (trace: ReadonlyArray<Trace.TraceEvent>, setup: Setup): ReadonlyArray<Seen> => {
  const run: Run = {
    setup,
    rules: { late: setup.slack ?? 0, unit: 1 },
    sides: { client: sideState(), server: sideState() },
    seen: [],
    requests: [...setup.requests],
    faulted: false
  }
  for (const e of trace) step(run, e)
  finish(run)
  return run.seen
}
