/**
 * What `keepalive verify` prints about a run besides its trace: the resolved bounds, what the search reached, which
 * properties held only vacuously, what the horizon cut short, the exit codes, and the stable JSON verdict.
 *
 * Contract:
 * - Pure functions from verdicts to strings or plain objects; nothing is printed here.
 * - Every run states its bounds ({@link header}) and its reach ({@link reachedLine}), so a verdict never claims
 *   more than was explored.
 * - {@link exitCodes}: 0 holds (or a `--reach` goal was found), 1 violated (or the goal is unreachable), 2 usage or
 *   invalid bounds, 3 the search did not complete and found nothing.
 * - {@link json} is the CI form: its keys and their meaning only ever grow (`schema` says which version).
 *
 * @since 0.1.0
 */
import * as Bounds from "../verify/Bounds.ts"
import * as Mutants from "../verify/Mutants.ts"
import type * as Properties from "../verify/Properties.ts"
import type * as Search from "../verify/Search.ts"
import * as Trace from "../trace/Trace.ts"

/**
 * The exit codes of `keepalive verify`.
 *
 * @since 0.1.0
 * @category constants
 */
export const exitCodes = { holds: 0, violated: 1, usage: 2, incomplete: 3 } as const

/**
 * The exit codes in words, for `--help` and the README.
 *
 * @since 0.1.0
 * @category constants
 */
export const exitCodesText =
  "exit codes: 0 every property holds (--reach: the event is reachable); 1 a property is violated (--reach: unreachable; --never: reached); 2 usage error or invalid bounds; 3 the search stopped before it was complete (--max-states, id overflow) and found nothing"

const seconds = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`)

/**
 * The header of every run: the bounds in words, the session (the real one or a mutant, described) and the
 * properties checked.
 *
 * @since 0.1.0
 * @category rendering
 */
export const header = (b: Bounds.ResolvedBounds, mutant: Mutants.Mutant, properties: ReadonlyArray<Properties.PropertyName> | undefined): string =>
  [
    "bounds:",
    ...Bounds.describe(b).map((l) => `  ${l}`),
    `session: ${mutant === "none" ? "the real one" : `mutant ${mutant}: ${Mutants.descriptions[mutant]}`}`,
    ...(properties === undefined ? [] : [`properties: ${properties.join(", ")}`])
  ].join("\n")

/**
 * What the search reached, counted in transitions.
 *
 * @since 0.1.0
 * @category rendering
 */
export const reachedLine = (r: Search.Reached): string =>
  `reached (transitions): ${r.opens} opens, ${r.refusals} refusals, ${r.clientPings} client PINGs, ${r.serverPings} server PINGs, ${r.deaths} deaths (${r.frozenDeaths} of a frozen peer, ${r.healthyDeaths} give-ups with no freeze), ${r.openTimeouts} open timeouts, ${r.reconfigurations} setKeepAlive starts, ${r.stops} stops, ${r.unsupported} unsupported, ${r.freezes} freezes, ${r.thaws} thaws, ${r.stoppedReading} reading stops`

/**
 * Warnings about what the bounds left out: the horizon cutting liveness short, transitions pruned at the in-flight
 * limit, a freeze that was never detected, and no application action (no feature query but KEEPALIVE).
 *
 * @since 0.1.0
 * @category rendering
 */
export const warnings = (b: Bounds.ResolvedBounds, reached: Search.Reached, pruned: number): ReadonlyArray<string> => {
  const out: Array<string> = []
  const cut = Bounds.livenessCut(b)
  if (cut !== undefined) {
    out.push(
      cut <= 0
        ? `warning: the horizon (${seconds(b.horizon * b.tickMs)}) is too short for any freeze to reach a death: liveness is never judged (raise --horizon)`
        : `warning: the horizon (${seconds(b.horizon * b.tickMs)}) cuts liveness short: a freeze after ${
          seconds(cut * b.tickMs)
        } cannot reach a death inside the bounds (raise --horizon to judge later ones)`
    )
  }
  if (reached.freezes > 0 && reached.frozenDeaths === 0 && reached.clientPings + reached.serverPings > 0)
    out.push("warning: no frozen peer was ever declared dead: detection was never exercised")
  if (pruned > 0)
    out.push(`warning: ${pruned} transitions pruned at ${b.maxInFlight} frames in flight: runs that need more were not explored (raise --max-in-flight)`)
  if (b.calls === 0) out.push("note: no application action (--calls 0): no call, no event and no feature query other than KEEPALIVE is ever made")
  return out
}

/**
 * The verdict of one check in words: holds (naming the vacuous properties), incomplete, or violated.
 *
 * @since 0.1.0
 * @category rendering
 */
export const verdictLine = (v: Search.Verdict): string => {
  if (v.violation !== undefined) return `VIOLATED: ${v.violation.property}: ${v.violation.description}`
  if (!v.complete)
    return `verdict: INCOMPLETE: no violation in the first ${v.statesExplored} states, but the search stopped (${
      v.exhausted ?? "--max-states"
    }): nothing is proved`
  const vacuous = v.vacuous.map((x) => `  vacuous: ${x.property}: ${x.why}`)
  const real = v.properties.length - v.vacuous.length
  return [
    `verdict: every property holds in every reachable state (${real} of ${v.properties.length} on cases they speak of${
      v.vacuous.length === 0 ? "" : `; ${v.vacuous.length} vacuously`
    })`,
    ...vacuous
  ].join("\n")
}

/**
 * The exit code of a check.
 *
 * @since 0.1.0
 * @category rendering
 */
export const exitCode = (v: Search.Verdict): number =>
  v.invalid !== undefined ? exitCodes.usage : v.violation !== undefined ? exitCodes.violated : v.complete ? exitCodes.holds : exitCodes.incomplete

/**
 * A trace as arrows with receipt times, optionally followed by each side's countdown.
 *
 * @since 0.1.0
 * @category rendering
 */
export const traceText = (trace: ReadonlyArray<Trace.TraceEvent>, countdown: boolean): string =>
  [Trace.arrows(trace, { receipts: true }), ...(countdown ? ["", Trace.timeline(trace, "client"), "", Trace.timeline(trace, "server")] : [])].join("\n")

/** One trace event as JSON: its time, kind, side and text. */
const eventJson = (e: Trace.TraceEvent): Record<string, unknown> => {
  const text = Trace.arrowLine(0, e, {})?.slice(10).replace(/^\s*0\.\s*/, "").trim()
  const side = e.kind === "transmit" ? e.from : e.kind === "note" ? undefined : e.side
  return { at: e.at, kind: e.kind, ...(side === undefined ? {} : { side }), ...(text === undefined ? {} : { text }) }
}

/**
 * The stable JSON verdict of a check (schema 1): the verdict word, exit code, bounds, search figures, what was
 * reached, vacuous properties, warnings and the counterexample as events.
 *
 * @since 0.1.0
 * @category rendering
 */
export const json = (v: Search.Verdict, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  schema: 1,
  verdict: v.invalid !== undefined ? "invalid" : v.violation !== undefined ? "violated" : v.complete ? "holds" : "incomplete",
  exitCode: exitCode(v),
  mutant: v.mutant,
  properties: v.properties,
  bounds: v.bounds,
  search: { complete: v.complete, states: v.statesExplored, transitions: v.transitions, pruned: v.pruned, depth: v.maxDepth, seconds: v.seconds },
  reached: v.reached,
  vacuous: v.vacuous,
  warnings: v.bounds === undefined ? [] : warnings(v.bounds, v.reached, v.pruned),
  ...(v.invalid === undefined ? {} : { invalid: v.invalid.message }),
  ...(v.violation === undefined
    ? {}
    : {
      violation: {
        property: v.violation.property,
        description: v.violation.description,
        at: v.violation.at,
        depth: v.violation.depth,
        trace: v.violation.trace.map(eventJson)
      }
    }),
  ...extra
})

/**
 * A detection span in words: `3 s to 7 s`, or `never` when no such death is reachable.
 *
 * @since 0.1.0
 * @category rendering
 */
export const spanText = (
  s: Search.Span | undefined
): string => (s === undefined ? "never" : s.min === s.max ? seconds(s.min) : `${seconds(s.min)} to ${seconds(s.max)}`)

/**
 * A tolerance in words: the largest round trip with no healthy death, and the first one that fails.
 *
 * @since 0.1.0
 * @category rendering
 */
export const toleranceText = (t: Search.Tolerance, tickMs: number): string => {
  if (t.delay === undefined) return t.complete ? `none: a healthy peer is declared dead even with no delay` : "undecided"
  const next = seconds(2 * (t.delay + 1) * tickMs)
  return t.capped ? `≥ ${seconds(t.rttMs!)} (no failure up to the cap)` : `${seconds(t.rttMs!)} (a round trip of ${next} can kill a healthy peer)`
}
