/**
 * The `keepalive verify` subcommand: the model checker from the command line.
 *
 * Contract:
 * - One run (default): prints states, transitions, depth, time, states/s and bytes/state, then the verdict; a
 *   violation prints the shortest counterexample as arrows and as Mermaid and exits with 1.
 * - `--sweep`: the grid of I ≤ 3 ticks, C ≤ 3 on each side and delay ≤ 2, both orders at the same instant (432
 *   configurations; `--quick` keeps the server at 2/2: 36), one summary table, the shortest counterexample overall;
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
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import * as ModelChecker from "../verify/ModelChecker.ts"
import * as Flags from "./Flags.ts"
import * as Mermaid from "./Mermaid.ts"
import * as Trace from "./Trace.ts"

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
  reader: Flags.choice("reader", ["ours", "libvirtd"], "ours", "how reading stops at the limits: ours (read every frame at once; pause keepalive at the pending bound) or libvirtd's (stop reading at the call limit)"),
  maxPending: Flags.whole("max-pending", 1, "calls (frames) that may wait for a handler (the application) before reading stops", 1),
  mutant: Flags.choice("mutant", ["none", ...ModelChecker.mutants], "none", "check a deliberately broken session or runtime rule instead of the real one"),
  maxStates: Flags.whole("max-states", 5_000_000, "stop after this many states", 1),
  sweep: Flags.toggle("sweep", false, "check the grid I ≤ 3, C ≤ 3 on each side, delay ≤ 2 and print one summary table"),
  quick: Flags.toggle("quick", false, "with --sweep: keep the server at I = C = 2 (36 configurations)"),
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
  const base: ModelChecker.Bounds = {
    intervalTicks: clientInterval as number,
    countClient,
    serverIntervalTicks: serverInterval as number,
    serverCount: o.serverCount,
    maxDelay: delay as number,
    policy: o.policy,
    variant: o.variant,
    clientAdvertises: o.advertise,
    tickMs,
    maxSetKeepAliveCalls: o.setCalls,
    ...(o.late > 0 ? { lateTicks: o.late } : {}),
    ...(o.bothOrders ? { bothOrders: true } : {}),
    ...(o.thaw ? { allowThaw: { client: true, server: true } } : {}),
    ...(o.closes ? { closes: { client: true, server: true } } : {}),
    ...(o.calls > 0 ? { calls: o.calls } : {}),
    ...stallBounds(o)
  }
  return o.wide ? ModelChecker.wide(base) : base
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

const printViolation = (v: ModelChecker.Violation): void => {
  console.log(`\nVIOLATED: ${v.property}: ${v.description}\nshortest counterexample (${v.depth} transitions):\n${Trace.arrows(v.trace)}\n\n${Mermaid.sequenceDiagram(v.trace)}`)
}

const single = (bounds: ModelChecker.Bounds, o: Options): void => {
  const verdict = ModelChecker.check(bounds, { mutant: o.mutant, maxStates: o.maxStates, onProgress: (n) => process.stderr.write(`explored ${n} states\n`) })
  if (verdict.invalid !== undefined) {
    console.error(`invalid bounds: ${verdict.invalid.message}`)
    process.exitCode = 2
    return
  }
  console.log(`${verdict.statesExplored} states, ${verdict.transitions} transitions, depth ${verdict.maxDepth}, ${verdict.seconds.toFixed(2)} s (${Math.round(verdict.statesPerSecond)} states/s); ${verdict.bytesPerState} bytes/state`)
  if (verdict.violation !== undefined) {
    printViolation(verdict.violation)
    process.exitCode = 1
    return
  }
  console.log(verdict.complete ? "verdict: every property holds in every reachable state" : `verdict: no violation in the first ${verdict.statesExplored} states (stopped: ${verdict.exhausted ?? "--max-states"})`)
}

const sweep = (bounds: ModelChecker.Bounds, o: Options): void => {
  const { intervalTicks: _i, countClient: _c, serverIntervalTicks: _si, serverCount: _sc, maxDelay: _d, setKeepAliveChoices: _k, ...base } = bounds
  const configs = ModelChecker.Sweep.grid({ base, wide: o.wide, quick: o.quick })
  const result = ModelChecker.Sweep.run(configs, {
    mutant: o.mutant,
    maxStates: o.maxStates,
    onRow: (row, i) => process.stderr.write(`${i + 1}/${configs.length} ${row.config.label}: ${row.verdict.statesExplored} states\n`)
  })
  console.log(ModelChecker.Sweep.table(result))
  const shortest = result.shortest?.verdict.violation
  if (shortest !== undefined) {
    console.log(`\nshortest counterexample overall: ${result.shortest?.config.label}`)
    printViolation(shortest)
  }
  if (result.rows.some((r) => !r.verdict.ok)) process.exitCode = 1
}

const questions = (bounds: ModelChecker.Bounds): void => {
  for (const a of ModelChecker.questions(bounds)) {
    console.log(`\n${a.question}\n  ${a.answer}\n  evidence:\n${a.evidence.split("\n").map((l) => `    ${l}`).join("\n")}`)
  }
}

/**
 * The `verify` subcommand.
 *
 * @since 0.1.0
 * @category commands
 */
export const verify = Command.make("verify", flags, (o) =>
  Effect.sync(() => {
    const bounds = boundsOf(o)
    if (typeof bounds === "string") {
      console.error(bounds)
      process.exitCode = 2
      return
    }
    if (o.questions) return questions(bounds)
    if (o.sweep) return sweep(bounds, o)
    single(bounds, o)
  })).pipe(Command.withDescription("Explore every interleaving of the pure client and server sessions within bounds, check the keepalive properties, and print the shortest counterexample; or sweep a grid of bounds; or answer the design questions."))
