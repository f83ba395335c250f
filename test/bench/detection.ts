/**
 * Benchmark (not a test): detection precision. N TCP loopback connections whose clients ping a server in another
 * process (I = 1000 ms, C = 2); then every server-side connection is frozen (socket open, nothing read or
 * answered). Each client declares its peer dead; the error is detected − ideal, where ideal is the client's last
 * receipt + (C+1)·I. For this library it is `KeepaliveTimeout.silence − (C+1)·I` (the silence the runtime measured
 * when it declared death), and also when the application saw `closed` end. The baseline is the hand-written
 * floor (node:net + setTimeout, see floor.ts) under the same load, measured in the same run. Two layouts of the
 * connections' keepalive phases: spread over the interval, and in bursts (every deadline at the same moment).
 *
 *   node test/bench/detection.ts [--quick] [--connections n] [--repeat n]
 */
import * as net from "node:net"
import { PerformanceObserver } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { Clock, Deferred, Effect, Exit, Fiber, References } from "effect"
import * as Client from "../../src/runtime/Client.ts"
import type * as Connection from "../../src/runtime/Connection.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import { FloorKeepalive } from "./floor.ts"
import { startCpuProfile, stopCpuProfile, summarizeProfile } from "./profile.ts"
import type { Summary } from "./profile.ts"
import { arg, atMost, emitRow, fixed, machine, percentile, quick, ratio, serveParent, sleep, spawnChild, table } from "./util.ts"
import * as Testing from "../../src/testing/Testing.ts"

const CONNECTIONS = Number(arg("connections", quick ? "200" : "1000"))
const I = 1000
const C = 2
const IDEAL = (C + 1) * I
const BATCH = 200
const HOST = "127.0.0.1"

// ---------------------------------------------------------------------------------------------------------------
// The server child: answers PINGs until told to freeze every connection
// ---------------------------------------------------------------------------------------------------------------

const serverChild = async () => {
  const impl = arg("impl", "library")
  let freezeAll: () => Promise<number>
  let port: number
  if (impl === "library") {
    const connections: Array<Connection.Connection> = []
    port = await new Promise<number>((resolve) => {
      Effect.runFork(
        Effect.gen(function*() {
          const server = yield* Server.listen({ host: HOST, port: 0 }, {
            onConnection: (c) => Effect.sync(() => void connections.push(c)),
            maxClients: 100_000
          })
          resolve(server.port)
          return yield* Effect.never
        }).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error"))
      )
    })
    freezeAll = () => Effect.runPromise(Effect.forEach(connections, (c) => Testing.freeze(c), { discard: true })).then(() => connections.length)
  } else {
    const sockets: Array<net.Socket> = []
    const server = net.createServer((socket) => {
      sockets.push(socket)
      new FloorKeepalive(socket, { interval: 0, count: 0 })
    })
    port = await new Promise<number>((resolve) =>
      server.listen({ host: HOST, port: 0, backlog: 4096 }, () => resolve((server.address() as net.AddressInfo).port))
    )
    freezeAll = async () => {
      for (const s of sockets) s.pause()
      return sockets.length
    }
  }
  serveParent({ freeze: async () => ({ frozen: await freezeAll() }) }, 10 * 60_000).send({ type: "listening", port })
}

// ---------------------------------------------------------------------------------------------------------------
// The clients, in this process
// ---------------------------------------------------------------------------------------------------------------

interface Detection {
  /** detected − ideal as the keepalive measured it (ms). */
  readonly declared: ReadonlyArray<number>
  /** when the application saw the end − ideal (ms); the library only. */
  readonly observed: ReadonlyArray<number>
  /** connections that ended otherwise, or not at all */
  readonly other: number
  /** performance.now() from the freeze to the last detection */
  readonly window: readonly [number, number]
}

const nowMs = Effect.map(Clock.monotonicTimeNanos, (ns) => Number(ns) / 1e6)

/**
 * How the connections' keepalive phases lie: `spread`, opened one by one over a window so that their deadlines
 * are spread over the interval (as on a server whose clients come and go); `burst`, opened 200 at a time as fast
 * as possible, so that their deadlines fall together and every detection happens in the same few milliseconds.
 */
type Mode = "spread" | "burst"

const SPREAD_MS = Math.max(I, CONNECTIONS * 2)
/** The delay before opening connection `i` (ms). */
const openDelay = (mode: Mode, i: number) => (mode === "spread" ? (i * SPREAD_MS) / CONNECTIONS : 0)

/** Set by a profiled run: a CPU profile of this (the clients') process from the freeze to the last detection. */
let profiled: Summary | undefined

const libraryClients = (port: number, freeze: () => Promise<unknown>, mode: Mode, profile = false): Promise<Detection> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const declared: Array<number> = []
      const observed: Array<number> = []
      let other = 0
      const watchers: Array<Fiber.Fiber<void>> = []
      const readies: Array<Deferred.Deferred<void>> = []
      const connect = (i: number, ready: Deferred.Deferred<void>) =>
        Effect.gen(function*() {
          yield* Effect.sleep(`${openDelay(mode, i)} millis`)
          const client = yield* Client.connect(yield* Transport.tcp({ host: HOST, port, openTimeout: 30_000 }), { name: "test:///default", closeTimeout: 0 })
          yield* client.setKeepAlive(I, C)
          yield* Deferred.succeed(ready, undefined)
          const end = yield* Effect.exit(client.closed)
          const at = yield* nowMs
          const { lastReceived } = yield* client.status
          const reason = Exit.isFailure(end) ? end.cause.reasons[0] : undefined
          if (reason?._tag === "Fail" && reason.error._tag === "KeepaliveTimeout") {
            declared.push(reason.error.silence - IDEAL)
            observed.push(at - (lastReceived + IDEAL))
          } else other++
        }).pipe(
          Effect.scoped,
          Effect.catchCause(() => Effect.sync(() => void other++).pipe(Effect.andThen(Deferred.succeed(ready, undefined)))),
          Effect.asVoid
        )
      for (let opened = 0; opened < CONNECTIONS; opened += BATCH) {
        const batch: Array<Deferred.Deferred<void>> = []
        for (let i = opened; i < Math.min(opened + BATCH, CONNECTIONS); i++) {
          const ready = yield* Deferred.make<void>()
          batch.push(ready)
          watchers.push(yield* Effect.forkDetach(connect(i, ready)))
        }
        if (mode === "burst") { for (const ready of batch) yield* Deferred.await(ready) }
        readies.push(...batch)
      }
      for (const ready of readies) yield* Deferred.await(ready)
      // a few intervals of normal pinging, then the freeze
      yield* Effect.sleep(`${3 * I} millis`)
      if (profile) yield* Effect.promise(() => startCpuProfile(100))
      const frozenAt = performance.now()
      yield* Effect.promise(freeze)
      yield* Fiber.joinAll(watchers).pipe(Effect.timeoutOption(`${IDEAL + 20_000} millis`))
      if (profile) profiled = summarizeProfile(yield* Effect.promise(stopCpuProfile), 12)
      const window = [frozenAt, performance.now()] as const
      for (const f of watchers) yield* Fiber.interrupt(f)
      return { declared, observed, other: CONNECTIONS - declared.length, window }
    }).pipe(Effect.provideService(References.MinimumLogLevel, "Error"))
  )

const floorClients = async (port: number, freeze: () => Promise<unknown>, mode: Mode): Promise<Detection> => {
  const declared: Array<number> = []
  const ends: Array<Promise<void>> = []
  const sockets: Array<net.Socket> = []
  const connect = (i: number) =>
    new Promise<void>((connected) => {
      ends.push(
        new Promise<void>((ended) => {
          setTimeout(() => {
            const socket = net.connect({ host: HOST, port })
            sockets.push(socket)
            socket.once("connect", () => {
              new FloorKeepalive(socket, {
                interval: I,
                count: C,
                onDead: (silence) => void declared.push(silence - IDEAL),
                onClose: ended
              })
              connected()
            })
            socket.once("error", () => {
              connected()
              ended()
            })
          }, openDelay(mode, i))
        })
      )
    })
  const opening: Array<Promise<void>> = []
  for (let opened = 0; opened < CONNECTIONS; opened += BATCH) {
    const batch: Array<Promise<void>> = []
    for (let i = opened; i < Math.min(opened + BATCH, CONNECTIONS); i++) batch.push(connect(i))
    if (mode === "burst") await Promise.all(batch)
    opening.push(...batch)
  }
  await Promise.all(opening)
  await sleep(3 * I)
  const frozenAt = performance.now()
  await freeze()
  await Promise.race([Promise.all(ends), sleep(IDEAL + 20_000)])
  const window = [frozenAt, performance.now()] as const
  for (const s of sockets) s.destroy()
  return { declared, observed: [], other: CONNECTIONS - declared.length, window }
}

const run = async (impl: "library" | "floor", mode: Mode, profile = false): Promise<Detection> => {
  const server = spawnChild(fileURLToPath(import.meta.url), ["--server", "--impl", impl])
  try {
    const { port } = await server.next<{ port: number }>("listening")
    const freeze = () => server.ask("freeze")
    return impl === "library" ? await libraryClients(port, freeze, mode, profile) : await floorClients(port, freeze, mode)
  } finally {
    await server.kill()
  }
}

const summary = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return {
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN
  }
}

/** Runs of each kind; the table pools their values, and shows each run's p99. */
const REPEAT = Number(arg("repeat", quick ? "1" : "3"))

const pooled = (runs: ReadonlyArray<Detection>) => ({
  declared: runs.flatMap((r) => r.declared),
  observed: runs.flatMap((r) => r.observed),
  other: runs.reduce((n, r) => n + r.other, 0)
})

export const main = async () => {
  console.log(
    `## Detection precision: ${
      CONNECTIONS.toLocaleString("en")
    } TCP loopback connections, client pings with I = ${I} ms, C = ${C}; every server-side connection frozen at once; ${REPEAT} run(s) of each${
      quick ? " (quick)" : ""
    }`
  )
  console.log(machine())
  const row = (mode: string, name: string, values: ReadonlyArray<ReadonlyArray<number>>, other: number, base: ReturnType<typeof summary> | undefined) => {
    const s = summary(values.flat())
    return [
      mode,
      name,
      values.flat().length,
      other,
      fixed(s.min, 2),
      fixed(s.p50, 2),
      fixed(s.p90, 2),
      fixed(s.p99, 2),
      fixed(s.max, 2),
      values.map((v) => fixed(summary(v).p99, 1)).join(", "),
      base === undefined ? "1.00×" : ratio(s.p99, base.p99)
    ]
  }
  const rows: Array<ReturnType<typeof row>> = []
  const p99: Record<string, number> = {}
  // garbage-collection pauses of this (the clients') process, to tell them apart from the runtime's own delays
  const gcs: Array<{ start: number; duration: number; kind: string }> = []
  const kinds: Record<number, string> = { 1: "scavenge", 2: "mark-compact", 4: "incremental", 8: "weak callbacks", 16: "minor mark-sweep" }
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } | null }).detail?.kind ?? 0
      gcs.push({ start: e.startTime, duration: e.duration, kind: kinds[kind] ?? String(kind) })
    }
  })
  observer.observe({ entryTypes: ["gc"] })
  const gcIn = (d: Detection) => {
    const inside = gcs.filter((g) => g.start + g.duration >= d.window[0] && g.start <= d.window[1])
    const longest = inside.reduce<(typeof gcs)[number] | undefined>((a, g) => (a === undefined || g.duration > a.duration ? g : a), undefined)
    return longest === undefined ? "none" : `${fixed(longest.duration, 1)} (${longest.kind})`
  }
  const gcRows: Array<Array<string>> = []
  for (const mode of ["spread", "burst"] as const) {
    const floors: Array<Detection> = []
    const libraries: Array<Detection> = []
    for (let r = 0; r < REPEAT; r++) {
      floors.push(await run("floor", mode))
      libraries.push(await run("library", mode))
    }
    const floor = pooled(floors)
    const library = pooled(libraries)
    gcRows.push([mode, floors.map(gcIn).join(", "), libraries.map(gcIn).join(", ")])
    const f = summary(floor.declared)
    p99[mode] = summary(library.declared).p99
    if (mode === "burst") {
      const ours = summary(library.declared).p99
      emitRow({
        key: "detection-burst",
        measure: `detection p99 (KeepaliveTimeout.silence − (C+1)·I), ${BATCH} deadlines together, ${
          CONNECTIONS.toLocaleString("en")
        } TCP, I = ${I} ms, C = ${C}, ${REPEAT} run(s)${quick ? " (quick)" : ""}`,
        baseline: `floor ${fixed(f.p99, 2)} ms`,
        ours: `${fixed(ours, 2)} ms (application sees \`closed\`: ${fixed(summary(library.observed).p99, 2)} ms; ${library.other} other ends)`,
        ratio: `${ratio(ours, f.p99)} floor`,
        target: "≤ 5 ms",
        verdict: library.other > 0 ? `missed: ${library.other} connections ended otherwise` : atMost(ours, 5, (x) => `${fixed(x, 2)} ms`)
      })
    }
    const label = mode === "spread" ? `spread (opened over ${SPREAD_MS / 1000} s)` : `burst (opened ${BATCH} at a time)`
    rows.push(
      row(label, "floor (node:net + setTimeout): silence − (C+1)·I", floors.map((d) => d.declared), floor.other, undefined),
      row(label, "this library: KeepaliveTimeout.silence − (C+1)·I", libraries.map((d) => d.declared), library.other, f),
      row(label, "this library: application sees `closed` − ideal", libraries.map((d) => d.observed), library.other, f)
    )
  }
  console.log("")
  console.log(`detected − ideal (ms), ideal = last receipt + (C+1)·I = last receipt + ${IDEAL} ms; all runs pooled`)
  console.log(table(["phases", "implementation", "detected", "other ends", "min", "p50", "p90", "p99", "max", "p99 of each run", "p99 vs floor"], rows))
  observer.disconnect()
  console.log("")
  console.log("longest garbage-collection pause (ms) in the clients' process from the freeze to the last detection, per run")
  console.log(table(["phases", "floor", "this library"], gcRows))
  if (!process.argv.includes("--no-profile")) {
    // where the time goes when 200 deadlines fall together: one more burst run of ours, not counted above, under
    // V8's CPU profiler from the freeze to the last detection
    const d = await run("library", "burst", true)
    if (profiled !== undefined) {
      console.log("")
      console.log(
        `Where the clients' process spends the burst: CPU profile of one more burst run of this library (not in the table; p99 ${
          fixed(summary(d.declared).p99, 2)
        } ms under the profiler), from the freeze to the last detection, ${fixed(profiled.total / 1000, 0)} ms busy, self time by area`
      )
      console.log(table(["area", "self time"], profiled.areas.slice(0, 10)))
      console.log(table(["function", "self time"], profiled.functions.slice(0, 12)))
    }
  }
  console.log("")
  console.log(
    `goal: p99 ≤ 10 ms for this library (libvirt's own granularity is 1 s); measured p99 ${fixed(p99["spread"] ?? Number.NaN, 2)} ms spread, ${
      fixed(p99["burst"] ?? Number.NaN, 2)
    } ms burst`
  )
}

if (process.argv.includes("--server")) await serverChild()
else if (import.meta.main) await main()
