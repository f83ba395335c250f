/**
 * An explicit-state model checker over the pure sessions: every interleaving of one client session, one server
 * session and the network between them, explored breadth-first, with named properties checked on every
 * transition and the shortest counterexample returned as a `Trace`.
 *
 * Contract:
 * - Pure: {@link check}, {@link reach} and {@link questions} are functions of their arguments. They never throw,
 *   never mutate a session, and run `Session.step` unchanged (mutants are wrappers around it). The only impure
 *   read is `performance.now()`, for the reported speed.
 * - The model (all times in ticks of `tickMs` ms; intervals in ticks are given to the sessions in ms):
 *   - processes: `Session.client(0, { advertise, variant })`, which sends `Open` in the initial state, and
 *     `Session.server(0, { interval, count, policy, variant })`;
 *   - network: two FIFO channels (client → server, server → client); each frame carries the tick it was sent
 *     at and must be delivered within `maxDelay` ticks: time may not advance while a deliverable frame is
 *     `maxDelay` ticks old. A transition that would put more than `maxInFlight` frames in one channel is cut
 *     (counted in `Verdict.pruned`): the exploration covers exactly the runs that respect the bound;
 *   - transitions: deliver the head of a channel; tick (time + 1, then `Tick(now)` to the client, then to the
 *     server, each when its `Session.nextDeadline` is due); freeze the client or the server (at most once each,
 *     when allowed; a frozen side processes nothing, no deliveries and no ticks, its socket stays open, and the
 *     frames sent to it are forgotten since it will never read them); `SetKeepAlive(I, C)` by the open client
 *     from `setKeepAliveChoices` (at most `maxSetKeepAliveCalls`); draft only: `AllowKeepAlive` once;
 *   - a `Close` command from either session ends the run: the state is terminal, frames in flight are dropped
 *     and the peer sees nothing more (its EOF is the end of the run);
 *   - time is bounded by `horizon` ticks: no tick goes past it. Times are absolute in the state, so the horizon
 *     is what keeps the state space finite.
 * - Ghost variables (kept by the checker, not by the sessions, so that a broken session cannot fool them): the
 *   time of each side's last receipt, the client's keepalive settings in force and whether they changed since its
 *   last receipt, and whether the client's advertisement reached the server.
 * - Properties (see {@link PropertyName}); a violation stops the search, and because the search is
 *   breadth-first the counterexample has the fewest transitions possible. It is returned as the trace events of
 *   a replay of that run, ready for `Trace.arrows`.
 * - The visited set keys each state by what can still matter: a frozen side's session, ghosts and channel are
 *   left out (it will never act or be read again), so is the keepalive core's `now` (global time only moves
 *   forward), and every ended run is one state.
 *
 * @since 0.1.0
 */
import { Data, Result } from "effect"
import * as Frame from "../wire/Frame.ts"
import * as Keepalive from "../core/Keepalive.ts"
import * as ProtocolVariant from "../session/ProtocolVariant.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import * as Session from "../session/Session.ts"
import * as Trace from "../tools/Trace.ts"

// ---------------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------------

/**
 * A `SetKeepAlive` call the client may make: interval in ticks (0 stops pinging) and count.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeepAliveChoice {
  readonly interval: number
  readonly count: number
}

/**
 * The bounds of an exploration. Every field is optional; {@link resolveBounds} fills in the defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bounds {
  /** The negotiation design. Default `"libvirt"`. */
  readonly variant?: "libvirt" | "draft"
  /** The client supports keepalive and says so (libvirt: the feature query at open). Default true. */
  readonly clientAdvertises?: boolean
  /** The client's interval in ticks, for the default `setKeepAliveChoices`. Default 2. */
  readonly intervalTicks?: number
  /** The client's count, for the default `setKeepAliveChoices`. Default 2. */
  readonly countClient?: number
  /** The server's keepalive_interval in ticks (0: answers only). Default 2. */
  readonly serverIntervalTicks?: number
  /** The server's keepalive_count. Default 2. */
  readonly serverCount?: number
  /** The server's policy. Default `"if-supported"`. */
  readonly policy?: Session.Policy
  /** A frame is delivered at most this many ticks after it was sent. Default 1. */
  readonly maxDelay?: number
  /** At most this many frames in flight per direction. Default 2·(maxDelay + 1) + 2. */
  readonly maxInFlight?: number
  /** No tick goes past this time (in ticks). Default: 6·maxDelay (the handshake) + the longer (C+1)·I + 2. */
  readonly horizon?: number
  /** The SetKeepAlive calls the client may make. Default: `[{ intervalTicks, countClient }, { 0, 0 }]`. */
  readonly setKeepAliveChoices?: ReadonlyArray<KeepAliveChoice>
  /** How many SetKeepAlive calls at most. Default 2. */
  readonly maxSetKeepAliveCalls?: number
  /** Draft only: the client may call AllowKeepAlive (once). Default true. */
  readonly allowKeepAlive?: boolean
  /** Which sides may freeze (once, forever). Default both. */
  readonly allowFreeze?: { readonly client: boolean; readonly server: boolean }
  /** One tick in ms. Default 1000. */
  readonly tickMs?: number
}

/**
 * Bounds with every default filled in.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedBounds {
  readonly variant: "libvirt" | "draft"
  readonly clientAdvertises: boolean
  readonly intervalTicks: number
  readonly countClient: number
  readonly serverIntervalTicks: number
  readonly serverCount: number
  readonly policy: Session.Policy
  readonly maxDelay: number
  readonly maxInFlight: number
  readonly horizon: number
  readonly setKeepAliveChoices: ReadonlyArray<KeepAliveChoice>
  readonly maxSetKeepAliveCalls: number
  readonly allowKeepAlive: boolean
  readonly allowFreeze: { readonly client: boolean; readonly server: boolean }
  readonly tickMs: number
}

/**
 * Bounds that cannot be explored (a negative delay, a fractional interval, …): names the field and the rule.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidBounds extends Data.TaggedError("InvalidBounds")<{
  readonly field: string
  readonly value: unknown
  readonly rule: string
}> {
  override get message(): string {
    return `invalid model-checker bound ${this.field} = ${String(this.value)}: ${this.rule}`
  }
}

const natural = (field: string, value: number, min = 0): Result.Result<number, InvalidBounds> =>
  Number.isSafeInteger(value) && value >= min
    ? Result.succeed(value)
    : Result.fail(new InvalidBounds({ field, value, rule: `must be a whole number ≥ ${min}` }))

/**
 * Fills in the defaults of {@link Bounds} and validates the result.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolveBounds = (bounds: Bounds = {}): Result.Result<ResolvedBounds, InvalidBounds> => {
  const intervalTicks = bounds.intervalTicks ?? 2
  const countClient = bounds.countClient ?? 2
  const serverIntervalTicks = bounds.serverIntervalTicks ?? 2
  const serverCount = bounds.serverCount ?? 2
  const maxDelay = bounds.maxDelay ?? 1
  const choices = bounds.setKeepAliveChoices ?? [{ interval: intervalTicks, count: countClient }, { interval: 0, count: 0 }]
  const checks: Array<Result.Result<number, InvalidBounds>> = [
    natural("intervalTicks", intervalTicks),
    natural("countClient", countClient),
    natural("serverIntervalTicks", serverIntervalTicks),
    natural("serverCount", serverCount),
    natural("maxDelay", maxDelay),
    natural("maxInFlight", bounds.maxInFlight ?? 2 * (maxDelay + 1) + 2, 1),
    natural("maxSetKeepAliveCalls", bounds.maxSetKeepAliveCalls ?? 2),
    natural("tickMs", bounds.tickMs ?? 1000, 1),
    ...choices.flatMap((c, i) => [natural(`setKeepAliveChoices[${i}].interval`, c.interval), natural(`setKeepAliveChoices[${i}].count`, c.count)])
  ]
  if (bounds.horizon !== undefined) checks.push(natural("horizon", bounds.horizon))
  for (const c of checks) if (Result.isFailure(c)) return Result.fail(c.failure)
  const variant = bounds.variant ?? "libvirt"
  if (variant !== "libvirt" && variant !== "draft") return Result.fail(new InvalidBounds({ field: "variant", value: variant, rule: "must be libvirt or draft" }))
  const policy = bounds.policy ?? "if-supported"
  if (policy !== "disabled" && policy !== "if-supported" && policy !== "required") {
    return Result.fail(new InvalidBounds({ field: "policy", value: policy, rule: "must be disabled, if-supported or required" }))
  }
  const longest = Math.max(
    ...choices.map((c) => (c.count + 1) * c.interval),
    (countClient + 1) * intervalTicks,
    (serverCount + 1) * serverIntervalTicks
  )
  return Result.succeed({
    variant,
    clientAdvertises: bounds.clientAdvertises ?? true,
    intervalTicks,
    countClient,
    serverIntervalTicks,
    serverCount,
    policy,
    maxDelay,
    maxInFlight: bounds.maxInFlight ?? 2 * (maxDelay + 1) + 2,
    horizon: bounds.horizon ?? 6 * maxDelay + longest + 2,
    setKeepAliveChoices: choices,
    maxSetKeepAliveCalls: bounds.maxSetKeepAliveCalls ?? 2,
    allowKeepAlive: bounds.allowKeepAlive ?? true,
    allowFreeze: bounds.allowFreeze ?? { client: true, server: true },
    tickMs: bounds.tickMs ?? 1000
  })
}

/**
 * A deliberately broken session, built as a wrapper around `Session.step`, to show that the properties catch
 * real bugs:
 *
 * - `only-pong-resets`: only a PONG resets the countdown; other received frames leave it as it was;
 * - `send-resets`: sending any frame resets the sender's countdown;
 * - `off-by-one-count`: the peer is declared dead after C + 1 unanswered PINGs instead of C;
 * - `server-pings-before-advertisement`: the server starts pinging when it accepts the connection;
 * - `pong-dropped-when-not-pinging`: a side that does not ping itself does not answer PINGs.
 *
 * @since 0.1.0
 * @category models
 */
export type Mutant =
  | "none"
  | "only-pong-resets"
  | "send-resets"
  | "off-by-one-count"
  | "server-pings-before-advertisement"
  | "pong-dropped-when-not-pinging"

/**
 * Every mutant except `none`.
 *
 * @since 0.1.0
 * @category constants
 */
export const mutants: ReadonlyArray<Exclude<Mutant, "none">> = [
  "only-pong-resets",
  "send-resets",
  "off-by-one-count",
  "server-pings-before-advertisement",
  "pong-dropped-when-not-pinging"
]

/**
 * The properties, checked on every transition:
 *
 * 1. `no-false-positive`: a side never declares its peer dead while the peer is not frozen and the bound lets
 *    it answer in time: a round trip (2·maxDelay ticks) shorter than C·I of the detector's settings.
 * 2. `exact-detection`: with the detector's settings unchanged since its last receipt, `PeerDead` comes at a
 *    silence of exactly (C+1)·I, and after a tick at which the silence reached (C+1)·I the detector is closed
 *    (bounded liveness: never later, never earlier).
 * 3. `ping-after-advertisement`: the server PINGs only when its policy allows and the client's advertisement
 *    reached it (libvirt: SUPPORTS_FEATURE(KEEPALIVE); draft: ADVERTISE); under policy `required` the server
 *    never opens a connection without it.
 * 4. `ping-answered`: every PING received is answered with a PONG in the same step, unless the receiver is
 *    closed.
 * 5. `independent-directions`: each side PINGs only on its own grid: at a silence of k·I (k ≥ 1) of its own
 *    interval, counted from its own last receipt, whatever the other side's settings and PINGs (with its
 *    settings unchanged since that receipt). How many PINGs before death is property 2's business.
 *
 * @since 0.1.0
 * @category models
 */
export type PropertyName =
  | "no-false-positive"
  | "exact-detection"
  | "ping-after-advertisement"
  | "ping-answered"
  | "independent-directions"

/**
 * Every property, in the order of {@link PropertyName}.
 *
 * @since 0.1.0
 * @category constants
 */
export const properties: ReadonlyArray<PropertyName> = [
  "no-false-positive",
  "exact-detection",
  "ping-after-advertisement",
  "ping-answered",
  "independent-directions"
]

/**
 * Options of {@link check} and {@link reach}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The session under test. Default `"none"` (the real one). */
  readonly mutant?: Mutant
  /** The properties to check. Default: all of them. */
  readonly properties?: ReadonlyArray<PropertyName>
  /** Called every 50 000 states with the number of states found so far. */
  readonly onProgress?: (explored: number) => void
  /** Stop after this many states; the verdict then says `complete: false`. */
  readonly maxStates?: number
}

/**
 * A property violation: its name, what went wrong, and the shortest run that shows it (ending with the
 * transition that broke the property).
 *
 * @since 0.1.0
 * @category models
 */
export interface Violation {
  readonly property: PropertyName
  readonly description: string
  /** When it happened, in ms (the last transition may be a tick that leaves no event in the trace). */
  readonly at: number
  /** The number of transitions in the counterexample. */
  readonly depth: number
  readonly trace: ReadonlyArray<Trace.TraceEvent>
}

/**
 * The result of {@link check}.
 *
 * - `ok`: the exploration finished (or stopped at `maxStates`) without a violation, with valid bounds.
 * - `complete`: every reachable state within the bounds was explored (false when stopped by a violation or by
 *   `maxStates`).
 * - `pruned`: transitions cut because a channel would exceed `maxInFlight`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verdict {
  readonly ok: boolean
  readonly complete: boolean
  readonly mutant: Mutant
  readonly bounds: ResolvedBounds | undefined
  readonly statesExplored: number
  readonly transitions: number
  readonly pruned: number
  readonly maxDepth: number
  readonly seconds: number
  readonly statesPerSecond: number
  readonly violation?: Violation
  readonly invalid?: InvalidBounds
}

// ---------------------------------------------------------------------------------------------------------------
// The model state
// ---------------------------------------------------------------------------------------------------------------

interface InFlight {
  readonly frame: Frame.Frame
  /** The tick it was sent at. */
  readonly sent: number
}

interface MState {
  readonly client: Session.State
  readonly server: Session.State
  readonly toServer: ReadonlyArray<InFlight>
  readonly toClient: ReadonlyArray<InFlight>
  /** Global time, in ticks. */
  readonly now: number
  readonly frozenClient: boolean
  readonly frozenServer: boolean
  readonly ended: boolean
  readonly setCalls: number
  readonly allowed: boolean
  // ghosts, in ms
  readonly lastRecvClient: number
  readonly lastRecvServer: number
  /** The client's settings in force (from the last SetKeepAlive that started or stopped); 0 = not pinging. */
  readonly kaInterval: number
  readonly kaCount: number
  /** The client's settings have not changed since its last receipt. */
  readonly kaStable: boolean
  /** The client's advertisement reached the server. */
  readonly advertised: boolean
  /**
   * Key cache, written by the keyer: interned ids of the client session, the server session and the channels to
   * the server and to the client; -1 until computed. Whoever replaces one of those parts resets its id.
   */
  cid: number
  sid: number
  tsid: number
  tcid: number
}

type Work = { -readonly [K in keyof MState]: MState[K] }

type Stepper = (state: Session.State, input: Session.Input) => Session.Step

interface Model {
  readonly b: ResolvedBounds
  readonly variant: ProtocolVariant.ProtocolVariant
  readonly serverOptions: Session.ServerOptions
  readonly serverIntervalMs: number
  readonly mutant: Mutant
  readonly step: Stepper
  readonly checks: ReadonlySet<PropertyName>
  readonly labels: number
}

interface Out {
  events: Array<Trace.TraceEvent> | undefined
  violation: { readonly property: PropertyName; readonly description: string } | undefined
  overflow: boolean
}

const DELIVER_SERVER = 0
const DELIVER_CLIENT = 1
const TICK = 2
const FREEZE_CLIENT = 3
const FREEZE_SERVER = 4
const ALLOW = 5
const SET = 6

const NO_FLIGHT: ReadonlyArray<InFlight> = []

const isPing = (frame: Frame.Frame): boolean => Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Ping
const isPong = (frame: Frame.Frame): boolean => Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Pong

const withKeepalive = (state: Session.State, keepalive: Keepalive.State): Session.State =>
  state.role === "client" ? { ...state, keepalive } : { ...state, keepalive }

/** Session.step, or a broken version of it. */
const stepperFor = (mutant: Mutant): Stepper => {
  switch (mutant) {
    case "only-pong-resets":
      return (state, input) => {
        const result = Session.step(state, input)
        if (input._tag !== "Received" || isPong(input.frame)) return result
        const [next, commands] = result
        const before = state.keepalive
        const after = next.keepalive
        if (before.phase !== "running" || after.phase !== "running") return result
        return [withKeepalive(next, { ...after, pingsSent: before.pingsSent, lastReceived: before.lastReceived, intervalStart: before.intervalStart }), commands]
      }
    case "send-resets":
      return (state, input) => {
        const result = Session.step(state, input)
        const [next, commands] = result
        const k = next.keepalive
        if (k.phase !== "running" || !commands.some((c) => c._tag === "Transmit")) return result
        return [withKeepalive(next, { ...k, pingsSent: 0, lastReceived: k.now, intervalStart: k.now }), commands]
      }
    case "off-by-one-count":
      return (state, input) =>
        Session.step(state, input._tag === "SetKeepAlive" ? Session.Input.SetKeepAlive(input.now, input.interval, input.count + 1) : input)
    case "pong-dropped-when-not-pinging":
      return (state, input) => {
        const result = Session.step(state, input)
        if (state.keepalive.phase === "running") return result
        const [next, commands] = result
        return [next, commands.filter((c) => !(c._tag === "Transmit" && isPong(c.frame)))]
      }
    case "server-pings-before-advertisement":
    case "none":
      return Session.step
  }
}

const makeModel = (b: ResolvedBounds, options: Options): Model => {
  const mutant = options.mutant ?? "none"
  const serverIntervalMs = b.serverIntervalTicks * b.tickMs
  return {
    b,
    variant: b.variant === "draft" ? ProtocolVariant.draft : ProtocolVariant.libvirt,
    serverOptions: {
      interval: serverIntervalMs,
      count: mutant === "off-by-one-count" ? b.serverCount + 1 : b.serverCount,
      policy: b.policy,
      variant: b.variant === "draft" ? ProtocolVariant.draft : ProtocolVariant.libvirt
    },
    serverIntervalMs,
    mutant,
    step: stepperFor(mutant),
    checks: new Set(options.properties ?? properties),
    labels: SET + b.setKeepAliveChoices.length
  }
}

const initial = (m: Model, out: Out): MState => {
  let server: Session.State = Session.server(0, m.serverOptions)
  if (m.mutant === "server-pings-before-advertisement" && m.b.policy !== "disabled") {
    const [keepalive] = Keepalive.step(server.keepalive, Keepalive.Input.Start(0, m.serverOptions.interval, m.serverOptions.count))
    server = withKeepalive(server, keepalive)
  }
  const w: Work = {
    client: Session.client(0, { advertise: m.b.clientAdvertises, variant: m.variant }),
    server,
    toServer: NO_FLIGHT,
    toClient: NO_FLIGHT,
    now: 0,
    frozenClient: false,
    frozenServer: false,
    ended: false,
    setCalls: 0,
    allowed: false,
    lastRecvClient: 0,
    lastRecvServer: 0,
    kaInterval: 0,
    kaCount: 0,
    kaStable: true,
    advertised: false,
    cid: -1,
    sid: -1,
    tsid: -1,
    tcid: -1
  }
  feed(m, w, "client", Session.Input.Open(0, "test:///default"), out)
  return w
}

// ---------------------------------------------------------------------------------------------------------------
// Canonical keys
// ---------------------------------------------------------------------------------------------------------------

/**
 * The keepalive core's `now` is left out: global time only moves forward, so every input's time is the newest and
 * `now` changes neither a step nor whether a deadline is due.
 */
const keepaliveKey = (k: Keepalive.State, tickMs: number): string =>
  `${k.phase.charCodeAt(0)}.${k.interval / tickMs}.${k.count}.${k.pingsSent}.${k.lastReceived / tickMs}.${k.intervalStart / tickMs}`

/** PING-flood policing state; it never changes unless policing is configured (the checker configures none). */
const floodKey = (s: Session.State): string =>
  s.flood.policing === undefined ? "" : `.${s.flood.strikes}.${s.flood.lastPingAt ?? "-"}`

const sessionKey = (s: Session.State, tickMs: number): string =>
  s.role === "client"
    ? `${s.phase}.${keepaliveKey(s.keepalive, tickMs)}.${s.serial}.${s.pending ?? "-"}.${s.serverKeepalive === undefined ? 2 : s.serverKeepalive ? 1 : 0}.${s.allowing ? 1 : 0}${floodKey(s)}`
    : `${s.phase}.${keepaliveKey(s.keepalive, tickMs)}.${s.advertised ? 1 : 0}${floodKey(s)}`

/**
 * Canonical keys for the visited set. Sessions, frames and channels are interned as small numbers, cached in the
 * state (a successor shares every part it did not change with its parent, ids included), so a state's key is a
 * short string of small char codes.
 */
const makeKeyer = (tickMs: number): ((s: MState) => string) => {
  const interned = new Map<string, number>()
  const intern = (text: string): number => {
    let id = interned.get(text)
    if (id === undefined) {
      id = interned.size
      interned.set(text, id)
    }
    return id
  }
  const frames = new WeakMap<Frame.Frame, number>()
  const frameId = (frame: Frame.Frame): number => {
    let id = frames.get(frame)
    if (id === undefined) {
      const h = frame.header
      let text = `f${h.prog},${h.vers},${h.proc},${h.type},${h.serial},${h.status}:`
      for (const byte of frame.payload) text += byte.toString(16).padStart(2, "0")
      id = intern(text)
      frames.set(frame, id)
    }
    return id
  }
  const channelId = (channel: ReadonlyArray<InFlight>): number => {
    let text = "c"
    for (const f of channel) text += `${frameId(f.frame)}@${f.sent},`
    return intern(text)
  }
  const char = String.fromCharCode
  const wide = (n: number): string => char(n & 0xffff, n >>> 16)
  // Everything a frozen side (or an ended run) will never read again is left out of the key: a frozen side
  // receives nothing, ticks never and calls nothing, and no property looks at it.
  return (s) => {
    if (s.ended) return "E"
    let client = "F"
    if (!s.frozenClient) {
      if (s.cid < 0) s.cid = intern(sessionKey(s.client, tickMs))
      if (s.tcid < 0) s.tcid = channelId(s.toClient)
      client = char(s.allowed ? 1 : 0, s.kaStable ? 1 : 0, s.setCalls, s.lastRecvClient / tickMs, s.kaInterval / tickMs, s.kaCount) + wide(s.cid) + wide(s.tcid)
    }
    let server = "F"
    if (!s.frozenServer) {
      if (s.sid < 0) s.sid = intern(sessionKey(s.server, tickMs))
      if (s.tsid < 0) s.tsid = channelId(s.toServer)
      server = char(s.advertised ? 1 : 0, s.lastRecvServer / tickMs) + wide(s.sid) + wide(s.tsid)
    }
    return char(s.now) + client + server
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Transitions
// ---------------------------------------------------------------------------------------------------------------

const nowMs = (m: Model, w: MState): number => w.now * m.b.tickMs

/** The detector's settings in force (ms) when they have not changed during the current silence, else undefined. */
const armed = (m: Model, w: MState, side: Trace.Side): { readonly interval: number; readonly count: number } | undefined => {
  if (side === "client") {
    return w.kaInterval > 0 && w.kaStable ? { interval: w.kaInterval, count: w.kaCount } : undefined
  }
  return w.advertised && m.b.policy !== "disabled" && m.serverIntervalMs > 0 ? { interval: m.serverIntervalMs, count: m.b.serverCount } : undefined
}

/** The detector's settings in force (ms), whether or not they changed during the silence. */
const settings = (m: Model, w: MState, side: Trace.Side): { readonly interval: number; readonly count: number } =>
  side === "client" ? { interval: w.kaInterval, count: w.kaCount } : { interval: m.serverIntervalMs, count: m.b.serverCount }

const lastReceipt = (w: MState, side: Trace.Side): number => (side === "client" ? w.lastRecvClient : w.lastRecvServer)

const violate = (m: Model, out: Out, property: PropertyName, description: string): void => {
  if (out.violation === undefined && m.checks.has(property)) out.violation = { property, description }
}

const peerOf = (side: Trace.Side): Trace.Side => (side === "client" ? "server" : "client")

const isAdvertisement = (m: Model, frame: Frame.Frame): boolean => {
  const h = frame.header
  if (m.variant.advertiseMessage && Frame.isKeepalive(h) && h.proc === Frame.KeepaliveProc.Advertise) return true
  if (!m.variant.featureQueryAdvertises) return false
  if (h.prog !== Remote.REMOTE_PROGRAM || h.type !== Frame.MessageType.Call || h.proc !== Remote.RemoteProc.ConnectSupportsFeature) return false
  const args = Remote.decodeSupportsFeatureArgs(frame.payload)
  return Result.isSuccess(args) && args.success.feature === Remote.Feature.ProgramKeepalive
}

/** Feeds one input to a side, carries out its commands on the network and checks the properties. */
const feed = (m: Model, w: Work, side: Trace.Side, input: Session.Input, out: Out): ReadonlyArray<Session.Command> => {
  const [next, commands] = m.step(w[side], input)
  if (next !== w[side]) {
    w[side] = next
    if (side === "client") w.cid = -1
    else w.sid = -1
  }
  const at = nowMs(m, w)
  for (const command of commands) {
    switch (command._tag) {
      case "Transmit": {
        out.events?.push({ at, kind: "transmit", from: side, frame: command.frame })
        if (isPing(command.frame)) {
          if (side === "server" && (!w.advertised || m.b.policy === "disabled")) {
            violate(m, out, "ping-after-advertisement", w.advertised
              ? "the server sent a PING under policy disabled"
              : "the server sent a PING before the client's advertisement reached it")
          }
          const own = armed(m, w, side)
          if (own !== undefined) {
            const silence = at - lastReceipt(w, side)
            const k = silence / own.interval
            if (!Number.isInteger(k) || k < 1) {
              violate(m, out, "independent-directions", `the ${side} sent a PING ${silence} ms after its last receipt, off its own grid (PINGs at k·I after the last receipt, I = ${own.interval} ms)`)
            }
          }
        }
        if (side === "client" ? w.frozenServer : w.frozenClient) break // never read: forgotten
        const channel = side === "client" ? w.toServer : w.toClient
        if (channel.length >= m.b.maxInFlight) out.overflow = true
        const sent = [...channel, { frame: command.frame, sent: w.now }]
        if (side === "client") {
          w.toServer = sent
          w.tsid = -1
        } else {
          w.toClient = sent
          w.tcid = -1
        }
        break
      }
      case "Deliver":
        out.events?.push({ at, kind: "deliver", side, frame: command.frame })
        break
      case "PeerDead": {
        out.events?.push({ at, kind: "event", side, command })
        const silence = at - lastReceipt(w, side)
        const { interval, count } = settings(m, w, side)
        const frozenPeer = side === "client" ? w.frozenServer : w.frozenClient
        if (!frozenPeer && 2 * m.b.maxDelay * m.b.tickMs < count * interval) {
          violate(m, out, "no-false-positive", `the ${side} declared the ${peerOf(side)} dead after ${silence} ms, though the ${peerOf(side)} is not frozen and a round trip (≤ ${2 * m.b.maxDelay * m.b.tickMs} ms) fits in C·I = ${count * interval} ms`)
        }
        const own = armed(m, w, side)
        if (own !== undefined && silence !== (own.count + 1) * own.interval) {
          violate(m, out, "exact-detection", `the ${side} declared the ${peerOf(side)} dead after ${silence} ms of silence (the session counted ${command.silence} ms); expected exactly (C+1)·I = ${(own.count + 1) * own.interval} ms (I = ${own.interval} ms, C = ${own.count})`)
        }
        break
      }
      case "Close":
        out.events?.push({ at, kind: "event", side, command })
        w.ended = true
        break
      case "Opened":
        out.events?.push({ at, kind: "event", side, command })
        if (side === "server" && m.b.policy === "required" && !w.advertised) {
          violate(m, out, "ping-after-advertisement", "under policy required, the server opened a connection for a client whose advertisement had not reached it")
        }
        break
      default:
        out.events?.push({ at, kind: "event", side, command })
    }
  }
  return commands
}

const deliver = (m: Model, s: MState, side: Trace.Side, out: Out): MState | undefined => {
  const channel = side === "server" ? s.toServer : s.toClient
  const head = channel[0]
  if (head === undefined || (side === "server" ? s.frozenServer : s.frozenClient)) return undefined
  const w: Work = { ...s }
  const at = nowMs(m, w)
  if (side === "server") {
    w.toServer = channel.slice(1)
    w.tsid = -1
    w.lastRecvServer = at
    if (!w.advertised && isAdvertisement(m, head.frame)) w.advertised = true
  } else {
    w.toClient = channel.slice(1)
    w.tcid = -1
    w.lastRecvClient = at
    w.kaStable = true
  }
  out.events?.push({ at, kind: "receive", side, frame: head.frame })
  const before = w[side]
  const commands = feed(m, w, side, Session.Input.Received(at, head.frame), out)
  if (isPing(head.frame) && before.phase !== "closed" && !commands.some((c) => c._tag === "Transmit" && isPong(c.frame))) {
    violate(m, out, "ping-answered", `the ${side} received a PING and did not answer it with a PONG`)
  }
  return w
}

const tick = (m: Model, s: MState, out: Out): MState | undefined => {
  if (s.now >= m.b.horizon) return undefined
  // FIFO: the head of a channel is its oldest frame.
  const oldestToServer = s.toServer[0]
  const oldestToClient = s.toClient[0]
  if (oldestToServer !== undefined && s.now - oldestToServer.sent >= m.b.maxDelay) return undefined
  if (oldestToClient !== undefined && s.now - oldestToClient.sent >= m.b.maxDelay) return undefined
  const w: Work = { ...s, now: s.now + 1 }
  const at = nowMs(m, w)
  for (const side of ["client", "server"] as const) {
    if (w.ended) break
    if (side === "client" ? w.frozenClient : w.frozenServer) continue
    const deadline = Session.nextDeadline(w[side])
    if (deadline !== undefined && deadline <= at) feed(m, w, side, Session.Input.Tick(at), out)
    // bounded liveness: once the silence reached (C+1)·I, the detector must have given up
    const own = armed(m, w, side)
    if (own !== undefined && w[side].phase !== "closed" && at - lastReceipt(w, side) >= (own.count + 1) * own.interval) {
      violate(m, out, "exact-detection", `the ${side} has heard nothing for ${at - lastReceipt(w, side)} ms ≥ (C+1)·I = ${(own.count + 1) * own.interval} ms (I = ${own.interval} ms, C = ${own.count}) and has not declared the ${peerOf(side)} dead`)
    }
  }
  return w
}

const transition = (m: Model, s: MState, label: number, out: Out): MState | undefined => {
  if (s.ended) return undefined
  switch (label) {
    case DELIVER_SERVER:
      return deliver(m, s, "server", out)
    case DELIVER_CLIENT:
      return deliver(m, s, "client", out)
    case TICK:
      return tick(m, s, out)
    case FREEZE_CLIENT:
      if (!m.b.allowFreeze.client || s.frozenClient) return undefined
      out.events?.push({ at: nowMs(m, s), kind: "freeze", side: "client" })
      return { ...s, frozenClient: true, toClient: NO_FLIGHT, tcid: -1 }
    case FREEZE_SERVER:
      if (!m.b.allowFreeze.server || s.frozenServer) return undefined
      out.events?.push({ at: nowMs(m, s), kind: "freeze", side: "server" })
      return { ...s, frozenServer: true, toServer: NO_FLIGHT, tsid: -1 }
    case ALLOW: {
      if (!m.variant.advertiseMessage || !m.b.allowKeepAlive || s.allowed || s.frozenClient || s.client.phase !== "open") return undefined
      const w: Work = { ...s, allowed: true }
      feed(m, w, "client", Session.Input.AllowKeepAlive(nowMs(m, s)), out)
      return w
    }
    default: {
      const choice = m.b.setKeepAliveChoices[label - SET]
      if (choice === undefined || s.frozenClient || s.setCalls >= m.b.maxSetKeepAliveCalls || s.client.phase !== "open") return undefined
      const w: Work = { ...s, setCalls: s.setCalls + 1 }
      const at = nowMs(m, s)
      const interval = choice.interval * m.b.tickMs
      const commands = feed(m, w, "client", Session.Input.SetKeepAlive(at, interval, choice.count), out)
      if (commands.some((c) => c._tag === "KeepAlive" && (c.outcome === "started" || c.outcome === "stopped"))) {
        w.kaInterval = interval > 0 ? interval : 0
        w.kaCount = choice.count
        w.kaStable = at === w.lastRecvClient
      }
      return w
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------------------------

interface Found {
  readonly path: ReadonlyArray<number>
  readonly at: number
  readonly violation: { readonly property: PropertyName; readonly description: string } | undefined
}

interface Explored {
  readonly found: Found | undefined
  readonly complete: boolean
  readonly statesExplored: number
  readonly transitions: number
  readonly pruned: number
  readonly maxDepth: number
  readonly seconds: number
}

const explore = (
  m: Model,
  options: Options,
  goal: ((event: Trace.TraceEvent) => boolean) | undefined
): Explored => {
  const started = performance.now()
  const out: Out = { events: goal === undefined ? undefined : [], violation: undefined, overflow: false }
  const root = initial(m, out)
  const key = makeKeyer(m.b.tickMs)
  const visited = new Set<string>([key(root)])
  const parents: Array<number> = [-1]
  const labels: Array<number> = [-1]
  let frontier: Array<MState> = [root]
  let frontierIds: Array<number> = [0]
  let transitions = 0
  let pruned = 0
  let depth = 0
  const maxStates = options.maxStates ?? Number.POSITIVE_INFINITY
  const finish = (found: Found | undefined, complete: boolean): Explored => ({
    found,
    complete,
    statesExplored: visited.size,
    transitions,
    pruned,
    maxDepth: depth,
    seconds: (performance.now() - started) / 1000
  })
  const pathTo = (id: number, last: number): Array<number> => {
    const path = [last]
    for (let at = id; at > 0; at = parents[at]!) path.push(labels[at]!)
    return path.reverse()
  }
  if (goal !== undefined && out.events?.some(goal) === true) return finish({ path: [], at: 0, violation: undefined }, false)
  while (frontier.length > 0) {
    const next: Array<MState> = []
    const nextIds: Array<number> = []
    for (let i = 0; i < frontier.length; i++) {
      const state = frontier[i]!
      for (let label = 0; label < m.labels; label++) {
        if (out.events !== undefined) out.events.length = 0
        out.violation = undefined
        out.overflow = false
        const successor = transition(m, state, label, out)
        if (successor === undefined) continue
        transitions++
        if (out.violation !== undefined) return finish({ path: pathTo(frontierIds[i]!, label), at: nowMs(m, successor), violation: out.violation }, false)
        if (goal !== undefined && out.events?.some(goal) === true) return finish({ path: pathTo(frontierIds[i]!, label), at: nowMs(m, successor), violation: undefined }, false)
        if (out.overflow) {
          pruned++
          continue
        }
        const k = key(successor)
        if (visited.has(k)) continue
        visited.add(k)
        nextIds.push(parents.length)
        parents.push(frontierIds[i]!)
        labels.push(label)
        next.push(successor)
        if (options.onProgress !== undefined && visited.size % 50_000 === 0) options.onProgress(visited.size)
        if (visited.size >= maxStates) {
          depth++
          return finish(undefined, false)
        }
      }
    }
    if (next.length > 0) depth++
    frontier = next
    frontierIds = nextIds
  }
  return finish(undefined, true)
}

/** Replays a path of transition labels from the initial state, recording every event. */
const replay = (m: Model, path: ReadonlyArray<number>): ReadonlyArray<Trace.TraceEvent> => {
  const events: Array<Trace.TraceEvent> = []
  const out: Out = { events, violation: undefined, overflow: false }
  let state: MState | undefined = initial(m, out)
  for (const label of path) {
    if (state === undefined) break
    state = transition(m, state, label, out)
  }
  return events
}

const invalidVerdict = (mutant: Mutant, invalid: InvalidBounds): Verdict => ({
  ok: false,
  complete: false,
  mutant,
  bounds: undefined,
  statesExplored: 0,
  transitions: 0,
  pruned: 0,
  maxDepth: 0,
  seconds: 0,
  statesPerSecond: 0,
  invalid
})

/**
 * Explores every interleaving within the bounds and checks the properties. Stops at the first violation,
 * which is one with the fewest transitions.
 *
 * **Example**
 * ```ts
 * const verdict = ModelChecker.check({ intervalTicks: 1, countClient: 2, maxDelay: 0 }, { mutant: "send-resets" })
 * verdict.violation?.property                        // "exact-detection"
 * Trace.arrows(verdict.violation?.trace ?? [])      // the shortest counterexample
 * ```
 *
 * @since 0.1.0
 * @category checking
 */
export const check = (bounds: Bounds = {}, options: Options = {}): Verdict => {
  const mutant = options.mutant ?? "none"
  const resolved = resolveBounds(bounds)
  if (Result.isFailure(resolved)) return invalidVerdict(mutant, resolved.failure)
  const m = makeModel(resolved.success, options)
  const r = explore(m, options, undefined)
  const base = {
    mutant,
    bounds: resolved.success,
    complete: r.complete,
    statesExplored: r.statesExplored,
    transitions: r.transitions,
    pruned: r.pruned,
    maxDepth: r.maxDepth,
    seconds: r.seconds,
    statesPerSecond: r.seconds > 0 ? Math.round(r.statesExplored / r.seconds) : r.statesExplored
  }
  if (r.found?.violation === undefined) return { ...base, ok: true }
  return {
    ...base,
    ok: false,
    violation: {
      property: r.found.violation.property,
      description: r.found.violation.description,
      at: r.found.at,
      depth: r.found.path.length,
      trace: replay(m, r.found.path)
    }
  }
}

/**
 * The result of {@link reach}: a shortest run to the goal, or the number of states in which it was not found.
 * `complete` says whether those were all the states within the bounds (a proof of unreachability).
 *
 * @since 0.1.0
 * @category models
 */
export type Reachability =
  | { readonly reachable: true; readonly depth: number; readonly trace: ReadonlyArray<Trace.TraceEvent>; readonly statesExplored: number }
  | { readonly reachable: false; readonly complete: boolean; readonly statesExplored: number; readonly invalid?: InvalidBounds }

/**
 * Searches for a run in which some trace event satisfies `goal` (a server PING, a server `Opened`, …); no
 * property is checked. The run found has the fewest transitions.
 *
 * @since 0.1.0
 * @category checking
 */
export const reach = (
  bounds: Bounds,
  goal: (event: Trace.TraceEvent) => boolean,
  options: Pick<Options, "mutant" | "maxStates"> = {}
): Reachability => {
  const resolved = resolveBounds(bounds)
  if (Result.isFailure(resolved)) return { reachable: false, complete: false, statesExplored: 0, invalid: resolved.failure }
  const m = makeModel(resolved.success, { ...options, properties: [] })
  const r = explore(m, options, goal)
  if (r.found === undefined) return { reachable: false, complete: r.complete, statesExplored: r.statesExplored }
  return { reachable: true, depth: r.found.path.length, trace: replay(m, r.found.path), statesExplored: r.statesExplored }
}

// ---------------------------------------------------------------------------------------------------------------
// The seed questions
// ---------------------------------------------------------------------------------------------------------------

/**
 * A seed question decided by exploration: a yes/no answer, the answer in words, and the evidence (shortest
 * traces drawn as numbered arrows, or "unreachable in N states").
 *
 * @since 0.1.0
 * @category models
 */
export interface Answer {
  readonly id: string
  readonly question: string
  readonly yes: boolean
  readonly answer: string
  readonly evidence: string
}

/**
 * Goals for {@link reach}: the server writes a PING; the server opens the connection; the client receives a
 * PING.
 *
 * @since 0.1.0
 * @category goals
 */
export const goals = {
  serverPing: (e: Trace.TraceEvent): boolean => e.kind === "transmit" && e.from === "server" && isPing(e.frame),
  serverOpened: (e: Trace.TraceEvent): boolean => e.kind === "event" && e.side === "server" && e.command._tag === "Opened",
  clientPinged: (e: Trace.TraceEvent): boolean => e.kind === "receive" && e.side === "client" && isPing(e.frame)
} as const

const describeReach = (label: string, r: Reachability): string =>
  r.reachable
    ? `${label}: reachable in ${r.depth} transitions (shortest run):\n${Trace.arrows(r.trace)}`
    : `${label}: unreachable in ${r.statesExplored} states${r.complete ? " (all states within the bounds)" : " (search stopped early)"}`

const describeCheck = (label: string, v: Verdict): string =>
  v.ok && v.complete
    ? `${label}: holds in all ${v.statesExplored} states within the bounds`
    : v.violation !== undefined
      ? `${label}: violated (${v.violation.property}) at ${v.violation.at} ms: ${v.violation.description}\n${Trace.arrows(v.violation.trace)}`
      : `${label}: not decided (${v.invalid?.message ?? "search stopped early"})`

/**
 * The bounds {@link questions} explores: I = C = 2 on both sides, frames delivered within 1 tick, either side
 * may freeze, the client may call SetKeepAlive(2, 2) and stop, twice at most; the default horizon.
 *
 * @since 0.1.0
 * @category questions
 */
export const questionBounds: Bounds = { intervalTicks: 2, countClient: 2, serverIntervalTicks: 2, serverCount: 2, maxDelay: 1 }

/**
 * Decides the questions of the 2011 design discussion by exploration within {@link questionBounds}:
 *
 * - `draft-advertise`: is ADVERTISE needed for server → client PINGs in the seed-000 draft?
 * - `libvirt-negotiation`: under seed 001, does the server still need an ADVERTISE message (or any application
 *   call) before it may ping?
 * - `mandate-libvirt` / `mandate-draft`: can a server mandate keepalive (policy `required`) under each design?
 * - `pinged-without-setkeepalive`: does a client that never calls setKeepAlive still get pinged by a server with
 *   keepalive enabled?
 *
 * Each answer is decided by reachability (a shortest run, or "unreachable in N states" over every state within
 * the bounds) and, where it is a claim about every run, by a property check.
 *
 * @since 0.1.0
 * @category questions
 */
export const questions = (): ReadonlyArray<Answer> => {
  const base = questionBounds
  const isReachable = (r: Reachability): boolean => r.reachable
  const provedUnreachable = (r: Reachability): boolean => !r.reachable && r.complete
  const holds = (v: Verdict): boolean => v.ok && v.complete
  const isAdvertise = (frame: Frame.Frame): boolean => Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Advertise
  const advertiseCheck: Options = { properties: ["ping-after-advertisement"] }

  // 1. the draft: ADVERTISE and server PINGs
  const draftNoAllow = reach({ ...base, variant: "draft", allowKeepAlive: false }, goals.serverPing)
  const draftAllow = reach({ ...base, variant: "draft", allowKeepAlive: true }, goals.serverPing)
  const draftOrder = check({ ...base, variant: "draft", allowKeepAlive: true }, advertiseCheck)

  // 2. seed 001: the feature query at open is the advertisement
  const libvirtPing = reach({ ...base, setKeepAliveChoices: [] }, goals.serverPing)
  const noAdvertiseFrame = libvirtPing.reachable && !libvirtPing.trace.some((e) => e.kind === "transmit" && isAdvertise(e.frame))
  const libvirtSilent = reach({ ...base, clientAdvertises: false }, goals.serverPing)

  // 3. mandating keepalive
  const libvirtRequired = reach({ ...base, policy: "required" }, goals.serverOpened)
  const libvirtRequiredSilent = reach({ ...base, policy: "required", clientAdvertises: false }, goals.serverOpened)
  const libvirtRequiredCheck = check({ ...base, policy: "required" }, advertiseCheck)
  const draftRequired = reach({ ...base, variant: "draft", policy: "required", allowKeepAlive: true }, goals.serverOpened)

  // 4. pinged without setKeepAlive (no SetKeepAlive choices at all)
  const pinged = reach({ ...base, setKeepAliveChoices: [] }, goals.clientPinged)
  const answered = pinged.reachable && pinged.trace.some((e) => e.kind === "transmit" && e.from === "client" && isPong(e.frame))
  const draftPinged = reach({ ...base, variant: "draft", allowKeepAlive: false }, goals.clientPinged)

  return [
    {
      id: "draft-advertise",
      question: "Is ADVERTISE needed for server→client pings in the seed 000 draft?",
      yes: provedUnreachable(draftNoAllow) && isReachable(draftAllow) && holds(draftOrder),
      answer: "Yes. Without AllowKeepAlive (so without ADVERTISE) no server PING is reachable; with it, server PINGs are reachable and in every run ADVERTISE reaches the server before its first PING.",
      evidence: [
        describeReach("draft, no AllowKeepAlive: a server PING", draftNoAllow),
        describeReach("draft, AllowKeepAlive allowed: a server PING", draftAllow),
        describeCheck("draft, AllowKeepAlive allowed: no server PING before ADVERTISE reached the server", draftOrder)
      ].join("\n\n")
    },
    {
      id: "libvirt-negotiation",
      question: "Under seed 001 (libvirt), does the server still need an ADVERTISE message or an application call before it may ping?",
      yes: !(isReachable(libvirtPing) && noAdvertiseFrame && provedUnreachable(libvirtSilent)),
      answer: "No. The SUPPORTS_FEATURE(KEEPALIVE) query the client makes while opening is the advertisement: the server pings with no ADVERTISE and no setKeepAlive call (even before CONNECT_OPEN is processed), and a client that does not ask is never pinged.",
      evidence: [
        describeReach("libvirt, no SetKeepAlive: a server PING", libvirtPing),
        describeReach("libvirt, client does not advertise: a server PING", libvirtSilent)
      ].join("\n\n")
    },
    {
      id: "mandate-libvirt",
      question: "Can a server mandate keepalive under seed 001 (libvirt, policy required)?",
      yes: isReachable(libvirtRequired) && provedUnreachable(libvirtRequiredSilent) && holds(libvirtRequiredCheck),
      answer: "Yes. Under policy required an advertising client's connection opens, and no connection of a non-advertising client ever opens.",
      evidence: [
        describeReach("libvirt, policy required, advertising client: the server opens the connection", libvirtRequired),
        describeReach("libvirt, policy required, non-advertising client: the server opens the connection", libvirtRequiredSilent),
        describeCheck("libvirt, policy required: the server opens no connection and sends no PING without advertisement", libvirtRequiredCheck)
      ].join("\n\n")
    },
    {
      id: "mandate-draft",
      question: "Can a server mandate keepalive under the seed 000 draft (policy required)?",
      yes: !provedUnreachable(draftRequired),
      answer: "No. ADVERTISE can only be sent after CONNECT_OPEN, so under policy required the server refuses every client: no connection ever opens, even for a client that would call AllowKeepAlive.",
      evidence: describeReach("draft, policy required, AllowKeepAlive allowed: the server opens the connection", draftRequired)
    },
    {
      id: "pinged-without-setkeepalive",
      question: "Does a client that never calls setKeepAlive still get pinged by a server with keepalive enabled?",
      yes: isReachable(pinged) && answered,
      answer: "Yes under libvirt, when it advertised (its open sequence does): it receives the server's PINGs and answers them with PONGs. Under the draft, not before the application calls AllowKeepAlive.",
      evidence: [
        describeReach("libvirt, no SetKeepAlive: the client receives a PING", pinged),
        describeReach("draft, no AllowKeepAlive: the client receives a PING", draftPinged)
      ].join("\n\n")
    }
  ]
}
