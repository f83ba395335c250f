/**
 * The `keepalive simulate` subcommand: the production runtime over simulated links in virtual time, judged by
 * the shared keepalive properties.
 *
 * Contract:
 * - One run (default): draws the trace (arrows, Mermaid, timelines), says how each side ended, and judges the
 *   trace with the properties; a violation exits with 1.
 * - `--seeds N`: a swarm of N runs, each with the fault schedule of its seed (from `--first-seed`), every trace
 *   judged; each failing seed is shrunk and printed with its property, its Mermaid diagram and a command that
 *   replays it exactly (`--schedule '<json>'`); exit 1 if any seed fails.
 * - `--schedule JSON`: replays one scenario exactly (as printed by a swarm).
 * - Times are durations (`5s`, `250ms`) or plain numbers of ms; faults are `SIDE@AT[+DURATION]` etc. with the
 *   same time syntax.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import * as ProtocolVariant from "../session/ProtocolVariant.ts"
import * as Simulation from "../simulation/Simulation.ts"
import * as Swarm from "../simulation/Swarm.ts"
import * as Monitor from "../verify/Monitor.ts"
import * as Flags from "./Flags.ts"
import * as Mermaid from "./Mermaid.ts"
import * as Trace from "./Trace.ts"

// ---------------------------------------------------------------------------------------------------------------
// Fault flags: side@at[+duration], direction@at+duration, side@at:mode, side@at:bytesPerSecond
// ---------------------------------------------------------------------------------------------------------------

const SIDES = ["client", "server"] as const
const DIRECTIONS = ["both", "to-server", "to-client"] as const
const TIME = "[0-9.]+(?:ms|s|m|h)?"

const ms = (text: string): number => Flags.toMs(Flags.parseTime(text), 1)

const parseAt = (text: string, what: string): { readonly subject: string; readonly at: number; readonly rest: string } => {
  const match = new RegExp(`^([a-z-]+)@(${TIME})(.*)$`).exec(text)
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

const faultFlag = (name: string, description: string, parse: (text: string) => Simulation.Fault) =>
  Flag.String(name).pipe(
    Flag.withDescription(description),
    Flag.mapTryCatch(parse, (e) => `--${name}: ${e instanceof Error ? e.message : String(e)}`),
    Flag.optional
  )

const flags = {
  ...Flags.settings({ serverInterval: "2s", clientInterval: "0", unit: "ms" }),
  seed: Flags.whole("seed", 1, "seed of the run: the same seed gives the same trace"),
  duration: Flags.time("duration", "20s", "virtual time to run, a duration or a number of ms"),
  clientCount: Flags.whole("client-count", 3, "the client's setKeepAlive count"),
  draft: Flags.toggle("draft", false, "the same as --variant draft"),
  latency: Flags.time("latency", "5", "one-way latency, a duration or a number of ms"),
  jitter: Flags.time("jitter", "2", "extra random one-way delay, up to this long (a duration or a number of ms)"),
  freeze: faultFlag("freeze", "freeze a side: SIDE@AT[+DURATION] (thaws after DURATION), e.g. client@5s", parseFreeze),
  partition: faultFlag("partition", "hold traffic: DIRECTION@AT+DURATION, DIRECTION both|to-server|to-client", parsePartition),
  crash: faultFlag("crash", "crash a side: SIDE@AT[:process|:host]", parseCrash),
  slowReader: faultFlag("slow-reader", "limit what a side reads: SIDE@AT:BYTES_PER_SECOND", parseSlowReader),
  sessions: Flags.whole("sessions", 1, "run this many client/server pairs (the first is drawn)", 1),
  format: Flags.choice("format", ["all", "arrows", "mermaid", "timeline"], "all", "what to print"),
  seeds: Flags.whole("seeds", 0, "run a swarm of this many seeded fault schedules, judging every trace (0: one run)"),
  firstSeed: Flags.whole("first-seed", 1, "with --seeds: the first seed"),
  schedule: Flag.String("schedule").pipe(Flag.withDescription("replay this scenario exactly (the JSON a swarm prints)"), Flag.optional)
}

type Options = { readonly [K in keyof typeof flags]: (typeof flags)[K] extends Flag.Flag<infer A> ? A : never }

const scenarioOf = (o: Options): Simulation.Scenario => {
  const variant = o.draft || o.variant === "draft" ? ProtocolVariant.draft : ProtocolVariant.libvirt
  const clientInterval = Flags.toMs(o.clientInterval, 1)
  const delay = { latency: Flags.toMs(o.latency, 1), jitter: Flags.toMs(o.jitter, 1) }
  return {
    seed: o.seed,
    duration: Flags.toMs(o.duration, 1),
    server: { interval: Flags.toMs(o.serverInterval, 1), count: o.serverCount, policy: o.policy, variant },
    client: { ...(clientInterval > 0 ? { keepalive: { interval: clientInterval, count: o.clientCount } } : {}), advertise: o.advertise, variant },
    toServer: delay,
    toClient: delay,
    faults: [o.freeze, o.partition, o.crash, o.slowReader].flatMap((f) => (Option.isSome(f) ? [f.value] : []))
  }
}

const endText = (e: Simulation.End): string =>
  e._tag === "Open" ? "still open" : e._tag === "Failed" ? `${e.error.message} (at ${(e.at / 1000).toFixed(3)} s)` : `${e._tag.toLowerCase()} at ${(e.at / 1000).toFixed(3)} s`

const verdictText = (violations: ReadonlyArray<Monitor.Seen>): string =>
  violations.length === 0
    ? "properties: every keepalive property holds on this trace"
    : violations.map((v) => `VIOLATED: ${v.property} at ${(v.at / 1000).toFixed(3)} s: ${v.description}`).join("\n")

const single = (o: Options, scenario: Simulation.Scenario) =>
  Effect.gen(function*() {
    let shown = 0
    const out = yield* Simulation.run(scenario, {
      sessions: o.sessions,
      onProgress: (t) => {
        const percent = Math.floor((t / scenario.duration) * 100)
        if (scenario.duration >= 600_000 && percent >= shown + 10) {
          shown = percent
          process.stderr.write(`simulated ${(t / 1000).toFixed(0)} s of ${(scenario.duration / 1000).toFixed(0)} s (${percent}%)\n`)
        }
      }
    })
    if (o.format === "all" || o.format === "arrows") console.log(Trace.arrows(out.trace))
    if (o.format === "all" || o.format === "mermaid") console.log(`\n${Mermaid.sequenceDiagram(out.trace)}`)
    if (o.format === "all" || o.format === "timeline") console.log(`\n${Trace.timeline(out.trace, "client")}\n\n${Trace.timeline(out.trace, "server")}`)
    console.log(`\nclient: ${endText(out.client)}\nserver: ${endText(out.server)}`)
    console.log(`${out.sessions} session(s), ${(out.virtualMs / 1000).toFixed(1)} virtual s in ${(out.wallMs / 1000).toFixed(2)} wall s: ${((out.virtualMs * out.sessions) / out.wallMs).toFixed(0)} virtual session-seconds per wall second; keepalive deaths: client ${out.deaths.client}, server ${out.deaths.server}`)
    const violations = Monitor.monitor(out.trace, Swarm.setupOf(scenario))
    console.log(verdictText(violations))
    if (violations.length > 0) process.exitCode = 1
  })

const swarm = (o: Options) =>
  Effect.gen(function*() {
    let pings = 0
    let deaths = 0
    const result = yield* Swarm.swarm(o.seeds, o.firstSeed, (c) => {
      deaths += c.outcome.deaths.client + c.outcome.deaths.server
      pings += c.outcome.trace.filter((e) => e.kind === "transmit" && Trace.describeFrame(e.frame) === "keepalive PING").length
      if (c.violations.length > 0) process.stderr.write(`seed ${c.scenario.seed}: ${c.violations[0]!.property}\n`)
    })
    for (const f of result.failures) {
      const v = f.shrunk.violations[0]
      console.log(`\nseed ${f.seed}: VIOLATED ${v?.property} at ${((v?.at ?? 0) / 1000).toFixed(3)} s: ${v?.description}`)
      console.log(`shrunk from ${(f.original.scenario.faults ?? []).length} to ${(f.shrunk.scenario.faults ?? []).length} fault(s)\n\n${Mermaid.sequenceDiagram(f.shrunk.outcome.trace)}`)
      console.log(`\nreplay: npm run keepalive -- simulate --schedule '${Swarm.encode(f.shrunk.scenario)}'`)
    }
    console.log(`\n${result.runs} seeded runs (seeds ${o.firstSeed}–${o.firstSeed + result.runs - 1}), ${pings} PINGs, ${deaths} keepalive deaths, every trace judged: ${result.failures.length === 0 ? "every property held on every trace" : `${result.failures.length} seed(s) violated a property`}`)
    if (result.failures.length > 0) process.exitCode = 1
  })

/**
 * The `simulate` subcommand.
 *
 * @since 0.1.0
 * @category commands
 */
export const simulate = Command.make("simulate", flags, (o) => {
  if (o.seeds > 0) return swarm(o)
  if (Option.isSome(o.schedule)) {
    const scenario = Swarm.decode(o.schedule.value)
    if (typeof scenario === "string") {
      return Effect.sync(() => {
        console.error(`--schedule: ${scenario}`)
        process.exitCode = 2
      })
    }
    return single(o, scenario)
  }
  return single(o, scenarioOf(o))
}).pipe(Command.withDescription("Run the production runtime over simulated links in virtual time, with faults; draw the trace and judge it with the keepalive properties; or run a swarm of seeded fault schedules."))
