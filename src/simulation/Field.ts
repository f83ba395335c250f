/**
 * The field failures of libvirt's keepalive as named scenarios of the simulator, each run under both keepalive
 * rules (ours and libvirt 9.0's) and judged by the shared properties.
 *
 * Contract:
 * - {@link scenarios} are the failures users report: starvation at max_client_requests, an event loop that stops
 *   after the client advertised keepalive, a wall-clock step forward and back, timer lateness, and a suspend of a
 *   whole host. Each is one scenario of the simulator (the production runtime in virtual time) per rules, with
 *   the server at I = 1 s and C = 2 and a 1 ms link.
 * - Under libvirt's rules the server's reader is libvirtd's, emulated by the simulator (it stops reading a client
 *   at max_client_requests); under ours it is the runtime's own.
 * - {@link judge} runs one scenario under one rules and judges its trace with `Monitor.monitor`, the design property
 *   `no-healthy-death` included where the scenario has no fault of the network or of a host (a healthy peer). The
 *   verdict names the first violated property and when, and every keepalive death with its time.
 * - {@link table} renders the verdicts as a Markdown table: scenario × rules.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Keepalive from "../core/Keepalive.ts"
import * as ProtocolVariant from "../session/ProtocolVariant.ts"
import type * as Trace from "../trace/Trace.ts"
import * as Monitor from "../verify/Monitor.ts"
import * as Simulation from "./Simulation.ts"
import * as Swarm from "./Swarm.ts"

/**
 * A named field scenario: the scenario under given rules, and how late a timer may fire in it.
 *
 * @since 0.1.0
 * @category models
 */
export interface FieldScenario {
  readonly name: string
  /** What happens, in one line. */
  readonly description: string
  readonly scenario: (rules: Keepalive.Rules) => Simulation.Scenario
  /** Extra timer lateness the monitor allows (ms), beyond the simulator's slack. */
  readonly lateness?: number
  /** Whether the run has no fault of a host or the network: `no-healthy-death` is judged. */
  readonly healthy: boolean
}

/** The server's libvirt-like settings of every field scenario: I = 1 s, C = 2. */
const SERVER = { interval: 1000, count: 2, policy: "if-supported", variant: ProtocolVariant.libvirt } as const

/** The base of every field scenario under `rules`: 12 s, a 1 ms link, the reader that goes with the rules. */
const base = (
  rules: Keepalive.Rules,
  faults: ReadonlyArray<Simulation.Fault>,
  client?: { readonly interval: number; readonly count: number }
): Simulation.Scenario => ({
  seed: 1,
  duration: 12_000,
  server: SERVER,
  client: { advertise: true, variant: ProtocolVariant.libvirt, ...(client === undefined ? {} : { keepalive: client }) },
  toServer: { latency: 1 },
  toClient: { latency: 1 },
  faults,
  rules,
  reader: rules === "libvirt" ? "libvirtd" : "ours"
})

/** The time a side's wall clock steps, the time a host freezes, and so on: after open and a few PINGs. */
const AT = 2500

/**
 * The field scenarios, in the order of the table.
 *
 * @since 0.1.0
 * @category constructors
 */
export const scenarios: ReadonlyArray<FieldScenario> = [
  {
    name: "starvation",
    description: "5 slow calls (held 20 s) at max_client_requests 5; the client is healthy",
    healthy: true,
    scenario: (rules) => ({ ...base(rules, [{ at: 0, kind: "slow-calls", count: 5, duration: 20_000 }]), busy: { callLimit: 5 } })
  },
  {
    name: "event loop not run",
    description: "the client advertised keepalive, then its event loop stops for good (RunLoop never comes)",
    healthy: true,
    scenario: (rules) => base(rules, [{ at: AT, kind: "loop-stop" }])
  },
  {
    name: "clock step forward",
    description: "both peers healthy and pinging (1 s × 2); the server's wall clock steps 10 s forward",
    healthy: true,
    scenario: (rules) => base(rules, [{ at: AT, kind: "clock-step", side: "server", by: 10_000 }], { interval: 1000, count: 2 })
  },
  {
    name: "clock step back",
    description: "the client dies (frozen for good); then the server's wall clock steps 10 s back",
    healthy: false,
    scenario: (rules) => base(rules, [{ at: AT, kind: "freeze", side: "client" }, { at: AT + 100, kind: "clock-step", side: "server", by: -10_000 }])
  },
  {
    name: "timer lateness",
    description: "the client dies (frozen for good); the server's process stalls 300 ms at each keepalive deadline",
    healthy: false,
    lateness: 301,
    scenario: (rules) => base(rules, [{ at: 0, kind: "late-timer", side: "server", by: 300 }, { at: AT, kind: "freeze", side: "client" }])
  },
  {
    name: "suspend and resume",
    description: "the client's whole host sleeps 10 s (both its clocks step) and wakes; the server must drop it, once, on time",
    healthy: false,
    scenario: (rules) => base(rules, [{ at: AT, kind: "freeze", side: "client", duration: 10_000 }], { interval: 1000, count: 2 })
  }
]

/**
 * The verdict of one scenario under one rules.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verdict {
  readonly scenario: string
  readonly rules: Keepalive.Rules
  readonly violations: ReadonlyArray<Monitor.Seen>
  /** Every keepalive death: who declared its peer dead, and when (ms). */
  readonly deaths: ReadonlyArray<{ readonly side: Trace.Side; readonly at: number }>
}

/** The monitor's setup of a field scenario. */
const setupOf = (f: FieldScenario, scenario: Simulation.Scenario): Monitor.Setup => {
  const setup = Swarm.setupOf(scenario)
  return { ...setup, slack: (setup.slack ?? 0) + (f.lateness ?? 0), healthy: f.healthy }
}

/**
 * Runs one field scenario under `rules` and judges it.
 *
 * @since 0.1.0
 * @category running
 */
export const judge = (f: FieldScenario, rules: Keepalive.Rules): Effect.Effect<Verdict> =>
  Effect.gen(function*() {
    const scenario = f.scenario(rules)
    const out = yield* Simulation.run(scenario)
    const deaths = out.trace.flatMap((e) => (e.kind === "event" && e.command._tag === "PeerDead" ? [{ side: e.side, at: e.at }] : []))
    return { scenario: f.name, rules, violations: Monitor.monitor(out.trace, setupOf(f, scenario)), deaths }
  })

/**
 * Every field scenario under both rules, in table order (ours, then libvirt's, per scenario).
 *
 * @since 0.1.0
 * @category running
 */
export const judgeAll = (only: ReadonlyArray<FieldScenario> = scenarios): Effect.Effect<ReadonlyArray<Verdict>> =>
  Effect.forEach(only.flatMap((f) => (["ours", "libvirt"] as const).map((rules) => [f, rules] as const)), ([f, rules]) => judge(f, rules))

const seconds = (ms: number): string => `${(ms / 1000).toFixed(3)} s`
const who = (side: Trace.Side): string => (side === "server" ? "S" : "C")

/** One cell: the verdict, the first violated property and when, and the deaths. */
const cell = (v: Verdict): string => {
  const deaths = v.deaths.length === 0
    ? "no death"
    : v.deaths.map((d) => `${who(d.side)} declares ${d.side === "server" ? "C" : "S"} dead at ${seconds(d.at)}`).join(", ")
  const first = v.violations[0]
  return first === undefined ? `holds (${deaths})` : `**${first.property}** at ${seconds(first.at)} (${deaths})`
}

/**
 * The verdicts as a Markdown table, scenario × rules, with each scenario's description under it.
 *
 * @since 0.1.0
 * @category rendering
 */
export const table = (verdicts: ReadonlyArray<Verdict>): string => {
  const rows = scenarios.flatMap((f) => {
    const of = (rules: Keepalive.Rules) => verdicts.find((v) => v.scenario === f.name && v.rules === rules)
    const ours = of("ours")
    const libvirt = of("libvirt")
    return ours === undefined || libvirt === undefined ? [] : [`| ${f.name} | ${cell(ours)} | ${cell(libvirt)} |`]
  })
  const legend = scenarios.map((f) => `- ${f.name}: ${f.description}`)
  return ["| scenario | ours | libvirt 9.0's rules |", "|---|---|---|", ...rows, "", ...legend].join("\n")
}

/**
 * The first violation of a verdict, in one line, for a report.
 *
 * @since 0.1.0
 * @category rendering
 */
export const explain = (v: Verdict): string | undefined => {
  const first = v.violations[0]
  return first === undefined
    ? undefined
    : `${v.scenario} under ${v.rules === "ours" ? "ours" : "libvirt's rules"}: ${first.property} at ${seconds(first.at)}: ${first.description}`
}
