/**
 * The keepalive properties, stated once: the model checker evaluates them on every transition it explores, and
 * the simulator's monitor evaluates them on every trace of the production runtime.
 *
 * Contract:
 * - Each property is judged from the *history* of a run as an observer sees it (frames sent and received, the
 *   settings requested, deaths, freezes), never from a session's own state, so a broken session cannot fool it.
 * - The history of one side is a {@link Ghost}: a handful of numbers, in whatever time unit the caller uses
 *   (ticks in the checker, milliseconds in the simulator). The caller updates it with {@link received},
 *   {@link settingsChanged}, {@link resumed} and asks the `check*` functions before recording a PING or a death.
 * - The `check*` functions are pure: they return a {@link Violation} or `undefined` and never change the ghost.
 * - Times in messages are absolute (time since the start of the run), with the durations they imply in words.
 * - Lateness: a deadline may fire up to `rules.late` time units late (the checker's late ticks, the simulator's
 *   timer slack). With `rules.late = 0` and no freeze, PINGs must sit exactly on their grid.
 *
 * The properties (see {@link descriptions}):
 * 1. `no-early-death`: a side declares its peer dead only while it pings, after C PINGs unanswered since its last
 *    receipt under the settings in force, and after (C+1)·I of silence when those settings did not change
 *    during the silence (otherwise at least I after its last PING).
 * 2. `bounded-liveness`: a side that pings and hears nothing declares its peer dead by its grid's death + late:
 *    (C+1)·I after its last receipt with stable settings; after a reconfiguration or a fresh start, an interval
 *    after the place of its last PING on the new grid (the core's schedule); after a thaw, (C+1)·I after the thaw
 *    (a tick less than an interval late keeps the grid, so lateness does not add up; with `late ≥ I`,
 *    (C+1)·late): with `late = 0` that is exactly the time `no-early-death` allows, the other half of exact
 *    detection.
 * 3. `ping-answered`: every PING delivered to a side that is not closed is answered by a PONG, at once, and a PONG
 *    answers a PING and nothing else (one PONG per PING).
 * 4. `ping-after-advertisement`: the server PINGs only a client whose advertisement reached it, and only when
 *    its policy allows.
 * 5. `required-exact`: under policy `required` the server opens exactly the connections of advertising
 *    clients and refuses exactly the others.
 * 6. `no-ping-after-unsupported`: after setKeepAlive answered "unsupported", the client never PINGs.
 * 7. `death-at-most-once`: a side declares its peer dead at most once, and sends no PING afterwards.
 * 8. `ping-grid`: a side PINGs only while its settings say so, at most C times in a silence, never before
 *    its place on the grid (k·I after its last receipt, or on the grid of new settings), and (unless it was frozen
 *    in the silence) at most `late` after it: the first PING after a fresh start comes by
 *    max(last receipt + I, start) + late.
 * 9. `advertise-as-configured`: a client configured not to advertise keepalive never sends the advertisement
 *    (libvirt: SUPPORTS_FEATURE(KEEPALIVE); draft: ADVERTISE).
 * 10. `no-false-death`: a side never declares dead (nor gives up opening on) a peer that was never frozen,
 *    partitioned or crashed while a frame of that peer has waited unread longer than the network can hold it: the
 *    peer's only silence is the side's own not-reading (slow handlers, a full backlog, reading stopped).
 * 11. `no-healthy-death` (a design property, not checked by default): a side never declares dead (nor gives up
 *    opening on) a peer when neither side was ever frozen, partitioned or crashed. It fails wherever the network's
 *    delay outlasts the settings' patience; the checker reports it per configuration with the largest round-trip
 *    time it tolerates.
 *
 * A deadline that fires must act or move: one that fires and stays due would stop time in a model where time waits
 * for due deadlines, hiding every later liveness check ({@link checkStalledDeadline}, part of `bounded-liveness`).
 *
 * Before open, `bounded-liveness` is judged by the open timeout (client) and the handshake timeout (server): a side
 * that has not opened by then must have given up ({@link checkOpenOverdue}). While a side has stopped reading and
 * paused its keepalive, it is not judged; reading again counts as a receipt ({@link readingAgain}), as in the core.
 *
 * @since 0.1.0
 */
import type * as Session from "../session/Session.ts"
import type * as Trace from "../trace/Trace.ts"

/**
 * The name of a property.
 *
 * @since 0.1.0
 * @category models
 */
export type PropertyName =
  | "no-early-death"
  | "bounded-liveness"
  | "ping-answered"
  | "ping-after-advertisement"
  | "required-exact"
  | "no-ping-after-unsupported"
  | "death-at-most-once"
  | "ping-grid"
  | "advertise-as-configured"
  | "no-false-death"
  | "no-healthy-death"

/**
 * The properties checked by default, in a fixed order: what every correct session must satisfy under any bounds.
 * `no-healthy-death` is not among them: it is a fact of a design under a network, not of an implementation (see
 * {@link designProperties}).
 *
 * @since 0.1.0
 * @category constants
 */
export const properties: ReadonlyArray<PropertyName> = [
  "no-early-death",
  "bounded-liveness",
  "ping-answered",
  "ping-after-advertisement",
  "required-exact",
  "no-ping-after-unsupported",
  "death-at-most-once",
  "ping-grid",
  "advertise-as-configured",
  "no-false-death"
]

/**
 * The design properties: they hold or fail with the settings and the network's delay, whatever the sessions do
 * right, so they are asked for by name (`properties`, `--property`) and reported per configuration, never checked
 * by default. `no-healthy-death`: a peer that was never frozen, partitioned or crashed is never declared dead.
 *
 * @since 0.1.0
 * @category constants
 */
export const designProperties: ReadonlyArray<PropertyName> = ["no-healthy-death"]

/**
 * Every property, the default ones first.
 *
 * @since 0.1.0
 * @category constants
 */
export const allProperties: ReadonlyArray<PropertyName> = [...properties, ...designProperties]

/**
 * One sentence per property, for tables and `--help`.
 *
 * @since 0.1.0
 * @category constants
 */
export const descriptions: Readonly<Record<PropertyName, string>> = {
  "no-early-death": "dead only while pinging, after C unanswered PINGs and (C+1)·I of silence under the settings in force",
  "bounded-liveness":
    "a side that hears nothing declares its peer dead by its grid's death + late: (C+1)·I after its last receipt, the new grid's after a reconfiguration, (C+1)·I after a thaw",
  "ping-answered": "every PING delivered to a live side is answered by one PONG, and a PONG answers nothing else",
  "ping-after-advertisement": "the server PINGs only a client that advertised, and only when its policy allows",
  "required-exact": "under policy required the server opens exactly the advertising clients and refuses exactly the others",
  "no-ping-after-unsupported": "after setKeepAlive answered unsupported, the client never PINGs",
  "death-at-most-once": "a peer is declared dead at most once, and no PING follows",
  "ping-grid": "PINGs only while pinging, at most C per silence, on the grid (k·I after the last receipt, or the new settings' grid), up to late after it",
  "advertise-as-configured": "a client configured not to advertise keepalive never advertises it",
  "no-false-death": "a live peer is never declared dead, nor given up on before open, while its frames wait unread on the side's own stall",
  "no-healthy-death": "a peer that was never frozen, partitioned or crashed is never declared dead (nor given up on before open), whatever the delay"
}

/**
 * A property violation: which property, and what happened in words.
 *
 * @since 0.1.0
 * @category models
 */
export interface Violation {
  readonly property: PropertyName
  readonly description: string
}

/**
 * How strictly times are judged: `late` is how many time units a deadline may fire late; `unit` is the number
 * of milliseconds in one time unit (for the messages only).
 *
 * @since 0.1.0
 * @category models
 */
export interface Rules {
  readonly late: number
  readonly unit: number
  /**
   * How long after a change of settings at `t` a deadline already due at `t` may wait before it runs: the checker's
   * deadlines-first model runs due deadlines only when time next advances (one tick); with both orders at an
   * instant, and in the simulator, a due deadline runs at once (0, the default).
   */
  readonly settle?: number
}

/** "No time": a ghost time that is not set. */
const NONE = -1

/**
 * What an observer knows about one side's keepalive: mutable numbers, in the caller's time unit.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ghost {
  /** The side's last receipt of any frame (or the start of the run). */
  lastReceipt: number
  /** The last change of its settings, when later than the last receipt; -1 otherwise. */
  changed: number
  /**
   * Where its PING grid starts when its settings changed during the silence (-1 otherwise: the grid starts at
   * the last receipt): what the core computes on a reconfiguration.
   */
  anchor: number
  /** PINGs it had sent in the silence when that grid started. */
  anchorPings: number
  /** The last time it resumed after a freeze, when later than the last receipt; -1 otherwise. */
  resumed: number
  /** The interval in force; 0 when the side does not ping. */
  interval: number
  /** The count in force. */
  count: number
  /** PINGs sent since the last receipt (or since pinging started). */
  pings: number
  /** Client: the server said it supports keepalive. Server: the client's advertisement reached it. */
  agreed: boolean
  /** Client: the last setKeepAlive was answered "unsupported". */
  unsupported: boolean
  /** The side has declared its peer dead. */
  dead: boolean
}

/**
 * A ghost at the start of a run (time `at`): nothing received yet, not pinging.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ghost = (at = 0): Ghost => ({
  lastReceipt: at,
  changed: NONE,
  anchor: NONE,
  anchorPings: 0,
  resumed: NONE,
  interval: 0,
  count: 0,
  pings: 0,
  agreed: false,
  unsupported: false,
  dead: false
})

/**
 * Records that the side received a frame at `t`: its silence restarts.
 *
 * @since 0.1.0
 * @category updates
 */
export const received = (g: Ghost, t: number): void => {
  g.lastReceipt = t
  g.changed = NONE
  g.anchor = NONE
  g.anchorPings = 0
  g.resumed = NONE
  g.pings = 0
}

/**
 * Records new settings in force from `t` (interval ≤ 0: the side stops pinging). A side that starts pinging
 * afresh forgets the PINGs of an earlier run of pinging; a running side keeps them.
 *
 * @since 0.1.0
 * @category updates
 */
export const settingsChanged = (g: Ghost, t: number, interval: number, count: number): void => {
  if (g.interval <= 0) g.pings = 0
  g.unsupported = false
  g.interval = interval > 0 ? interval : 0
  g.count = interval > 0 ? count : 0
  // a side that does not ping has no schedule to judge, and a change at the receipt itself changes no schedule
  if (interval <= 0 || t <= g.lastReceipt) {
    g.changed = NONE
    g.anchor = NONE
    g.anchorPings = 0
    return
  }
  g.changed = t
  // the core's rule: PINGs already sent keep their places on the new grid (up to the new count), and an
  // unanswered one gets a whole new interval from the change; with none sent, the grid still counts from the receipt
  g.anchor = g.pings > 0 ? Math.max(g.lastReceipt + Math.min(g.pings, count) * interval, t) : Math.max(g.lastReceipt, t - interval)
  g.anchorPings = g.pings
}

/**
 * Records that setKeepAlive was answered "unsupported" at `t`: the side does not ping.
 *
 * @since 0.1.0
 * @category updates
 */
export const refused = (g: Ghost, t: number): void => {
  settingsChanged(g, t, 0, 0)
  g.unsupported = true
}

/**
 * Records that the side resumed at `t` after a freeze.
 *
 * @since 0.1.0
 * @category updates
 */
export const resumed = (g: Ghost, t: number): void => {
  g.resumed = t > g.lastReceipt ? t : NONE
}

/**
 * Records that the side reads its peer again at `t` after a pause of its own (its keepalive resumed): like a
 * receipt, the silence restarts with no PING outstanding.
 *
 * @since 0.1.0
 * @category updates
 */
export const readingAgain = (g: Ghost, t: number): void => received(g, t)

/**
 * Records a PING sent at `t` (after {@link checkPing}).
 *
 * @since 0.1.0
 * @category updates
 */
export const pinged = (g: Ghost, _t: number): void => {
  g.pings++
}

const stable = (g: Ghost): boolean => g.changed === NONE
const ms = (rules: Rules, t: number): string => `${t * rules.unit} ms`
const other = (side: Trace.Side): Trace.Side => (side === "client" ? "server" : "client")

/**
 * Judges a PING the side is about to send at `t` (`ping-grid`, `death-at-most-once`, and for the client
 * `no-ping-after-unsupported`).
 *
 * @since 0.1.0
 * @category checks
 */
export const checkPing = (g: Ghost, t: number, rules: Rules, side: Trace.Side): Violation | undefined => {
  if (g.dead) return { property: "death-at-most-once", description: `the ${side} sent a PING after it declared the ${other(side)} dead` }
  if (g.unsupported) return { property: "no-ping-after-unsupported", description: `the client sent a PING after setKeepAlive answered "unsupported"` }
  if (g.interval <= 0)
    return {
      property: "ping-grid",
      description: `the ${side} sent a PING at ${ms(rules, t)} while its settings say it does not ping (stopped, interval 0, or never started)`
    }
  if (g.pings + 1 > g.count)
    return { property: "ping-grid", description: `the ${side} sent PING number ${g.pings + 1} in one silence; its count is ${g.count}` }
  return checkGrid(g, t, rules, side)
}

/** The k-th PING of the current grid (k from 1) is due at `from + k·I`. */
const gridFrom = (g: Ghost): number => (stable(g) ? g.lastReceipt : g.anchor)
const gridIndex = (g: Ghost): number => g.pings - (stable(g) ? 0 : g.anchorPings)

/** When the side's next keepalive act (its next PING, or its death once C PINGs are out) is due on its grid. */
const nextDue = (g: Ghost): number => gridFrom(g) + (gridIndex(g) + 1) * g.interval

/**
 * How much later than its grid a side may act because its first deadline on new settings was already due when they
 * changed (a fresh start long after the last receipt): `rules.settle`, which shifts the grid when it is a whole
 * interval; 0 otherwise.
 */
const settling = (g: Ghost, rules: Rules): number => (!stable(g) && g.anchor + g.interval <= g.changed ? rules.settle ?? 0 : 0)

/** The latest a side's next act may come, lateness aside. */
const latestDue = (g: Ghost, rules: Rules): number => nextDue(g) + settling(g, rules)

const checkGrid = (g: Ghost, t: number, rules: Rules, side: Trace.Side): Violation | undefined => {
  const due = nextDue(g)
  const latest = latestDue(g, rules)
  // bounded above wherever nothing but a late tick can move it: no freeze in the silence (the grid of new settings
  // is the core's, so a PING after a reconfiguration or a fresh start is due at its place, not just after it)
  const exact = g.resumed === NONE
  if (t < due || (exact && t > latest + lateness(g, rules))) {
    return {
      property: "ping-grid",
      description: `the ${side} sent PING number ${g.pings + 1} at ${ms(rules, t)}, ${ms(rules, t - g.lastReceipt)} after its last receipt at ${
        ms(rules, g.lastReceipt)
      }, off its own grid (due ${exact ? (rules.late === 0 && latest === due ? "at" : `from ${ms(rules, due)} to`) : "no earlier than"} ${
        ms(rules, exact ? latest + lateness(g, rules) : due)
      }: k·I with I = ${ms(rules, g.interval)}${stable(g) ? " from the last receipt" : `, counted from ${ms(rules, gridFrom(g))} after its reconfiguration`})`
    }
  }
  return undefined
}

/**
 * Judges a death the side declares at `t` (`no-early-death`, `death-at-most-once`).
 *
 * @since 0.1.0
 * @category checks
 */
export const checkDeath = (g: Ghost, t: number, rules: Rules, side: Trace.Side): Violation | undefined => {
  const peer = other(side)
  if (g.dead) return { property: "death-at-most-once", description: `the ${side} declared the ${peer} dead a second time` }
  if (g.interval <= 0)
    return { property: "no-early-death", description: `the ${side} declared the ${peer} dead at ${ms(rules, t)} although it was not pinging` }
  if (g.pings < g.count)
    return { property: "no-early-death", description: `the ${side} declared the ${peer} dead after ${g.pings} unanswered PINGs; its count is ${g.count}` }
  const silence = t - g.lastReceipt
  if (stable(g) && silence < (g.count + 1) * g.interval) {
    return {
      property: "no-early-death",
      description: `the ${side} declared the ${peer} dead at ${ms(rules, t)}, ${ms(rules, silence)} after its last receipt at ${
        ms(rules, g.lastReceipt)
      }: before ${ms(rules, g.lastReceipt + (g.count + 1) * g.interval)}, (C+1)·I = ${ms(rules, (g.count + 1) * g.interval)} of silence (I = ${
        ms(rules, g.interval)
      }, C = ${g.count})`
    }
  }
  const due = nextDue(g)
  if (t < due) {
    return {
      property: "no-early-death",
      description: `the ${side} declared the ${peer} dead at ${ms(rules, t)}, before ${ms(rules, due)}: an interval (${
        ms(rules, g.interval)
      }) after its last PING's place on the grid of its new settings`
    }
  }
  return undefined
}

/**
 * The latest time by which a pinging side that hears nothing must have declared its peer dead, or `undefined`
 * when it does not ping.
 *
 * @since 0.1.0
 * @category checks
 */
export const deathBound = (g: Ghost, rules: Rules): number | undefined => {
  if (g.interval <= 0 || g.dead) return undefined
  if (g.resumed === NONE && !stable(g)) return reconfiguredDeath(g) + settling(g, rules) + lateness(g, rules)
  const anchor = Math.max(g.lastReceipt, g.changed, g.resumed)
  return anchor + (g.count + 1) * g.interval + lateness(g, rules)
}

/**
 * Death on the grid of new settings: the PINGs still to send (C less those sent when the settings changed), then
 * one more interval. With stable settings this is r + (C+1)·I; after a change it is what the core schedules.
 */
const reconfiguredDeath = (g: Ghost): number => g.anchor + (Math.max(0, g.count - g.anchorPings) + 1) * g.interval

/**
 * How much later than its grid a side may act: a tick less than an interval late keeps the grid (lateness
 * does not add up), so one `late` in all; otherwise each of the C + 1 deadlines may add its own.
 */
const lateness = (g: Ghost, rules: Rules): number => (rules.late < g.interval ? rules.late : (g.count + 1) * rules.late)

/**
 * Judges a live, unfrozen side at `t`, after everything due at `t` ran (`bounded-liveness`); with `more`, events
 * at `t` may still follow, so reaching the bound exactly is not yet a violation.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkOverdue = (g: Ghost, t: number, rules: Rules, side: Trace.Side, more = false): Violation | undefined => {
  const bound = deathBound(g, rules)
  if (bound === undefined || t < bound || (more && t === bound)) return undefined
  return {
    property: "bounded-liveness",
    description: `the ${side} has heard nothing since ${ms(rules, g.lastReceipt)} and at ${ms(rules, t)} has not declared the ${other(side)} dead, due by ${
      ms(rules, bound)
    } (I = ${ms(rules, g.interval)}, C = ${g.count}, lateness ≤ ${ms(rules, rules.late)})`
  }
}

/**
 * Judges a deadline that fired at `t` and left the side's next one at `t` or before (`bounded-liveness`): time
 * cannot pass a deadline that never moves, so every later liveness check would be skipped. A deadline that fires
 * must PING, declare death or move past `t`.
 *
 * @since 0.2.0
 * @category checks
 */
export const checkStalledDeadline = (due: number, t: number, rules: Rules, side: Trace.Side): Violation => ({
  property: "bounded-liveness",
  description: `the ${side}'s deadline due at ${ms(rules, due)} fired at ${
    ms(rules, t)
  } and did nothing: its next deadline is still due, so time cannot pass it (no PING, no death, ever)`
})

/**
 * Judges a side that has not opened its connection at `t` (`bounded-liveness` before open): it must have given up
 * by its open timeout (client) or handshake timeout (server) plus `late`; `timeout ≤ 0` judges nothing.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkOpenOverdue = (t: number, timeout: number, rules: Rules, side: Trace.Side, more = false): Violation | undefined => {
  const bound = timeout + rules.late
  if (timeout <= 0 || t < bound || (more && t === bound)) return undefined
  const what = side === "client" ? "open timeout" : "handshake timeout"
  return {
    property: "bounded-liveness",
    description: `the ${side} has not opened the connection by ${ms(rules, t)} and has not given up: its ${what} is ${ms(rules, timeout)} (lateness ≤ ${
      ms(rules, rules.late)
    })`
  }
}

/**
 * What a side is doing when it gives up on its peer, for {@link checkFalseDeath}.
 *
 * @since 0.1.0
 * @category models
 */
export type GiveUp = "dead" | "open-timeout" | "handshake-timeout"

const gaveUp = (act: GiveUp, side: Trace.Side): string =>
  act === "dead" ? `declared the ${other(side)} dead` : `gave up opening (its ${act === "open-timeout" ? "open" : "handshake"} timeout)`

/**
 * Who gives up, how, and in words: the oldest frame waiting unread (`PONG`, `call`, …) and why the side was not
 * reading it.
 *
 * @since 0.1.0
 * @category models
 */
export interface GivingUp {
  readonly side: Trace.Side
  readonly act: GiveUp
  readonly frame: string
  readonly why: string
}

/**
 * Judges a side giving up on its peer at `t` (`no-false-death`): `peerLive` says neither side was ever frozen,
 * partitioned or crashed; `unread` is when the oldest frame the peer sent and the side has not read was sent (-1
 * when none waits); `transit` the longest the network holds a frame.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkFalseDeath = (peerLive: boolean, unread: number, transit: number, t: number, rules: Rules, who: GivingUp): Violation | undefined => {
  if (!peerLive || unread < 0 || t - unread <= transit) return undefined
  const peer = other(who.side)
  return {
    property: "no-false-death",
    description: `the ${who.side} ${gaveUp(who.act, who.side)} at ${ms(rules, t)} although the ${peer} is alive: the ${peer}'s ${who.frame} sent at ${
      ms(rules, unread)
    } has waited ${ms(rules, t - unread)} unread (the network carries a frame within ${ms(rules, transit)}) because ${who.why}`
  }
}

/**
 * Judges a side giving up on its peer at `t` (`no-healthy-death`): `healthy` says neither side was ever frozen,
 * partitioned or crashed; `lastReceipt` is the side's last receipt; `inFlight` when the oldest frame of the peer
 * still on its way to the side was sent (-1 when none); `transit` the longest the network holds a frame.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkHealthyDeath = (
  healthy: boolean,
  lastReceipt: number,
  inFlight: number,
  transit: number,
  t: number,
  rules: Rules,
  side: Trace.Side,
  act: GiveUp
): Violation | undefined => {
  if (!healthy) return undefined
  const peer = other(side)
  const waiting = inFlight < 0
    ? ""
    : `, while the ${peer}'s frame sent at ${ms(rules, inFlight)} was still on its way (the network may take ${ms(rules, transit)})`
  return {
    property: "no-healthy-death",
    description: `the ${side} ${gaveUp(act, side)} at ${ms(rules, t)} although neither side was ever frozen, partitioned or crashed: its last receipt was at ${
      ms(rules, lastReceipt)
    }${waiting}`
  }
}

/**
 * Judges a server PING (`ping-after-advertisement`): `advertised` says whether the client's advertisement
 * reached the server.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkServerPing = (advertised: boolean, policy: Session.Policy): Violation | undefined => {
  if (!advertised) return { property: "ping-after-advertisement", description: "the server sent a PING before the client's advertisement reached it" }
  if (policy === "disabled") return { property: "ping-after-advertisement", description: "the server sent a PING under policy disabled" }
  return undefined
}

/**
 * Judges the server's answer to CONNECT_OPEN (`required-exact`): `opened` true when it opened the connection,
 * false when it refused it.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkOpenAnswer = (opened: boolean, advertised: boolean, policy: Session.Policy): Violation | undefined => {
  if (opened && policy === "required" && !advertised) {
    return {
      property: "required-exact",
      description: "under policy required, the server opened a connection for a client whose advertisement had not reached it"
    }
  }
  if (!opened && (policy !== "required" || advertised)) {
    return {
      property: "required-exact",
      description: `the server refused a connection under policy ${policy}${advertised ? " although the client advertised keepalive" : ""}`
    }
  }
  return undefined
}

/**
 * Judges the answer to a PING delivered to `side` (`ping-answered`): `answered` says whether a PONG went out
 * before the side processed anything else; `closed` whether the side had already ended.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkAnswered = (answered: boolean, closed: boolean, side: Trace.Side): Violation | undefined =>
  answered || closed ? undefined : { property: "ping-answered", description: `the ${side} received a PING and did not answer it with a PONG` }

/**
 * Judges the PONGs a side sent in one step (`ping-answered`, its other side): `pings` is how many PINGs it received
 * in that step (0 or 1). A PONG answers a PING and nothing else: one PONG per PING.
 *
 * @since 0.2.0
 * @category checks
 */
export const checkPongs = (pings: number, pongs: number, side: Trace.Side): Violation | undefined =>
  pongs <= pings
    ? undefined
    : {
      property: "ping-answered",
      description: `the ${side} sent ${pongs} PONG${pongs === 1 ? "" : "s"} answering ${pings === 0 ? "no PING" : `${pings} PING`}`
    }

/**
 * Judges an advertisement the client sends (`advertise-as-configured`): `configured` says whether it was told to
 * advertise keepalive.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkAdvertisement = (configured: boolean): Violation | undefined =>
  configured ? undefined : { property: "advertise-as-configured", description: "the client advertised keepalive although it was configured not to" }
