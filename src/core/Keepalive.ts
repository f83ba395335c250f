/**
 * The keepalive core: libvirt's virkeepalive.c as a pure state machine, in milliseconds.
 *
 * Contract:
 * - {@link step}`(state, input) → [state, commands]` and {@link nextDeadline}`(state)` are the whole driving
 *   surface. Every input carries the monotonic time `now` in ms. The core never reads a clock, never throws,
 *   never mutates a state and does no I/O: commands are values for the caller to carry out.
 * - Call order for a driver: feed an input, carry out the commands in order, read {@link nextDeadline}, and feed a
 *   `Tick` at (or after) that time. Early, late, repeated and out-of-order Ticks are harmless; time never goes
 *   backwards inside the core (an older `now` counts as the newest one seen).
 *
 * Semantics (libvirt's, see the README's table):
 * - Every received frame of any program resets the countdown. A PING is always answered with a PONG, even when
 *   our own pinging is off. Unknown keepalive procedures are consumed and ignored.
 * - With interval I and count C, a silent peer gets PINGs at I, 2I, …, C·I after the last receipt and is declared
 *   dead at (C+1)·I. C = 0: dead at I with no PING. I ≤ 0: never pings, still answers.
 * - The first deadline after Start counts from the last receipt (or from the creation of the state when nothing
 *   was received yet).
 * - A Tick that comes a little late (less than an interval) keeps the PINGs on their grid; one that comes more
 *   than an interval late (our own stall) sends one PING and restarts the interval at the Tick: never a burst.
 * - `PeerDead` is emitted at most once; the state is then terminal and every later input is a no-op.
 * - Liveness is judged only by what the peer sends. While the driver cannot read the peer (its own limits: call
 *   slots full, the application's backlog), it says `Pause`: the countdown halts, no PING is due and nobody dies.
 *   `Resume` restarts the countdown at that moment, as if a frame had just arrived, so a peer that died during the
 *   pause is declared dead within (C+1)·I of reading again, and one that lived is never blamed for our stall.
 *
 * Rules ({@link Rules}): the above are `ours`, the default. `libvirt` is libvirt 9.0's virkeepalive.c as it
 * behaves (the same through 12.x), selected with `make(now, { rules: "libvirt" })`:
 * - time is `time(NULL)`: whole seconds of a wall clock, which `ClockStep` moves (NTP, suspend and resume); the
 *   timer is a monotonic event-loop timer. A step forward can kill a healthy peer at once, one backward postpones
 *   the death of a dead one;
 * - the timer is re-armed to a whole interval when it sends a PING and at every receipt, so a late timer delays
 *   every later PING (lateness adds up); a Start while the timer runs changes nothing, and a new interval after a
 *   Stop is refused (virKeepAliveStop keeps the old one);
 * - `Pause` and `Resume` change nothing (libvirtd stops reading a client at max_client_requests and keeps its
 *   timer running);
 * - with `loop: false` (an event loop registered but not run) the timer never fires until `RunLoop`.
 * Not modelled: libvirt's `intervalStart == 0` guard (a receipt in the first second of 1970).
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"

/**
 * libvirt's overflow guard, `INT_MAX / 1000` seconds, expressed in milliseconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_INTERVAL_MS = 2147483 * 1000

/**
 * The largest count, libvirt's `unsigned int`.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_COUNT = 0xffffffff

// ---------------------------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------------------------

/**
 * How a received frame matters to keepalive. Classify with `Frame.keepaliveKind`; a
 * keepalive-program frame whose type is not MESSAGE is `"other"` (it belongs to the application).
 *
 * @since 0.1.0
 * @category models
 */
export type Received = "ping" | "pong" | "keepalive-other" | "other"

/**
 * An input to the core. Every input carries `now`, monotonic milliseconds.
 *
 * - `Start`: begin (or reconfigure) our own pinging with `interval` ms and `count` unanswered PINGs.
 *   `interval ≤ 0` stops pinging. Invalid values give a `ConfigRejected` command and change nothing.
 * - `Stop`: stop our own pinging; PINGs from the peer are still answered.
 * - `Received`: a frame arrived from the peer.
 * - `Tick`: the clock reached (or passed) a deadline. Spurious Ticks are no-ops.
 * - `Pause`: we stopped reading the peer (our own limits, not its silence); the countdown halts.
 * - `Resume`: we read the peer again; its silence counts from now, with no PING outstanding.
 * - `ClockStep`: the wall clock jumped by `by` ms (libvirt's rules; ours use only the monotonic `now`).
 * - `RunLoop`: the event loop starts running (libvirt's rules with `loop: false`; a no-op otherwise).
 *
 * @since 0.1.0
 * @category models
 */
export type Input =
  | { readonly _tag: "Start"; readonly now: number; readonly interval: number; readonly count: number }
  | { readonly _tag: "Stop"; readonly now: number }
  | { readonly _tag: "Received"; readonly now: number; readonly kind: Received }
  | { readonly _tag: "Tick"; readonly now: number }
  | { readonly _tag: "Pause"; readonly now: number }
  | { readonly _tag: "Resume"; readonly now: number }
  | { readonly _tag: "ClockStep"; readonly now: number; readonly by: number }
  | { readonly _tag: "RunLoop"; readonly now: number }

/**
 * Input constructors.
 *
 * @since 0.1.0
 * @category constructors
 */
export const Input = {
  Start: (now: number, interval: number, count: number): Input => ({ _tag: "Start", now, interval, count }),
  Stop: (now: number): Input => ({ _tag: "Stop", now }),
  Received: (now: number, kind: Received): Input => ({ _tag: "Received", now, kind }),
  Tick: (now: number): Input => ({ _tag: "Tick", now }),
  Pause: (now: number): Input => ({ _tag: "Pause", now }),
  Resume: (now: number): Input => ({ _tag: "Resume", now }),
  ClockStep: (now: number, by: number): Input => ({ _tag: "ClockStep", now, by }),
  RunLoop: (now: number): Input => ({ _tag: "RunLoop", now })
} as const

// ---------------------------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------------------------

/**
 * Invalid keepalive settings: names the field, the value and the rule it broke.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidKeepaliveConfig extends Data.TaggedError("InvalidKeepaliveConfig")<{
  readonly field: "interval" | "count"
  readonly value: number
  readonly rule: string
}> {
  override get message(): string {
    return `invalid keepalive ${this.field} ${String(this.value)}: ${this.rule}`
  }
}

/**
 * What the core asks its driver to do.
 *
 * - `SendPing` / `SendPong`: write a keepalive PING / PONG.
 * - `PeerDead`: the peer left `pingsSent` PINGs unanswered over `silence` ms; close the connection.
 * - `ConfigRejected`: a `Start` carried invalid settings; nothing changed.
 *
 * @since 0.1.0
 * @category models
 */
export type Command =
  | { readonly _tag: "SendPing" }
  | { readonly _tag: "SendPong" }
  | { readonly _tag: "PeerDead"; readonly silence: number; readonly pingsSent: number }
  | { readonly _tag: "ConfigRejected"; readonly error: InvalidKeepaliveConfig }

/**
 * The `SendPing` command (a shared constant).
 *
 * @since 0.1.0
 * @category constructors
 */
export const SendPing: Command = { _tag: "SendPing" }

/**
 * The `SendPong` command (a shared constant).
 *
 * @since 0.1.0
 * @category constructors
 */
export const SendPong: Command = { _tag: "SendPong" }

const NONE: ReadonlyArray<Command> = []
const PING_ONLY: ReadonlyArray<Command> = [SendPing]
const PONG_ONLY: ReadonlyArray<Command> = [SendPong]

// ---------------------------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------------------------

/**
 * Where the core is: `idle` (not pinging: never started, stopped, or interval ≤ 0), `running` (pinging) or
 * `dead` (terminal).
 *
 * @since 0.1.0
 * @category models
 */
export type Phase = "idle" | "running" | "dead"

/**
 * The whole keepalive state for one direction of one connection. Treat it as opaque and immutable; read it
 * through the getters below.
 *
 * @since 0.1.0
 * @category models
 */
export interface State {
  readonly phase: Phase
  /** Our ping interval in ms; ≤ 0 when disabled. */
  readonly interval: number
  /** PINGs the peer may leave unanswered. */
  readonly count: number
  /** PINGs sent since the last receipt. */
  readonly pingsSent: number
  /** When the last frame was received (or the state was created, or reading resumed after a pause). */
  readonly lastReceived: number
  /** Start of the current interval: the last receipt or the last PING. */
  readonly intervalStart: number
  /** The newest time seen. */
  readonly now: number
  /** We are not reading the peer (see `Pause`): no deadline, nobody dies. */
  readonly paused: boolean
  /** libvirt's rules: the wall clock and the event-loop timer; `undefined` under ours. */
  readonly wall: Wall | undefined
}

/**
 * The keepalive rules: `ours` (the default; see the module header) or `libvirt`, libvirt 9.0's virkeepalive.c.
 *
 * @since 0.1.0
 * @category models
 */
export type Rules = "ours" | "libvirt"

/**
 * What libvirt's rules add to a state. Under them `lastReceived` and `intervalStart` are wall-clock times in
 * whole seconds (as ms), like libvirt's `time(NULL)`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Wall {
  /** The wall clock minus the monotonic clock, in ms: 0 until a `ClockStep`. */
  readonly offset: number
  /** When the event-loop timer fires next (monotonic ms), or -1 when it is not armed. */
  readonly timer: number
  /** The event loop runs: the timer can fire. */
  readonly loop: boolean
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default `"ours"`. */
  readonly rules?: Rules
  /** libvirt's rules: the wall clock's offset from the monotonic one in ms. Default 0. */
  readonly offset?: number
  /** libvirt's rules: the event loop runs from the start. Default true. */
  readonly loop?: boolean
}

/**
 * The rules a state follows.
 *
 * @since 0.1.0
 * @category getters
 */
export const rulesOf = (state: State): Rules => (state.wall === undefined ? "ours" : "libvirt")

/**
 * A fresh core created at `now`: idle, nothing received yet. `now` is the reference point for silence until
 * the first frame arrives.
 *
 * Under libvirt's rules (`options.rules`), the state keeps a wall clock (`options.offset`) and an event-loop timer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (now: number, options: Options = {}): State => {
  if (options.rules !== "libvirt") return mk("idle", 0, 0, 0, now, now, now)
  const wall: Wall = { offset: options.offset ?? 0, timer: -1, loop: options.loop ?? true }
  const seconds = wallSeconds(wall, now)
  return mk("idle", 0, 0, 0, seconds, seconds, now, false, wall)
}

/**
 * Validates keepalive settings without touching any state: whole milliseconds up to libvirt's guard
 * ({@link MAX_INTERVAL_MS}); a whole count from 0 to {@link MAX_COUNT}. An interval ≤ 0 is valid (it disables
 * pinging). Under libvirt's rules the interval is whole seconds.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (
  interval: number,
  count: number,
  rules: Rules = "ours"
): Result.Result<{ readonly interval: number; readonly count: number }, InvalidKeepaliveConfig> => {
  if (rules === "libvirt" && interval % 1000 !== 0) {
    return Result.fail(new InvalidKeepaliveConfig({ field: "interval", value: interval, rule: "must be whole seconds under libvirt's rules" }))
  }
  if (!Number.isInteger(interval)) {
    return Result.fail(new InvalidKeepaliveConfig({ field: "interval", value: interval, rule: "must be a whole number of milliseconds" }))
  }
  if (interval > MAX_INTERVAL_MS) {
    return Result.fail(
      new InvalidKeepaliveConfig({ field: "interval", value: interval, rule: `must be at most ${MAX_INTERVAL_MS} ms (libvirt's limit of 2147483 s)` })
    )
  }
  if (!Number.isInteger(count) || count < 0 || count > MAX_COUNT) {
    return Result.fail(new InvalidKeepaliveConfig({ field: "count", value: count, rule: `must be a whole number from 0 to ${MAX_COUNT}` }))
  }
  return Result.succeed({ interval, count })
}

/**
 * The absolute time of the next check, or `undefined` when nothing is scheduled (idle or dead). Never earlier
 * than the newest time the core has seen.
 *
 * @since 0.1.0
 * @category getters
 */
export const nextDeadline = (state: State): number | undefined => {
  if (state.wall !== undefined) return libvirtDeadline(state, state.wall)
  if (state.phase !== "running" || state.paused) return undefined
  const due = state.intervalStart + state.interval
  return due > state.now ? due : state.now
}

/**
 * True until the peer has been declared dead.
 *
 * @since 0.1.0
 * @category getters
 */
export const isAlive = (state: State): boolean => state.phase !== "dead"

/**
 * True while we send PINGs of our own.
 *
 * @since 0.1.0
 * @category getters
 */
export const isRunning = (state: State): boolean => state.phase === "running"

/**
 * The result of one step: the next state and the commands to carry out, in order.
 *
 * @since 0.1.0
 * @category models
 */
export type Step = readonly [State, ReadonlyArray<Command>]

/** Every state is built here, with one field order, so all states share one shape (fast property access). */
const mk = (
  phase: Phase,
  interval: number,
  count: number,
  pingsSent: number,
  lastReceived: number,
  intervalStart: number,
  now: number,
  paused = false,
  wall: Wall | undefined = undefined
): State => ({ phase, interval, count, pingsSent, lastReceived, intervalStart, now, paused, wall })

const at = (state: State, now: number): State =>
  state.now === now
    ? state
    : mk(state.phase, state.interval, state.count, state.pingsSent, state.lastReceived, state.intervalStart, now, state.paused, state.wall)

/** Halts the countdown: nothing is due while we cannot read the peer. */
const pause = (state: State, now: number): State =>
  mk(state.phase, state.interval, state.count, state.pingsSent, state.lastReceived, state.intervalStart, now, true)

/** Restarts the countdown at `now`, as a receipt would (a no-op when not paused). */
const resume = (state: State, now: number): State => state.paused ? mk(state.phase, state.interval, state.count, 0, now, now, now) : at(state, now)

const start = (state: State, now: number, interval: number, count: number): Step => {
  const valid = validate(interval, count)
  if (Result.isFailure(valid)) return [state, [{ _tag: "ConfigRejected", error: valid.failure }]]
  if (interval <= 0) {
    return [mk("idle", interval, count, state.pingsSent, state.lastReceived, state.intervalStart, now, state.paused), NONE]
  }
  // A fresh start forgets earlier PINGs, as virKeepAliveStart does; a reconfiguration keeps the PINGs already
  // sent in this silence, so the new schedule still counts from the last receipt. A PING still unanswered gets a
  // whole new interval from now: a shorter interval must not condemn a peer whose answer is on its way. PINGs
  // beyond the new count take no place on the grid: death stays due (C+1)·I after the receipt, not later.
  const pingsSent = state.phase === "running" ? state.pingsSent : 0
  const fromReceipt = state.lastReceived + Math.min(pingsSent, count) * interval
  const earliest = pingsSent > 0 ? now : now - interval
  const intervalStart = fromReceipt > earliest ? fromReceipt : earliest
  return [mk("running", interval, count, pingsSent, state.lastReceived, intervalStart, now, state.paused), NONE]
}

const received = (state: State, now: number, kind: Received): Step => [
  mk(state.phase, state.interval, state.count, 0, now, now, now, state.paused),
  kind === "ping" ? PONG_ONLY : NONE
]

const tick = (state: State, now: number): Step => {
  if (state.phase !== "running" || state.paused || now < state.intervalStart + state.interval) {
    return [at(state, now), NONE]
  }
  if (state.pingsSent >= state.count) {
    return [
      mk("dead", state.interval, state.count, state.pingsSent, state.lastReceived, state.intervalStart, now),
      [{ _tag: "PeerDead", silence: now - state.lastReceived, pingsSent: state.pingsSent }]
    ]
  }
  // Keep the schedule on its grid (PINGs at exactly I, 2I, … after the last receipt) when the Tick is a little
  // late, so timer lateness does not add up over C intervals; after a stall longer than an interval, restart
  // the interval at the Tick, so a stall never causes a burst of PINGs.
  const due = state.intervalStart + state.interval
  const intervalStart = now - due < state.interval ? due : now
  return [mk("running", state.interval, state.count, state.pingsSent + 1, state.lastReceived, intervalStart, now), PING_ONLY]
}

/**
 * Advances the core by one input.
 *
 * **Example** (a silent peer, interval 1000 ms, count 2)
 * ```ts
 * let s = Keepalive.make(0)
 * ;[s] = Keepalive.step(s, Keepalive.Input.Start(0, 1000, 2))
 * Keepalive.nextDeadline(s)                                  // 1000
 * Keepalive.step(s, Keepalive.Input.Tick(1000))[1]           // [SendPing]
 * ```
 *
 * @since 0.1.0
 * @category transitions
 */
export const step = (state: State, input: Input): Step => {
  if (state.phase === "dead") return [state, NONE]
  const now = input.now > state.now ? input.now : state.now
  if (state.wall !== undefined) return libvirtStep(state, state.wall, now, input)
  switch (input._tag) {
    case "Tick":
      return tick(state, now)
    case "Received":
      return received(state, now, input.kind)
    case "Start":
      return start(state, now, input.interval, input.count)
    case "Stop":
      return [
        mk(
          state.phase === "running" ? "idle" : state.phase,
          state.interval,
          state.count,
          state.pingsSent,
          state.lastReceived,
          state.intervalStart,
          now,
          state.paused
        ),
        NONE
      ]
    case "Pause":
      return [pause(state, now), NONE]
    case "Resume":
      return [resume(state, now), NONE]
    case "ClockStep":
    case "RunLoop":
      return [at(state, now), NONE]
  }
}

// ---------------------------------------------------------------------------------------------------------------
// libvirt's rules (virkeepalive.c)
// ---------------------------------------------------------------------------------------------------------------

/** `time(NULL)` at monotonic `now`, as ms: the wall clock's whole seconds. */
const wallSeconds = (wall: Wall, now: number): number => Math.floor((now + wall.offset) / 1000) * 1000

const withWall = (state: State, now: number, wall: Wall, phase: Phase = state.phase, pingsSent = state.pingsSent, intervalStart = state.intervalStart): State =>
  mk(phase, state.interval, state.count, pingsSent, state.lastReceived, intervalStart, now, false, wall)

const libvirtDeadline = (state: State, wall: Wall): number | undefined => {
  if (state.phase !== "running" || wall.timer < 0 || !wall.loop) return undefined
  return wall.timer > state.now ? wall.timer : state.now
}

/** virKeepAliveCheckMessage: any frame resets the count and both times; an armed timer restarts a whole interval. */
const libvirtReceived = (state: State, wall: Wall, now: number, kind: Received): Step => {
  const seconds = wallSeconds(wall, now)
  const timer = wall.timer >= 0 ? now + state.interval : -1
  const next = mk(state.phase, state.interval, state.count, 0, seconds, seconds, now, false, timer === wall.timer ? wall : { ...wall, timer })
  return [next, kind === "ping" ? PONG_ONLY : NONE]
}

/** virKeepAliveTimerInternal: too early re-arms for the rest; else death, or a PING and a whole new interval. */
const libvirtTick = (state: State, wall: Wall, now: number): Step => {
  if (state.phase !== "running" || wall.timer < 0 || !wall.loop || now < wall.timer) return [at(state, now), NONE]
  const seconds = wallSeconds(wall, now)
  const elapsed = seconds - state.intervalStart
  if (elapsed < state.interval) return [withWall(state, now, { ...wall, timer: now + state.interval - elapsed }), NONE]
  if (state.pingsSent >= state.count) {
    return [
      withWall(state, now, { ...wall, timer: -1 }, "dead"),
      [{ _tag: "PeerDead", silence: seconds - state.lastReceived, pingsSent: state.pingsSent }]
    ]
  }
  return [withWall(state, now, { ...wall, timer: now + state.interval }, "running", state.pingsSent + 1, seconds), PING_ONLY]
}

const alreadySet = (interval: number): Command => ({
  _tag: "ConfigRejected",
  error: new InvalidKeepaliveConfig({ field: "interval", value: interval, rule: "keepalive interval already set (libvirt keeps it after a stop)" })
})

/** virKeepAliveStart: a no-op while the timer runs; the first timeout counts from the last receipt. */
const libvirtStart = (state: State, wall: Wall, now: number, interval: number, count: number): Step => {
  if (wall.timer >= 0) return [at(state, now), NONE]
  const valid = validate(interval, count, "libvirt")
  if (Result.isFailure(valid)) return [state, [{ _tag: "ConfigRejected", error: valid.failure }]]
  if (interval > 0 && state.interval > 0) return [at(state, now), [alreadySet(interval)]]
  const I = interval > 0 ? interval : state.interval
  const C = interval > 0 ? count : state.count
  const pingsSent = interval > 0 ? 0 : state.pingsSent
  if (I <= 0) return [mk("idle", I, C, pingsSent, state.lastReceived, state.intervalStart, now, false, wall), NONE]
  const seconds = wallSeconds(wall, now)
  const delay = seconds - state.lastReceived
  const timeout = delay > I ? 0 : I - delay
  return [mk("running", I, C, pingsSent, state.lastReceived, seconds - (I - timeout), now, false, { ...wall, timer: now + timeout }), NONE]
}

const libvirtStep = (state: State, wall: Wall, now: number, input: Input): Step => {
  switch (input._tag) {
    case "Tick":
      return libvirtTick(state, wall, now)
    case "Received":
      return libvirtReceived(state, wall, now, input.kind)
    case "Start":
      return libvirtStart(state, wall, now, input.interval, input.count)
    case "Stop":
      return [withWall(state, now, { ...wall, timer: -1 }, state.phase === "running" ? "idle" : state.phase), NONE]
    case "ClockStep":
      return [withWall(state, now, { ...wall, offset: wall.offset + input.by }), NONE]
    case "RunLoop":
      return [wall.loop ? at(state, now) : withWall(state, now, { ...wall, loop: true }), NONE]
    case "Pause":
    case "Resume":
      return [at(state, now), NONE]
  }
}

/**
 * A representative of the states that differ only in `now`: every later input is newer than the representative's
 * `now`, so it behaves as they do. Ours: `now` at the last receipt; libvirt's: 0 (its deadline is the timer's).
 *
 * @since 0.1.0
 * @category getters
 */
export const representative = (state: State): State => {
  const now = state.wall === undefined ? state.lastReceived : 0
  return state.now === now ? state : { ...state, now }
}

/**
 * Feeds several inputs in order and collects every command: a convenience for tests and tools.
 *
 * @since 0.1.0
 * @category transitions
 */
export const run = (state: State, inputs: Iterable<Input>): Step => {
  let current = state
  const commands: Array<Command> = []
  for (const input of inputs) {
    const [next, out] = step(current, input)
    current = next
    for (const c of out) commands.push(c)
  }
  return [current, commands]
}
