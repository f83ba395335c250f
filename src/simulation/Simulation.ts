/**
 * Deterministic simulation: the production runtime (Client, Server, Connection) over simulated links, in virtual
 * time, with injected faults.
 *
 * Contract:
 * - {@link run} runs a {@link Scenario} under its own `TestClock`: no real time passes for virtual time, and no
 *   real socket is opened. The code under test is the same code that runs on TCP.
 * - A seed makes a run reproducible: the same scenario and seed give the same trace, event for event.
 * - `sessions` runs that many independent client/server pairs side by side (for load), each on its own link;
 *   only the first pair is traced unless `traceAll` is set.
 * - Faults, any number of each kind: partitions (one or both directions, held like TCP, healing after
 *   `duration`), freezes (the side keeps its socket open but processes nothing, until `duration` ends), crashes
 *   (`process`: its sockets close and the peer sees it one link delay later; `host`: it vanishes silently and only
 *   keepalive can tell), slow readers, the client's setKeepAlive calls, slow calls (the client's application calls,
 *   the server's handler holds each call for `duration`) and application stalls (the client's application stops
 *   reading its frames while the server sends events).
 * - Busy peers ({@link Busy}): the server's call slots and backlog, the client application's backlog and its
 *   slow-consumer policy. Silence before open ({@link Scenario.silentOpen}): a server frozen from the start, or a
 *   client that never sends CONNECT_OPEN; the client's open timeout and the server's handshake timeout bound it.
 * - A scenario may name a mutant ({@link Mutation}): the runtime then runs a deliberately broken session or rule.
 * - Keepalive rules ({@link Scenario.rules}): both sessions follow ours (default) or libvirt 9.0's. Under libvirt's,
 *   `reader: "libvirtd"` emulates libvirtd's reader (a test-only rule of the simulator, not the runtime's: the server
 *   stops reading a client whose calls in flight reach max_client_requests, its keepalive running on). Faults of
 *   libvirt's field reports: `clock-step` (a side's wall clock jumps; only libvirt's rules read it), `loop-stop`
 *   (the client's event loop stops: under libvirt's rules its connection reads nothing more, as libvirt's client
 *   reads only in its loop; under ours its application stops reading and the runtime reads on) and `late-timer`
 *   (a side's process stalls `by` ms at each of its keepalive deadlines, so every timer fires late). The stalls of
 *   `loop-stop` and `late-timer` are notes in the trace, not freezes: the side is alive.
 * - The outcome says how each side's connection ended (or that it was still open), with the virtual time, counts
 *   the chunks that reached a closed socket, and carries the trace as `Trace.TraceEvent`s for
 *   {@link Trace.arrows}, `Mermaid.sequenceDiagram` and `Trace.timeline`. An end the session does not announce
 *   (a timeout before open, a slow consumer) is a note: `C: gives up opening: …`, `C: connection ends: …`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as Client from "../runtime/Client.ts"
import * as Connection from "../runtime/Connection.ts"
import * as Controls from "../runtime/Controls.ts"
import type * as Keepalive from "../core/Keepalive.ts"
import type * as OpenTimeout from "../runtime/OpenTimeout.ts"
import type * as ProtocolVariant from "../session/ProtocolVariant.ts"
import * as Server from "../runtime/Server.ts"
import * as Session from "../session/Session.ts"
import * as Scheduler from "../runtime/Scheduler.ts"
import type * as Mutants from "../verify/Mutants.ts"
import * as Frame from "../wire/Frame.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import * as Mutation from "./Mutation.ts"
import * as SimulatedLink from "./SimulatedLink.ts"
import type * as Trace from "../trace/Trace.ts"

/**
 * A fault, injected at `at` ms of virtual time.
 *
 * @since 0.1.0
 * @category models
 */
export type Fault =
  | { readonly at: number; readonly kind: "partition"; readonly direction: SimulatedLink.Direction; readonly duration: number }
  | { readonly at: number; readonly kind: "freeze"; readonly side: Trace.Side; readonly duration?: number }
  | { readonly at: number; readonly kind: "crash"; readonly side: Trace.Side; readonly mode: "process" | "host" }
  | { readonly at: number; readonly kind: "slow-reader"; readonly side: Trace.Side; readonly bytesPerSecond: number; readonly duration?: number }
  | { readonly at: number; readonly kind: "set-keepalive"; readonly interval: number; readonly count: number }
  | { readonly at: number; readonly kind: "slow-calls"; readonly count: number; readonly duration: number }
  | { readonly at: number; readonly kind: "app-stall"; readonly events: number; readonly duration?: number }
  | { readonly at: number; readonly kind: "clock-step"; readonly side: Trace.Side | "both"; readonly by: number }
  | { readonly at: number; readonly kind: "loop-stop" }
  | { readonly at: number; readonly kind: "late-timer"; readonly side: Trace.Side; readonly by: number }

/**
 * The limits a busy peer meets: the server's call slots (libvirtd's max_client_requests) and its backlog of waiting
 * calls, the client application's backlog of frames and what a full one does. Absent: the runtime's defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface Busy {
  /** The server's maxClientRequests (default 5). */
  readonly callLimit?: number
  /** The server's maxPendingCalls (default 256). */
  readonly maxPendingCalls?: number
  /** The client's maxPendingFrames (default 256). */
  readonly maxPendingFrames?: number
  /** The client's slowConsumer policy (default `drop`). */
  readonly slowConsumer?: "drop" | "end" | "pause"
}

/**
 * What to simulate. Times in ms of virtual time.
 *
 * @since 0.1.0
 * @category models
 */
export interface Scenario {
  readonly seed: number
  /** How long to run. */
  readonly duration: number
  readonly server: Session.ServerOptions
  readonly client?: {
    /** setKeepAlive(interval, count) right after opening; omitted: the client never pings. */
    readonly keepalive?: { readonly interval: number; readonly count: number }
    readonly advertise?: boolean
    readonly variant?: ProtocolVariant.ProtocolVariant
  }
  readonly toServer?: SimulatedLink.Delay
  readonly toClient?: SimulatedLink.Delay
  readonly faults?: ReadonlyArray<Fault>
  readonly busy?: Busy
  /** The client's open timeout in ms; absent: none, as libvirt's client. */
  readonly openTimeout?: number
  /** The server's handshake timeout in ms; absent: the server's default (60 s). */
  readonly handshakeTimeout?: number
  /** A side silent before open: the server frozen from the start, or a client that never sends CONNECT_OPEN. */
  readonly silentOpen?: Trace.Side
  /** A deliberately broken session or runtime rule (default `none`). */
  readonly mutant?: Mutants.Mutant
  /** Both sessions' keepalive rules (default `ours`). */
  readonly rules?: Keepalive.Rules
  /** The server's reader: the runtime's (`ours`, default) or libvirtd's, emulated (stops reading at max_client_requests). */
  readonly reader?: "ours" | "libvirtd"
}

/**
 * Why a side's connection failed.
 *
 * @since 0.1.0
 * @category models
 */
export type Failure = Connection.ConnectionError | Connection.ConnectionClosed | OpenTimeout.OpenTimeout

/**
 * How one side's connection ended, if it did.
 *
 * @since 0.1.0
 * @category models
 */
export type End =
  | { readonly _tag: "Open" }
  | { readonly _tag: "Closed"; readonly at: number }
  | { readonly _tag: "Failed"; readonly at: number; readonly error: Failure }
  | { readonly _tag: "Crashed"; readonly at: number }

/**
 * The result of a run: the first pair's trace and ends, counts over all pairs, and the time spent.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome {
  readonly trace: ReadonlyArray<Trace.TraceEvent>
  readonly client: End
  readonly server: End
  /** Over all pairs: connections declared dead by keepalive, by side. */
  readonly deaths: { readonly client: number; readonly server: number }
  /** The first pair: chunks that reached a side after its socket closed, or that a silent drop discarded, by side. */
  readonly lost: { readonly client: number; readonly server: number }
  readonly sessions: number
  readonly virtualMs: number
  readonly wallMs: number
}

const describeFault = (f: Fault): string => {
  switch (f.kind) {
    case "partition":
      return `network: partition ${f.direction} for ${f.duration} ms (traffic held)`
    case "freeze":
      return `${f.side === "client" ? "C" : "S"}: frozen${f.duration === undefined ? "" : ` for ${f.duration} ms`} (socket open, nothing processed)`
    case "crash":
      return `${f.side === "client" ? "C" : "S"}: crashes (${f.mode === "process" ? "its sockets close" : "the host vanishes silently"})`
    case "slow-reader":
      return `${f.side === "client" ? "C" : "S"}: reads at most ${f.bytesPerSecond} bytes/s${f.duration === undefined ? "" : ` for ${f.duration} ms`}`
    case "set-keepalive":
      return `C: the application calls setKeepAlive(${f.interval}, ${f.count})`
    case "slow-calls":
      return `C: the application makes ${f.count} call(s), each held ${f.duration} ms by the server's handler`
    case "app-stall":
      return `C: the application stops reading its frames${f.duration === undefined ? "" : ` for ${f.duration} ms`}; S sends ${f.events} event(s)`
    case "clock-step":
      return `${f.side === "both" ? "C and S" : f.side === "client" ? "C" : "S"}: the wall clock steps ${f.by >= 0 ? "forward" : "back"} ${Math.abs(f.by)} ms`
    case "loop-stop":
      return "C: its event loop stops (it advertised keepalive; the loop never runs again)"
    case "late-timer":
      return `${f.side === "client" ? "C" : "S"}: its process stalls ${f.by} ms at each keepalive deadline (every timer fires late)`
  }
}

/** Per side: its session's next deadline (absolute ms, as the runtime reads its clock), and whether its stalls are quiet. */
interface Watch {
  deadline: number | undefined
  quiet: boolean
}

interface Pair {
  readonly watch: Record<Trace.Side, Watch>
  readonly client: Deferred.Deferred<Connection.Connection>
  readonly server: Deferred.Deferred<Connection.Connection>
  readonly ends: Ref.Ref<{ client: End; server: End }>
  readonly link: SimulatedLink.Link
}

type Recorder = ((e: Trace.TraceEvent) => Effect.Effect<void>) | undefined

/** REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE: a message the daemon sends on its own, for the client's application. */
const EVENT = Frame.make({ ...Remote.callHeader(318, 0), type: Frame.MessageType.Message })

/** A slow call: CONNECT_GET_HOSTNAME whose payload says how long the server's handler holds it (ms). */
const slowCall = (ms: number): Uint8Array => {
  const payload = new Uint8Array(4)
  new DataView(payload.buffer).setUint32(0, ms)
  return payload
}
const heldFor = (call: Frame.Frame): number => (call.payload.length >= 4 ? new DataView(call.payload.buffer, call.payload.byteOffset).getUint32(0) : 0)

/**
 * The server's handler: holds each call for the time its payload says. Under `stop-reading-at-limit` the server
 * also stops reading while its calls in flight are at the limit (libvirtd's rule: keepalive not paused).
 */
const handler = (scenario: Scenario, link: SimulatedLink.Link): Server.Handler => {
  const limit = scenario.busy?.callLimit ?? Server.defaultLimits.maxClientRequests
  const stops = Mutation.stopsReadingAtLimit(scenario.mutant ?? "none") || scenario.reader === "libvirtd"
  let inFlight = 0
  const reading = Effect.suspend(() => (stops ? link.control.stopReading("server", inFlight >= limit) : Effect.void))
  return (call) =>
    Effect.sync(() => void inFlight++).pipe(
      Effect.andThen(reading),
      Effect.andThen(Effect.sleep(Duration.millis(heldFor(call)))),
      Effect.ensuring(Effect.suspend(() => {
        inFlight--
        return reading
      })),
      Effect.as(new Uint8Array(0))
    )
}

/** The server's options: its keepalive (the mutant's count), limits, handler and timeouts. */
const serverOptions = (scenario: Scenario, link: SimulatedLink.Link, watch: Watch): Server.ServeOptions => {
  const mutant = scenario.mutant ?? "none"
  const busy = scenario.busy ?? {}
  const timeout = Mutation.armsOpenTimeouts(mutant) ? scenario.handshakeTimeout : 0
  return {
    keepalive: {
      ...scenario.server,
      count: Mutation.serverCount(mutant, scenario.server.count),
      ...(scenario.rules === undefined ? {} : { rules: scenario.rules })
    },
    handler: handler(scenario, link),
    ...(busy.callLimit === undefined ? {} : { maxClientRequests: busy.callLimit }),
    ...(busy.maxPendingCalls === undefined ? {} : { maxPendingCalls: busy.maxPendingCalls }),
    ...(timeout === undefined ? {} : { handshakeTimeout: Duration.millis(timeout) }),
    step: watched(Mutation.withRules(mutant === "none" ? undefined : Mutation.stepperOf(mutant, "server", scenario.server), scenario.rules), watch)
  }
}

/** A step function that records the session's next deadline after each step (for `late-timer`). */
const watched = (step: Mutation.Stepper, watch: Watch): Mutation.Stepper => (state, input) => {
  const out = step(state, input)
  watch.deadline = Session.nextDeadline(out[0])
  return out
}

/** The client's options: libvirt's (no open timeout) unless the scenario sets one, its backlog, the mutant. */
const clientOptions = (scenario: Scenario, watch: Watch): Client.ConnectOptions => {
  const mutant = scenario.mutant ?? "none"
  const client = scenario.client ?? {}
  const busy = scenario.busy ?? {}
  const open = scenario.openTimeout !== undefined && Mutation.armsOpenTimeouts(mutant) ? Duration.millis(scenario.openTimeout) : Duration.infinity
  return {
    name: "test:///default",
    // a run ends at a fixed virtual time: no reply to wait for when the scope closes
    closeTimeout: 0,
    openTimeout: open,
    // the application's calls all go out at once: the server's limits are what a run exercises
    maxCallsInFlight: 1024,
    ...(client.advertise === undefined ? {} : { advertise: client.advertise }),
    ...(client.variant === undefined ? {} : { variant: client.variant }),
    ...(busy.maxPendingFrames === undefined ? {} : { maxPendingFrames: busy.maxPendingFrames }),
    ...(busy.slowConsumer === undefined ? {} : { slowConsumer: busy.slowConsumer }),
    step: watched(Mutation.withRules(mutant === "none" ? undefined : Mutation.stepperOf(mutant, "client", scenario.server), scenario.rules), watch)
  }
}

/** The client's application reading its frames while `reading` is open. */
const application = (client: Connection.Connection, reading: Latch.Latch) =>
  Effect.gen(function*() {
    const pull = yield* Stream.toPull(client.frames)
    for (;;) {
      yield* reading.await
      yield* pull
    }
  }).pipe(Effect.ignore)

/** The note for an end the session did not announce (a timeout before open, a slow consumer), if it is one. */
const unannounced = (side: Trace.Side, error: Failure): string | undefined => {
  const who = side === "client" ? "C" : "S"
  if (error._tag === "OpenTimeout" || error._tag === "HandshakeTimeout") return `${who}: gives up opening: ${error.message}`
  if (error._tag === "SlowConsumer") return `${who}: connection ends: ${error.message}`
  return undefined
}

/** One client/server pair on its own link, with its faults scheduled. Scoped. */
const pair = (scenario: Scenario, index: number, start: number, record: Recorder) =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const now = () => Number(clock.monotonicTimeNanosUnsafe()) / 1e6 - start
    const link = yield* SimulatedLink.make({
      toServer: scenario.toServer ?? { latency: 1 },
      toClient: scenario.toClient ?? { latency: 1 },
      seed: (scenario.seed + index * 7919) >>> 0
    })
    const watch: Pair["watch"] = { client: { deadline: undefined, quiet: false }, server: { deadline: undefined, quiet: false } }
    // a quiet stall (loop-stop, late-timer) is a note, not a freeze: the side is alive
    const quietly = (e: Trace.TraceEvent) => (e.kind === "freeze" || e.kind === "thaw") && watch[e.side].quiet
    const shifted = record === undefined ? undefined : (e: Trace.TraceEvent) => quietly(e) ? undefined : Effect.runSync(record({ ...e, at: e.at - start }))
    const p: Pair = {
      watch,
      client: yield* Deferred.make<Connection.Connection>(),
      server: yield* Deferred.make<Connection.Connection>(),
      ends: yield* Ref.make<{ client: End; server: End }>({ client: { _tag: "Open" }, server: { _tag: "Open" } }),
      link
    }
    const settle = (side: Trace.Side, exit: Exit.Exit<unknown, Failure>) =>
      Effect.gen(function*() {
        const ends = yield* Ref.get(p.ends)
        if (ends[side]._tag !== "Open") return
        const at = now()
        const end = Exit.isSuccess(exit) ? { _tag: "Closed", at } as const : failed(exit, at)
        yield* Ref.set(p.ends, { ...ends, [side]: end })
        const text = end._tag === "Failed" ? unannounced(side, end.error) : undefined
        if (record !== undefined && text !== undefined) yield* record({ at, kind: "note", text })
      })

    const serverFiber = yield* Effect.forkScoped(Effect.scoped(Server.handleSocket(link.server, {
      ...serverOptions(scenario, link, watch.server),
      ...(shifted === undefined ? {} : { trace: shifted }),
      onConnection: (c) =>
        // a server silent before open is frozen before it reads anything
        (scenario.silentOpen === "server" ? Controls.of(c).freeze(true) : Effect.void).pipe(
          Effect.andThen(Deferred.succeed(p.server, c)),
          Effect.asVoid
        )
    })))
    yield* Effect.forkScoped(
      Deferred.await(p.server).pipe(
        Effect.flatMap((c) => Effect.exit(c.closed)),
        Effect.flatMap((exit) => settle("server", exit))
      )
    )
    const reading = yield* Latch.make(true)
    const clientFiber = yield* Effect.forkScoped(
      scenario.silentOpen === "client" ? Effect.never : clientRun(scenario, link.client, p, reading, shifted, settle)
    )
    const fibers = { client: clientFiber, server: serverFiber }
    for (const f of scenario.faults ?? []) {
      yield* Effect.forkScoped(
        Effect.sleep(Duration.millis(f.at)).pipe(Effect.andThen(inject({ p, link, fibers, reading, record, now, rules: scenario.rules ?? "ours" }, f)))
      )
    }
    return p
  })

/** The client: opens (libvirt's open sequence), sets its keepalive, reads its frames, and settles its end. */
const clientRun = (
  scenario: Scenario,
  socket: SimulatedLink.Link["client"],
  p: Pair,
  reading: Latch.Latch,
  trace: ((e: Trace.TraceEvent) => void) | undefined,
  settle: (side: Trace.Side, exit: Exit.Exit<unknown, Failure>) => Effect.Effect<void>
) =>
  Effect.scoped(
    Effect.gen(function*() {
      const client = yield* Client.connect(socket, { ...clientOptions(scenario, p.watch.client), ...(trace === undefined ? {} : { trace }) })
      yield* Deferred.succeed(p.client, client)
      yield* Effect.forkScoped(application(client, reading))
      const keepalive = scenario.client?.keepalive
      if (keepalive !== undefined) yield* Effect.ignore(client.setKeepAlive(keepalive.interval, keepalive.count))
      yield* settle("client", yield* Effect.exit(client.closed))
      return yield* Effect.never
    }).pipe(
      // the scenario's client sets no keepalive while connecting: it cannot be invalid here
      Effect.catchTag("InvalidKeepaliveConfig", (e) => Effect.die(e)),
      Effect.catch((error) => settle("client", Exit.fail(error)))
    )
  )

/** What a fault acts on. */
interface Target {
  readonly p: Pair
  readonly link: SimulatedLink.Link
  readonly fibers: { readonly client: Fiber.Fiber<unknown>; readonly server: Fiber.Fiber<unknown> }
  readonly reading: Latch.Latch
  readonly rules: Keepalive.Rules
  readonly record: Recorder
  readonly now: () => number
}

/** Injects one fault at its time (each in its own fiber, so faults of any kind may overlap). */
const inject = (t: Target, f: Fault): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { link, p, record, now } = t
    // a freeze shows up in the frozen connection's own trace; a setKeepAlive is noted when the call is made
    if (record !== undefined && f.kind !== "freeze" && f.kind !== "set-keepalive") yield* record({ at: now(), kind: "note", text: describeFault(f) })
    switch (f.kind) {
      case "partition":
        yield* link.control.partition(f.direction, true)
        yield* Effect.sleep(Duration.millis(f.duration))
        if (record !== undefined) yield* record({ at: now(), kind: "note", text: `network: partition ${f.direction} heals` })
        return yield* link.control.partition(f.direction, false)
      case "freeze": {
        const c = yield* Deferred.await(f.side === "client" ? p.client : p.server)
        yield* Controls.of(c).freeze(true)
        if (f.duration === undefined) return
        yield* Effect.sleep(Duration.millis(f.duration))
        return yield* Controls.of(c).freeze(false)
      }
      case "crash":
        yield* Ref.update(p.ends, (ends) => ends[f.side]._tag !== "Open" ? ends : { ...ends, [f.side]: { _tag: "Crashed", at: now() } })
        if (f.mode === "host") yield* link.control.blackhole("both", true)
        yield* Fiber.interrupt(t.fibers[f.side])
        if (f.mode === "process") yield* link.control.cut
        return
      case "slow-reader":
        yield* link.control.slowReader(f.side, f.bytesPerSecond)
        if (f.duration === undefined) return
        yield* Effect.sleep(Duration.millis(f.duration))
        return yield* link.control.slowReader(f.side, undefined)
      case "set-keepalive": {
        const c = yield* Deferred.await(p.client)
        // noted when the call is made (the connection may open later than f.at), right before it
        if (record !== undefined) yield* record({ at: now(), kind: "note", text: describeFault(f) })
        return yield* Effect.ignore(c.setKeepAlive(f.interval, f.count))
      }
      case "slow-calls": {
        const c = yield* Deferred.await(p.client)
        const call = Effect.ignore(c.call(Remote.RemoteProc.ConnectGetHostname, slowCall(f.duration)))
        return yield* Effect.forEach(Array.from({ length: f.count }), () => Effect.forkScoped(call), { discard: true })
      }
      case "app-stall": {
        const server = yield* Deferred.await(p.server)
        yield* t.reading.close
        yield* Effect.forEach(Array.from({ length: f.events }), () => Effect.ignore(server.send(EVENT)), { discard: true })
        if (f.duration === undefined) return
        yield* Effect.sleep(Duration.millis(f.duration))
        return yield* t.reading.open
      }
      case "clock-step":
        return yield* Effect.forEach(f.side === "both" ? (["client", "server"] as const) : [f.side], (side) => stepClock(p, side, f.by), { discard: true })
      case "loop-stop":
        return yield* loopStop(t)
      case "late-timer":
        return yield* lateTimers(t, f.side, f.by)
    }
  })

/** A side's wall clock jumps by `by` ms: a `ClockStep` input to its session (only libvirt's rules read it). */
const stepClock = (p: Pair, side: Trace.Side, by: number) =>
  Deferred.await(side === "client" ? p.client : p.server).pipe(
    Effect.flatMap((c) => Effect.ignore(Controls.of(c).request((now) => Session.Input.ClockStep(now, by))))
  )

/**
 * The client's event loop stops for good. libvirt's client reads its socket and runs its keepalive timer only in
 * its loop: its connection stops (a quiet freeze). Ours reads in the runtime's own fibers: only its application stops.
 */
const loopStop = (t: Target) =>
  Effect.gen(function*() {
    if (t.rules === "ours") return yield* t.reading.close
    const c = yield* Deferred.await(t.p.client)
    t.p.watch.client.quiet = true
    yield* Controls.of(c).freeze(true)
  })

/** How often a late-timer watch looks at the side's next deadline, in ms of virtual time. */
const WATCH_MS = 50

/** From now on, the side's process stalls `by` ms from 1 ms before each of its keepalive deadlines (a quiet freeze). */
const lateTimers = (t: Target, side: Trace.Side, by: number) =>
  Effect.gen(function*() {
    const c = yield* Deferred.await(side === "client" ? t.p.client : t.p.server)
    const clock = yield* Clock.Clock
    const watch = t.p.watch[side]
    let done = Number.NEGATIVE_INFINITY
    for (;;) {
      const due = watch.deadline
      const now = Scheduler.millis(clock)
      if (due !== undefined && due > done && now >= due - 1) {
        watch.quiet = true
        yield* Controls.of(c).freeze(true)
        yield* Effect.sleep(Duration.millis(by + 1))
        yield* Controls.of(c).freeze(false)
        watch.quiet = false
        done = due
      } else {
        yield* Effect.sleep(Duration.millis(due === undefined || due <= done ? WATCH_MS : Math.min(WATCH_MS, Math.max(1, due - 1 - now))))
      }
    }
  })

const failed = (exit: Exit.Exit<unknown, Failure>, at: number): End => {
  const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
  return reason?._tag === "Fail"
    ? { _tag: "Failed", at, error: reason.error }
    : { _tag: "Closed", at }
}

/**
 * Lets work started outside a sleep (connects, forks) run to rest, without moving virtual time: real event-loop turns
 * until nothing is due now in the scheduler (zero-latency deliveries are due now), at least 10, at most 1000.
 */
const settle = Effect.gen(function*() {
  const clock = yield* Clock.Clock
  const scheduler = yield* Scheduler.current
  for (let i = 0; i < 1000; i++) {
    yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    const next = scheduler.next()
    if (i >= 10 && (next === undefined || next > Scheduler.millis(clock))) return
  }
})

/**
 * Runs a scenario in virtual time.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  scenario: Scenario,
  options: { readonly sessions?: number; readonly traceAll?: boolean; readonly onProgress?: (virtualMs: number) => void } = {}
): Effect.Effect<Outcome> =>
  Effect.gen(function*() {
    const wallStart = performance.now()
    const start = Number(yield* Clock.monotonicTimeNanos) / 1e6
    const trace: Array<Trace.TraceEvent> = []
    const record = (e: Trace.TraceEvent) => Effect.sync(() => void trace.push(e))
    const sessions = Math.max(1, options.sessions ?? 1)
    const pairs: Array<Pair> = []
    for (let i = 0; i < sessions; i++) {
      const withTrace = i === 0 || options.traceAll === true
      pairs.push(yield* pair(scenario, i, start, withTrace ? record : undefined))
    }
    yield* settle
    // Advance in slices so long runs can report progress; each slice runs every wake-up in order.
    const slice = Math.max(1000, Math.ceil(scenario.duration / 100))
    for (let t = 0; t < scenario.duration; t += slice) {
      yield* TestClock.adjust(Duration.millis(Math.min(slice, scenario.duration - t)))
      options.onProgress?.(Math.min(t + slice, scenario.duration))
    }
    yield* settle
    const ends = yield* Effect.forEach(pairs, (p) => Ref.get(p.ends))
    const deaths = { client: 0, server: 0 }
    for (const e of ends) {
      if (e.client._tag === "Failed" && e.client.error._tag === "KeepaliveTimeout") deaths.client++
      if (e.server._tag === "Failed" && e.server.error._tag === "KeepaliveTimeout") deaths.server++
    }
    const first = ends[0]!
    return {
      lost: pairs[0]!.link.lost(),
      trace: [...trace].sort((a, b) => a.at - b.at),
      client: first.client,
      server: first.server,
      deaths,
      sessions,
      virtualMs: scenario.duration,
      wallMs: performance.now() - wallStart
    }
  }).pipe(Effect.scoped, Effect.provide(TestClock.layer()))
