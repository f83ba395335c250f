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
 * - Faults: partitions (one or both directions, held like TCP, healing after `duration`), freezes (the side keeps
 *   its socket open but processes nothing, until `duration` ends), crashes (`process`: its sockets close and the
 *   peer sees it; `host`: it vanishes silently and only keepalive can tell), and slow readers.
 * - The outcome says how each side's connection ended (or that it was still open), with the virtual time, and
 *   carries the trace as `Trace.TraceEvent`s for {@link Trace.arrows}, `Mermaid.sequenceDiagram` and
 *   `Trace.timeline`.
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Ref } from "effect"
import { TestClock } from "effect/testing"
import * as Client from "../runtime/Client.ts"
import * as Connection from "../runtime/Connection.ts"
import type * as ProtocolVariant from "../session/ProtocolVariant.ts"
import * as Server from "../runtime/Server.ts"
import type * as Session from "../session/Session.ts"
import * as Scheduler from "../runtime/Scheduler.ts"
import * as SimulatedLink from "./SimulatedLink.ts"
import type * as Trace from "../tools/Trace.ts"

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
}

/**
 * How one side's connection ended, if it did.
 *
 * @since 0.1.0
 * @category models
 */
export type End =
  | { readonly _tag: "Open" }
  | { readonly _tag: "Closed"; readonly at: number }
  | { readonly _tag: "Failed"; readonly at: number; readonly error: Connection.ConnectionError | Connection.ConnectionClosed }
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
  }
}

interface Pair {
  readonly client: Deferred.Deferred<Connection.Connection>
  readonly server: Deferred.Deferred<Connection.Connection>
  readonly ends: Ref.Ref<{ client: End; server: End }>
}

/** One client/server pair on its own link, with its faults scheduled. Scoped. */
const pair = (scenario: Scenario, index: number, start: number, record: ((e: Trace.TraceEvent) => Effect.Effect<void>) | undefined) =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const now = () => Number(clock.monotonicTimeNanosUnsafe()) / 1e6 - start
    const link = yield* SimulatedLink.make({
      toServer: scenario.toServer ?? { latency: 1 },
      toClient: scenario.toClient ?? { latency: 1 },
      seed: (scenario.seed + index * 7919) >>> 0
    })
    const shifted = record === undefined ? undefined : (e: Trace.TraceEvent) => Effect.runSync(record({ ...e, at: e.at - start }))
    const p: Pair = {
      client: yield* Deferred.make<Connection.Connection>(),
      server: yield* Deferred.make<Connection.Connection>(),
      ends: yield* Ref.make<{ client: End; server: End }>({ client: { _tag: "Open" }, server: { _tag: "Open" } })
    }
    const settle = (side: Trace.Side, exit: Exit.Exit<unknown, Connection.ConnectionError | Connection.ConnectionClosed>) =>
      Ref.update(p.ends, (ends) =>
        ends[side]._tag !== "Open" ? ends
          : { ...ends, [side]: Exit.isSuccess(exit) ? { _tag: "Closed", at: now() } : failed(exit, now()) })

    const serverFiber = yield* Effect.forkScoped(Effect.scoped(Server.handleSocket(link.server, {
      keepalive: scenario.server,
      ...(shifted === undefined ? {} : { trace: shifted }),
      onConnection: (c) => Deferred.succeed(p.server, c).pipe(Effect.asVoid)
    })))
    yield* Effect.forkScoped(Deferred.await(p.server).pipe(
      Effect.flatMap((c) => Effect.exit(c.closed)),
      Effect.flatMap((exit) => settle("server", exit))
    ))
    const clientOptions = scenario.client ?? {}
    const clientFiber = yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
      const client = yield* Client.connect(link.client, {
        name: "test:///default",
        // a run ends at a fixed virtual time: no reply to wait for when the scope closes
        closeTimeout: 0,
        // libvirt's client has no open timeout, and a scenario's faults may hold the open as long as they like
        openTimeout: Duration.infinity,
        ...(clientOptions.advertise === undefined ? {} : { advertise: clientOptions.advertise }),
        ...(clientOptions.variant === undefined ? {} : { variant: clientOptions.variant }),
        ...(shifted === undefined ? {} : { trace: shifted })
      })
      yield* Deferred.succeed(p.client, client)
      if (clientOptions.keepalive !== undefined) yield* Effect.ignore(client.setKeepAlive(clientOptions.keepalive.interval, clientOptions.keepalive.count))
      yield* settle("client", yield* Effect.exit(client.closed))
      return yield* Effect.never
    }).pipe(
      // the scenario's client sets no keepalive while connecting, and has no open timeout: neither can happen here
      Effect.catchTags({ InvalidKeepaliveConfig: (e) => Effect.die(e), OpenTimeout: (e) => Effect.die(e) }),
      Effect.catch((error) => settle("client", Exit.fail(error)))
    )))

    const fibers = { client: clientFiber, server: serverFiber }
    const inject = (f: Fault) =>
      Effect.gen(function*() {
        // a freeze shows up in the frozen connection's own trace
        if (record !== undefined && f.kind !== "freeze" && f.kind !== "set-keepalive") yield* record({ at: now(), kind: "note", text: describeFault(f) })
        switch (f.kind) {
          case "partition":
            yield* link.control.partition(f.direction, true)
            yield* Effect.sleep(Duration.millis(f.duration))
            if (record !== undefined) yield* record({ at: now(), kind: "note", text: `network: partition ${f.direction} heals` })
            yield* link.control.partition(f.direction, false)
            return
          case "freeze": {
            const c = yield* Deferred.await(f.side === "client" ? p.client : p.server)
            yield* Connection.controls(c).freeze(true)
            if (f.duration !== undefined) {
              yield* Effect.sleep(Duration.millis(f.duration))
              yield* Connection.controls(c).freeze(false)
            }
            return
          }
          case "crash":
            yield* Ref.update(p.ends, (ends) => ends[f.side]._tag !== "Open" ? ends : { ...ends, [f.side]: { _tag: "Crashed", at: now() } })
            if (f.mode === "host") yield* link.control.blackhole("both", true)
            yield* Fiber.interrupt(fibers[f.side])
            if (f.mode === "process") yield* link.control.cut
            return
          case "slow-reader":
            yield* link.control.slowReader(f.side, f.bytesPerSecond)
            if (f.duration !== undefined) {
              yield* Effect.sleep(Duration.millis(f.duration))
              yield* link.control.slowReader(f.side, undefined)
            }
            return
          case "set-keepalive": {
            const c = yield* Deferred.await(p.client)
            // noted when the call is made (the connection may open later than f.at), right before it
            if (record !== undefined) yield* record({ at: now(), kind: "note", text: describeFault(f) })
            yield* Effect.ignore(c.setKeepAlive(f.interval, f.count))
            return
          }
        }
      })
    for (const f of scenario.faults ?? []) {
      yield* Effect.forkScoped(Effect.sleep(Duration.millis(f.at)).pipe(Effect.andThen(inject(f))))
    }
    return p
  })

const failed = (exit: Exit.Exit<unknown, Connection.ConnectionError | Connection.ConnectionClosed>, at: number): End => {
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
      trace: [...trace].sort((a, b) => a.at - b.at),
      client: first.client,
      server: first.server,
      deaths,
      sessions,
      virtualMs: scenario.duration,
      wallMs: performance.now() - wallStart
    }
  }).pipe(Effect.scoped, Effect.provide(TestClock.layer()))
