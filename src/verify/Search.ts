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
 * - Exact: states are compared word for word (no hash compaction), so `complete: true` means every reachable
 *   state within the bounds was visited.
 * - Memory: per state, its words, a parent index and a label, plus the table's buckets; `bytesPerState` reports
 *   the allocated total of the search and the model's memo tables divided by the states.
 *
 * @since 0.1.0
 */
import { Result } from "effect"
import type * as Trace from "../tools/Trace.ts"
import * as Bounds from "./Bounds.ts"
import { Model, Scratch, WIDTH, type Out } from "./Model.ts"
import type * as Mutants from "./Mutants.ts"
import * as Properties from "./Properties.ts"
import { Table } from "./Table.ts"

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
  | { readonly reachable: false; readonly complete: boolean; readonly statesExplored: number; readonly invalid?: Bounds.InvalidBounds }

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

const freshOut = (goal: Goal | undefined): Out => ({ violation: undefined, overflow: false, events: goal === undefined ? undefined : [] })

const reset = (out: Out): void => {
  out.violation = undefined
  out.overflow = false
  if (out.events !== undefined) out.events.length = 0
}

const hit = (out: Out, goal: Goal | undefined): boolean => goal !== undefined && out.events !== undefined && out.events.some(goal)

/** The search loop: states are numbered in discovery order, which is breadth-first order. */
const explore = (m: Model, options: Options, goal: Goal | undefined): Explored => {
  const started = performance.now()
  const out = freshOut(goal)
  const work = new Scratch()
  const key = new Int32Array(WIDTH)
  const visited = new Table(WIDTH, 1 << 12)
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
      if (!visited.added) continue
      tree.set(index, i, label)
      depth = level + 1
      if (options.onProgress !== undefined && visited.size % 100_000 === 0) options.onProgress(visited.size)
      if (visited.size >= maxStates) return finish(undefined, false)
    }
  }
  return finish(undefined, true)
}

/** Replays a path of labels from the initial state, recording every event. */
const replay = (m: Model, path: ReadonlyArray<number>): ReadonlyArray<Trace.TraceEvent> => {
  const events: Array<Trace.TraceEvent> = []
  const out: Out = { violation: undefined, overflow: false, events }
  const work = new Scratch()
  m.initial(work, out)
  for (const label of path) {
    if (!m.transition(work, label, out)) break
  }
  return events
}

const invalidVerdict = (mutant: Mutants.Mutant, invalid: Bounds.InvalidBounds): Verdict => ({
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

const verdictOf = (m: Model, r: Explored): Verdict => {
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
    bytesPerState: Math.round(r.bytes / Math.max(1, r.statesExplored)),
    ...(r.exhausted === undefined ? {} : { exhausted: r.exhausted })
  }
  const found = r.found
  if (found?.violation === undefined) return { ...base, ok: true }
  return { ...base, ok: false, violation: { ...found.violation, at: found.at, depth: found.path.length, trace: replay(m, found.path) } }
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
  const resolved = Bounds.resolveBounds(bounds)
  if (Result.isFailure(resolved)) return invalidVerdict(mutant, resolved.failure)
  const m = new Model(resolved.success, mutant, options.properties ?? Properties.properties)
  return verdictOf(m, explore(m, options, undefined))
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
  options: Pick<Options, "mutant" | "maxStates"> = {}
): Reachability => {
  const resolved = Bounds.resolveBounds(bounds)
  if (Result.isFailure(resolved)) return { reachable: false, complete: false, statesExplored: 0, invalid: resolved.failure }
  const m = new Model(resolved.success, options.mutant ?? "none", [])
  const r = explore(m, options, goal)
  if (r.found === undefined) return { reachable: false, complete: r.complete, statesExplored: r.statesExplored }
  return { reachable: true, depth: r.found.path.length, trace: replay(m, r.found.path), statesExplored: r.statesExplored }
}
