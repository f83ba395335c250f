/**
 * The `keepalive verify` subcommand: the model checker from the command line.
 *
 * Contract:
 * - Every run first prints its resolved bounds (design, settings, tick, delay, in-flight limit, horizon, every
 *   environment choice), the session (real or a described mutant), then the search's figures, what it reached
 *   (opens, refusals, PINGs, deaths, reconfigurations, …) and warnings (the horizon cutting liveness short,
 *   pruned transitions, no application action).
 * - One run (default): the verdict names the properties that held only vacuously; a violation prints the shortest
 *   counterexample as arrows (with receipt times; `--countdown` adds each side's countdown) and as Mermaid.
 * - Exit codes: 0 holds, 1 violated, 2 usage or invalid bounds, 3 incomplete (no violation, search stopped).
 * - `--reach EVENT` / `--never EVENT`: the user's own questions over trace events (see `Events`).
 * - `--property`: which properties; `all` adds the design property `no-healthy-death`.
 * - `--measure` (default in `--sweep --grid settings`): freeze-to-detection spans and the largest round-trip time with no healthy
 *   death, by search.
 * - `--format text|arrows|mermaid|json`: under mermaid and json, stdout carries only the result, the summary goes
 *   to stderr.
 * - `--sweep`: the complete sweep, every dimension of the model (design, policy with answer-only servers, an
 *   advertising client or not, application actions, late ticks, settings and delays: `Sweep.DIMENSIONS`, 864
 *   configurations, `--quick` 48) under the rules of `--rules`, on `--workers` threads; `--grid settings` is the
 *   grid of I ≤ 3 ticks, C ≤ 3 on each side and delay ≤ 2 (432; `--quick` keeps the server at 2/2: 36). One
 *   summary table, the shortest counterexample overall;
 *   exit 1 if any configuration fails.
 * - `--questions`: the design questions of the emails under these bounds (variant, policy, settings), answered
 *   from the runs, each drawn as the emails' arrows.
 * - Stalls (`--call-limit`, `--slow-calls`, `--app-stalls`, `--silent-open`, `--reader`, `--max-pending`) add the
 *   environment's slow handlers, stalling application and silence before open; all off by default.
 * - Times are durations (`2s`, `500ms`) or plain numbers of ticks (`--tick`, default 1s). Invalid bounds exit
 *   with 2.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Commands from "./Commands.ts"
import * as Events from "../verify/Events.ts"
import * as ModelChecker from "../verify/ModelChecker.ts"
import * as Workers from "../verify/Workers.ts"
import * as Flags from "./Flags.ts"
import * as Mermaid from "./Mermaid.ts"
import type * as Trace from "../trace/Trace.ts"
import * as Report from "./VerifyReport.ts"

const flags = {
  ...Flags.settings({ serverInterval: "2", clientInterval: "2", unit: "ticks" }),
  interval: Flag.String("interval").pipe(Flag.withDescription("the same as --client-interval (kept for old scripts)"), Flag.optional),
  clientCount: Flags.whole("client-count", 2, "the client's setKeepAlive count"),
  count: Flag.Int("count").pipe(Flag.withDescription("the same as --client-count (kept for old scripts)"), Flag.optional),
  delay: Flags.time("delay", "1", "a frame is delivered at most this long after it is sent, a duration or a number of ticks"),
  tick: Flags.time("tick", "1s", "one tick of the model's clock (a finer grid: ticks of I/n)"),
  late: Flags.whole("late", 0, "a due deadline may fire up to this many ticks late (our own stall)"),
  bothOrders: Flags.toggle("both-orders", false, "explore both orders of a delivery and a deadline due at the same instant (always on in --sweep)"),
  thaw: Flags.toggle("thaw", false, "a frozen side may thaw (once)"),
  closes: Flags.toggle("closes", false, "either application may close the connection"),
  calls: Flags.whole("calls", 0, "application actions at most: client Calls, server event messages, feature queries other than KEEPALIVE"),
  setCalls: Flags.whole("set-calls", 2, "setKeepAlive calls at most (among the client's settings, (1, C+1) with --wide, and stop)"),
  wide: Flags.toggle("wide", false, "the wider model: reconfiguration, late ticks, both orders, Close and a Call (see ModelChecker.wide)"),
  ...Flags.stalls(),
  reader: Flags.choice(
    "reader",
    ["ours", "libvirtd"],
    "ours",
    "how reading stops at the limits: ours (read every frame at once; pause keepalive at the pending bound) or libvirtd's (stop reading at the call limit)"
  ),
  maxPending: Flags.whole("max-pending", 1, "calls (frames) that may wait for a handler (the application) before reading stops", 1),
  mutant: Flags.choice(
    "mutant",
    ["none", ...ModelChecker.mutants],
    "none",
    `check a deliberately broken session or runtime rule instead of the real one: ${
      ModelChecker.mutants.map((m) => `${m} (${ModelChecker.Mutants.descriptions[m]})`).join("; ")
    }. The README's catalogue of one-line source mutants (K01…, S01…, G01…, R01…) runs against the checker, the swarm and the tests with: npm run mutate -- --only ID`
  ),
  maxStates: Flags.whole("max-states", 5_000_000, "stop after this many states (a search stopped short exits with 3)", 1),
  horizon: Flag.String("horizon").pipe(
    Flag.withDescription("no tick goes past this time, a duration or ticks (default: 6·delay + the longest (C+1)·(I+late) + 2 ticks; printed in the header)"),
    Flag.optional
  ),
  maxInFlight: Flag.Int("max-in-flight").pipe(
    Flag.withDescription("frames in flight per direction at most; more is pruned and counted (default: 2·(delay+1) + 2, +2 with --wide)"),
    Flag.optional
  ),
  freeze: Flags.choice("freeze", ["both", "client", "server", "none"], "both", "which sides may freeze (once)"),
  property: Flag.String("property").pipe(
    Flag.withDescription(
      `check only these properties, comma-separated, or "all" (the default ones and the design property no-healthy-death); default: ${
        ModelChecker.properties.join(", ")
      }`
    ),
    Flag.optional
  ),
  reach: Flag.String("reach").pipe(
    Flag.withDescription(`is this event reachable? Prints the shortest run to it (exit 0) or proves it unreachable (exit 1). Events: ${Events.vocabulary()}`),
    Flag.optional
  ),
  never: Flag.String("never").pipe(
    Flag.withDescription("a never-claim: the event must not happen (exit 0 proved, 1 with the shortest run that does it); events as for --reach"),
    Flag.optional
  ),
  measure: Flag.Boolean("measure").pipe(
    Flag.withDescription(
      "compute the numbers: the earliest and latest time from a freeze to its detection, and the largest round-trip time under which no healthy peer is declared dead (default: on with --sweep, off otherwise; --no-measure drops them)"
    ),
    Flag.optional
  ),
  format: Flags.choice(
    "format",
    ["text", "arrows", "mermaid", "json"],
    "text",
    "text: header, verdict, arrows and Mermaid; arrows: no Mermaid; mermaid: only the diagram on stdout, everything else on stderr; json: one stable JSON verdict"
  ),
  countdown: Flags.toggle("countdown", false, "draw each side's keepalive countdown under a trace, step by step"),
  sweep: Flags.toggle("sweep", false, "check a grid of configurations and print one summary table (see --grid)"),
  grid: Flags.choice(
    "grid",
    ["complete", "settings"],
    "complete",
    "with --sweep: complete (every dimension of the model: design, policy, advertising, actions, late ticks, settings, delay; 864) or settings (I ≤ 3, C ≤ 3 on each side, delay ≤ 2; 432)"
  ),
  workers: Flags.whole("workers", Workers.defaultWorkers(), "with --sweep: worker threads (1: on this thread)"),
  rules: Flags.rules(),
  hashCompact: Flags.toggle(
    "hash-compact",
    false,
    "a hash-compacted visited set (64-bit signatures, as SPIN's -DHC): less memory; the verdict prints the probability that a state was omitted"
  ),
  clockStep: Flag.Int("clock-step").pipe(
    Flag.withDescription("each side's wall clock may step once by this many ticks, negative backward (read by libvirt's rules; default 0)"),
    Flag.withDefault(0)
  ),
  quick: Flags.toggle("quick", false, "with --sweep: complete: one setting per side, delay 1 (48); settings: the server at I = C = 2 (36)"),
  questions: Flags.toggle("questions", false, "answer the design questions of the 2011 emails under these bounds, with evidence")
}

type Options = { readonly [K in keyof typeof flags]: (typeof flags)[K] extends Flag.Flag<infer A> ? A : never }

/** The bounds the flags describe, or a message naming the flag that does not fit. */
const boundsOf = (o: Options): ModelChecker.Bounds | string => {
  const tickMs = Flags.toMs(o.tick, 1000)
  const ticks = (t: Flags.Time, name: string) => Flags.toTicks(t, tickMs, name)
  const clientInterval = ticks(o.interval._tag === "Some" ? Flags.parseTime(o.interval.value) : o.clientInterval, "client-interval")
  const serverInterval = ticks(o.serverInterval, "server-interval")
  const delay = ticks(o.delay, "delay")
  for (const v of [clientInterval, serverInterval, delay]) if (typeof v === "string") return v
  const countClient = o.count._tag === "Some" ? o.count.value : o.clientCount
  const horizon = o.horizon._tag === "Some" ? ticks(Flags.parseTime(o.horizon.value), "horizon") : undefined
  if (typeof horizon === "string") return horizon
  const base: ModelChecker.Bounds = {
    intervalTicks: clientInterval as number,
    countClient,
    serverIntervalTicks: serverInterval as number,
    serverCount: o.serverCount,
    maxDelay: delay as number,
    policy: o.policy,
    variant: o.variant,
    rules: o.rules,
    ...(o.clockStep === 0 ? {} : { clockStep: o.clockStep }),
    clientAdvertises: o.advertise,
    tickMs,
    maxSetKeepAliveCalls: o.setCalls,
    ...(o.late > 0 ? { lateTicks: o.late } : {}),
    ...(o.bothOrders ? { bothOrders: true } : {}),
    ...(o.thaw ? { allowThaw: { client: true, server: true } } : {}),
    ...(o.closes ? { closes: { client: true, server: true } } : {}),
    ...(o.calls > 0 ? { calls: o.calls } : {}),
    ...(horizon === undefined ? {} : { horizon }),
    ...(o.maxInFlight._tag === "Some" ? { maxInFlight: o.maxInFlight.value } : {}),
    ...(o.freeze === "both" ? {} : { allowFreeze: { client: o.freeze === "client", server: o.freeze === "server" } }),
    ...stallBounds(o)
  }
  return o.wide ? ModelChecker.wide(base) : base
}

/** The properties `--property` names, or a message naming the one it does not know. */
const propertiesOf = (o: Options): ReadonlyArray<ModelChecker.PropertyName> | string => {
  if (o.property._tag === "None") return ModelChecker.properties
  const names = o.property.value.split(",").map((p) => p.trim()).filter((p) => p !== "")
  if (names.length === 1 && names[0] === "all") return ModelChecker.Properties.allProperties
  const unknown = names.find((p) => !(ModelChecker.Properties.allProperties as ReadonlyArray<string>).includes(p))
  return unknown === undefined
    ? names as ReadonlyArray<ModelChecker.PropertyName>
    : `--property: unknown property "${unknown}": expected "all" or some of ${ModelChecker.Properties.allProperties.join(", ")}`
}

/**
 * The stall bounds the flags ask for; a call limit or slow calls give the client at least that many calls, a
 * stalling application at least one (something to deliver to it).
 */
const stallBounds = (o: Options): ModelChecker.Bounds => {
  const slow = o.slowCalls > 0 ? o.slowCalls : o.callLimit
  const needed = Math.max(o.calls, slow, o.appStalls ? 1 : 0)
  return {
    ...(o.callLimit > 0 ? { callLimit: o.callLimit } : {}),
    ...(slow > 0 ? { slowCalls: slow } : {}),
    ...(needed > o.calls ? { calls: needed } : {}),
    ...(o.appStalls ? { appStalls: true } : {}),
    ...(o.silentOpen ? { silentOpen: true } : {}),
    ...(o.reader === "libvirtd" ? { reader: "libvirtd" as const } : {}),
    ...(o.maxPending !== 1 ? { maxPending: o.maxPending } : {})
  }
}

/** Where the summary goes: stdout, except under `--format mermaid|json`, where stdout carries only the result. */
const say = (o: Options) => (text: string): void => {
  if (o.format === "text" || o.format === "arrows") console.log(text)
  else console.error(text)
}

const printTrace = (o: Options, title: string, trace: ReadonlyArray<Trace.TraceEvent>): void => {
  if (o.format === "mermaid") console.log(Mermaid.sequenceDiagram(trace))
  if (o.format !== "text" && o.format !== "arrows") return
  console.log(`${title}\n${Report.traceText(trace, o.countdown)}`)
  if (o.format === "text") console.log(`\n${Mermaid.sequenceDiagram(trace)}`)
}

const figures = (v: { readonly statesExplored: number; readonly transitions: number; readonly seconds: number }, depth?: number, extra = ""): string =>
  `${v.statesExplored} states, ${v.transitions} transitions${depth === undefined ? "" : `, depth ${depth}`}, ${v.seconds.toFixed(2)} s (${
    Math.round(v.statesExplored / Math.max(v.seconds, 1e-9))
  } states/s)${extra}`

/** The numbers of `--measure`: detection spans and the largest round trip with no healthy death. */
const measures = (bounds: ModelChecker.Bounds, o: Options, tickMs: number): Record<string, unknown> => {
  const detection = ModelChecker.Search.detection(bounds, { mutant: o.mutant, maxStates: o.maxStates })
  const tolerance = ModelChecker.Search.tolerance(bounds, { mutant: o.mutant, maxStates: o.maxStates })
  const out = say(o)
  out(
    `numbers (by search):\n  the client frozen, the server declares it dead after ${
      Report.spanText(detection.client)
    }\n  the server frozen, the client declares it dead after ${
      Report.spanText(detection.server)
    }\n  the largest round-trip time with no healthy peer declared dead: ${Report.toleranceText(tolerance, tickMs)}`
  )
  const failure = tolerance.failure?.violation
  if (failure !== undefined)
    printTrace(o, `  the first healthy death (delay ${(tolerance.delay ?? -1) + 1} ticks each way): ${failure.description}`, failure.trace)
  return {
    detection: { clientFrozen: detection.client ?? null, serverFrozen: detection.server ?? null, complete: detection.complete },
    tolerance: { delayTicks: tolerance.delay ?? null, rttMs: tolerance.rttMs ?? null, capped: tolerance.capped }
  }
}

const single = (bounds: ModelChecker.Bounds, o: Options, properties: ReadonlyArray<ModelChecker.PropertyName>): number => {
  const verdict = ModelChecker.check(bounds, {
    mutant: o.mutant,
    maxStates: o.maxStates,
    properties,
    countdown: o.countdown,
    hashCompact: o.hashCompact,
    onProgress: (n) => process.stderr.write(`explored ${n} states\n`)
  })
  if (verdict.invalid !== undefined || verdict.bounds === undefined) return invalid(verdict.invalid?.message ?? "", o)
  const out = say(o)
  out(Report.header(verdict.bounds, o.mutant, properties))
  out(
    `search: ${
      figures(
        verdict,
        verdict.maxDepth,
        `; ${verdict.bytesPerState} bytes/state; ${verdict.pruned} transitions pruned; ${verdict.complete ? "complete" : "INCOMPLETE"}`
      )
    }`
  )
  if (verdict.omission !== undefined) out(`hash compaction: 64-bit signatures; probability that a state was omitted ≤ ${verdict.omission.toExponential(2)}`)
  out(Report.reachedLine(verdict.reached))
  for (const w of Report.warnings(verdict.bounds, verdict.reached, verdict.pruned)) out(w)
  const extra = o.measure._tag === "Some" && o.measure.value ? measures(bounds, o, verdict.bounds.tickMs) : {}
  out(Report.verdictLine(verdict))
  if (verdict.violation !== undefined) printTrace(o, `shortest counterexample (${verdict.violation.depth} transitions):`, verdict.violation.trace)
  if (o.format === "json") console.log(JSON.stringify(Report.json(verdict, extra), null, 2))
  return Report.exitCode(verdict)
}

const invalid = (message: string, o: Options): number => {
  console.error(`invalid bounds: ${message}`)
  if (o.format === "json") console.log(JSON.stringify({ schema: 1, verdict: "invalid", exitCode: Report.exitCodes.usage, invalid: message }))
  return Report.exitCodes.usage
}

/** `--reach EVENT` (claim: it can happen) or `--never EVENT` (claim: it cannot). */
const query = (bounds: ModelChecker.Bounds, o: Options, text: string, never: boolean): number => {
  const q = Events.parse(text, Flags.toMs(o.tick, 1000))
  if (typeof q === "string") {
    console.error(q)
    return Report.exitCodes.usage
  }
  const found = ModelChecker.reach(Events.boundsFor(q, bounds), q.goal, { mutant: o.mutant, maxStates: o.maxStates, countdown: o.countdown })
  if (!found.reachable && found.invalid !== undefined) return invalid(found.invalid.message, o)
  const r = found as ModelChecker.Reachability & ModelChecker.Search.Searched
  const out = say(o)
  out(Report.header(r.bounds, o.mutant, undefined))
  out(`query: ${never ? "never" : "reach"} ${q.text}: ${q.means}${q.healthy ? " (asked with every freeze turned off)" : ""}`)
  out(`search: ${figures(r, undefined, `; ${r.pruned} transitions pruned`)}`)
  out(Report.reachedLine(r.reached))
  for (const w of Report.warnings(r.bounds, r.reached, r.pruned)) out(w)
  const answer = r.reachable
    ? `reachable, in ${r.depth} transitions at the shortest`
    : r.complete
    ? `unreachable in every one of the ${r.statesExplored} states within the bounds`
    : `not found in the ${r.statesExplored} states searched: INCOMPLETE, nothing is proved`
  out(
    `answer: ${q.text} is ${answer}${
      never && r.reachable ? ": the never-claim is VIOLATED" : never && !r.reachable && r.complete ? ": the never-claim holds" : ""
    }`
  )
  if (r.reachable) printTrace(o, "shortest run:", r.trace)
  const code = !r.reachable && !r.complete ? Report.exitCodes.incomplete : r.reachable !== never ? Report.exitCodes.holds : Report.exitCodes.violated
  if (o.format === "json")
    console.log(
      JSON.stringify(
        {
          schema: 1,
          verdict: r.reachable ? "reachable" : r.complete ? "unreachable" : "incomplete",
          exitCode: code,
          query: q.text,
          never,
          bounds: r.bounds,
          search: { complete: r.reachable || r.complete, states: r.statesExplored, transitions: r.transitions, pruned: r.pruned },
          reached: r.reached,
          ...(r.reachable ? { depth: r.depth } : {})
        },
        null,
        2
      )
    )
  return code
}

const sweepConfigs = (bounds: ModelChecker.Bounds, o: Options): ReadonlyArray<ModelChecker.Sweep.Config> => {
  const { intervalTicks: _i, countClient: _c, serverIntervalTicks: _si, serverCount: _sc, maxDelay: _d, setKeepAliveChoices: _k, ...base } = bounds
  if (o.grid === "settings") return ModelChecker.Sweep.grid({ base, wide: o.wide, quick: o.quick })
  const { variant: _v, policy: _p, clientAdvertises: _a, calls: _n, lateTicks: _l, ...rest } = base
  const configs = ModelChecker.Sweep.complete({ base: rest, quick: o.quick })
  return o.wide ? configs.map((c) => ({ ...c, bounds: ModelChecker.wide(c.bounds) })) : configs
}

const sweep = async (bounds: ModelChecker.Bounds, o: Options, properties: ReadonlyArray<ModelChecker.PropertyName>): Promise<number> => {
  const configs = sweepConfigs(bounds, o)
  const result = await Workers.runParallel(configs, {
    mutant: o.mutant,
    maxStates: o.maxStates,
    properties,
    measure: o.measure._tag === "None" ? o.grid === "settings" : o.measure.value,
    onRow: (row, i) => process.stderr.write(`${i + 1}/${configs.length} ${row.config.label}: ${row.verdict.statesExplored} states\n`)
  }, o.workers)
  const out = say(o)
  const first = result.rows[0]?.verdict.bounds
  if (first !== undefined)
    out(
      `${Report.header(first, o.mutant, properties)}\n(first configuration shown; the table varies ${
        o.grid === "settings" ? "I, C and delay" : "design, policy, advertising, actions, late ticks, I, C and delay"
      })`
    )
  if (o.format === "json")
    console.log(
      JSON.stringify(
        {
          schema: 1,
          rows: result.rows.map((r) => ({
            configuration: r.config.label,
            ...Report.json(r.verdict),
            ...(r.measures === undefined ? {} : { measures: r.measures })
          }))
        },
        null,
        2
      )
    )
  else console.log(ModelChecker.Sweep.table(result))
  const shortest = result.shortest?.verdict.violation
  if (shortest !== undefined) {
    out(`\nshortest counterexample overall: ${result.shortest?.config.label}\nVIOLATED: ${shortest.property}: ${shortest.description}`)
    printTrace(o, `shortest counterexample (${shortest.depth} transitions):`, shortest.trace)
  }
  const codes = result.rows.map((r) => Report.exitCode(r.verdict))
  return codes.includes(1) ? 1 : codes.includes(2) ? 2 : codes.includes(3) ? 3 : 0
}

const questions = (bounds: ModelChecker.Bounds, o: Options): number => {
  const answers = ModelChecker.questions(bounds)
  const resolved = ModelChecker.resolveBounds({ ...ModelChecker.questionBounds, ...bounds })
  if (resolved._tag === "Success") say(o)(Report.header(resolved.success, o.mutant, undefined))
  for (const a of answers) {
    console.log(`\n${a.question}\n  ${a.answer}\n  evidence:\n${a.evidence.split("\n").map((l) => `    ${l}`).join("\n")}`)
  }
  return answers.some((a) => a.yes === undefined && a.applies) ? Report.exitCodes.incomplete : Report.exitCodes.holds
}

/**
 * The `verify` subcommand.
 *
 * @since 0.1.0
 * @category commands
 */
export const verify = Command.make("verify", flags, (o) =>
  Effect.promise(async () => {
    process.exitCode = await run(o)
  })).pipe(Command.withDescription(`${Commands.describe("verify")} ${Report.exitCodesText}.`))

const run = (o: Options): number | Promise<number> => {
  const bounds = boundsOf(o)
  const properties = propertiesOf(o)
  for (const problem of [bounds, properties]) {
    if (typeof problem !== "string") continue
    console.error(problem)
    return Report.exitCodes.usage
  }
  const b = bounds as ModelChecker.Bounds
  const p = properties as ReadonlyArray<ModelChecker.PropertyName>
  if (o.reach._tag === "Some") return query(b, o, o.reach.value, false)
  if (o.never._tag === "Some") return query(b, o, o.never.value, true)
  if (o.questions) return questions(b, o)
  if (o.sweep) return sweep(b, o, p)
  return single(b, o, p)
}
