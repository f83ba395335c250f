/**
 * Sweeps: the model checker over a grid of bounds, with one summary table and the shortest counterexample
 * overall.
 *
 * Contract:
 * - {@link grid} lists configurations; {@link run} checks each one with {@link Search.check} and collects the
 *   rows; {@link table} renders them. Pure, apart from the timing the verdicts report.
 * - The exhaustive grid is every client and server setting with I ≤ 3 ticks and C ≤ 3, independently, and a
 *   delay ≤ 2 ticks (432 configurations), each exploring both orders of a delivery and a deadline due at the same
 *   instant (`bothOrders`, unless `base` says otherwise); `wide` applies {@link Bounds.wide} to each, `quick`
 *   keeps I = C = 2 on the server.
 * - {@link complete} is the sweep of every dimension of the model within small bounds: the design, the policy
 *   (answer-only servers included), an advertising client or not, application actions (calls, events, feature
 *   queries other than keepalive) or none, ticks on time or late, and a small grid of settings and delays, under
 *   one set of keepalive rules ({@link DIMENSIONS} lists them).
 * - {@link runParallel} checks the configurations on worker threads (rows in grid order, the same as {@link run});
 *   a row whose verdict is a violation is checked again on the calling thread for its trace.
 * - With `measure`, each row also carries its numbers ({@link Measures}): the span from a freeze to its detection
 *   and the largest round-trip time with no healthy death, both computed by {@link Search.detection} and
 *   {@link Search.tolerance}, and shown as columns by {@link table}.
 *
 * @since 0.1.0
 */
import * as Bounds from "./Bounds.ts"
import type * as Mutants from "./Mutants.ts"
import type * as Properties from "./Properties.ts"
import * as Search from "./Search.ts"

/**
 * One configuration of a sweep: a short label and its bounds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly label: string
  readonly bounds: Bounds.Bounds
}

/**
 * One checked configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface Row {
  readonly config: Config
  readonly verdict: Search.Verdict
  /** With `measure`: the numbers of this configuration. */
  readonly measures?: Measures
}

/**
 * The numbers of one configuration, computed by search: the span from a freeze to its detection (per frozen
 * side), the largest round-trip time with no healthy death, and whether a healthy peer dies at this delay.
 *
 * @since 0.1.0
 * @category models
 */
export interface Measures {
  readonly detection: Search.Detection
  readonly tolerance: Search.Tolerance
  /** `no-healthy-death` at this configuration's own delay. */
  readonly healthyDies: boolean
}

/**
 * The result of a sweep: every row, the totals, and the shortest counterexample over all rows.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly rows: ReadonlyArray<Row>
  readonly states: number
  readonly seconds: number
  readonly shortest: Row | undefined
}

/**
 * The grid of a sweep.
 *
 * @since 0.1.0
 * @category constructors
 */
export const grid = (options: { readonly wide?: boolean; readonly quick?: boolean; readonly base?: Bounds.Bounds } = {}): ReadonlyArray<Config> => {
  const configs: Array<Config> = []
  const values = [1, 2, 3]
  const counts = [0, 1, 2, 3]
  for (const maxDelay of [0, 1, 2]) {
    for (const intervalTicks of values) {
      for (const countClient of counts) {
        for (const serverIntervalTicks of options.quick === true ? [2] : values) {
          for (const serverCount of options.quick === true ? [2] : counts) {
            const bounds: Bounds.Bounds = { bothOrders: true, ...options.base, intervalTicks, countClient, serverIntervalTicks, serverCount, maxDelay }
            configs.push({
              label: `c ${intervalTicks}/${countClient} s ${serverIntervalTicks}/${serverCount} d ${maxDelay}`,
              bounds: options.wide === true ? Bounds.wide(bounds) : bounds
            })
          }
        }
      }
    }
  }
  return configs
}

/**
 * The dimensions of the complete sweep ({@link complete}) and their values. Settings are (interval ticks, count);
 * a server interval of 0 answers only.
 *
 * @since 0.1.0
 * @category constants
 */
export const DIMENSIONS = {
  variant: ["libvirt", "draft"],
  policy: ["disabled", "if-supported", "required"],
  clientAdvertises: [true, false],
  calls: [0, 1],
  lateTicks: [0, 1],
  client: [[1, 0], [1, 2], [2, 1]],
  server: [[0, 0], [1, 1], [2, 2]],
  maxDelay: [0, 1]
} as const

/**
 * The complete sweep: every combination of {@link DIMENSIONS} (864 configurations; `quick`: the first setting of
 * each side and delay 1, 48), both orders at an instant, on top of `base` (e.g. `{ rules: "libvirt" }`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const complete = (options: { readonly quick?: boolean; readonly base?: Bounds.Bounds } = {}): ReadonlyArray<Config> => {
  const d = DIMENSIONS
  const quick = options.quick === true
  const configs: Array<Config> = []
  for (const variant of d.variant)
    for (const policy of d.policy)
      for (const clientAdvertises of d.clientAdvertises) {
        for (const calls of d.calls)
          for (const lateTicks of d.lateTicks) {
            for (const [intervalTicks, countClient] of quick ? [d.client[1]] : d.client)
              for (
                const [serverIntervalTicks, serverCount] of quick
                  ? [d.server[2]]
                  : d.server
              ) {
                for (const maxDelay of quick ? [1] : d.maxDelay) {
                  const bounds: Bounds.Bounds = {
                    bothOrders: true,
                    ...options.base,
                    variant,
                    policy,
                    clientAdvertises,
                    calls,
                    lateTicks,
                    intervalTicks,
                    countClient,
                    serverIntervalTicks,
                    serverCount,
                    maxDelay
                  }
                  configs.push({
                    label: `${variant} ${policy}${clientAdvertises ? "" : " no-adv"}${calls > 0 ? " calls" : ""}${
                      lateTicks > 0 ? " late" : ""
                    } c ${intervalTicks}/${countClient} s ${serverIntervalTicks}/${serverCount} d ${maxDelay}`,
                    bounds
                  })
                }
              }
          }
      }
  return configs
}

/**
 * Options of {@link run} and {@link runParallel}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  readonly mutant?: Mutants.Mutant
  readonly properties?: ReadonlyArray<Properties.PropertyName>
  readonly maxStates?: number
  readonly onRow?: (row: Row, index: number) => void
  /** Also compute each configuration's {@link Measures}. Default false. */
  readonly measure?: boolean
}

/**
 * Checks one configuration (and its measures when asked): a row of {@link run}.
 *
 * @since 0.1.0
 * @category running
 */
export const checkRow = (config: Config, options: RunOptions, tolerances = new Map<string, Search.Tolerance>()): Row => {
  const verdict = Search.check(config.bounds, options)
  return options.measure === true ? { config, verdict, measures: measuresOf(config.bounds, tolerances, options) } : { config, verdict }
}

/**
 * The totals of some rows and the shortest counterexample among them.
 *
 * @since 0.1.0
 * @category running
 */
export const resultOf = (rows: ReadonlyArray<Row>): Result => {
  let shortest: Row | undefined
  for (const row of rows) {
    const depth = row.verdict.violation?.depth
    if (depth !== undefined && (shortest === undefined || depth < (shortest.verdict.violation?.depth ?? Infinity))) shortest = row
  }
  return {
    rows,
    states: rows.reduce((n, r) => n + r.verdict.statesExplored, 0),
    seconds: rows.reduce((n, r) => n + r.verdict.seconds, 0),
    shortest
  }
}

/**
 * Checks every configuration.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (configs: ReadonlyArray<Config>, options: RunOptions = {}): Result => {
  const rows: Array<Row> = []
  const tolerances = new Map<string, Search.Tolerance>()
  for (const config of configs) {
    const row = checkRow(config, options, tolerances)
    rows.push(row)
    options.onRow?.(row, rows.length - 1)
  }
  return resultOf(rows)
}

/** The measures of one configuration; tolerances are shared by the configurations that differ only in delay. */
const measuresOf = (
  bounds: Bounds.Bounds,
  cache: Map<string, Search.Tolerance>,
  options: { readonly mutant?: Mutants.Mutant; readonly maxStates?: number }
): Measures => {
  const { maxDelay, maxInFlight: _f, horizon: _h, ...rest } = bounds
  const key = JSON.stringify(rest)
  const delay = maxDelay ?? 1
  let tolerance = cache.get(key)
  if (tolerance === undefined || (tolerance.capped && tolerance.delay! < delay)) {
    tolerance = Search.tolerance(rest, { ...options, cap: Math.max(delay, 2) })
    cache.set(key, tolerance)
  }
  const healthyDies = tolerance.delay === undefined || delay > tolerance.delay
  return { detection: Search.detection(bounds, options), tolerance, healthyDies }
}

const seconds = (ms: number | undefined): string => (ms === undefined ? "—" : ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`)
const span = (s: Search.Span | undefined): string => (s === undefined ? "never" : `${seconds(s.min)}–${seconds(s.max)}`)

const measureCells = (m: Measures | undefined): string => {
  if (m === undefined) return ""
  const t = m.tolerance
  const rtt = t.delay === undefined ? "none" : `${t.capped ? "≥ " : ""}${seconds(t.rttMs)}`
  return ` ${m.healthyDies ? "DIES" : "lives"} | ${rtt} | ${span(m.detection.client)} | ${span(m.detection.server)} |`
}

const verdictText = (v: Search.Verdict): string =>
  v.invalid !== undefined
    ? `invalid: ${v.invalid.field}`
    : v.violation !== undefined
    ? `VIOLATED ${v.violation.property} (depth ${v.violation.depth})`
    : v.complete
    ? "holds"
    : "incomplete"

/**
 * The summary table: one line per configuration (states, transitions, seconds, verdict), then the totals.
 *
 * @since 0.1.0
 * @category rendering
 */
export const table = (result: Result): string => {
  const measured = result.rows.some((r) => r.measures !== undefined)
  const lines = [
    `| configuration | states | transitions | pruned | s | states/s | verdict |${
      measured ? " healthy peer | max RTT | C frozen → S detects | S frozen → C detects |" : ""
    }`,
    `|---|---:|---:|---:|---:|---:|---|${measured ? "---|---:|---:|---:|" : ""}`,
    ...result.rows.map(({ config, verdict: v, measures }) =>
      `| ${config.label} | ${v.statesExplored} | ${v.transitions} | ${v.pruned} | ${v.seconds.toFixed(2)} | ${v.statesPerSecond} | ${verdictText(v)} |${
        measureCells(measures)
      }`
    )
  ]
  lines.push(
    `\n${result.rows.length} configurations, ${result.states} states in ${result.seconds.toFixed(1)} s (${
      Math.round(result.states / Math.max(result.seconds, 1e-9))
    } states/s); ${summary(result)}`
  )
  if (measured) {
    const dies = result.rows.filter((r) => r.measures?.healthyDies === true).length
    lines.push(
      `no-healthy-death (a peer never frozen, partitioned or crashed is never declared dead): fails in ${dies} of ${result.rows.length} configurations, where the delay outlasts the settings (see max RTT)`
    )
  }
  return lines.join("\n")
}

const summary = (result: Result): string => {
  const failed = result.rows.filter((r) => r.verdict.violation !== undefined || r.verdict.invalid !== undefined).length
  const incomplete = result.rows.filter((r) => r.verdict.ok && !r.verdict.complete).length
  if (failed > 0) return `${failed} configuration(s) violate a property`
  return incomplete > 0 ? `${incomplete} configuration(s) INCOMPLETE: no violation found, nothing proved there` : "every property holds in every configuration"
}
