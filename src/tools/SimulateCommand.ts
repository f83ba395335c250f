/**
 * The `keepalive simulate` subcommand: the production runtime over simulated links in virtual time, judged by
 * the shared keepalive properties.
 *
 * Contract:
 * - A run's scenario is a base with the command line's flags laid over it. The base is the default scenario, or
 *   swarm seed N with `--seed N` (the same run as seed N of a swarm), or the JSON of `--schedule`. A setting given
 *   on the command line replaces the base's; every fault given is added to the base's faults (any flag of a fault
 *   may be repeated). With no flag at all the run is the default scenario, as it always was.
 * - One run (default): draws the trace (arrows, Mermaid, timelines), says how each side ended, and judges the
 *   trace with the properties; a violation exits with 1. `--format mermaid` prints the diagram alone on stdout,
 *   and the rest on stderr.
 * - `--seeds N`: a swarm of N runs, seeds from `--first-seed`, every flag laid over each seed's schedule as
 *   above (`--seed`, `--schedule` and `--sessions` are refused with it); each failing seed is shrunk and printed
 *   with its property, its drawing (per `--format`) and a command that replays it exactly (`--schedule '<json>'`);
 *   then what the swarm covered. Exit 1 if any seed fails.
 * - `--print-schedule` prints the scenario as JSON (one line per seed with `--seeds`) instead of running it: the
 *   schedule format `--schedule` reads (see the README, "The schedule format").
 * - `--mutant NAME` runs one of the model checker's mutants on the runtime (see `Mutants`).
 * - `--scenarios field` runs the field failures of libvirt's keepalive (`Field.scenarios`) under both rules and
 *   prints the table scenario × rules with each verdict; exit 1 if one fails under ours.
 * - Times are durations (`5s`, `250ms`) or plain numbers of ms.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Commands from "./Commands.ts"
import * as ProtocolVariant from "../session/ProtocolVariant.ts"
import * as Field from "../simulation/Field.ts"
import * as Simulation from "../simulation/Simulation.ts"
import * as Swarm from "../simulation/Swarm.ts"
import * as Monitor from "../verify/Monitor.ts"
import * as Mutants from "../verify/Mutants.ts"
import * as Flags from "./Flags.ts"
import * as Mermaid from "./Mermaid.ts"
import * as Trace from "../trace/Trace.ts"

// ---------------------------------------------------------------------------------------------------------------
// Fault flags: side@at[+duration], direction@at+duration, side@at:mode, side@at:bytesPerSecond, I,C@at,
// count@at+hold, events@at[+duration]
// ---------------------------------------------------------------------------------------------------------------

const SIDES = ["client", "server"] as const
const DIRECTIONS = ["both", "to-server", "to-client"] as const
const TIME = "[0-9.]+(?:ms|s|m|h)?"

const ms = (text: string): number => Flags.toMs(Flags.parseTime(text), 1)

const parseAt = (text: string, what: string, subject = "[a-z-]+"): { readonly subject: string; readonly at: number; readonly rest: string } => {
  const match = new RegExp(`^(${subject})@(${TIME})(.*)$`).exec(text)
  if (match === null) throw new Error(`expected ${what}, got "${text}"`)
  return { subject: match[1]!, at: ms(match[2]!), rest: match[3]! }
}
const parseDurationSuffix = (rest: string, text: string, what: string): number => {
  const match = new RegExp(`^\\+(${TIME})$`).exec(rest)
  if (match === null) throw new Error(`expected ${what}, got "${text}"`)
  return ms(match[1]!)
}

const oneOf = <T extends string>(value: string, choices: ReadonlyArray<T>, what: string): T => {
  if (!(choices as ReadonlyArray<string>).includes(value)) throw new Error(`${what} must be one of ${choices.join(", ")}, not "${value}"`)
  return value as T
}

const parseFreeze = (text: string): Simulation.Fault => {
  const what = "SIDE@AT[+DURATION], e.g. client@5s+3s"
  const { at, rest, subject } = parseAt(text, what)
  const side = oneOf(subject, SIDES, "the side")
  return rest === "" ? { at, kind: "freeze", side } : { at, kind: "freeze", side, duration: parseDurationSuffix(rest, text, what) }
}

const parsePartition = (text: string): Simulation.Fault => {
  const what = "DIRECTION@AT+DURATION, e.g. both@4s+5s"
  const { at, rest, subject } = parseAt(text, what)
  return { at, kind: "partition", direction: oneOf(subject, DIRECTIONS, "the direction"), duration: parseDurationSuffix(rest, text, what) }
}

const parseCrash = (text: string): Simulation.Fault => {
  const { at, rest, subject } = parseAt(text, "SIDE@AT[:process|:host], e.g. client@5s:host")
  const mode = rest === "" ? "process" : oneOf(rest.replace(/^:/, ""), ["process", "host"] as const, "the crash mode")
  return { at, kind: "crash", side: oneOf(subject, SIDES, "the side"), mode }
}

const parseSlowReader = (text: string): Simulation.Fault => {
  const { at, rest, subject } = parseAt(text, "SIDE@AT:BYTES_PER_SECOND, e.g. server@3s:4")
  const rate = /^:(\d+)$/.exec(rest)
  if (rate === null) throw new Error(`expected SIDE@AT:BYTES_PER_SECOND, got "${text}"`)
  return { at, kind: "slow-reader", side: oneOf(subject, SIDES, "the side"), bytesPerSecond: Number(rate[1]) }
}

const parseSetKeepalive = (text: string): Simulation.Fault => {
  const match = new RegExp(`^(${TIME}),(\\d+)@(${TIME})$`).exec(text)
  if (match === null) throw new Error(`expected INTERVAL,COUNT@AT, e.g. 1s,3@5s, got "${text}"`)
  return { at: ms(match[3]!), kind: "set-keepalive", interval: ms(match[1]!), count: Number(match[2]) }
}

const parseSlowCalls = (text: string): Simulation.Fault => {
  const what = "COUNT@AT+HOLD, e.g. 12@2s+10s"
  const { at, rest, subject } = parseAt(text, what, "\\d+")
  return { at, kind: "slow-calls", count: Number(subject), duration: parseDurationSuffix(rest, text, what) }
}

const parseAppStall = (text: string): Simulation.Fault => {
  const what = "EVENTS@AT[+DURATION], e.g. 10@3s+4s"
  const { at, rest, subject } = parseAt(text, what, "\\d+")
  const f = { at, kind: "app-stall", events: Number(subject) } as const
  return rest === "" ? f : { ...f, duration: parseDurationSuffix(rest, text, what) }
}

const flags = {
  seed: Flags.optionalWhole("seed", "the default scenario, seed 1", "run swarm seed N (the same run as seed N of --seeds), with the other flags laid over it"),
  duration: Flags.optionalTime("duration", "20s", "virtual time to run, a duration or a number of ms"),
  serverInterval: Flags.optionalTime("server-interval", "2s", "the server's keepalive_interval, a duration or a number of ms (0: answer only)"),
  serverCount: Flags.optionalWhole("server-count", 2, "the server's keepalive_count"),
  policy: Flags.optionalChoice("policy", ["disabled", "if-supported", "required"], "if-supported", "the server's keepalive policy"),
  clientInterval: Flags.optionalTime(
    "client-interval",
    "0",
    "the client's setKeepAlive interval right after opening, a duration or a number of ms (0: never pings)"
  ),
  clientCount: Flags.optionalWhole("client-count", 3, "the client's setKeepAlive count"),
  advertise: Flags.optionalToggle("advertise", true, "the client advertises keepalive (--no-advertise: as a libvirt client without an event loop)"),
  variant: Flags.optionalChoice("variant", ["libvirt", "draft"], "libvirt", "the negotiation design (draft: seed 000)"),
  draft: Flags.toggle("draft", false, "the same as --variant draft"),
  latency: Flags.optionalTime("latency", "5", "one-way latency, a duration or a number of ms"),
  jitter: Flags.optionalTime("jitter", "2", "extra random one-way delay, up to this long (a duration or a number of ms)"),
  freeze: Flags.repeated("freeze", "freeze a side: SIDE@AT[+DURATION] (thaws after DURATION), e.g. client@5s", parseFreeze),
  partition: Flags.repeated("partition", "hold traffic: DIRECTION@AT+DURATION, DIRECTION both|to-server|to-client", parsePartition),
  crash: Flags.repeated("crash", "crash a side: SIDE@AT[:process|:host]", parseCrash),
  slowReader: Flags.repeated("slow-reader", "limit what a side reads: SIDE@AT:BYTES_PER_SECOND", parseSlowReader),
  setKeepalive: Flags.repeated("set-keepalive", "the client's application calls setKeepAlive: INTERVAL,COUNT@AT, e.g. 1s,3@5s (0,0: stop)", parseSetKeepalive),
  slowCalls: Flags.repeated(
    "slow-calls",
    "the client's application makes COUNT calls at AT, the server's handler holding each for HOLD: COUNT@AT+HOLD",
    parseSlowCalls
  ),
  appStall: Flags.repeated(
    "app-stall",
    "the client's application stops reading its frames at AT (for DURATION) while the server sends EVENTS events: EVENTS@AT[+DURATION]",
    parseAppStall
  ),
  callLimit: Flags.optionalWhole("call-limit", 5, "the server's max_client_requests: calls of the client its handlers run at once", 1),
  maxPendingCalls: Flags.optionalWhole(
    "max-pending-calls",
    256,
    "the server's backlog of calls waiting for a handler: at the bound it stops reading and pauses keepalive",
    1
  ),
  maxPendingFrames: Flags.optionalWhole("max-pending-frames", 256, "the client's backlog of frames its application has not read", 1),
  slowConsumer: Flags.optionalChoice("slow-consumer", ["drop", "end", "pause"], "drop", "what the client does with a frame for a full backlog"),
  silentOpen: Flags.optionalChoice(
    "silent-open",
    SIDES,
    "neither",
    "a side silent before open: the server frozen from the start, or a client that never sends CONNECT_OPEN"
  ),
  openTimeout: Flags.optionalTime("open-timeout", "none, as libvirt's client", "the client's open timeout, a duration or a number of ms (0: none)"),
  handshakeTimeout: Flags.optionalTime(
    "handshake-timeout",
    "the server's 60 s, not judged",
    "the server's handshake timeout, judged by the monitor, a duration or a number of ms (0: none)"
  ),
  mutant: Flags.optionalChoice(
    "mutant",
    ["none", ...Mutants.mutants],
    "none",
    "run a deliberately broken session or runtime rule of the model checker's catalogue"
  ),
  sessions: Flags.whole("sessions", 1, "run this many client/server pairs (the first is drawn)", 1),
  format: Flags.choice("format", ["all", "arrows", "mermaid", "timeline"], "all", "what to draw (mermaid: the diagram alone on stdout, the rest on stderr)"),
  seeds: Flags.whole("seeds", 0, "run a swarm of this many seeded fault schedules, judging every trace (0: one run)"),
  firstSeed: Flags.optionalWhole("first-seed", 1, "with --seeds: the first seed"),
  schedule: Flag.String("schedule").pipe(
    Flag.withDescription("replay this scenario (the JSON a swarm prints), with the other flags laid over it"),
    Flag.optional
  ),
  printSchedule: Flags.toggle("print-schedule", false, "print the scenario as JSON (one line per seed with --seeds) instead of running it"),
  scenarios: Flags.optionalChoice(
    "scenarios",
    ["field"],
    "none",
    "run named scenarios under both keepalive rules and print scenario × rules → verdict (field: libvirt's field failures)"
  )
}

type Options = { readonly [K in keyof typeof flags]: (typeof flags)[K] extends Flag.Flag<infer A> ? A : never }

/** The default scenario: what `simulate` runs with no flag. */
const DEFAULT: Simulation.Scenario = {
  seed: 1,
  duration: 20_000,
  server: { interval: 2000, count: 2, policy: "if-supported", variant: ProtocolVariant.libvirt },
  client: { advertise: true, variant: ProtocolVariant.libvirt },
  toServer: { latency: 5, jitter: 2 },
  toClient: { latency: 5, jitter: 2 },
  faults: []
}

const given = <A, B>(o: Option.Option<A>, f: (a: A) => B): B | undefined => (Option.isSome(o) ? f(o.value) : undefined)
const time = (t: Flags.Time): number => Flags.toMs(t, 1)
const defined = Swarm.defined

/** The client's setKeepAlive right after opening, when the flags set it: the base's first call is replaced. */
const clientKeepalive = (o: Options, s: Simulation.Scenario): Simulation.Scenario => {
  if (Option.isNone(o.clientInterval) && Option.isNone(o.clientCount)) return s
  const interval = given(o.clientInterval, time) ?? s.client?.keepalive?.interval ?? 0
  const count = given(o.clientCount, (n) => n) ?? s.client?.keepalive?.count ?? 3
  const { keepalive: _, ...client } = s.client ?? {}
  const faults = (s.faults ?? []).filter((f) => !(f.kind === "set-keepalive" && f.at === 0))
  return { ...s, faults, client: interval > 0 ? { ...client, keepalive: { interval, count } } : client }
}

/** The negotiation design, when a flag names it: both sides speak it. */
const variantOf = (o: Options): ProtocolVariant.ProtocolVariant | undefined =>
  o.draft ? ProtocolVariant.draft : given(o.variant, (v) => (v === "draft" ? ProtocolVariant.draft : ProtocolVariant.libvirt))

/** The link, when a flag sets its latency or jitter: both directions alike. */
const delayOf = (o: Options, d: Simulation.Scenario["toServer"]) => ({
  latency: given(o.latency, time) ?? d?.latency ?? 1,
  ...defined({ jitter: given(o.jitter, time) ?? d?.jitter })
})

/** The settings the flags give, laid over the base. */
const settings = (o: Options, s: Simulation.Scenario): Simulation.Scenario => {
  const variant = variantOf(o)
  const link = Option.isSome(o.latency) || Option.isSome(o.jitter)
  return {
    ...s,
    ...defined({ duration: given(o.duration, time) }),
    server: {
      ...s.server,
      ...defined({ interval: given(o.serverInterval, time), count: given(o.serverCount, (n) => n), policy: given(o.policy, (p) => p), variant })
    },
    client: { ...s.client, ...defined({ advertise: given(o.advertise, (a) => a), variant }) },
    ...(link ? { toServer: delayOf(o, s.toServer), toClient: delayOf(o, s.toClient) } : {})
  }
}

/** The busy-peer limits, timeouts, silence and mutant the flags give, laid over the base. */
const stalls = (o: Options, s: Simulation.Scenario): Simulation.Scenario => {
  const busy = defined({
    callLimit: given(o.callLimit, (n) => n),
    maxPendingCalls: given(o.maxPendingCalls, (n) => n),
    maxPendingFrames: given(o.maxPendingFrames, (n) => n),
    slowConsumer: given(o.slowConsumer, (p) => p)
  })
  return {
    ...s,
    ...(Object.keys(busy).length === 0 ? {} : { busy: { ...s.busy, ...busy } }),
    ...defined({
      openTimeout: given(o.openTimeout, time),
      handshakeTimeout: given(o.handshakeTimeout, time),
      silentOpen: given(o.silentOpen, (side) => side),
      mutant: given(o.mutant, (m) => m)
    })
  }
}

/** Every fault given on the command line, added to the base's, in time order. */
const faults = (o: Options, s: Simulation.Scenario): Simulation.Scenario => {
  const extra = [o.freeze, o.partition, o.crash, o.slowReader, o.setKeepalive, o.slowCalls, o.appStall].flat()
  return extra.length === 0 ? s : { ...s, faults: [...(s.faults ?? []), ...extra].sort((a, b) => a.at - b.at) }
}

/** The command line laid over a base scenario. */
const overlay = (o: Options) => (base: Simulation.Scenario): Simulation.Scenario => faults(o, stalls(o, clientKeepalive(o, settings(o, base))))

/** The base of a single run: `--schedule`'s JSON, swarm seed `--seed`, or the default; or why it cannot be read. */
const baseOf = (o: Options): Simulation.Scenario | string => {
  if (Option.isSome(o.schedule)) {
    const decoded = Swarm.decode(o.schedule.value)
    return typeof decoded === "string" ? `--schedule: ${decoded}` : decoded
  }
  return Option.isSome(o.seed) ? Swarm.schedule(o.seed.value) : DEFAULT
}

/** What a swarm cannot honour, or undefined. */
const refusedWithSeeds = (o: Options): string | undefined => {
  if (Option.isSome(o.seed)) return "--seed picks one run; with --seeds use --first-seed"
  if (Option.isSome(o.schedule)) return "--schedule replays one run; it cannot be combined with --seeds"
  if (o.sessions !== 1) return "--sessions applies to one run; it cannot be combined with --seeds"
  return undefined
}

/** What one run cannot honour, or undefined. */
const refusedAlone = (o: Options): string | undefined =>
  Option.isSome(o.firstSeed) ? "--first-seed applies to a swarm: give --seeds too (or --seed N for one run)" : undefined

// ---------------------------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------------------------

const seconds = (ms: number): string => `${(ms / 1000).toFixed(3)} s`

const endText = (e: Simulation.End): string =>
  e._tag === "Open" ? "still open" : e._tag === "Failed" ? `${e.error.message} (at ${seconds(e.at)})` : `${e._tag.toLowerCase()} at ${seconds(e.at)}`

const verdictText = (violations: ReadonlyArray<Monitor.Seen>): string =>
  violations.length === 0
    ? "properties: every keepalive property holds on this trace"
    : violations.map((v) => `VIOLATED: ${v.property} at ${seconds(v.at)}: ${v.description}`).join("\n")

/** The drawings `--format` asks for. */
const drawing = (trace: ReadonlyArray<Trace.TraceEvent>, format: Options["format"]): string =>
  [
    format === "all" || format === "arrows" ? Trace.arrows(trace) : undefined,
    format === "all" || format === "mermaid" ? Mermaid.sequenceDiagram(trace) : undefined,
    format === "all" || format === "timeline" ? `${Trace.timeline(trace, "client")}\n\n${Trace.timeline(trace, "server")}` : undefined
  ].filter((d) => d !== undefined).join("\n\n")

/** Progress of a long run, on stderr. */
const progress = (duration: number) => {
  let shown = 0
  return (t: number) => {
    const percent = Math.floor((t / duration) * 100)
    if (duration < 600_000 || percent < shown + 10) return
    shown = percent
    process.stderr.write(`simulated ${(t / 1000).toFixed(0)} s of ${(duration / 1000).toFixed(0)} s (${percent}%)\n`)
  }
}

const single = (o: Options, scenario: Simulation.Scenario) =>
  Effect.gen(function*() {
    const out = yield* Simulation.run(scenario, { sessions: o.sessions, onProgress: progress(scenario.duration) })
    // with --format mermaid, stdout carries the diagram alone
    const summary = o.format === "mermaid" ? (text: string) => console.error(text) : (text: string) => console.log(text)
    console.log(drawing(out.trace, o.format))
    summary(`\nclient: ${endText(out.client)}\nserver: ${endText(out.server)}`)
    summary(
      `${out.sessions} session(s), ${(out.virtualMs / 1000).toFixed(1)} virtual s in ${(out.wallMs / 1000).toFixed(2)} wall s: ${
        ((out.virtualMs * out.sessions) / out.wallMs).toFixed(0)
      } virtual session-seconds per wall second; keepalive deaths: client ${out.deaths.client}, server ${out.deaths.server}${lostText(out.lost)}`
    )
    const violations = Monitor.monitor(out.trace, Swarm.setupOf(scenario))
    summary(verdictText(violations))
    if (violations.length > 0) process.exitCode = 1
  })

const lostText = (lost: Simulation.Outcome["lost"]): string =>
  lost.client + lost.server === 0 ? "" : `; chunks lost (to a closed socket or a silent drop): to the client ${lost.client}, to the server ${lost.server}`

const swarm = (o: Options, scenarioOf: (seed: number) => Simulation.Scenario) =>
  Effect.gen(function*() {
    const first = Option.getOrElse(o.firstSeed, () => 1)
    let covered: Swarm.Coverage = {}
    const result = yield* Swarm.swarm(o.seeds, first, (c) => {
      covered = Swarm.addCoverage(covered, Swarm.coverage(c))
      if (c.violations.length > 0) process.stderr.write(`seed ${c.scenario.seed}: ${c.violations[0]!.property}\n`)
    }, scenarioOf)
    for (const f of result.failures) {
      const v = f.shrunk.violations[0]
      console.log(`\nseed ${f.seed}: VIOLATED ${v?.property} at ${seconds(v?.at ?? 0)}: ${v?.description}`)
      console.log(
        `shrunk from ${(f.original.scenario.faults ?? []).length} to ${(f.shrunk.scenario.faults ?? []).length} fault(s)\n\n${
          drawing(f.shrunk.outcome.trace, o.format)
        }`
      )
      console.log(`\nreplay: npm run keepalive -- simulate --schedule '${Swarm.encode(f.shrunk.scenario)}'`)
    }
    console.log(
      `\n${result.runs} seeded runs (seeds ${first}–${first + result.runs - 1}), ${covered["PINGs"] ?? 0} PINGs, ${
        covered["deaths"] ?? 0
      } keepalive deaths, every trace judged: ${
        result.failures.length === 0 ? "every property held on every trace" : `${result.failures.length} seed(s) violated a property`
      }`
    )
    console.log(`covered: ${Swarm.describeCoverage(covered)}`)
    if (result.failures.length > 0) process.exitCode = 1
  })

const refuse = (message: string) =>
  Effect.sync(() => {
    console.error(message)
    process.exitCode = 2
  })

const printSchedules = (scenarios: ReadonlyArray<Simulation.Scenario>) => Effect.sync(() => scenarios.forEach((s) => console.log(Swarm.encode(s))))

const seedsOf = (o: Options): ReadonlyArray<number> => {
  const first = Option.getOrElse(o.firstSeed, () => 1)
  return Array.from({ length: o.seeds }, (_, i) => first + i)
}

/** The field scenarios under both rules: the table, then each violation in full. */
const field = Effect.gen(function*() {
  const verdicts = yield* Field.judgeAll()
  console.log(Field.table(verdicts))
  const explained = verdicts.flatMap((v) => Field.explain(v) ?? [])
  if (explained.length > 0) console.log(`\n${explained.join("\n")}`)
  if (verdicts.some((v) => v.rules === "ours" && v.violations.length > 0)) process.exitCode = 1
})

const run = (o: Options) => {
  if (Option.isSome(o.scenarios)) return field
  if (o.seeds > 0) {
    const refused = refusedWithSeeds(o)
    if (refused !== undefined) return refuse(refused)
    const scenarioOf = (seed: number) => overlay(o)(Swarm.schedule(seed))
    return o.printSchedule ? printSchedules(seedsOf(o).map(scenarioOf)) : swarm(o, scenarioOf)
  }
  const base = baseOf(o)
  const refused = typeof base === "string" ? base : refusedAlone(o)
  if (refused !== undefined || typeof base === "string") return refuse(refused ?? String(base))
  const scenario = overlay(o)(base)
  return o.printSchedule ? printSchedules([scenario]) : single(o, scenario)
}

/**
 * The `simulate` subcommand.
 *
 * @since 0.1.0
 * @category commands
 */
export const simulate = Command.make("simulate", flags, run).pipe(
  Command.withDescription(Commands.describe("simulate"))
)
