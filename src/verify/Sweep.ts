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
            configs.push({ label: `c ${intervalTicks}/${countClient} s ${serverIntervalTicks}/${serverCount} d ${maxDelay}`, bounds: options.wide === true ? Bounds.wide(bounds) : bounds })
          }
        }
      }
    }
  }
  return configs
}

/**
 * Checks every configuration.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  configs: ReadonlyArray<Config>,
  options: {
    readonly mutant?: Mutants.Mutant
    readonly properties?: ReadonlyArray<Properties.PropertyName>
    readonly maxStates?: number
    readonly onRow?: (row: Row, index: number) => void
  } = {}
): Result => {
  const rows: Array<Row> = []
  let shortest: Row | undefined
  for (const config of configs) {
    const verdict = Search.check(config.bounds, options)
    const row = { config, verdict }
    rows.push(row)
    options.onRow?.(row, rows.length - 1)
    const depth = verdict.violation?.depth
    if (depth !== undefined && (shortest === undefined || depth < (shortest.verdict.violation?.depth ?? Infinity))) shortest = row
  }
  return {
    rows,
    states: rows.reduce((n, r) => n + r.verdict.statesExplored, 0),
    seconds: rows.reduce((n, r) => n + r.verdict.seconds, 0),
    shortest
  }
}

const verdictText = (v: Search.Verdict): string =>
  v.invalid !== undefined ? `invalid: ${v.invalid.field}` : v.violation !== undefined ? `VIOLATED ${v.violation.property} (depth ${v.violation.depth})` : v.complete ? "holds" : "incomplete"

/**
 * The summary table: one line per configuration (states, transitions, seconds, verdict), then the totals.
 *
 * @since 0.1.0
 * @category rendering
 */
export const table = (result: Result): string => {
  const lines = [
    "| configuration | states | transitions | pruned | s | states/s | verdict |",
    "|---|---:|---:|---:|---:|---:|---|",
    ...result.rows.map(({ config, verdict: v }) =>
      `| ${config.label} | ${v.statesExplored} | ${v.transitions} | ${v.pruned} | ${v.seconds.toFixed(2)} | ${v.statesPerSecond} | ${verdictText(v)} |`)
  ]
  const failed = result.rows.filter((r) => !r.verdict.ok).length
  lines.push(`\n${result.rows.length} configurations, ${result.states} states in ${result.seconds.toFixed(1)} s (${Math.round(result.states / Math.max(result.seconds, 1e-9))} states/s); ${failed === 0 ? "every property holds in every configuration" : `${failed} configuration(s) violate a property`}`)
  return lines.join("\n")
}
