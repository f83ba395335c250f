#!/usr/bin/env node
/**
 * The `keepalive` command line: `keepalive simulate` runs a scenario in virtual time and draws it;
 * `keepalive verify` model-checks the pure sessions; `keepalive probe <uri>` pings a real libvirt daemon (see
 * ProbeCommand.ts).
 *
 * Contract:
 * - Every flag has a default and a description (`--help` on each command); a bad value is refused with a message
 *   naming the flag and what it expects, and the exit code is non-zero.
 * - Times on the command line are milliseconds of virtual time (simulate) or ticks (verify).
 * - Long runs report progress on stderr; results go to stdout.
 * - `verify` exits with 1 when a property is violated (after printing the counterexample), 2 for invalid bounds.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Option, References } from "effect"
import { Command, Flag } from "effect/cli"
import * as Mermaid from "./Mermaid.ts"
import * as ModelChecker from "../verify/ModelChecker.ts"
import { probe } from "./ProbeCommand.ts"
import * as ProtocolVariant from "../session/ProtocolVariant.ts"
import * as Simulation from "../simulation/Simulation.ts"
import * as Trace from "./Trace.ts"

// ---------------------------------------------------------------------------------------------------------------
// Fault flags: side@at[+duration], direction@at+duration, side@at:mode, side@at:bytesPerSecond
// ---------------------------------------------------------------------------------------------------------------

const SIDES = ["client", "server"] as const
const DIRECTIONS = ["both", "to-server", "to-client"] as const

const parseAt = (text: string, what: string): { readonly subject: string; readonly at: number; readonly rest: string } => {
  const match = /^([a-z-]+)@(\d+)(.*)$/.exec(text)
  if (match === null) throw new Error(`expected ${what}, got "${text}"`)
  return { subject: match[1]!, at: Number(match[2]), rest: match[3]! }
}

const oneOf = <T extends string>(value: string, choices: ReadonlyArray<T>, what: string): T => {
  if (!(choices as ReadonlyArray<string>).includes(value)) throw new Error(`${what} must be one of ${choices.join(", ")}, not "${value}"`)
  return value as T
}

const parseFreeze = (text: string): Simulation.Fault => {
  const { at, rest, subject } = parseAt(text, "SIDE@AT[+DURATION], e.g. client@5000+3000")
  const side = oneOf(subject, SIDES, "the side")
  if (rest === "") return { at, kind: "freeze", side }
  const duration = /^\+(\d+)$/.exec(rest)
  if (duration === null) throw new Error(`expected SIDE@AT[+DURATION], got "${text}"`)
  return { at, kind: "freeze", side, duration: Number(duration[1]) }
}

const parsePartition = (text: string): Simulation.Fault => {
  const { at, rest, subject } = parseAt(text, "DIRECTION@AT+DURATION, e.g. both@4000+5000")
  const duration = /^\+(\d+)$/.exec(rest)
  if (duration === null) throw new Error(`expected DIRECTION@AT+DURATION, got "${text}"`)
  return { at, kind: "partition", direction: oneOf(subject, DIRECTIONS, "the direction"), duration: Number(duration[1]) }
}

const parseCrash = (text: string): Simulation.Fault => {
  const { at, rest, subject } = parseAt(text, "SIDE@AT[:process|:host], e.g. client@5000:host")
  const mode = rest === "" ? "process" : oneOf(rest.replace(/^:/, ""), ["process", "host"] as const, "the crash mode")
  return { at, kind: "crash", side: oneOf(subject, SIDES, "the side"), mode }
}

const parseSlowReader = (text: string): Simulation.Fault => {
  const { at, rest, subject } = parseAt(text, "SIDE@AT:BYTES_PER_SECOND, e.g. server@3000:4")
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

const positive = (name: string, fallback: number, description: string) =>
  Flag.Int(name).pipe(
    Flag.withDescription(description),
    Flag.withDefault(fallback),
    Flag.filter((n) => n >= 0, (n) => `--${name} must be 0 or more, not ${n}`)
  )

// ---------------------------------------------------------------------------------------------------------------
// keepalive simulate
// ---------------------------------------------------------------------------------------------------------------

const simulate = Command.make("simulate", {
  seed: Flag.Int("seed").pipe(Flag.withDescription("seed of the run: the same seed gives the same trace"), Flag.withDefault(1)),
  duration: positive("duration", 20_000, "virtual time to run, in ms"),
  serverInterval: Flag.Int("server-interval").pipe(Flag.withDescription("the server's keepalive_interval in ms (≤ 0: answer only)"), Flag.withDefault(2000)),
  serverCount: positive("server-count", 2, "the server's keepalive_count"),
  policy: Flag.Literals("policy", ["disabled", "if-supported", "required"]).pipe(Flag.withDescription("the server's keepalive policy"), Flag.withDefault("if-supported" as const)),
  clientInterval: Flag.Int("client-interval").pipe(Flag.withDescription("the client's setKeepAlive interval in ms; 0 (the default) never pings"), Flag.withDefault(0)),
  clientCount: positive("client-count", 3, "the client's setKeepAlive count"),
  advertise: Flag.Boolean("advertise").pipe(Flag.withDescription("the client advertises keepalive (--no-advertise: as a libvirt client without an event loop)"), Flag.withDefault(true)),
  draft: Flag.Boolean("draft").pipe(Flag.withDescription("use the seed-000 draft protocol instead of libvirt's"), Flag.withDefault(false)),
  latency: positive("latency", 5, "one-way latency in ms"),
  jitter: positive("jitter", 2, "extra random one-way delay, up to this many ms"),
  freeze: faultFlag("freeze", "freeze a side: SIDE@AT[+DURATION] (ms), e.g. client@5000", parseFreeze),
  partition: faultFlag("partition", "hold traffic: DIRECTION@AT+DURATION, DIRECTION both|to-server|to-client", parsePartition),
  crash: faultFlag("crash", "crash a side: SIDE@AT[:process|:host]", parseCrash),
  slowReader: faultFlag("slow-reader", "limit what a side reads: SIDE@AT:BYTES_PER_SECOND", parseSlowReader),
  sessions: Flag.Int("sessions").pipe(Flag.withDescription("run this many client/server pairs (the first is drawn)"), Flag.withDefault(1), Flag.filter((n) => n >= 1, (n) => `--sessions must be at least 1, not ${n}`)),
  format: Flag.Literals("format", ["all", "arrows", "mermaid", "timeline"]).pipe(Flag.withDescription("what to print"), Flag.withDefault("all" as const))
}, (o) =>
  Effect.gen(function*() {
    const faults = [o.freeze, o.partition, o.crash, o.slowReader].flatMap((f) => (Option.isSome(f) ? [f.value] : []))
    const variant = o.draft ? ProtocolVariant.draft : ProtocolVariant.libvirt
    const scenario: Simulation.Scenario = {
      seed: o.seed,
      duration: o.duration,
      server: { interval: o.serverInterval, count: o.serverCount, policy: o.policy, variant },
      client: {
        ...(o.clientInterval > 0 ? { keepalive: { interval: o.clientInterval, count: o.clientCount } } : {}),
        advertise: o.advertise,
        variant
      },
      toServer: { latency: o.latency, jitter: o.jitter },
      toClient: { latency: o.latency, jitter: o.jitter },
      faults
    }
    let shown = 0
    const out = yield* Simulation.run(scenario, {
      sessions: o.sessions,
      onProgress: (t) => {
        const percent = Math.floor((t / o.duration) * 100)
        if (o.duration >= 600_000 && percent >= shown + 10) {
          shown = percent
          process.stderr.write(`simulated ${(t / 1000).toFixed(0)} s of ${(o.duration / 1000).toFixed(0)} s (${percent}%)\n`)
        }
      }
    })
    if (o.format === "all" || o.format === "arrows") console.log(Trace.arrows(out.trace))
    if (o.format === "all" || o.format === "mermaid") console.log(`\n${Mermaid.sequenceDiagram(out.trace)}`)
    if (o.format === "all" || o.format === "timeline") console.log(`\n${Trace.timeline(out.trace, "client")}\n\n${Trace.timeline(out.trace, "server")}`)
    const end = (e: Simulation.End) =>
      e._tag === "Open" ? "still open" : e._tag === "Failed" ? `${e.error.message} (at ${(e.at / 1000).toFixed(3)} s)` : `${e._tag.toLowerCase()} at ${(e.at / 1000).toFixed(3)} s`
    console.log(`\nclient: ${end(out.client)}\nserver: ${end(out.server)}`)
    console.log(`${out.sessions} session(s), ${(out.virtualMs / 1000).toFixed(1)} virtual s in ${(out.wallMs / 1000).toFixed(2)} wall s: ${((out.virtualMs * out.sessions) / out.wallMs).toFixed(0)} virtual session-seconds per wall second; keepalive deaths: client ${out.deaths.client}, server ${out.deaths.server}`)
  })).pipe(Command.withDescription("Run the production runtime over simulated links in virtual time, with faults, and draw the trace."))

// ---------------------------------------------------------------------------------------------------------------
// keepalive verify
// ---------------------------------------------------------------------------------------------------------------

const ticks = (name: string, fallback: number, description: string) =>
  Flag.Int(name).pipe(
    Flag.withDescription(description),
    Flag.withDefault(fallback),
    Flag.filter((n) => n >= 0 && n <= 20, (n) => `--${name} must be from 0 to 20, not ${n}`)
  )

const verify = Command.make("verify", {
  interval: ticks("interval", 2, "the client's setKeepAlive interval, in ticks"),
  count: ticks("count", 2, "the client's setKeepAlive count"),
  serverInterval: ticks("server-interval", 2, "the server's keepalive_interval, in ticks (0: answer only)"),
  serverCount: ticks("server-count", 2, "the server's keepalive_count"),
  delay: ticks("delay", 1, "a frame is delivered at most this many ticks after it is sent"),
  policy: Flag.Literals("policy", ["disabled", "if-supported", "required"]).pipe(Flag.withDescription("the server's policy"), Flag.withDefault("if-supported" as const)),
  variant: Flag.Literals("variant", ["libvirt", "draft"]).pipe(Flag.withDescription("the negotiation design (draft: seed 000)"), Flag.withDefault("libvirt" as const)),
  advertise: Flag.Boolean("advertise").pipe(Flag.withDescription("the client advertises keepalive (--no-advertise: it does not)"), Flag.withDefault(true)),
  mutant: Flag.Literals("mutant", ["none", ...ModelChecker.mutants]).pipe(Flag.withDescription("check a deliberately broken session instead of the real one"), Flag.withDefault("none" as const)),
  maxStates: Flag.Int("max-states").pipe(Flag.withDescription("stop after this many states"), Flag.withDefault(5_000_000), Flag.filter((n) => n > 0, (n) => `--max-states must be positive, not ${n}`)),
  questions: Flag.Boolean("questions").pipe(Flag.withDescription("answer the design questions of the 2011 emails instead, with evidence"), Flag.withDefault(false))
}, (o) =>
  Effect.gen(function*() {
    if (o.questions) {
      for (const a of ModelChecker.questions()) console.log(`\n${a.question}\n  ${a.yes ? "yes" : "no"}: ${a.answer}\n  evidence: ${a.evidence}`)
      return
    }
    const verdict = ModelChecker.check({
      intervalTicks: o.interval,
      countClient: o.count,
      serverIntervalTicks: o.serverInterval,
      serverCount: o.serverCount,
      maxDelay: o.delay,
      policy: o.policy,
      variant: o.variant,
      clientAdvertises: o.advertise
    }, {
      mutant: o.mutant,
      maxStates: o.maxStates,
      onProgress: (n) => process.stderr.write(`explored ${n} states\n`)
    })
    if (verdict.invalid !== undefined) {
      console.error(`invalid bounds: ${verdict.invalid.message}`)
      process.exitCode = 2
      return
    }
    console.log(`${verdict.statesExplored} states, ${verdict.transitions} transitions, depth ${verdict.maxDepth}, ${verdict.seconds.toFixed(2)} s (${Math.round(verdict.statesPerSecond)} states/s)`)
    if (verdict.violation !== undefined) {
      const v = verdict.violation
      console.log(`\nVIOLATED: ${v.property}: ${v.description}\nshortest counterexample (${v.depth} transitions):\n${Trace.arrows(v.trace)}\n\n${Mermaid.sequenceDiagram(v.trace)}`)
      process.exitCode = 1
      return
    }
    console.log(verdict.complete ? "verdict: every property holds in every reachable state" : `verdict: no violation in the first ${verdict.statesExplored} states (stopped at --max-states)`)
  })).pipe(Command.withDescription("Explore every interleaving of the pure client and server sessions within bounds, check the keepalive properties, and print the shortest counterexample."))

const keepalive = Command.make("keepalive").pipe(
  Command.withDescription("libvirt's keepalive protocol: simulate it in virtual time, model-check its designs, or probe a real daemon."),
  Command.withSubcommands([simulate, verify, probe])
)

Command.run(keepalive, { version: "0.1.0" }).pipe(
  Effect.provideService(References.MinimumLogLevel, "Error"),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
