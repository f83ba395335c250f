/**
 * Swarm simulation: many runs of the production runtime, each with a fault schedule drawn from a seed, every
 * trace judged by the shared keepalive properties ({@link Monitor.monitor}), failing schedules shrunk.
 *
 * Contract:
 * - {@link schedule}`(seed)` is a pure function: the same seed always gives the same {@link Simulation.Scenario}
 *   (settings, latency, jitter, and up to four faults among partitions, freezes with or without thaw, crashes,
 *   slow readers and reconfigurations; then, from a generator of its own, busy peers: call slots and slow calls,
 *   an application that stops reading its frames and its backlog policy, silence before open and the open and
 *   handshake timeouts).
 * - {@link setupOf} tells the monitor the scenario's settings and the timeouts it must judge before open (not the
 *   open timeout of a silent client: that client is a test's peer, not the runtime).
 * - {@link coverage} counts what runs exercised: opens, refusals, PINGs, deaths, reconfigurations, stalls, and each
 *   fault kind.
 * - {@link check} runs one scenario with `Simulation.run` and returns the violations; {@link shrink} removes
 *   faults and simplifies the link while the same property still fails; {@link swarm} does it for seeds
 *   `first … first + count − 1`.
 * - A scenario is plain data: {@link encode} / {@link decode} turn it into the JSON a replay command carries.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as ProtocolVariant from "../session/ProtocolVariant.ts"
import type * as Session from "../session/Session.ts"
import * as Frame from "../wire/Frame.ts"
import type * as Trace from "../trace/Trace.ts"
import * as Monitor from "../verify/Monitor.ts"
import * as Mutants from "../verify/Mutants.ts"
import { random } from "./SimulatedLink.ts"
import * as Simulation from "./Simulation.ts"

type Draw = () => number

const int = (draw: Draw, min: number, max: number): number => min + Math.floor(draw() * (max - min + 1))
const pick = <T>(draw: Draw, values: ReadonlyArray<T>): T => values[Math.floor(draw() * values.length)]!
const side = (draw: Draw): "client" | "server" => (draw() < 0.5 ? "client" : "server")

/** How long each swarm run lasts, in virtual ms. */
export const DURATION = 20_000

const fault = (draw: Draw): Simulation.Fault => {
  const at = int(draw, 1, 16) * 500
  switch (pick(draw, ["partition", "freeze", "freeze", "crash", "slow-reader", "set-keepalive", "set-keepalive"] as const)) {
    case "partition":
      return { at, kind: "partition", direction: pick(draw, ["both", "to-server", "to-client"] as const), duration: int(draw, 1, 8) * 500 }
    case "freeze":
      return draw() < 0.6 ? { at, kind: "freeze", side: side(draw), duration: int(draw, 1, 8) * 500 } : { at, kind: "freeze", side: side(draw) }
    case "crash":
      return { at, kind: "crash", side: side(draw), mode: pick(draw, ["process", "host"] as const) }
    case "slow-reader":
      return { at, kind: "slow-reader", side: side(draw), bytesPerSecond: pick(draw, [4, 28, 100]), duration: int(draw, 1, 8) * 500 }
    case "set-keepalive":
      return draw() < 0.25
        ? { at, kind: "set-keepalive", interval: 0, count: 0 }
        : { at, kind: "set-keepalive", interval: int(draw, 1, 6) * 250, count: int(draw, 0, 3) }
  }
}

const at = (draw: Draw): number => int(draw, 1, 16) * 500

const slowCalls = (draw: Draw): Simulation.Fault => ({ at: at(draw), kind: "slow-calls", count: int(draw, 1, 12), duration: int(draw, 1, 16) * 500 })

const appStall = (draw: Draw): Simulation.Fault => {
  const f = { at: at(draw), kind: "app-stall", events: int(draw, 1, 10) } as const
  return draw() < 0.7 ? { ...f, duration: int(draw, 1, 8) * 500 } : f
}

/** What makes a peer busy or silent: half the runs have call slots and slow calls, some an application stall. */
const busyness = (
  draw: Draw
): Pick<Simulation.Scenario, "busy" | "openTimeout" | "handshakeTimeout" | "silentOpen"> & { readonly faults: ReadonlyArray<Simulation.Fault> } => {
  const busy = draw() < 0.5
    ? {
      callLimit: int(draw, 1, 5),
      maxPendingCalls: pick(draw, [1, 4, 256]),
      maxPendingFrames: pick(draw, [1, 4, 256]),
      slowConsumer: pick(draw, ["drop", "end", "pause"] as const)
    }
    : undefined
  const faults = busy === undefined ? [] : [...Array.from({ length: int(draw, 0, 2) }, () => slowCalls(draw)), ...(draw() < 0.5 ? [appStall(draw)] : [])]
  const timeouts = draw() < 0.3 ? { openTimeout: int(draw, 2, 10) * 1000, handshakeTimeout: int(draw, 2, 10) * 1000 } : {}
  const silentOpen = "openTimeout" in timeouts && draw() < 0.5 ? { silentOpen: side(draw) } : {}
  return { ...(busy === undefined ? {} : { busy }), ...timeouts, ...silentOpen, faults }
}

/**
 * The scenario of a seed: libvirt's design (one in eight the draft), mostly policy `if-supported`, the client
 * pinging in two runs of three, latency up to 40 ms with jitter, and up to four faults; then, drawn apart so
 * that these stay as they were, the busy and silent peers of {@link busyness}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const schedule = (seed: number): Simulation.Scenario => {
  const draw = random(seed)
  const variant = draw() < 0.125 ? ProtocolVariant.draft : ProtocolVariant.libvirt
  const policy = pick(draw, ["if-supported", "if-supported", "if-supported", "required", "disabled"] as const)
  const server = { interval: int(draw, 2, 8) * 250, count: int(draw, 0, 3), policy, variant }
  // the client's first setKeepAlive is a fault at 0 too, so every call shows in the trace in the order made
  const initial: ReadonlyArray<Simulation.Fault> = draw() < 0.67
    ? [{ at: 0, kind: "set-keepalive", interval: int(draw, 2, 8) * 250, count: int(draw, 0, 3) }]
    : []
  const latency = pick(draw, [0, 1, 5, 20, 40])
  const jitter = latency === 0 ? 0 : int(draw, 0, 10)
  const faults = Array.from({ length: int(draw, 0, 4) }, () => fault(draw))
  const client = { advertise: draw() < 0.85, variant }
  const { faults: busyFaults, ...busy } = busyness(random(seed ^ 0x5eed))
  return {
    seed,
    duration: DURATION,
    server,
    client,
    toServer: { latency, jitter },
    toClient: { latency, jitter },
    faults: [...initial, ...[...faults, ...busyFaults].sort((a, b) => a.at - b.at)],
    ...busy
  }
}

/**
 * The monitor's setup for a scenario: its settings, the client's initial setKeepAlive (later ones show in the
 * trace), the end, and the timer slack.
 *
 * @since 0.1.0
 * @category constructors
 */
export const setupOf = (scenario: Simulation.Scenario): Monitor.Setup => ({
  variant: scenario.server.variant ?? ProtocolVariant.libvirt,
  policy: scenario.server.policy,
  serverInterval: scenario.server.interval,
  serverCount: scenario.server.count,
  requests: scenario.client?.keepalive === undefined ? [] : [scenario.client.keepalive],
  end: scenario.duration,
  slack: SLACK,
  advertises: scenario.client?.advertise ?? true,
  ...(scenario.openTimeout === undefined || scenario.silentOpen === "client" ? {} : { openTimeout: scenario.openTimeout }),
  ...(scenario.handshakeTimeout === undefined ? {} : { handshakeTimeout: scenario.handshakeTimeout })
})

/** Timer slack of the runtime under the simulated clock: times are fractional, timers whole milliseconds. */
const SLACK = 2

/**
 * One checked run: the scenario, its outcome, and the violations the monitor saw.
 *
 * @since 0.1.0
 * @category models
 */
export interface Checked {
  readonly scenario: Simulation.Scenario
  readonly outcome: Simulation.Outcome
  readonly violations: ReadonlyArray<Monitor.Seen>
}

/**
 * Runs a scenario and judges its trace.
 *
 * @since 0.1.0
 * @category running
 */
export const check = (scenario: Simulation.Scenario): Effect.Effect<Checked> =>
  Simulation.run(scenario).pipe(Effect.map((outcome) => ({ scenario, outcome, violations: Monitor.monitor(outcome.trace, setupOf(scenario)) })))

/** Simpler versions of a scenario: one fault fewer, no jitter, no latency. */
const simpler = (s: Simulation.Scenario): ReadonlyArray<Simulation.Scenario> => {
  const faults = s.faults ?? []
  const without = faults.map((_, i) => ({ ...s, faults: faults.filter((__, j) => j !== i) }))
  const link = (s.toServer?.jitter ?? 0) > 0 ? [{ ...s, toServer: { latency: s.toServer?.latency ?? 0 }, toClient: { latency: s.toClient?.latency ?? 0 } }] : []
  return [...without, ...link]
}

/**
 * Shrinks a failing run: repeatedly takes the first simpler scenario in which the same property still fails
 * (judged by `judge`, {@link check} by default).
 *
 * @since 0.1.0
 * @category running
 */
export const shrink = (failing: Checked, judge: (s: Simulation.Scenario) => Effect.Effect<Checked> = check): Effect.Effect<Checked> =>
  Effect.gen(function*() {
    let current = failing
    const property = failing.violations[0]?.property
    for (let progress = true; progress;) {
      progress = false
      for (const candidate of simpler(current.scenario)) {
        const c = yield* judge(candidate)
        if (c.violations.some((v) => v.property === property)) {
          current = c
          progress = true
          break
        }
      }
    }
    return current
  })

/**
 * The result of a swarm: how many runs, and every failing seed with its shrunk run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly runs: number
  readonly failures: ReadonlyArray<{ readonly seed: number; readonly original: Checked; readonly shrunk: Checked }>
}

/**
 * Runs seeds `first … first + count − 1`, judging every trace, and shrinks each failure. `scenarioOf` gives the
 * scenario of a seed ({@link schedule} by default; a command layers its flags over it).
 *
 * @since 0.1.0
 * @category running
 */
export const swarm = (
  count: number,
  first = 1,
  onRun?: (c: Checked) => void,
  scenarioOf: (seed: number) => Simulation.Scenario = schedule
): Effect.Effect<Result> =>
  Effect.gen(function*() {
    const failures: Array<Result["failures"][number]> = []
    for (let seed = first; seed < first + count; seed++) {
      const c = yield* check(scenarioOf(seed))
      onRun?.(c)
      if (c.violations.length > 0) failures.push({ seed, original: c, shrunk: yield* shrink(c) })
    }
    return { runs: count, failures }
  })

const Delay = Schema.Struct({ latency: Schema.Number, jitter: Schema.optional(Schema.Number) })
const Side = Schema.Literals(["client", "server"])
const Duration = Schema.optional(Schema.Number)

const FaultJson = Schema.Union([
  Schema.Struct({
    at: Schema.Number,
    kind: Schema.Literal("partition"),
    direction: Schema.Literals(["both", "to-server", "to-client"]),
    duration: Schema.Number
  }),
  Schema.Struct({ at: Schema.Number, kind: Schema.Literal("freeze"), side: Side, duration: Duration }),
  Schema.Struct({ at: Schema.Number, kind: Schema.Literal("crash"), side: Side, mode: Schema.Literals(["process", "host"]) }),
  Schema.Struct({ at: Schema.Number, kind: Schema.Literal("slow-reader"), side: Side, bytesPerSecond: Schema.Number, duration: Duration }),
  Schema.Struct({ at: Schema.Number, kind: Schema.Literal("set-keepalive"), interval: Schema.Number, count: Schema.Number }),
  Schema.Struct({ at: Schema.Number, kind: Schema.Literal("slow-calls"), count: Schema.Number, duration: Schema.Number }),
  Schema.Struct({ at: Schema.Number, kind: Schema.Literal("app-stall"), events: Schema.Number, duration: Duration }),
  Schema.Struct({ at: Schema.Number, kind: Schema.Literal("clock-step"), side: Schema.Literals(["client", "server", "both"]), by: Schema.Number }),
  Schema.Struct({ at: Schema.Number, kind: Schema.Literal("loop-stop") }),
  Schema.Struct({ at: Schema.Number, kind: Schema.Literal("late-timer"), side: Side, by: Schema.Number })
])

const BusyJson = Schema.Struct({
  callLimit: Schema.optional(Schema.Number),
  maxPendingCalls: Schema.optional(Schema.Number),
  maxPendingFrames: Schema.optional(Schema.Number),
  slowConsumer: Schema.optional(Schema.Literals(["drop", "end", "pause"]))
})

const ScenarioJson = Schema.Struct({
  seed: Schema.Number,
  duration: Schema.Number,
  server: Schema.Struct({
    interval: Schema.Number,
    count: Schema.Number,
    policy: Schema.Literals(["disabled", "if-supported", "required"]),
    variant: Schema.Literals(["libvirt", "draft"])
  }),
  client: Schema.Struct({
    keepalive: Schema.optional(Schema.Struct({ interval: Schema.Number, count: Schema.Number })),
    advertise: Schema.Boolean,
    variant: Schema.Literals(["libvirt", "draft"])
  }),
  toServer: Delay,
  toClient: Delay,
  faults: Schema.Array(FaultJson),
  busy: Schema.optional(BusyJson),
  openTimeout: Schema.optional(Schema.Number),
  handshakeTimeout: Schema.optional(Schema.Number),
  silentOpen: Schema.optional(Side),
  mutant: Schema.optional(Schema.Literals(["none", ...Mutants.mutants])),
  rules: Schema.optional(Schema.Literals(["ours", "libvirt"])),
  reader: Schema.optional(Schema.Literals(["ours", "libvirtd"]))
})

/**
 * A scenario as JSON, for a replay command (the variant by name).
 *
 * @since 0.1.0
 * @category codecs
 */
export const encode = (s: Simulation.Scenario): string =>
  JSON.stringify({
    ...s,
    server: { ...s.server, variant: (s.server.variant ?? ProtocolVariant.libvirt).name },
    client: { ...s.client, advertise: s.client?.advertise ?? true, variant: (s.client?.variant ?? ProtocolVariant.libvirt).name }
  })

/**
 * The object without its undefined fields: an optional field of a scenario is absent, never undefined.
 *
 * @since 0.1.0
 * @category codecs
 */
export const defined = <T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> }

/**
 * Reads a scenario written by {@link encode}; an error message when it is not one.
 *
 * @since 0.1.0
 * @category codecs
 */
export const decode = (text: string): Simulation.Scenario | string => {
  try {
    const parsed = Schema.decodeUnknownSync(ScenarioJson)(JSON.parse(text))
    const variantOf = (name: "libvirt" | "draft") => (name === "draft" ? ProtocolVariant.draft : ProtocolVariant.libvirt)
    const policy: Session.Policy = parsed.server.policy
    const delay = (d: typeof parsed.toServer) => (d.jitter === undefined ? { latency: d.latency } : { latency: d.latency, jitter: d.jitter })
    return {
      seed: parsed.seed,
      duration: parsed.duration,
      toServer: delay(parsed.toServer),
      toClient: delay(parsed.toClient),
      server: { ...parsed.server, policy, variant: variantOf(parsed.server.variant) },
      client: {
        ...(parsed.client.keepalive === undefined ? {} : { keepalive: parsed.client.keepalive }),
        advertise: parsed.client.advertise,
        variant: variantOf(parsed.client.variant)
      },
      faults: parsed.faults.map(defined) as ReadonlyArray<Simulation.Fault>,
      ...(parsed.busy === undefined ? {} : { busy: defined(parsed.busy) }),
      ...(parsed.openTimeout === undefined ? {} : { openTimeout: parsed.openTimeout }),
      ...(parsed.handshakeTimeout === undefined ? {} : { handshakeTimeout: parsed.handshakeTimeout }),
      ...(parsed.silentOpen === undefined ? {} : { silentOpen: parsed.silentOpen }),
      ...(parsed.mutant === undefined ? {} : { mutant: parsed.mutant }),
      ...(parsed.rules === undefined ? {} : { rules: parsed.rules }),
      ...(parsed.reader === undefined ? {} : { reader: parsed.reader })
    }
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
}

/**
 * What a swarm exercised, summed over its runs: what the connections did, and how many faults of each kind.
 *
 * @since 0.1.0
 * @category models
 */
export type Coverage = Readonly<Record<string, number>>

const PATTERNS: ReadonlyArray<readonly [string, (e: Trace.TraceEvent) => boolean]> = [
  ["opens", (e) => e.kind === "event" && e.side === "server" && e.command._tag === "Opened"],
  ["refusals", (e) => e.kind === "event" && e.side === "server" && e.command._tag === "Close" && e.command.reason === "refused"],
  ["PINGs", (e) => e.kind === "transmit" && Frame.keepaliveKind(e.frame.header) === "ping"],
  ["deaths", (e) => e.kind === "event" && e.command._tag === "PeerDead"],
  ["reconfigurations", (e) => e.kind === "note" && e.text.includes("calls setKeepAlive")],
  ["stalls (reading stopped, keepalive paused)", (e) => e.kind === "note" && / stopped reading: /.test(e.text)],
  ["frames dropped for the application (first of each run)", (e) => e.kind === "note" && e.text.startsWith("client dropped a frame")],
  ["slow consumers ended", (e) => e.kind === "note" && / connection ends: /.test(e.text)],
  ["open timeouts", (e) => e.kind === "note" && e.text.startsWith("C: gives up opening")],
  ["handshake timeouts", (e) => e.kind === "note" && e.text.startsWith("S: gives up opening")]
]

/**
 * The coverage of one run: its events by {@link PATTERNS}, its faults by kind, silence before open, lost chunks.
 *
 * @since 0.1.0
 * @category coverage
 */
export const coverage = (c: Checked): Coverage => {
  const counts: Record<string, number> = {}
  const add = (key: string, n = 1) => void (counts[key] = (counts[key] ?? 0) + n)
  for (const [name, matches] of PATTERNS) add(name, c.outcome.trace.filter(matches).length)
  for (const f of c.scenario.faults ?? []) add(`${f.kind} faults`)
  if (c.scenario.silentOpen !== undefined) add(`silent ${c.scenario.silentOpen}s before open`)
  add("chunks lost (to a closed socket or a silent drop)", c.outcome.lost.client + c.outcome.lost.server)
  return counts
}

/**
 * The sum of two coverages.
 *
 * @since 0.1.0
 * @category coverage
 */
export const addCoverage = (a: Coverage, b: Coverage): Coverage =>
  Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, (a[k] ?? 0) + (b[k] ?? 0)]))

/**
 * A coverage in words, e.g. `812 opens, 37 refusals, …`.
 *
 * @since 0.1.0
 * @category coverage
 */
export const describeCoverage = (c: Coverage): string => Object.entries(c).map(([k, n]) => `${n} ${k}`).join(", ")
