/**
 * Breadth-first exploration of the {@link Model.Model}: every state reachable within the bounds, each stored
 * once as {@link Model.WIDTH} words in an open-addressing table, with the shortest counterexample replayed as a
 * trace.
 *
 * Contract:
 * - {@link check} and {@link reach} are pure functions of their arguments (the only impure read is
 *   `performance.now()`, for the reported speed). They never throw: invalid bounds come back as a verdict.
 * - Breadth-first: the first violation found has the fewest transitions of any; its trace is the replay of that
 *   path, ready for `Trace.arrows` and `Mermaid.sequenceDiagram`.
 * - Exact by default: states are compared word for word, so `complete: true` means every reachable state within
 *   the bounds was visited. With `hashCompact`, the visited set keeps a 64-bit signature per state (SPIN's hash
 *   compaction): the verdict then reports `omission`, the probability that some state was left out.
 * - Memory: per state, its words, a parent index and a label, plus the table's buckets; `bytesPerState` reports
 *   the allocated total of the search and the model's memo tables divided by the states.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import type * as Trace from "../trace/Trace.ts"
import * as Bounds from "./Bounds.ts"
import { Coverage, Model, Scratch, WIDTH, type Out } from "./Model.ts"
import type * as Mutants from "./Mutants.ts"
import * as Properties from "./Properties.ts"
import { Compact, omission, States } from "./Table.ts"

/**
 * Options of {@link check} and {@link reach}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The session under test. Default `"none"` (the real one). */
  readonly mutant?: Mutants.Mutant
  /** The properties to check. Default: all of them. */
  readonly properties?: ReadonlyArray<Properties.PropertyName>
  /** Called every 100 000 states with the number of states found so far. */
  readonly onProgress?: (explored: number) => void
  /** Stop after this many states; the verdict then says `complete: false`. */
  readonly maxStates?: number
  /** Record each side's keepalive countdown in the counterexample (for `Trace.timeline`). Default false. */
  readonly countdown?: boolean
  /** A hash-compacted visited set (64-bit signatures) instead of the exact one. Default false. */
  readonly hashCompact?: boolean
}

/**
 * What the search reached (see {@link Model.Coverage}), as plain numbers.
 *
 * @since 0.1.0
 * @category models
 */
export type Reached = { readonly [K in keyof Coverage]: number }

/**
 * A property checked on no case it speaks of: its premise (a death, a PING, …) was never reached, so "holds" says
 * nothing about it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Vacuous {
  readonly property: Properties.PropertyName
  /** What was never reached, in words. */
  readonly why: string
}

/**
 * A property violation with the shortest run that shows it (ending with the transition that broke it).
 *
 * @since 0.1.0
 * @category models
 */
export interface Violation extends Properties.Violation {
  /** When it happened, in ms. */
  readonly at: number
  /** The number of transitions in the counterexample. */
  readonly depth: number
  readonly trace: ReadonlyArray<Trace.TraceEvent>
}

/**
 * The result of {@link check}.
 *
 * - `ok`: no violation, with valid bounds.
 * - `complete`: every reachable state within the bounds was explored.
 * - `pruned`: transitions cut because a channel would exceed `maxInFlight`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verdict {
  readonly ok: boolean
  readonly complete: boolean
  readonly mutant: Mutants.Mutant
  readonly bounds: Bounds.ResolvedBounds | undefined
  readonly statesExplored: number
  readonly transitions: number
  readonly pruned: number
  readonly maxDepth: number
  readonly seconds: number
  readonly statesPerSecond: number
  readonly bytesPerState: number
  readonly violation?: Violation
  readonly invalid?: Bounds.InvalidBounds
  /** Why the search stopped before the end though no violation was found and `maxStates` was not reached. */
  readonly exhausted?: string
  /** The properties checked. */
  readonly properties: ReadonlyArray<Properties.PropertyName>
  /** What the transitions explored reached. */
  readonly reached: Reached
  /** With `hashCompact`: the probability that some reachable state was omitted. */
  readonly omission?: number
  /** The properties checked whose premise was never reached. */
  readonly vacuous: ReadonlyArray<Vacuous>
}

/**
 * The result of {@link reach}: a shortest run to the goal, or the number of states in which it was not found.
 * `complete` says whether those were all the states within the bounds (a proof of unreachability).
 *
 * @since 0.1.0
 * @category models
 */
export type Reachability =
  | { readonly reachable: true; readonly depth: number; readonly trace: ReadonlyArray<Trace.TraceEvent>; readonly statesExplored: number } & Searched
  | { readonly reachable: false; readonly complete: boolean; readonly statesExplored: number; readonly invalid?: Bounds.InvalidBounds } & Partial<Searched>

/**
 * What a reachability search explored besides its answer: the resolved bounds, pruned transitions and coverage.
 *
 * @since 0.1.0
 * @category models
 */
export interface Searched {
  readonly bounds: Bounds.ResolvedBounds
  readonly transitions: number
  readonly pruned: number
  readonly seconds: number
  readonly reached: Reached
}

/**
 * The earliest and latest detection of a freeze: ticks (and ms) from one side's freeze to its peer declaring it
 * dead, over every reachable run in which only that side may freeze; `undefined` when no such death is reachable.
 *
 * @since 0.1.0
 * @category models
 */
export interface Span {
  readonly min: number
  readonly max: number
}

/**
 * The result of {@link detection}: per frozen side, the span of its detection by the other, in ms.
 *
 * @since 0.1.0
 * @category models
 */
export interface Detection {
  /** The client froze; the server detected it. */
  readonly client: Span | undefined
  /** The server froze; the client detected it. */
  readonly server: Span | undefined
  readonly complete: boolean
  readonly statesExplored: number
  readonly invalid?: Bounds.InvalidBounds
}

interface Found {
  readonly path: ReadonlyArray<number>
  readonly at: number
  readonly violation: Properties.Violation | undefined
}

interface Explored {
  readonly found: Found | undefined
  readonly complete: boolean
  readonly exhausted?: string
  readonly statesExplored: number
  readonly transitions: number
  readonly pruned: number
  readonly maxDepth: number
  readonly seconds: number
  readonly bytes: number
}

type Goal = (event: Trace.TraceEvent) => boolean

/** Parents and labels of the discovered states, growing by doubling. */
class Tree {
  parents = new Int32Array(1024)
  labels = new Uint8Array(1024)

  set(index: number, parent: number, label: number): void {
    if (index >= this.parents.length) {
      const parents = new Int32Array(this.parents.length * 2)
      parents.set(this.parents)
      this.parents = parents
      const labels = new Uint8Array(this.labels.length * 2)
      labels.set(this.labels)
      this.labels = labels
    }
    this.parents[index] = parent
    this.labels[index] = label
  }

  path(index: number, last: number): Array<number> {
    const path = [last]
    for (let at = index; at > 0; at = this.parents[at]!) path.push(this.labels[at]!)
    return path.reverse()
  }

  bytes(): number {
    return this.parents.byteLength + this.labels.byteLength
  }
}

const freshOut = (goal: Goal | undefined): Out => ({
  violation: undefined,
  overflow: false,
  events: goal === undefined ? undefined : [],
  detected: -1,
  detectedBy: 0
})

const reset = (out: Out): void => {
  out.violation = undefined
  out.overflow = false
  out.detected = -1
  if (out.events !== undefined) out.events.length = 0
}

const hit = (out: Out, goal: Goal | undefined): boolean => goal !== undefined && out.events !== undefined && out.events.some(goal)

/** Earliest and latest detection seen, per detecting side (ticks), filled by {@link explore}. */
class Spans {
  readonly min = [Infinity, Infinity]
  readonly max = [-1, -1]

  add(side: number, ticks: number): void {
    if (ticks < this.min[side]!) this.min[side] = ticks
    if (ticks > this.max[side]!) this.max[side] = ticks
  }

  span(side: number, tickMs: number): Span | undefined {
    return this.max[side]! < 0 ? undefined : { min: this.min[side]! * tickMs, max: this.max[side]! * tickMs }
  }
}

/** The search loop: states are numbered in discovery order, which is breadth-first order. */
const explore = (m: Model, options: Options, goal: Goal | undefined, spans?: Spans): Explored => {
  const started = performance.now()
  const out = freshOut(goal)
  const work = new Scratch()
  const key = new Int32Array(WIDTH)
  const visited = options.hashCompact === true ? new Compact(WIDTH, 1 << 12) : new States(1 << 12)
  const active = m.active
  const tree = new Tree()
  m.initial(work, out)
  m.store(work, key)
  visited.intern(key)
  tree.set(0, -1, 0)
  let transitions = 0
  let pruned = 0
  let depth = 0
  let level = 0
  let levelEnd = 1
  const maxStates = options.maxStates ?? Number.POSITIVE_INFINITY
  const finish = (found: Found | undefined, complete: boolean, exhausted?: string): Explored => ({
    found,
    complete,
    ...(exhausted === undefined ? {} : { exhausted }),
    statesExplored: visited.size,
    transitions,
    pruned,
    maxDepth: depth,
    seconds: (performance.now() - started) / 1000,
    bytes: visited.bytes() + tree.bytes() + m.bytes()
  })
  if (hit(out, goal)) return finish({ path: [], at: 0, violation: undefined }, false)
  for (let i = 0; i < visited.size; i++) {
    if (i === levelEnd) {
      level++
      levelEnd = visited.size
    }
    m.load(work, visited.keys, i * WIDTH)
    for (let a = 0; a < active.length; a++) {
      const label = active[a]!
      reset(out)
      // a disabled choice leaves the scratch as it was; an enabled one changes it, so reload afterwards
      if (!m.transition(work, label, out)) continue
      transitions++
      const offset = i * WIDTH
      if (out.detected >= 0) spans?.add(out.detectedBy, out.detected)
      if (out.violation !== undefined || hit(out, goal)) {
        return finish({ path: tree.path(i, label), at: m.ms(work), violation: out.violation }, false)
      }
      if (!out.overflow) m.store(work, key)
      m.load(work, visited.keys, offset)
      if (out.overflow) {
        pruned++
        continue
      }
      if (m.overflowed()) return finish(undefined, false, "more than 65 536 distinct sessions or channels: the bounds are too large for 16-bit ids")
      const index = visited.intern(key)
      if (index < 0) continue
      tree.set(index, i, label)
      depth = level + 1
      if (options.onProgress !== undefined && visited.size % 100_000 === 0) options.onProgress(visited.size)
      if (visited.size >= maxStates) return finish(undefined, false)
    }
  }
  return finish(undefined, true)
}

/** Replays a path of labels from the initial state, recording every event. */
const replay = (m: Model, path: ReadonlyArray<number>, countdown = true): ReadonlyArray<Trace.TraceEvent> => {
  const events: Array<Trace.TraceEvent> = []
  const out: Out = { violation: undefined, overflow: false, events, countdown, detected: -1, detectedBy: 0 }
  const work = new Scratch()
  m.initial(work, out)
  for (const label of path) {
    if (!m.transition(work, label, out)) break
  }
  return events
}

const invalidVerdict = (mutant: Mutants.Mutant, invalid: Bounds.InvalidBounds, properties: ReadonlyArray<Properties.PropertyName>): Verdict => ({
  properties,
  reached: reachedOf(new Coverage()),
  vacuous: [],
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
  bytesPerState: 0,
  invalid
})

/** A copy of a model's counters. */
const reachedOf = (c: Coverage): Reached => ({ ...c })

const PREMISES: ReadonlyArray<readonly [Properties.PropertyName, (r: Reached, b: Bounds.ResolvedBounds) => string | undefined]> = [
  ["no-early-death", (r) => (r.deaths === 0 ? "no side ever declared its peer dead" : undefined)],
  [
    "bounded-liveness",
    (r, b) => (r.clientPings + r.serverPings === 0 && b.openTimeoutTicks + b.handshakeTimeoutTicks === 0 ? "no side ever pinged" : undefined)
  ],
  ["ping-answered", (r) => (r.pingsDelivered === 0 ? "no PING was ever delivered" : undefined)],
  ["ping-after-advertisement", (r) => (r.serverPings === 0 ? "the server never sent a PING" : undefined)],
  ["required-exact", (r) => (r.opens + r.refusals === 0 ? "the server never answered CONNECT_OPEN" : undefined)],
  ["no-ping-after-unsupported", (r) => (r.unsupported === 0 ? "setKeepAlive was never answered \"unsupported\"" : undefined)],
  ["death-at-most-once", (r) => (r.deaths === 0 ? "no side ever declared its peer dead" : undefined)],
  ["ping-grid", (r) => (r.clientPings + r.serverPings === 0 ? "no side ever sent a PING" : undefined)],
  ["advertise-as-configured", (_, b) => (b.clientAdvertises ? "the client is configured to advertise (--no-advertise asks it)" : undefined)],
  ["no-false-death", (r) => (r.healthyDeaths === 0 ? "no side ever gave up on a peer that was never frozen" : undefined)],
  [
    "no-healthy-death",
    (r, b) => (r.clientPings + r.serverPings === 0 && b.openTimeoutTicks + b.handshakeTimeoutTicks === 0 ? "no side ever pinged" : undefined)
  ]
]

/**
 * The properties among `checked` whose premise the search never reached (a property with no death to judge, no
 * PING, no open…): a "holds" for them is vacuous.
 *
 * @since 0.1.0
 * @category checking
 */
export const vacuity = (reached: Reached, bounds: Bounds.ResolvedBounds, checked: ReadonlyArray<Properties.PropertyName>): ReadonlyArray<Vacuous> =>
  PREMISES.flatMap(([property, premise]) => {
    const why = checked.includes(property) ? premise(reached, bounds) : undefined
    return why === undefined ? [] : [{ property, why }]
  })

const verdictOf = (m: Model, r: Explored, properties: ReadonlyArray<Properties.PropertyName>, options: Options): Verdict => {
  const countdown = options.countdown === true
  const reached = reachedOf(m.coverage)
  const base = {
    mutant: m.mutant,
    bounds: m.b,
    complete: r.complete,
    statesExplored: r.statesExplored,
    transitions: r.transitions,
    pruned: r.pruned,
    maxDepth: r.maxDepth,
    seconds: r.seconds,
    statesPerSecond: r.seconds > 0 ? Math.round(r.statesExplored / r.seconds) : r.statesExplored,
    ...(options.hashCompact === true ? { omission: omission(r.statesExplored) } : {}),
    bytesPerState: Math.round(r.bytes / Math.max(1, r.statesExplored)),
    properties,
    reached,
    vacuous: r.found === undefined ? vacuity(reached, m.b, properties) : [],
    ...(r.exhausted === undefined ? {} : { exhausted: r.exhausted })
  }
  const found = r.found
  if (found?.violation === undefined) return { ...base, ok: true }
  return { ...base, ok: false, violation: { ...found.violation, at: found.at, depth: found.path.length, trace: replay(m, found.path, countdown) } }
}

/**
 * Explores every state within the bounds, checking no property (so the states carry no ghosts), and returns the
 * model with its memoised session table ({@link Model.steps}) and the counts: what another checker given the same
 * transition system must reproduce.
 *
 * @since 0.2.0
 * @category checking
 */
export const tabulate = (
  bounds: Bounds.Bounds = {}
): { readonly model: Model; readonly states: number; readonly pruned: number; readonly complete: boolean } | Bounds.InvalidBounds => {
  const resolved = Bounds.resolveBounds(bounds)
  if (Result.isFailure(resolved)) return resolved.failure
  const model = new Model(resolved.success, "none", [])
  const r = explore(model, {}, undefined)
  return { model, states: r.statesExplored, pruned: r.pruned, complete: r.complete }
}

/**
 * Explores every interleaving within the bounds and checks the properties. Stops at the first violation,
 * which is one with the fewest transitions.
 *
 * **Example**
 * ```ts
 * const verdict = Search.check({ intervalTicks: 1, countClient: 2, maxDelay: 0 }, { mutant: "send-resets" })
 * verdict.violation?.property                        // "bounded-liveness"
 * Trace.arrows(verdict.violation?.trace ?? [])      // the shortest counterexample
 * ```
 *
 * @since 0.1.0
 * @category checking
 */
export const check = (bounds: Bounds.Bounds = {}, options: Options = {}): Verdict => {
  const mutant = options.mutant ?? "none"
  const properties = options.properties ?? Properties.properties
  const resolved = Bounds.resolveBounds(bounds)
  if (Result.isFailure(resolved)) return invalidVerdict(mutant, resolved.failure, properties)
  const m = new Model(resolved.success, mutant, properties)
  return verdictOf(m, explore(m, options, undefined), properties, options)
}

/**
 * Searches for a run in which some trace event satisfies `goal` (a server PING, a server `Opened`, …); no
 * property is checked. The run found has the fewest transitions.
 *
 * @since 0.1.0
 * @category checking
 */
export const reach = (
  bounds: Bounds.Bounds,
  goal: Goal,
  options: Pick<Options, "mutant" | "maxStates" | "countdown"> = {}
): Reachability => {
  const resolved = Bounds.resolveBounds(bounds)
  if (Result.isFailure(resolved)) return { reachable: false, complete: false, statesExplored: 0, invalid: resolved.failure }
  const m = new Model(resolved.success, options.mutant ?? "none", [])
  const r = explore(m, options, goal)
  const searched: Searched = { bounds: m.b, transitions: r.transitions, pruned: r.pruned, seconds: r.seconds, reached: reachedOf(m.coverage) }
  if (r.found === undefined) return { reachable: false, complete: r.complete, statesExplored: r.statesExplored, ...searched }
  return {
    reachable: true,
    depth: r.found.path.length,
    trace: replay(m, r.found.path, options.countdown === true),
    statesExplored: r.statesExplored,
    ...searched
  }
}

/** One side freezable, no property checked: the measuring run of {@link detection}. */
const detectionOf = (
  bounds: Bounds.Bounds,
  side: "client" | "server",
  options: Pick<Options, "mutant" | "maxStates">
): { span: Span | undefined; complete: boolean; states: number; invalid?: Bounds.InvalidBounds } => {
  const resolved = Bounds.resolveBounds({ ...bounds, allowFreeze: { client: side === "client", server: side === "server" } })
  if (Result.isFailure(resolved)) return { span: undefined, complete: false, states: 0, invalid: resolved.failure }
  const m = new Model(resolved.success, options.mutant ?? "none", [], true)
  const spans = new Spans()
  const r = explore(m, options, undefined, spans)
  return { span: spans.span(side === "client" ? 1 : 0, m.b.tickMs), complete: r.complete, states: r.statesExplored }
}

/**
 * The earliest and latest time from a freeze to its detection, computed by exhaustive search: for each side, every
 * reachable run in which only that side may freeze (and stays frozen unless the bounds allow a thaw), the time
 * from its freeze to its peer declaring it dead. Spans are in ms; `complete` says both searches finished.
 *
 * @since 0.1.0
 * @category measuring
 */
export const detection = (bounds: Bounds.Bounds = {}, options: Pick<Options, "mutant" | "maxStates"> = {}): Detection => {
  const client = detectionOf(bounds, "client", options)
  const server = detectionOf(bounds, "server", options)
  const invalid = client.invalid ?? server.invalid
  return {
    client: client.span,
    server: server.span,
    complete: client.complete && server.complete,
    statesExplored: client.states + server.states,
    ...(invalid === undefined ? {} : { invalid })
  }
}

/**
 * The result of {@link tolerance}: the largest one-way delay (ticks) at which no healthy peer is declared dead, the
 * round-trip time that allows (ms), and the first failing delay's counterexample.
 *
 * - `delay`: the largest maxDelay that holds, `undefined` when even a delay of 0 fails.
 * - `capped`: every delay up to the cap held (the tolerance is at least `delay`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Tolerance {
  readonly delay: number | undefined
  readonly rttMs: number | undefined
  readonly capped: boolean
  readonly complete: boolean
  readonly statesExplored: number
  readonly failure?: Verdict
}

/**
 * The largest round-trip time under which no healthy peer is declared dead, computed by search: `no-healthy-death`
 * is checked with no freeze at delays 0, 1, 2, … ticks (a delay of d each way allows a round trip of 2·d) until it
 * fails or `cap` (default: the longest (C+1)·I of the settings) is passed. More delay only adds runs, so the first
 * failure bounds it.
 *
 * @since 0.1.0
 * @category measuring
 */
export const tolerance = (bounds: Bounds.Bounds = {}, options: Pick<Options, "mutant" | "maxStates"> & { readonly cap?: number } = {}): Tolerance => {
  const cap = options.cap ?? defaultCap(bounds)
  let states = 0
  for (let d = 0; d <= cap; d++) {
    const v = check({ ...bounds, maxDelay: d, allowFreeze: { client: false, server: false } }, { ...options, properties: ["no-healthy-death"] })
    states += v.statesExplored
    const rtt = (delay: number) => 2 * delay * (v.bounds?.tickMs ?? 1000)
    if (!v.ok || !v.complete) {
      const delay = d === 0 ? undefined : d - 1
      return {
        delay,
        rttMs: delay === undefined ? undefined : rtt(delay),
        capped: false,
        complete: v.complete || v.violation !== undefined,
        statesExplored: states,
        ...(v.ok ? {} : { failure: v })
      }
    }
    if (d === cap) return { delay: d, rttMs: rtt(d), capped: true, complete: true, statesExplored: states }
  }
  return { delay: undefined, rttMs: undefined, capped: true, complete: true, statesExplored: states }
}

const defaultCap = (bounds: Bounds.Bounds): number => {
  const settings = [
    [bounds.intervalTicks ?? 2, bounds.countClient ?? 2],
    [bounds.serverIntervalTicks ?? 2, bounds.serverCount ?? 2],
    ...(bounds.setKeepAliveChoices ?? []).map((c) => [c.interval, c.count])
  ]
  return Math.max(1, ...settings.map(([i, c]) => (c! + 1) * i!))
}
