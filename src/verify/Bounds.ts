/**
 * The bounds of a model-checking run: what the environment may do, and how much of it.
 *
 * Contract: {@link resolveBounds} fills in every default and validates; it never throws. The defaults describe
 * the original, narrower model (one tick order, ticks never late, no thaw, no Close or Call, no call limit or slow
 * calls, no stalling application, no open timeouts); {@link wide} turns every extra choice on except those.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import type * as Keepalive from "../core/Keepalive.ts"
import type * as Session from "../session/Session.ts"

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
 * Which side may do something.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sides {
  readonly client: boolean
  readonly server: boolean
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
  /**
   * The keepalive rules of both sessions: `ours` or `libvirt` (libvirt 9.0's timing: whole seconds of a wall clock,
   * the interval restarting at each tick, no pause, `keepalive_required` ignored). Default `"ours"`.
   */
  readonly rules?: Keepalive.Rules
  /**
   * Each side's wall clock may step once by this many ticks (negative: backward; 0: never), as NTP or a suspend
   * does. Only libvirt's rules read the wall clock. Default 0.
   */
  readonly clockStep?: number
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
  /** No tick goes past this time (in ticks). Default: 6·maxDelay (the handshake) + the longest (C+1)·(I+late) + 2. */
  readonly horizon?: number
  /** The SetKeepAlive calls the client may make. Default: `[{ intervalTicks, countClient }, { 0, 0 }]`. */
  readonly setKeepAliveChoices?: ReadonlyArray<KeepAliveChoice>
  /** How many SetKeepAlive calls at most (≤ 15). Default 2. */
  readonly maxSetKeepAliveCalls?: number
  /** Draft only: the client may call AllowKeepAlive (once). Default true. */
  readonly allowKeepAlive?: boolean
  /** Which sides may freeze (once). Default both. */
  readonly allowFreeze?: Sides
  /** Which sides, once frozen, may thaw (once). Default neither: a freeze is forever. */
  readonly allowThaw?: Sides
  /** A due deadline may fire up to this many ticks late (our own stall). Default 0. */
  readonly lateTicks?: number
  /** Explore both orders of a delivery and a deadline due at the same instant. Default false (tick first). */
  readonly bothOrders?: boolean
  /** Which sides' applications may close the connection. Default neither. */
  readonly closes?: Sides
  /** Application actions at most (≤ 15): client Calls, server event messages, client feature queries other than KEEPALIVE. Default 0. */
  readonly calls?: number
  /** One tick in ms. Default 1000. A finer grid: intervals of n ticks with tickMs = I/n. */
  readonly tickMs?: number
  /** The server's max_client_requests: calls of the client its handlers run at once (≤ 15). Default 0: no limit modelled. */
  readonly callLimit?: number
  /**
   * How many of the client's calls the server's application handles slowly (≤ 15): each is held and answered later,
   * in order, or never within the horizon. Later calls are answered as soon as a handler is free. Default
   * `callLimit`.
   */
  readonly slowCalls?: number
  /** Calls waiting for a handler (server) or frames waiting for the application (client) before reading stops (1 to 7). Default 1. */
  readonly maxPending?: number
  /** The client's application may stop reading its frames (once), and may read them again (once). Default false. */
  readonly appStalls?: boolean
  /**
   * How reading stops at those bounds: `ours` reads every frame at once (a PING gets its PONG, every frame counts as
   * life), lets calls wait for a handler, and only at the pending bound stops reading and pauses keepalive;
   * `libvirtd` stops reading while the calls in flight reach the limit (the client: while its backlog is full), with
   * no pause. Default `"ours"`, and `"libvirtd"` under libvirt's rules.
   */
  readonly reader?: "ours" | "libvirtd"
  /**
   * Silence before open: the open timeout (client) and the handshake timeout (server) are modelled, so a side
   * that accepts or starts and then says nothing is detected. Default false.
   */
  readonly silentOpen?: boolean
  /** The client's open timeout in ticks, counted from the start (0: none). Default with `silentOpen`: 6·maxDelay + 1. */
  readonly openTimeoutTicks?: number
  /** The server's handshake timeout in ticks: no CONNECT_OPEN by then closes (0: none). Default with `silentOpen`: 6·maxDelay + 2. */
  readonly handshakeTimeoutTicks?: number
}

/**
 * Bounds with every default filled in.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedBounds {
  readonly variant: "libvirt" | "draft"
  readonly rules: Keepalive.Rules
  readonly clockStep: number
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
  readonly allowFreeze: Sides
  readonly allowThaw: Sides
  readonly lateTicks: number
  readonly bothOrders: boolean
  readonly closes: Sides
  readonly calls: number
  readonly tickMs: number
  readonly callLimit: number
  readonly slowCalls: number
  readonly maxPending: number
  readonly appStalls: boolean
  readonly reader: "ours" | "libvirtd"
  readonly openTimeoutTicks: number
  readonly handshakeTimeoutTicks: number
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

/**
 * The wider model: reconfiguration among (I, C), (1, C+1) and stop up to 3 times, ticks up to 1 late, both
 * orders at the same instant, Close on both sides, one application action, and 2 more frames in flight. Thaw is
 * left out (it multiplies the states by two orders of magnitude: a frozen side's queue keeps every frame);
 * ask for it with `allowThaw`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const wide = (bounds: Bounds = {}): Bounds => {
  const interval = bounds.intervalTicks ?? 2
  const count = bounds.countClient ?? 2
  const maxDelay = bounds.maxDelay ?? 1
  return {
    setKeepAliveChoices: [{ interval, count }, { interval: 1, count: count + 1 }, { interval: 0, count: 0 }],
    maxSetKeepAliveCalls: 3,
    lateTicks: 1,
    bothOrders: true,
    closes: { client: true, server: true },
    calls: 1,
    maxInFlight: 2 * (maxDelay + 1) + 4,
    ...bounds
  }
}

const LIMIT = 250

const natural = (field: string, value: number, min = 0, max = LIMIT): Result.Result<number, InvalidBounds> =>
  Number.isSafeInteger(value) && value >= min && value <= max
    ? Result.succeed(value)
    : Result.fail(new InvalidBounds({ field, value, rule: `must be a whole number from ${min} to ${max}` }))

const firstFailure = (checks: ReadonlyArray<Result.Result<number, InvalidBounds>>): InvalidBounds | undefined => {
  for (const c of checks) if (Result.isFailure(c)) return c.failure
  return undefined
}

const numberChecks = (bounds: Bounds, choices: ReadonlyArray<KeepAliveChoice>): ReadonlyArray<Result.Result<number, InvalidBounds>> => {
  const maxDelay = bounds.maxDelay ?? 1
  return [
    natural("intervalTicks", bounds.intervalTicks ?? 2),
    natural("countClient", bounds.countClient ?? 2, 0, 31),
    natural("serverIntervalTicks", bounds.serverIntervalTicks ?? 2),
    natural("serverCount", bounds.serverCount ?? 2, 0, 31),
    natural("maxDelay", maxDelay),
    natural("maxInFlight", bounds.maxInFlight ?? 2 * (maxDelay + 1) + 2, 1),
    natural("maxSetKeepAliveCalls", bounds.maxSetKeepAliveCalls ?? 2, 0, 15),
    natural("lateTicks", bounds.lateTicks ?? 0),
    natural("calls", bounds.calls ?? 0, 0, 15),
    natural("tickMs", bounds.tickMs ?? 1000, 1, Number.MAX_SAFE_INTEGER),
    natural("setKeepAliveChoices.length", choices.length, 0, 16),
    natural("callLimit", bounds.callLimit ?? 0, 0, 15),
    natural("slowCalls", bounds.slowCalls ?? bounds.callLimit ?? 0, 0, 15),
    natural("maxPending", bounds.maxPending ?? 1, 1, 7),
    natural("openTimeoutTicks", bounds.openTimeoutTicks ?? 0),
    natural("handshakeTimeoutTicks", bounds.handshakeTimeoutTicks ?? 0),
    ...(bounds.horizon === undefined ? [] : [natural("horizon", bounds.horizon)]),
    ...choices.flatMap((c, i) => [natural(`setKeepAliveChoices[${i}].interval`, c.interval), natural(`setKeepAliveChoices[${i}].count`, c.count, 0, 31)])
  ]
}

const enumChecks = (variant: string, policy: string, reader: string, rules: string): InvalidBounds | undefined => {
  if (rules !== "ours" && rules !== "libvirt") return new InvalidBounds({ field: "rules", value: rules, rule: "must be ours or libvirt" })
  if (reader !== "ours" && reader !== "libvirtd") return new InvalidBounds({ field: "reader", value: reader, rule: "must be ours or libvirtd" })
  if (variant !== "libvirt" && variant !== "draft") return new InvalidBounds({ field: "variant", value: variant, rule: "must be libvirt or draft" })
  if (policy !== "disabled" && policy !== "if-supported" && policy !== "required") {
    return new InvalidBounds({ field: "policy", value: policy, rule: "must be disabled, if-supported or required" })
  }
  return undefined
}

const defaultHorizon = (bounds: Bounds, choices: ReadonlyArray<KeepAliveChoice>): number => {
  const late = bounds.lateTicks ?? 0
  const longest = Math.max(
    ...choices.map((c) => (c.count + 1) * (c.interval + late)),
    ((bounds.countClient ?? 2) + 1) * ((bounds.intervalTicks ?? 2) + late),
    ((bounds.serverCount ?? 2) + 1) * ((bounds.serverIntervalTicks ?? 2) + late)
  )
  return Math.max(6 * (bounds.maxDelay ?? 1) + longest + 2, openTimeout(bounds) + 1, handshakeTimeout(bounds) + 1)
}

const openTimeout = (bounds: Bounds): number => bounds.openTimeoutTicks ?? (bounds.silentOpen === true ? 6 * (bounds.maxDelay ?? 1) + 1 : 0)
const handshakeTimeout = (bounds: Bounds): number => bounds.handshakeTimeoutTicks ?? (bounds.silentOpen === true ? 6 * (bounds.maxDelay ?? 1) + 2 : 0)

/**
 * Fills in the defaults of {@link Bounds} and validates the result.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolveBounds = (bounds: Bounds = {}): Result.Result<ResolvedBounds, InvalidBounds> => {
  const intervalTicks = bounds.intervalTicks ?? 2
  const countClient = bounds.countClient ?? 2
  const choices = bounds.setKeepAliveChoices ?? [{ interval: intervalTicks, count: countClient }, { interval: 0, count: 0 }]
  const variant = bounds.variant ?? "libvirt"
  const policy = bounds.policy ?? "if-supported"
  const rules = bounds.rules ?? "ours"
  const reader = bounds.reader ?? (rules === "libvirt" ? "libvirtd" : "ours")
  const clockStep = bounds.clockStep ?? 0
  const invalid = firstFailure(numberChecks(bounds, choices)) ?? enumChecks(variant, policy, reader, rules) ??
    (Number.isSafeInteger(clockStep) && Math.abs(clockStep) <= 15
      ? undefined
      : new InvalidBounds({ field: "clockStep", value: clockStep, rule: "must be a whole number from -15 to 15" }))
  if (invalid !== undefined) return Result.fail(invalid)
  const horizon = bounds.horizon ?? defaultHorizon(bounds, choices)
  if (horizon > LIMIT) return Result.fail(new InvalidBounds({ field: "horizon", value: horizon, rule: `must be at most ${LIMIT} ticks` }))
  const maxDelay = bounds.maxDelay ?? 1
  return Result.succeed({
    variant,
    rules,
    clockStep,
    clientAdvertises: bounds.clientAdvertises ?? true,
    intervalTicks,
    countClient,
    serverIntervalTicks: bounds.serverIntervalTicks ?? 2,
    serverCount: bounds.serverCount ?? 2,
    policy,
    maxDelay,
    maxInFlight: bounds.maxInFlight ?? 2 * (maxDelay + 1) + 2,
    horizon,
    setKeepAliveChoices: choices,
    maxSetKeepAliveCalls: bounds.maxSetKeepAliveCalls ?? 2,
    allowKeepAlive: bounds.allowKeepAlive ?? true,
    allowFreeze: bounds.allowFreeze ?? { client: true, server: true },
    allowThaw: bounds.allowThaw ?? { client: false, server: false },
    lateTicks: bounds.lateTicks ?? 0,
    bothOrders: bounds.bothOrders ?? false,
    closes: bounds.closes ?? { client: false, server: false },
    calls: bounds.calls ?? 0,
    tickMs: bounds.tickMs ?? 1000,
    callLimit: bounds.callLimit ?? 0,
    slowCalls: bounds.slowCalls ?? bounds.callLimit ?? 0,
    maxPending: bounds.maxPending ?? 1,
    appStalls: bounds.appStalls ?? false,
    reader,
    openTimeoutTicks: openTimeout(bounds),
    handshakeTimeoutTicks: handshakeTimeout(bounds)
  })
}

const sidesText = (s: Sides, none: string): string => (s.client && s.server ? "client, server" : s.client ? "client" : s.server ? "server" : none)

/** A tick count as time: `2 s`, `500 ms`. */
const ms = (ticks: number, b: ResolvedBounds): string => {
  const t = ticks * b.tickMs
  return t % 1000 === 0 ? `${t / 1000} s` : `${t} ms`
}

const setting = (interval: number, count: number, b: ResolvedBounds): string => (interval === 0 ? "stop" : `(${ms(interval, b)}, ${count})`)

const stallsText = (b: ResolvedBounds): string => {
  const parts = [
    b.callLimit > 0 ? `call limit ${b.callLimit} (${b.slowCalls} slow)` : "",
    b.appStalls ? "the client's application may stall" : "",
    b.openTimeoutTicks + b.handshakeTimeoutTicks > 0 ? `open timeout ${ms(b.openTimeoutTicks, b)}, handshake timeout ${ms(b.handshakeTimeoutTicks, b)}` : "",
    b.callLimit > 0 || b.appStalls ? `reader ${b.reader}, ${b.maxPending} may wait` : ""
  ].filter((p) => p !== "")
  return parts.length === 0 ? "no call limit, no stalling application, no open timeouts" : parts.join("; ")
}

/**
 * The resolved bounds in words, one line per topic: the design and policy, the settings and the tick, the network
 * and the horizon, and every environment choice, on or off. Printed at the top of every run.
 *
 * @since 0.1.0
 * @category rendering
 */
export const describe = (b: ResolvedBounds): ReadonlyArray<string> => [
  `design ${b.variant}, rules ${b.rules}${
    b.clockStep === 0 ? "" : `, wall clocks may step ${b.clockStep > 0 ? "+" : ""}${ms(b.clockStep, b)}`
  }, policy ${b.policy}, the client ${b.clientAdvertises ? "advertises" : "does not advertise"} keepalive`,
  `client I ${ms(b.intervalTicks, b)} C ${b.countClient}, server I ${ms(b.serverIntervalTicks, b)} C ${b.serverCount}; tick ${ms(1, b)}`,
  `delay ≤ ${ms(b.maxDelay, b)}, ≤ ${b.maxInFlight} frames in flight per direction; horizon ${ms(b.horizon, b)} (${b.horizon} ticks)`,
  `freeze: ${sidesText(b.allowFreeze, "none")}${
    b.allowFreeze.client || b.allowFreeze.server ? (b.allowThaw.client || b.allowThaw.server ? `, thaw: ${sidesText(b.allowThaw, "none")}` : ", for good") : ""
  }; setKeepAlive: ≤ ${b.maxSetKeepAliveCalls} calls among ${b.setKeepAliveChoices.map((c) => setting(c.interval, c.count, b)).join(", ") || "none"}${
    b.variant === "draft" ? `; AllowKeepAlive: ${b.allowKeepAlive ? "yes" : "no"}` : ""
  }`,
  `late ticks ${b.lateTicks}; ${b.bothOrders || b.lateTicks > 0 ? "both orders" : "deadlines first"} at an instant; Close: ${
    sidesText(b.closes, "none")
  }; application actions (calls, events, other feature queries): ${b.calls}`,
  stallsText(b)
]

/** How much later than (C+1)·I a side pinging with (I, C) may declare death (as in the properties). */
const lateBy = (interval: number, count: number, late: number): number => (late < interval ? late : (count + 1) * late)

/**
 * The latest freeze (in ticks) whose detection the horizon still contains: the horizon minus the longest
 * (C+1)·I + lateness of any setting in play, minus the delay of the last frame received. A freeze after it cannot
 * reach a death inside the bounds, so liveness is judged only for freezes up to it. `undefined` when no side may
 * freeze or no setting pings.
 *
 * @since 0.1.0
 * @category getters
 */
export const livenessCut = (b: ResolvedBounds): number | undefined => {
  if (!b.allowFreeze.client && !b.allowFreeze.server) return undefined
  const settings = [
    ...(b.allowFreeze.server ? b.setKeepAliveChoices : []),
    ...(b.allowFreeze.client ? [{ interval: b.serverIntervalTicks, count: b.serverCount }] : [])
  ].filter((c) => c.interval > 0)
  if (settings.length === 0) return undefined
  const longest = Math.max(...settings.map((c) => (c.count + 1) * c.interval + lateBy(c.interval, c.count, b.lateTicks)))
  return b.horizon - longest - b.maxDelay
}
