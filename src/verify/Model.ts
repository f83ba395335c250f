/**
 * The model the checker explores: one client session, one server session (the real `Session.step`, or a
 * mutant), the network between them and the environment's choices, as a transition system over small packed
 * integer states.
 *
 * Contract:
 * - A state is {@link WIDTH} 32-bit words (see {@link Model.store}): global time, flags and counters; the two
 *   session ids; the two channel ids; the id of the pair of ghosts ({@link Properties.Ghost}) together with the
 *   applications' word (the server's held calls as a channel id, slow calls used, the client's stall and backlog),
 *   hash-consed (with no property to judge, that word alone). Ids are 16 bits ({@link Model.overflowed} says when a run needs more). Equal words mean equal
 *   futures: the search may merge them.
 * - {@link Model.transition}`(scratch, label, out)` applies one labelled choice to an unpacked state, checks the
 *   properties on the way (`out.violation`) and, when `out.events` is set, records trace events. It never
 *   throws. Labels are fixed numbers ({@link Label}) plus one per SetKeepAlive choice.
 * - Sessions are hash-consed: each distinct session (all its fields but the keepalive core's `now`) gets an id,
 *   and `Session.step` runs once per (session, input, time): later visits reuse the memoised result. Frames and
 *   channels (FIFO lists of (frame, tick sent)) are hash-consed the same way. Nothing is lossy.
 * - No allocation per transition: with no property checked, no check runs at all (no message is built and dropped);
 *   what allocates is a memo miss (a new session step), a few thousand per search.
 *
 * The abstraction (times in ticks of `tickMs` ms; intervals and delays are whole ticks):
 * - Network: two FIFO channels; a frame is delivered within `maxDelay` ticks of being sent (time may not advance
 *   while a deliverable frame is that old); at most `maxInFlight` frames per channel (a transition that would
 *   exceed it is cut and counted as pruned). No loss, no reordering, no duplication, no corruption.
 * - Time: a tick moves global time by one. By default due deadlines fire at once, client first, before any
 *   delivery at the new time; with `bothOrders` deliveries and deadlines at the same instant run in either order,
 *   and with `lateTicks = k` a due deadline may fire up to k ticks late (our own stall).
 * - Environment: a side may freeze (it processes nothing; with `allowThaw` it may thaw once, and frames to it
 *   wait; without, frames to it are forgotten), the client may call SetKeepAlive from a set of settings
 *   (reconfiguration and stop), AllowKeepAlive (draft), Close; the server may Close; the applications may make
 *   `calls` actions: a client Call (the server's application answers at once), a server event message, a
 *   client feature query other than KEEPALIVE.
 * - Slow calls and a call limit (`slowCalls`, `callLimit`): the server's application holds its first `slowCalls`
 *   calls and answers them later, oldest first, or never (label `Answer`); a call that finds every handler busy
 *   waits in that line too. A stalling client application (`appStalls`) stops reading the frames delivered to it
 *   (once) and may read them again (once). The reading rule (`reader`): `ours` steps every frame at once and only
 *   when `maxPending` calls (frames) wait beyond the handlers (in the backlog) stops reading and pauses keepalive,
 *   resuming it when reading starts again; `libvirtd` stops reading while the calls in flight reach the limit (the
 *   client: while its backlog is full) and never pauses. Frames to a side that does not read wait in its channel.
 * - Silence before open (`silentOpen`): the client's open timeout and the server's handshake timeout are deadlines
 *   (in ticks from the start); a side still not open then gives up and the run ends. A frozen side is the silent one.
 * - A `Close` command from either session ends the run: frames in flight are dropped and the peer sees no EOF.
 * - What it cannot see: wall-clock granularity finer than a tick, time going backwards (every input carries the
 *   newest time, so the core's `now` is not part of the state), byte streams and partial frames, the runtime's
 *   fibers and queues, PING-flood policing (not configured), calls other than the ones above, more than one
 *   client per server, and anything beyond the horizon.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Frame from "../wire/Frame.ts"
import * as ProtocolVariant from "../session/ProtocolVariant.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import * as Session from "../session/Session.ts"
import * as Trace from "../trace/Trace.ts"
import type { ResolvedBounds } from "./Bounds.ts"
import * as Mutants from "./Mutants.ts"
import * as Properties from "./Properties.ts"
import { Pairs, Table } from "./Table.ts"

/**
 * Transition labels; `Label.Set + i` is the i-th SetKeepAlive choice.
 *
 * @since 0.1.0
 * @category constants
 */
export const Label = {
  DeliverToServer: 0,
  DeliverToClient: 1,
  Tick: 2,
  FireClient: 3,
  FireServer: 4,
  FreezeClient: 5,
  FreezeServer: 6,
  ThawClient: 7,
  ThawServer: 8,
  Allow: 9,
  CloseClient: 10,
  CloseServer: 11,
  Call: 12,
  Event: 13,
  Query: 14,
  Answer: 15,
  StallApp: 16,
  ReadApp: 17,
  ClockClient: 18,
  ClockServer: 19,
  Set: 20
} as const

/**
 * Words per packed state.
 *
 * @since 0.1.0
 * @category constants
 */
export const WIDTH = 4

const CLIENT = 0
const SERVER = 1
const SIDES: ReadonlyArray<Trace.Side> = ["client", "server"]
const NEVER = 1 << 30
const NONE8 = 255
/** A freeze time not measured: the peer was not pinging when the side froze. */
const UNMEASURED = 255

// Frame kinds
const K_OTHER = 0
const K_PING = 1
const K_PONG = 2
const K_ADVERTISE = 3
const K_QUERY_KEEPALIVE = 4
const K_FEATURE_TRUE = 5
const K_CALL = 6

// Session input codes (memo keys): fixed inputs, then one per SetKeepAlive choice, then two per frame.
const I_TICK = 0
const I_OPEN = 1
const I_ALLOW = 2
const I_CLOSE = 3
const I_CALL = 4
const I_QUERY = 5
const I_EVENT = 6
const I_PAUSE = 7
const I_RESUME = 8
const I_CLOCK = 9
const I_SET = 10
const I_FRAME = 32

/**
 * The session input codes of {@link Model.steps}: fixed inputs, `set + i` for the i-th SetKeepAlive choice, and
 * `frame + 2·f` (frame f received) or `frame + 2·f + 1` (the application's reply to call frame f).
 *
 * @since 0.2.0
 * @category constants
 */
export const Inputs = { tick: I_TICK, open: I_OPEN, set: I_SET, frame: I_FRAME } as const

/**
 * One memoised session step as {@link Model.steps} lists it: session `sid` fed `input` at tick `now`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Step {
  readonly sid: number
  readonly input: number
  readonly now: number
  readonly entry: Entry
}

/** Freeze states of a side. */
const LIVE = 0
const FROZEN = 1
const THAWED = 2

/** Stall states of the client's application. */
const READING = 0
const STALLED = 1
const READ_AGAIN = 2

/**
 * One memoised session step: the next session id and what its commands mean to the model.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly next: number
  readonly commands: ReadonlyArray<Session.Command>
  /** Frame ids transmitted, in order. */
  readonly sent: ReadonlyArray<number>
  readonly pongs: number
  readonly dead: boolean
  /** 0: no Close; 1: Close; 2: Close after refusing CONNECT_OPEN. */
  readonly close: number
  readonly opened: boolean
  /** Frame ids of Calls handed to the application (the server's application answers them). */
  readonly calls: ReadonlyArray<number>
  /** Other frames handed to the application. */
  readonly delivered: number
}

/**
 * What one transition produced besides the next state.
 *
 * @since 0.1.0
 * @category models
 */
export interface Out {
  violation: Properties.Violation | undefined
  overflow: boolean
  events: Array<Trace.TraceEvent> | undefined
  /** With `events`: also record each side's keepalive countdown when it changes. */
  countdown?: boolean
  /** In a measuring model: ticks from the peer's freeze to the death this transition declared, else -1. */
  detected: number
  /** The side that declared that death (0 client, 1 server). */
  detectedBy: number
}

/**
 * What a search reached, counted in transitions: the premises of the properties and of the questions. Mutable
 * counters, one set per model.
 *
 * @since 0.1.0
 * @category models
 */
export class Coverage {
  /** Connections the server opened, and CONNECT_OPENs it refused. */
  opens = 0
  refusals = 0
  clientPings = 0
  serverPings = 0
  /** PINGs delivered to a side (each must be answered). */
  pingsDelivered = 0
  /** Deaths declared, and among them those of a frozen peer. */
  deaths = 0
  frozenDeaths = 0
  /** Deaths and open give-ups with neither side ever frozen. */
  healthyDeaths = 0
  /** Sides that gave up opening (open or handshake timeout). */
  openTimeouts = 0
  /** setKeepAlive calls that (re)started pinging, stopped it, or were answered "unsupported". */
  reconfigurations = 0
  stops = 0
  unsupported = 0
  freezes = 0
  thaws = 0
  /** Times a side stopped reading its peer on its own limits. */
  stoppedReading = 0
}

/**
 * An unpacked state, reused across transitions.
 *
 * @since 0.1.0
 * @category models
 */
export class Scratch {
  now = 0
  ended = 0
  allowed = 0
  setCalls = 0
  actions = 0
  readonly frozen = [LIVE, LIVE]
  /** Per side: its wall clock has stepped (once at most). */
  readonly stepped = [0, 0]
  readonly sess = [0, 0]
  /** `chan[side]`: the channel *to* that side. */
  readonly chan = [0, 0]
  /** The server application's calls in hand, oldest first, as a channel id (the first `callLimit` run). */
  held = 0
  /** Slow calls the server's application has taken so far. */
  slowUsed = 0
  /** The client application: reading, stalled, or reading again. */
  stall = READING
  /** Frames delivered to the stalled client application (up to `maxPending`). */
  backlog = 0
  /** In a measuring model: when the one side that may freeze froze (ticks). */
  freezeAt = 0
  readonly g: readonly [Properties.Ghost, Properties.Ghost] = [Properties.ghost(), Properties.ghost()]
}

/**
 * A ghost time in 8 bits: -1 as {@link NONE8}; a grid anchor beyond 254 ticks (possible after a reconfiguration to
 * a long interval) is clamped, which only makes its lower bounds weaker, never wrong.
 */
const t8 = (t: number): number => (t < 0 ? NONE8 : t > 254 ? 254 : t)
const fromT8 = (v: number): number => (v === NONE8 ? -1 : v)

const packGhost = (g: Properties.Ghost, out: Int32Array, at: number): void => {
  out[at] = t8(g.lastReceipt) | (t8(g.changed) << 8) | (t8(g.anchor) << 16) | (t8(g.resumed) << 24)
  out[at + 1] = g.interval | (g.count << 8) | (g.pings << 16) | ((g.agreed ? 1 : 0) << 24) | ((g.unsupported ? 1 : 0) << 25) | ((g.dead ? 1 : 0) << 26) |
    (g.anchorPings << 27)
}

const unpackGhost = (g: Properties.Ghost, a: number, b: number): void => {
  g.lastReceipt = fromT8(a & 0xff)
  g.changed = fromT8((a >>> 8) & 0xff)
  g.anchor = fromT8((a >>> 16) & 0xff)
  g.resumed = fromT8((a >>> 24) & 0xff)
  g.interval = b & 0xff
  g.count = (b >>> 8) & 0xff
  g.pings = (b >>> 16) & 0xff
  g.agreed = ((b >>> 24) & 1) === 1
  g.unsupported = ((b >>> 25) & 1) === 1
  g.dead = ((b >>> 26) & 1) === 1
  g.anchorPings = b >>> 27
}

// ---------------------------------------------------------------------------------------------------------------
// The packed state: one layout table drives packing and unpacking
// ---------------------------------------------------------------------------------------------------------------

/**
 * One field of a packed state: where it lives in {@link Scratch} (`path`, e.g. `frozen[0]`), its word (0–2 of the
 * state; `apps` is the word hash-consed with the ghosts), its first bit and its width. `gone`: the side whose
 * freeze for good clears it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Field {
  readonly path: string
  readonly word: 0 | 1 | 2 | "apps"
  readonly shift: number
  readonly bits: number
  readonly gone?: "client" | "server"
}

/**
 * The layout of a packed state (besides the ghosts' words): every field of {@link Scratch} but the ghosts, the
 * measuring freeze time aside, in one place. Packing and unpacking are generated from it.
 *
 * @since 0.1.0
 * @category constants
 */
export const LAYOUT: ReadonlyArray<Field> = [
  { path: "now", word: 0, shift: 0, bits: 8 },
  { path: "ended", word: 0, shift: 8, bits: 1 },
  { path: "frozen[0]", word: 0, shift: 9, bits: 2 },
  { path: "frozen[1]", word: 0, shift: 11, bits: 2 },
  { path: "actions", word: 0, shift: 13, bits: 4 },
  { path: "allowed", word: 0, shift: 17, bits: 1, gone: "client" },
  { path: "setCalls", word: 0, shift: 18, bits: 4, gone: "client" },
  { path: "freezeAt", word: 0, shift: 22, bits: 8 },
  { path: "stepped[0]", word: 0, shift: 30, bits: 1, gone: "client" },
  { path: "stepped[1]", word: 0, shift: 31, bits: 1, gone: "server" },
  { path: "sess[0]", word: 1, shift: 0, bits: 16, gone: "client" },
  { path: "sess[1]", word: 1, shift: 16, bits: 16, gone: "server" },
  { path: "chan[0]", word: 2, shift: 0, bits: 16, gone: "client" },
  { path: "chan[1]", word: 2, shift: 16, bits: 16, gone: "server" },
  { path: "held", word: "apps", shift: 0, bits: 16, gone: "server" },
  { path: "slowUsed", word: "apps", shift: 16, bits: 4, gone: "server" },
  { path: "stall", word: "apps", shift: 20, bits: 2, gone: "client" },
  { path: "backlog", word: "apps", shift: 22, bits: 3, gone: "client" }
]

const wordOf = (word: Field["word"]): string => (word === "apps" ? "apps" : `w${word}`)
const fieldMask = (f: Field): number => (f.bits === 32 ? -1 : (1 << f.bits) - 1)

/** `s.x = (w >>> shift) & mask;` for every field. */
const unpackSource = (layout: ReadonlyArray<Field>): string =>
  layout.map((f) => `s.${f.path} = (${wordOf(f.word)} >>> ${f.shift}) & ${fieldMask(f)};`).join("\n")

/** `out[i] = field << shift | …` per word, a field of a gone side counting 0; `apps` goes to the ghost key's word 4. */
const packSource = (layout: ReadonlyArray<Field>): string => {
  const term = (f: Field) => {
    const value = `(s.${f.path} << ${f.shift})`
    return f.gone === undefined ? value : `(${f.gone === "client" ? "goneC" : "goneS"} ? 0 : ${value})`
  }
  const word = (w: Field["word"]) => layout.filter((f) => f.word === w).map(term).join(" | ") || "0"
  return `out[0] = ${word(0)};\nout[1] = ${word(1)};\nout[2] = ${word(2)};\ng[4] = ${word("apps")};`
}

/** Unpacks the three state words and the applications' word into a scratch (generated from {@link LAYOUT}). */
const unpackWords = new Function("s", "w0", "w1", "w2", "apps", unpackSource(LAYOUT)) as (s: Scratch, w0: number, w1: number, w2: number, apps: number) => void

/** Packs a scratch into the three state words and the ghost key's word 4 (generated from {@link LAYOUT}). */
const packWords = new Function("s", "out", "g", "goneC", "goneS", packSource(LAYOUT)) as (
  s: Scratch,
  out: Int32Array,
  g: Int32Array,
  goneC: boolean,
  goneS: boolean
) => void

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`

const isBeforeOpen = (s: Session.State): boolean =>
  s.role === "client" ? s.phase === "idle" || s.phase === "auth" || s.phase === "feature" || s.phase === "opening" : s.phase === "handshake"

const frameKey = (frame: Frame.Frame): string => {
  const h = frame.header
  let text = `${h.prog},${h.vers},${h.proc},${h.type},${h.serial},${h.status}:`
  for (const byte of frame.payload) text += byte.toString(16).padStart(2, "0")
  return text
}

const isFeatureCall = (h: Frame.Header): boolean =>
  h.prog === Remote.REMOTE_PROGRAM && h.type === Frame.MessageType.Call && h.proc === Remote.RemoteProc.ConnectSupportsFeature

const frameKind = (frame: Frame.Frame): number => {
  const h = frame.header
  const keepalive = Frame.keepaliveKind(h)
  if (keepalive !== undefined) {
    return keepalive === "ping" ? K_PING : keepalive === "pong" ? K_PONG : keepalive === "advertise" ? K_ADVERTISE : K_OTHER
  }
  if (isFeatureCall(h)) {
    const args = Remote.decodeSupportsFeatureArgs(frame.payload)
    return Result.isSuccess(args) && args.success.feature === Remote.Feature.ProgramKeepalive ? K_QUERY_KEEPALIVE : K_CALL
  }
  if (
    h.prog === Remote.REMOTE_PROGRAM && h.type === Frame.MessageType.Reply && h.proc === Remote.RemoteProc.ConnectSupportsFeature &&
    h.status === Frame.MessageStatus.Ok
  ) {
    const ret = Remote.decodeSupportsFeatureRet(frame.payload)
    return Result.isSuccess(ret) && ret.success.supported !== 0 ? K_FEATURE_TRUE : K_OTHER
  }
  return h.type === Frame.MessageType.Call ? K_CALL : K_OTHER
}

const EVENT_FRAME: Frame.Frame = Frame.make({
  prog: Remote.REMOTE_PROGRAM,
  vers: Remote.REMOTE_VERSION,
  proc: Remote.RemoteProc.ConnectGetVersion,
  type: Frame.MessageType.Message,
  serial: 0,
  status: Frame.MessageStatus.Ok
})

/** The labels the bounds can ever enable. */
const activeLabels = (b: ResolvedBounds, variant: ProtocolVariant.ProtocolVariant): ReadonlyArray<number> => {
  const split = b.bothOrders || b.lateTicks > 0
  const enabled: Record<number, boolean> = {
    [Label.FireClient]: split,
    [Label.FireServer]: split,
    [Label.FreezeClient]: b.allowFreeze.client,
    [Label.FreezeServer]: b.allowFreeze.server,
    [Label.ThawClient]: b.allowThaw.client,
    [Label.ThawServer]: b.allowThaw.server,
    [Label.Allow]: variant.advertiseMessage && b.allowKeepAlive,
    [Label.CloseClient]: b.closes.client,
    [Label.CloseServer]: b.closes.server,
    [Label.Call]: b.calls > 0,
    [Label.Event]: b.calls > 0,
    [Label.Query]: b.calls > 0,
    [Label.Answer]: b.calls > 0 && (b.slowCalls > 0 || b.callLimit > 0),
    [Label.StallApp]: b.appStalls,
    [Label.ReadApp]: b.appStalls,
    [Label.ClockClient]: b.clockStep !== 0,
    [Label.ClockServer]: b.clockStep !== 0
  }
  const all = Array.from({ length: Label.Set + b.setKeepAliveChoices.length }, (_, label) => label)
  return all.filter((label) => enabled[label] ?? true)
}

/**
 * The model for one set of bounds and one session implementation: interned sessions, frames and channels,
 * memoised steps, and the transition function.
 *
 * @since 0.1.0
 * @category models
 */
export class Model {
  readonly variant: ProtocolVariant.ProtocolVariant
  readonly labels: number
  /** The labels the bounds can ever enable, in order: the search tries only these. */
  readonly active: ReadonlyArray<number>
  readonly rules: Properties.Rules
  readonly thaw: readonly [boolean, boolean]
  private readonly split: boolean
  /** Held calls (server) at which reading stops; the client's backlog bound is `maxPending`. */
  private readonly heldBound: number
  /** Per side: stopping reading pauses keepalive; reading again resumes it. */
  private readonly pauses: readonly [boolean, boolean]
  private readonly resumes: readonly [boolean, boolean]
  /** The timeouts the driver arms: open (client), handshake (server); the properties judge by the bounds'. */
  private readonly timeouts: readonly [number, number]
  /** The server's application may hold calls. */
  private readonly slowApp: boolean
  private readonly checks: ReadonlySet<Properties.PropertyName>
  private readonly step: Mutants.Stepper
  // sessions
  private readonly sessions: Array<Session.State> = [Session.client(0)]
  private readonly sessionIds = new Map<string, number>()
  private readonly deadline: Array<number> = [NEVER]
  private readonly isOpen: Array<boolean> = [false]
  private readonly isClosed: Array<boolean> = [true]
  private readonly isBefore: Array<boolean> = [false]
  // frames
  private readonly frames: Array<Frame.Frame> = []
  private readonly frameIds = new Map<string, number>()
  private readonly frameIdOf = new WeakMap<Frame.Frame, number>()
  private readonly kinds: Array<number> = []
  // channels: id 0 is empty
  private readonly chHead: Array<number> = [-1]
  private readonly chSent: Array<number> = [-1]
  private readonly chTail: Array<number> = [0]
  private readonly chLength: Array<number> = [0]
  /** Channels by (tail, head frame · 256 + tick sent); the ticks of a state fit in 8 bits. */
  private readonly cons = new Pairs(256)
  /** Appends by (channel, frame · 256 + tick sent). */
  private readonly appends = new Pairs(256)
  private readonly appended: Array<number> = []
  // both ghosts of a state, hash-consed
  private readonly ghosts = new Table(5, 1024)
  private readonly ghostKey = new Int32Array(5)
  private loadedGhosts = 0
  // memo
  private readonly memo = new Pairs(4096)
  private readonly entries: Array<Entry> = []

  readonly b: ResolvedBounds
  readonly mutant: Mutants.Mutant
  /** What the transitions taken so far reached. */
  readonly coverage = new Coverage()
  /** States carry the freeze time of the one side that may freeze, and deaths report their detection time. */
  private readonly measuring: boolean
  /** No property checked and not measuring: ghosts are not part of the state. */
  private readonly ghostless: boolean
  /** Some property is checked: without one, the checks are skipped (the ghosts they read are not kept). */
  private readonly judging: boolean
  private readonly healthyCheck: boolean
  /** The last countdown recorded per side, for `out.countdown`. */
  private readonly shown: Array<string> = ["", ""]

  constructor(b: ResolvedBounds, mutant: Mutants.Mutant, checks: ReadonlyArray<Properties.PropertyName>, measuring = false) {
    this.b = b
    this.mutant = mutant
    this.measuring = measuring
    this.variant = b.variant === "draft" ? ProtocolVariant.draft : ProtocolVariant.libvirt
    this.labels = Label.Set + b.setKeepAliveChoices.length
    this.active = activeLabels(b, this.variant)
    this.split = b.bothOrders || b.lateTicks > 0
    this.rules = { late: b.lateTicks, unit: b.tickMs, settle: this.split ? 0 : 1 }
    this.thaw = [b.allowThaw.client, b.allowThaw.server]
    this.checks = new Set(checks)
    this.healthyCheck = this.checks.has("no-healthy-death")
    this.ghostless = checks.length === 0 && !measuring
    this.judging = checks.length > 0
    this.step = Mutants.stepperFor(mutant)
    const rule = Mutants.ruleOf(mutant)
    const libvirtd = b.reader === "libvirtd"
    this.heldBound = libvirtd || rule === "stop-reading-at-limit" ? b.callLimit : b.callLimit + b.maxPending
    const pauses = !libvirtd && rule !== "no-pause"
    this.pauses = [pauses, pauses && rule !== "stop-reading-at-limit"]
    this.resumes = [pauses && rule !== "no-resume", this.pauses[SERVER] && rule !== "no-resume"]
    this.slowApp = b.slowCalls > 0 || b.callLimit > 0
    this.timeouts = rule === "no-open-timeout" ? [0, 0] : [b.openTimeoutTicks, b.handshakeTimeoutTicks]
    this.cons.intern(-1, -1) // reserve channel id 0 for the empty channel
  }

  /** The initial state: both sessions created at 0, the client has sent `Open`. */
  initial(s: Scratch, out: Out): void {
    s.now = 0
    s.ended = 0
    s.allowed = 0
    s.setCalls = 0
    s.actions = 0
    s.frozen[CLIENT] = LIVE
    s.frozen[SERVER] = LIVE
    s.stepped[CLIENT] = 0
    s.stepped[SERVER] = 0
    s.chan[CLIENT] = 0
    s.chan[SERVER] = 0
    s.held = 0
    s.slowUsed = 0
    s.stall = READING
    s.backlog = 0
    s.freezeAt = 0
    this.shown[CLIENT] = this.shown[SERVER] = ""
    Object.assign(s.g[CLIENT], Properties.ghost())
    Object.assign(s.g[SERVER], Properties.ghost())
    s.sess[CLIENT] = this.intern(Session.client(0, { advertise: this.b.clientAdvertises, variant: this.variant, rules: this.b.rules }))
    s.sess[SERVER] = this.intern(Mutants.initialServer(this.mutant, this.serverOptions()))
    this.feed(s, CLIENT, I_OPEN, out)
  }

  private serverOptions(): Session.ServerOptions {
    return {
      interval: this.b.serverIntervalTicks * this.b.tickMs,
      count: Mutants.serverCount(this.mutant, this.b.serverCount),
      policy: this.b.policy,
      variant: this.variant,
      rules: this.b.rules
    }
  }

  /** Loads the packed state at `offset` of `words` into `s`. */
  load(s: Scratch, words: Int32Array, offset: number): void {
    if (this.ghostless) {
      unpackWords(s, words[offset]!, words[offset + 1]!, words[offset + 2]!, words[offset + 3]!)
      return
    }
    const ghosts = this.ghosts.keys
    const id = words[offset + 3]!
    const at = id * 5
    unpackWords(s, words[offset]!, words[offset + 1]!, words[offset + 2]!, ghosts[at + 4]!)
    unpackGhost(s.g[CLIENT], ghosts[at]!, ghosts[at + 1]!)
    unpackGhost(s.g[SERVER], ghosts[at + 2]!, ghosts[at + 3]!)
    this.loadedGhosts = id
  }

  /**
   * Writes the canonical packed form of `s` into `out`: an ended run is one state, and a side frozen for good is
   * left out (it never acts and nothing reads it again). Without properties to judge (and not measuring), the ghosts
   * are left out too (they only feed the properties): the fourth word is then the applications' word itself.
   */
  store(s: Scratch, out: Int32Array): void {
    if (s.ended === 1) {
      out.fill(0)
      out[0] = 1 << 8
      return
    }
    const goneC = s.frozen[CLIENT] === FROZEN && !this.thaw[CLIENT]
    const goneS = s.frozen[SERVER] === FROZEN && !this.thaw[SERVER]
    const g = this.ghostKey
    if (this.ghostless) {
      packWords(s, out, g, goneC, goneS)
      out[3] = g[4]!
      return
    }
    if (goneC) g[0] = g[1] = 0
    else packGhost(s.g[CLIENT], g, 0)
    if (goneS) g[2] = g[3] = 0
    else packGhost(s.g[SERVER], g, 2)
    packWords(s, out, g, goneC, goneS)
    out[3] = this.ghostId(g)
  }

  /** The id of a ghost pair: the loaded state's own when unchanged (the common case), else hash-consed. */
  private ghostId(g: Int32Array): number {
    const keys = this.ghosts.keys
    const at = this.loadedGhosts * 5
    if (
      this.loadedGhosts < this.ghosts.size && keys[at] === g[0] && keys[at + 1] === g[1] && keys[at + 2] === g[2] && keys[at + 3] === g[3] &&
      keys[at + 4] === g[4]
    ) return this.loadedGhosts
    return this.ghosts.intern(g)
  }

  /**
   * The session table so far, for writing the same transition system for another checker: every memoised step,
   * each session's keepalive deadline in ticks (2^30: none) and whether its connection is open, and the two
   * sessions of the initial state before the client's `Open`.
   */
  steps(): {
    readonly steps: ReadonlyArray<Step>
    readonly deadline: ReadonlyArray<number>
    readonly open: ReadonlyArray<boolean>
    readonly start: readonly [number, number]
  } {
    const keys = this.memo.keys
    const steps = this.entries.map((entry, i) => ({ sid: keys[2 * i]!, input: keys[2 * i + 1]! >> 8, now: keys[2 * i + 1]! & 0xff, entry }))
    return { steps, deadline: this.deadline, open: this.isOpen, start: [1, 2] }
  }

  /** More than 65 536 sessions or channels: the packed state cannot hold them. */
  overflowed(): boolean {
    return this.sessions.length > 0xffff || this.chHead.length > 0xffff
  }

  /** The time of a state in ms. */
  ms(s: Scratch): number {
    return s.now * this.b.tickMs
  }

  /** Applies `label` to `s`; false when the choice is not enabled (then `s` is unspecified). */
  transition(s: Scratch, label: number, out: Out): boolean {
    if (s.ended === 1) return false
    switch (label) {
      case Label.DeliverToServer:
        return this.deliver(s, SERVER, out)
      case Label.DeliverToClient:
        return this.deliver(s, CLIENT, out)
      case Label.Tick:
        return this.split ? this.advance(s, out) : this.tick(s, out)
      case Label.FireClient:
        return this.split && this.fire(s, CLIENT, out)
      case Label.FireServer:
        return this.split && this.fire(s, SERVER, out)
      case Label.FreezeClient:
      case Label.FreezeServer:
        return this.freeze(s, label === Label.FreezeClient ? CLIENT : SERVER, out)
      case Label.ThawClient:
      case Label.ThawServer:
        return this.thawSide(s, label === Label.ThawClient ? CLIENT : SERVER, out)
      default:
        return this.application(s, label, out)
    }
  }

  private application(s: Scratch, label: number, out: Out): boolean {
    switch (label) {
      case Label.Allow:
        if (!this.variant.advertiseMessage || !this.b.allowKeepAlive || s.allowed === 1 || !this.acts(s, CLIENT)) return false
        s.allowed = 1
        out.events?.push({ at: this.ms(s), kind: "note", text: "C: AllowKeepAlive()" })
        this.feed(s, CLIENT, I_ALLOW, out)
        return true
      case Label.CloseClient:
        return this.b.closes.client && this.acts(s, CLIENT) && this.feedTrue(s, CLIENT, I_CLOSE, out)
      case Label.CloseServer:
        return this.b.closes.server && s.frozen[SERVER] !== FROZEN && this.feedTrue(s, SERVER, I_CLOSE, out)
      case Label.Call:
      case Label.Query:
        return s.actions < this.b.calls && this.acts(s, CLIENT) && this.feedTrue(s, CLIENT, label === Label.Call ? I_CALL : I_QUERY, out, true)
      case Label.Event:
        return s.actions < this.b.calls && this.acts(s, SERVER) && this.feedTrue(s, SERVER, I_EVENT, out, true)
      case Label.Answer:
        return this.answer(s, out)
      case Label.StallApp:
        return this.stallApp(s, out)
      case Label.ReadApp:
        return this.readApp(s, out)
      case Label.ClockClient:
      case Label.ClockServer:
        return this.stepClock(s, label === Label.ClockClient ? CLIENT : SERVER, out)
      default:
        return this.setKeepAlive(s, label - Label.Set, out)
    }
  }

  /** The side is not frozen and its connection is open. */
  private acts(s: Scratch, side: number): boolean {
    return s.frozen[side] !== FROZEN && this.isOpen[s.sess[side]!] === true
  }

  private feedTrue(s: Scratch, side: number, input: number, out: Out, action = false): boolean {
    if (action) s.actions++
    this.feed(s, side, input, out)
    return true
  }

  private setKeepAlive(s: Scratch, index: number, out: Out): boolean {
    const choice = this.b.setKeepAliveChoices[index]
    if (choice === undefined || s.setCalls >= this.b.maxSetKeepAliveCalls || !this.acts(s, CLIENT)) return false
    s.setCalls++
    const g = s.g[CLIENT]
    if (g.agreed) Properties.settingsChanged(g, s.now, choice.interval, choice.count)
    else Properties.refused(g, s.now)
    if (!g.agreed) this.coverage.unsupported++
    else if (choice.interval > 0) this.coverage.reconfigurations++
    else this.coverage.stops++
    out.events?.push({ at: this.ms(s), kind: "note", text: `C: setKeepAlive(interval ${choice.interval * this.b.tickMs} ms, count ${choice.count})` })
    this.feed(s, CLIENT, I_SET + index, out)
    return true
  }

  private freeze(s: Scratch, side: number, out: Out): boolean {
    const allowed = side === CLIENT ? this.b.allowFreeze.client : this.b.allowFreeze.server
    if (!allowed || s.frozen[side] !== LIVE) return false
    s.frozen[side] = FROZEN
    this.coverage.freezes++
    if (this.measuring) s.freezeAt = this.pinging(s, 1 - side) ? s.now : UNMEASURED
    if (!this.thaw[side]) s.chan[side] = 0 // never read: forgotten
    out.events?.push({ at: this.ms(s), kind: "freeze", side: SIDES[side]! })
    return true
  }

  private thawSide(s: Scratch, side: number, out: Out): boolean {
    if (!this.thaw[side] || s.frozen[side] !== FROZEN) return false
    s.frozen[side] = THAWED
    this.coverage.thaws++
    Properties.resumed(s.g[side]!, s.now)
    out.events?.push({ at: this.ms(s), kind: "thaw", side: SIDES[side]! })
    return true
  }

  // -------------------------------------------------------------------------------------------------------------
  // The applications and reading
  // -------------------------------------------------------------------------------------------------------------

  /** The server's application answers its oldest call in hand. */
  private answer(s: Scratch, out: Out): boolean {
    const held = s.held
    if (held === 0 || s.frozen[SERVER] === FROZEN || this.isClosed[s.sess[SERVER]!]) return false
    const wasStopped = this.stopped(s, SERVER)
    s.held = this.chTail[held]!
    out.events?.push({
      at: this.ms(s),
      kind: "note",
      text: `S: its application answers call serial ${this.frames[this.chHead[held]!]!.header.serial} (${this.chLength[s.held]} still in hand)`
    })
    this.feed(s, SERVER, I_FRAME + 2 * this.chHead[held]! + 1, out)
    if (wasStopped && s.ended === 0 && !this.stopped(s, SERVER)) this.startReading(s, SERVER, out)
    return true
  }

  /** A call the server's application takes: held when slow or when every handler is busy, else answered at once. */
  private take(s: Scratch, call: number, out: Out): void {
    const inHand = this.chLength[s.held]!
    const slow = s.slowUsed < this.b.slowCalls
    if (!slow && (this.b.callLimit === 0 || inHand < this.b.callLimit)) {
      this.feed(s, SERVER, I_FRAME + 2 * call + 1, out)
      return
    }
    if (slow) s.slowUsed++
    s.held = this.append(s.held, call, s.now)
    out.events?.push({
      at: this.ms(s),
      kind: "note",
      text: `S: its application holds call serial ${this.frames[call]!.header.serial} (${inHand + 1} in hand${
        this.b.callLimit > 0 ? `, max_client_requests ${this.b.callLimit}` : ""
      })`
    })
  }

  /** The side's wall clock steps by `clockStep` ticks (once). */
  private stepClock(s: Scratch, side: number, out: Out): boolean {
    if (this.b.clockStep === 0 || s.stepped[side] === 1 || s.frozen[side] === FROZEN || this.isClosed[s.sess[side]!]) return false
    s.stepped[side] = 1
    out.events?.push({
      at: this.ms(s),
      kind: "note",
      text: `${side === SERVER ? "S" : "C"}: its wall clock steps ${this.b.clockStep > 0 ? "forward" : "back"} ${Math.abs(this.b.clockStep) * this.b.tickMs} ms`
    })
    this.feed(s, side, I_CLOCK, out)
    return true
  }

  private stallApp(s: Scratch, out: Out): boolean {
    if (s.stall !== READING || !this.acts(s, CLIENT)) return false
    s.stall = STALLED
    out.events?.push({ at: this.ms(s), kind: "note", text: "C: its application stops reading its frames" })
    return true
  }

  private readApp(s: Scratch, out: Out): boolean {
    if (s.stall !== STALLED || s.frozen[CLIENT] === FROZEN || this.isClosed[s.sess[CLIENT]!]) return false
    const wasStopped = this.stopped(s, CLIENT)
    out.events?.push({ at: this.ms(s), kind: "note", text: `C: its application reads its ${s.backlog} waiting frames again` })
    s.stall = READ_AGAIN
    s.backlog = 0
    if (wasStopped) this.startReading(s, CLIENT, out)
    return true
  }

  /** The side has stopped reading its peer because of its own limits: the server's calls, the client's backlog. */
  private stopped(s: Scratch, side: number): boolean {
    if (side === SERVER) return this.b.callLimit > 0 && this.chLength[s.held]! >= this.heldBound
    return s.stall === STALLED && s.backlog >= this.b.maxPending
  }

  /** The side reads its channel: it is not frozen and has not stopped reading. */
  private reads(s: Scratch, side: number): boolean {
    return s.frozen[side] !== FROZEN && !this.stopped(s, side)
  }

  /** The side's keepalive is paused: it stopped reading under a rule that pauses. */
  private paused(s: Scratch, side: number): boolean {
    return this.pauses[side]! && this.stopped(s, side)
  }

  private why(s: Scratch, side: number): string {
    if (side === CLIENT) return `its application's backlog is full (${s.backlog} of ${this.b.maxPending} frames) and it stopped reading`
    const inHand = this.chLength[s.held]!
    return this.heldBound === this.b.callLimit
      ? `it stopped reading while its calls in flight (${inHand}) reached max_client_requests (${this.b.callLimit})`
      : `${
        plural(inHand - this.b.callLimit, "call")
      } wait for a handler (max_client_requests ${this.b.callLimit}, ${this.b.maxPending} may wait) and it stopped reading`
  }

  private stopReading(s: Scratch, side: number, out: Out): void {
    this.coverage.stoppedReading++
    if (out.events !== undefined) {
      const text = side === SERVER
        ? this.heldBound === this.b.callLimit
          ? `S: client hit max requests limit ${this.b.callLimit}: stops reading the client`
          : `S: ${plural(this.b.maxPending, "call")} wait for a handler: stops reading the client`
        : `C: ${plural(this.b.maxPending, "frame")} wait for the application: stops reading the server`
      out.events.push({ at: this.ms(s), kind: "note", text: `${text}${this.pauses[side] ? " and pauses keepalive" : " (keepalive runs on)"}` })
    }
    if (this.pauses[side]) this.feed(s, side, I_PAUSE, out)
  }

  private startReading(s: Scratch, side: number, out: Out): void {
    out.events?.push({ at: this.ms(s), kind: "note", text: `${side === SERVER ? "S" : "C"}: reads again${this.resumes[side] ? " and resumes keepalive" : ""}` })
    if (!this.pauses[side]) return
    Properties.readingAgain(s.g[side]!, s.now)
    if (this.resumes[side]) this.feed(s, side, I_RESUME, out)
  }

  /** The send time of the oldest frame waiting for the side, or -1. */
  private unread(s: Scratch, side: number): number {
    const ch = s.chan[side]!
    return ch === 0 ? -1 : this.chSent[ch]!
  }

  /** Judges a side giving up on its peer (`no-false-death`). */
  private gaveUp(s: Scratch, side: number, act: Properties.GiveUp, out: Out): void {
    const live = s.frozen[CLIENT] === LIVE && s.frozen[SERVER] === LIVE
    const unread = this.unread(s, side)
    if (live) this.coverage.healthyDeaths++
    if (live && this.healthyCheck) {
      this.violate(out, Properties.checkHealthyDeath(live, s.g[side]!.lastReceipt, unread, this.b.maxDelay, s.now, this.rules, SIDES[side]!, act))
    }
    if (!this.judging || !live || unread < 0 || s.now - unread <= this.b.maxDelay) return
    const why = this.stopped(s, side) ? this.why(s, side) : "it did not read it in time"
    const kind = this.kinds[this.chHead[s.chan[side]!]!]
    const frame = kind === K_PONG ? "PONG" : kind === K_PING ? "PING" : kind === K_CALL ? "call" : "frame"
    this.violate(out, Properties.checkFalseDeath(live, unread, this.b.maxDelay, s.now, this.rules, { side: SIDES[side]!, act, frame, why }))
  }

  // -------------------------------------------------------------------------------------------------------------
  // Silence before open
  // -------------------------------------------------------------------------------------------------------------

  /** The side's open (client) or handshake (server) deadline in ticks, or NEVER once it opened or when none. */
  private openDeadline(s: Scratch, side: number): number {
    const timeout = this.timeouts[side]!
    return timeout > 0 && this.isBefore[s.sess[side]!] ? timeout : NEVER
  }

  /** The side's earliest deadline: its keepalive's or its open deadline. */
  private due(s: Scratch, side: number): number {
    const keepalive = this.deadline[s.sess[side]!]!
    const open = this.openDeadline(s, side)
    return open < keepalive ? open : keepalive
  }

  /** Fires the side's due deadline: the open deadline gives up and ends the run; else its keepalive Tick. */
  private fireDue(s: Scratch, side: number, out: Out): void {
    if (this.openDeadline(s, side) > s.now) {
      this.feed(s, side, I_TICK, out)
      return
    }
    const act: Properties.GiveUp = side === CLIENT ? "open-timeout" : "handshake-timeout"
    out.events?.push({
      at: this.ms(s),
      kind: "note",
      text: side === CLIENT
        ? `C: open timed out after ${this.ms(s)} ms (${(this.sessions[s.sess[CLIENT]!] as Session.ClientState).phase}): gives up`
        : `S: no CONNECT_OPEN within the handshake timeout (${this.ms(s)} ms): closes`
    })
    this.coverage.openTimeouts++
    this.gaveUp(s, side, act, out)
    s.ended = 1
  }

  // -------------------------------------------------------------------------------------------------------------
  // Time
  // -------------------------------------------------------------------------------------------------------------

  /** Time may advance: within the horizon, and no deliverable frame has waited `maxDelay` ticks. */
  private mayAdvance(s: Scratch): boolean {
    if (s.now >= this.b.horizon) return false
    for (let side = 0; side < 2; side++) {
      const ch = s.chan[side]!
      if (ch !== 0 && this.reads(s, side) && s.now - this.chSent[ch]! >= this.b.maxDelay) return false
    }
    return true
  }

  /** The tick of the original model: time + 1, then each due deadline fires, client first. */
  private tick(s: Scratch, out: Out): boolean {
    if (!this.mayAdvance(s)) return false
    s.now++
    for (let side = 0; side < 2; side++) {
      if (s.ended === 1) break
      if (s.frozen[side] === FROZEN) continue
      if (this.due(s, side) <= s.now) this.fireDue(s, side, out)
      if (s.ended === 0) this.overdue(s, side, out)
    }
    return true
  }

  /** Split time: advance only when no due deadline must fire now; liveness is judged at the old time. */
  private advance(s: Scratch, out: Out): boolean {
    if (!this.mayAdvance(s)) return false
    for (let side = 0; side < 2; side++) {
      if (s.frozen[side] === FROZEN || this.isClosed[s.sess[side]!]) continue
      if (s.now - this.due(s, side) >= this.b.lateTicks) return false
    }
    this.overdue(s, CLIENT, out)
    this.overdue(s, SERVER, out)
    s.now++
    return true
  }

  private fire(s: Scratch, side: number, out: Out): boolean {
    const due = this.due(s, side)
    if (s.frozen[side] === FROZEN || due > s.now) return false
    this.fireDue(s, side, out)
    if (this.judging && s.ended === 0 && !this.isClosed[s.sess[side]!] && this.due(s, side) <= s.now) {
      this.violate(out, Properties.checkStalledDeadline(due, s.now, this.rules, SIDES[side]!))
    }
    return true
  }

  private overdue(s: Scratch, side: number, out: Out): void {
    const sid = s.sess[side]!
    if (!this.judging || s.frozen[side] === FROZEN || this.isClosed[sid] || this.paused(s, side)) return
    this.violate(out, Properties.checkOverdue(s.g[side]!, s.now, this.rules, SIDES[side]!))
    if (this.isBefore[sid]) {
      const timeout = side === CLIENT ? this.b.openTimeoutTicks : this.b.handshakeTimeoutTicks
      this.violate(out, Properties.checkOpenOverdue(s.now, timeout, this.rules, SIDES[side]!))
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // The network
  // -------------------------------------------------------------------------------------------------------------

  private deliver(s: Scratch, side: number, out: Out): boolean {
    const ch = s.chan[side]!
    if (ch === 0 || !this.reads(s, side)) return false
    const frame = this.chHead[ch]!
    s.chan[side] = this.chTail[ch]!
    const g = s.g[side]!
    Properties.received(g, s.now)
    const kind = this.kinds[frame]!
    if (side === SERVER) this.advertisedBy(s, kind)
    else if (kind === K_FEATURE_TRUE) g.agreed = true
    out.events?.push({ at: this.ms(s), kind: "receive", side: SIDES[side]!, frame: this.frames[frame]! })
    if (kind === K_PING) this.coverage.pingsDelivered++
    const closed = this.isClosed[s.sess[side]!]!
    const entry = this.feed(s, side, I_FRAME + 2 * frame, out)
    if (kind === K_PING && this.judging) this.violate(out, Properties.checkAnswered(entry.pongs > 0, closed, SIDES[side]!))
    if (side === CLIENT && s.stall === STALLED && entry.delivered > 0) s.backlog = Math.min(this.b.maxPending, s.backlog + entry.delivered)
    if (s.ended === 0 && this.stopped(s, side)) this.stopReading(s, side, out)
    return true
  }

  private advertisedBy(s: Scratch, kind: number): void {
    const g = s.g[SERVER]
    const advertises = (kind === K_ADVERTISE && this.variant.advertiseMessage) || (kind === K_QUERY_KEEPALIVE && this.variant.featureQueryAdvertises)
    if (!advertises || g.agreed) return
    g.agreed = true
    if (this.b.policy !== "disabled" && this.b.serverIntervalTicks > 0) Properties.settingsChanged(g, s.now, this.b.serverIntervalTicks, this.b.serverCount)
  }

  private send(s: Scratch, from: number, frame: number, out: Out): void {
    const to = 1 - from
    if (s.frozen[to] === FROZEN && !this.thaw[to]) return // never read: forgotten
    const ch = s.chan[to]!
    if (this.chLength[ch]! >= this.b.maxInFlight) out.overflow = true
    s.chan[to] = this.append(ch, frame, s.now)
  }

  private channel(head: number, sent: number, tail: number): number {
    const id = this.cons.intern(tail, head * 256 + sent)
    if (this.cons.added) {
      this.chHead.push(head)
      this.chSent.push(sent)
      this.chTail.push(tail)
      this.chLength.push(this.chLength[tail]! + 1)
    }
    return id
  }

  private append(ch: number, frame: number, sent: number): number {
    const index = this.appends.intern(ch, frame * 256 + sent)
    if (!this.appends.added) return this.appended[index]!
    const id = ch === 0
      ? this.channel(frame, sent, 0)
      : this.channel(this.chHead[ch]!, this.chSent[ch]!, this.append(this.chTail[ch]!, frame, sent))
    this.appended[index] = id
    return id
  }

  // -------------------------------------------------------------------------------------------------------------
  // Sessions
  // -------------------------------------------------------------------------------------------------------------

  private intern(session: Session.State): number {
    const key = Session.key(session)
    let id = this.sessionIds.get(key)
    if (id === undefined) {
      id = this.sessions.length
      this.sessionIds.set(key, id)
      const rep = Session.representative(session)
      this.sessions.push(rep)
      const deadline = Session.nextDeadline(rep)
      this.deadline.push(deadline === undefined ? NEVER : Math.ceil(deadline / this.b.tickMs))
      this.isOpen.push(rep.phase === "open")
      this.isClosed.push(rep.phase === "closed")
      this.isBefore.push(isBeforeOpen(rep))
    }
    return id
  }

  private frameId(frame: Frame.Frame): number {
    let id = this.frameIdOf.get(frame)
    if (id !== undefined) return id
    const key = frameKey(frame)
    id = this.frameIds.get(key)
    if (id === undefined) {
      id = this.frames.length
      this.frameIds.set(key, id)
      this.frames.push(frame)
      this.kinds.push(frameKind(frame))
    }
    this.frameIdOf.set(frame, id)
    return id
  }

  /** `Session.step` for (session, input, time), memoised. */
  private stepped(sid: number, input: number, now: number): Entry {
    const index = this.memo.intern(sid, input * 256 + now)
    if (!this.memo.added) return this.entries[index]!
    const entry = this.compute(sid, input, now)
    this.entries.push(entry)
    return entry
  }

  private inputFor(input: number, at: number): Session.Input {
    switch (input) {
      case I_TICK:
        return Session.Input.Tick(at)
      case I_OPEN:
        return Session.Input.Open(at, "test:///default")
      case I_ALLOW:
        return Session.Input.AllowKeepAlive(at)
      case I_CLOSE:
        return Session.Input.Close(at)
      case I_CALL:
        return Session.Input.Call(at, Remote.RemoteProc.ConnectGetVersion)
      case I_QUERY:
        return Session.Input.Call(at, Remote.RemoteProc.ConnectSupportsFeature, Remote.encodeSupportsFeatureArgs({ feature: Remote.Feature.FdPassing }))
      case I_EVENT:
        return Session.Input.Send(at, EVENT_FRAME)
      case I_PAUSE:
        return Session.Input.Pause(at)
      case I_RESUME:
        return Session.Input.Resume(at)
      case I_CLOCK:
        return Session.Input.ClockStep(at, this.b.clockStep * this.b.tickMs)
    }
    if (input < I_FRAME) {
      const choice = this.b.setKeepAliveChoices[input - I_SET]!
      return Session.Input.SetKeepAlive(at, choice.interval * this.b.tickMs, choice.count)
    }
    const frame = this.frames[(input - I_FRAME) >> 1]!
    if ((input & 1) === 0) return Session.Input.Received(at, frame)
    return Session.Input.Send(at, Frame.make(Remote.replyHeader(frame.header.proc, frame.header.serial, Frame.MessageStatus.Ok)))
  }

  private compute(sid: number, input: number, now: number): Entry {
    const [next, commands] = this.step(this.sessions[sid]!, this.inputFor(input, now * this.b.tickMs))
    const sent: Array<number> = []
    const calls: Array<number> = []
    let pongs = 0
    let dead = false
    let close = 0
    let opened = false
    let delivered = 0
    for (const c of commands) {
      if (c._tag === "Transmit") {
        const id = this.frameId(c.frame)
        sent.push(id)
        if (this.kinds[id] === K_PONG) pongs++
      } else if (c._tag === "Deliver" && c.frame.header.type === Frame.MessageType.Call) calls.push(this.frameId(c.frame))
      else if (c._tag === "Deliver") delivered++
      else if (c._tag === "PeerDead") dead = true
      else if (c._tag === "Opened") opened = true
      else if (c._tag === "Close") close = c.reason === "refused" ? 2 : 1
    }
    return { next: next === this.sessions[sid] ? sid : this.intern(next), commands, sent, pongs, dead, close, opened, calls, delivered }
  }

  /** Feeds one input to a side, carries out its commands and checks the properties. */
  private feed(s: Scratch, side: number, input: number, out: Out): Entry {
    const entry = this.stepped(s.sess[side]!, input, s.now)
    s.sess[side] = entry.next
    if (entry.pongs > 0 && this.judging) this.violate(out, Properties.checkPongs(this.isPing(input) ? 1 : 0, entry.pongs, SIDES[side]!))
    if (out.events !== undefined) this.record(s, side, entry, out)
    const g = s.g[side]!
    for (let i = 0; i < entry.sent.length; i++) {
      const frame = entry.sent[i]!
      const kind = this.kinds[frame]
      if (kind === K_PING) this.pinged(s, side, g, out)
      else if (side === CLIENT && this.judging && (kind === K_QUERY_KEEPALIVE || kind === K_ADVERTISE))
        this.violate(out, Properties.checkAdvertisement(this.b.clientAdvertises))
      this.send(s, side, frame, out)
    }
    if (entry.dead) {
      this.died(s, side, out)
      if (this.judging) this.violate(out, Properties.checkDeath(g, s.now, this.rules, SIDES[side]!))
      this.gaveUp(s, side, "dead", out)
      g.dead = true
    }
    if (side === SERVER && (entry.opened || entry.close === 2)) {
      if (entry.opened) this.coverage.opens++
      else this.coverage.refusals++
      if (this.judging) this.violate(out, Properties.checkOpenAnswer(entry.opened, s.g[SERVER].agreed, this.b.policy))
    }
    if (entry.close !== 0) s.ended = 1
    for (let i = 0; i < entry.calls.length && s.ended === 0; i++) {
      if (side === SERVER && this.slowApp) this.take(s, entry.calls[i]!, out)
      else this.feed(s, side, I_FRAME + 2 * entry.calls[i]! + 1, out)
    }
    return entry
  }

  /** The input is a PING received. */
  private isPing(input: number): boolean {
    return input >= I_FRAME && (input & 1) === 0 && this.kinds[(input - I_FRAME) >> 1] === K_PING
  }

  /** Counts a death; in a measuring model, reports how long after the peer's freeze it came. */
  private died(s: Scratch, side: number, out: Out): void {
    this.coverage.deaths++
    if (s.frozen[1 - side] === LIVE) return
    this.coverage.frozenDeaths++
    if (!this.measuring || s.freezeAt === UNMEASURED) return
    out.detected = s.now - s.freezeAt
    out.detectedBy = side
  }

  /** The side's connection is open and it pings: a freeze of its peer now is one it must detect. */
  private pinging(s: Scratch, side: number): boolean {
    return this.isOpen[s.sess[side]!] === true && s.g[side]!.interval > 0
  }

  private pinged(s: Scratch, side: number, g: Properties.Ghost, out: Out): void {
    if (side === SERVER) this.coverage.serverPings++
    else this.coverage.clientPings++
    if (this.judging) {
      if (side === SERVER) this.violate(out, Properties.checkServerPing(g.agreed, this.b.policy))
      this.violate(out, Properties.checkPing(g, s.now, this.rules, SIDES[side]!))
    }
    Properties.pinged(g, s.now)
  }

  private record(s: Scratch, side: number, entry: Entry, out: Out): void {
    const events = out.events!
    const at = this.ms(s)
    const name = SIDES[side]!
    for (const command of entry.commands) {
      events.push(Trace.ofCommand(at, name, command))
    }
    if (out.countdown === true) this.countdown(s, side, at, events)
  }

  /** Records the side's keepalive countdown when it changed since the last one recorded. */
  private countdown(s: Scratch, side: number, at: number, events: Array<Trace.TraceEvent>): void {
    const c = Session.countdown(this.sessions[s.sess[side]!]!)
    const key = `${c.pingsLeft}/${c.count}/${c.deadline}`
    if (key === this.shown[side]) return
    this.shown[side] = key
    events.push({ at, kind: "countdown", side: SIDES[side]!, ...c })
  }

  private violate(out: Out, v: Properties.Violation | undefined): void {
    if (v !== undefined && out.violation === undefined && this.checks.has(v.property)) out.violation = v
  }

  /** Allocated bytes of the interned sessions' bookkeeping, channels and memo tables (not the session objects). */
  bytes(): number {
    return this.ghosts.bytes() + this.cons.bytes() + this.appends.bytes() + this.memo.bytes() +
      8 * (this.entries.length + this.sessions.length * 4 + this.chHead.length * 4)
  }
}
