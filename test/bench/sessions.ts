/**
 * Benchmark (not a test): N live client/server sessions of this library in one process, over the in-memory
 * transport (`Transport.memoryPair` + `Server.handleSocket` + `Client.connect`), under the real clock, keepalive
 * 5 s × 5 on both sides. Heap per session after creating them, then while they run: does it stay bounded?
 *
 *   node test/bench/sessions.ts [--quick] [--sessions n] [--run seconds]
 *
 * The measurement runs in a child process (spawned with `process.execPath`, `--expose-gc` and a larger heap).
 */
import { fileURLToPath } from "node:url"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Deferred, Effect } from "effect"
import * as Observability from "../../src/runtime/Observability.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import { holdClient } from "./hold.ts"
import { startCpuProfile, stopCpuProfile, summarizeProfile } from "./profile.ts"
import type { Summary } from "./profile.ts"
import { arg, atLeast, cpuSample, emitRow, fixed, kib, machine, mib, quick, ratio, serveParent, settledMemory, sleep, spawnChild, table } from "./util.ts"

const SESSIONS = Number(arg("sessions", quick ? "10000" : "100000"))
const RUN_S = Number(arg("run", quick ? "10" : "20"))
const BATCH = 1000
/** Creation stops after this long, whatever the count (the run must end by itself). */
const CREATE_BUDGET_S = Number(arg("create-budget", "600"))
/** Creation stops when one batch of 1000 takes longer than this (seconds): the process is saturated. */
const BATCH_LIMIT_S = Number(arg("batch-limit", "20"))
const INTERVAL = 5000
const COUNT = 5

// ---------------------------------------------------------------------------------------------------------------
// The child: creates and holds the sessions
// ---------------------------------------------------------------------------------------------------------------

const stats = { live: 0, ended: 0, failed: 0 }

/** One session: a server connection and a client connection on one in-memory link; `ready` once keepalive runs. */
const session = (ready: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    const link = yield* Transport.memoryPair
    yield* Effect.forkScoped(Effect.scoped(Server.handleSocket(link.right, {
      keepalive: { interval: INTERVAL, count: COUNT, policy: "if-supported" }
    })))
    yield* holdClient(Effect.succeed(link.left), { interval: INTERVAL, count: COUNT }, stats, ready)
  }).pipe(Effect.scoped)

/**
 * Creates up to `n` sessions, 1000 at a time. Stops early, to end by itself, when the whole creation exceeds
 * `budgetMs` or one batch takes longer than `batchLimitMs` (the process is saturated).
 */
const create = (n: number, budgetMs: number, batchLimitMs: number) =>
  Effect.runPromise(Effect.gen(function*() {
    const start = performance.now()
    for (let done = 0; done < n; done += BATCH) {
      const elapsed = performance.now() - start
      if (elapsed > budgetMs) return { stopped: `total budget of ${budgetMs / 1000} s exceeded` }
      if (done > 0 && done % 10_000 === 0) {
        process.stdout.write(`  ${done.toLocaleString("en")} sessions after ${(elapsed / 1000).toFixed(1)} s\n`)
      }
      const readies: Array<Deferred.Deferred<void>> = []
      for (let i = 0; i < Math.min(BATCH, n - done); i++) {
        const ready = yield* Deferred.make<void>()
        readies.push(ready)
        yield* Effect.forkDetach(session(ready))
      }
      const all = yield* Effect.forEach(readies, Deferred.await, { discard: true }).pipe(
        Effect.timeoutOption(`${batchLimitMs} millis`)
      )
      if (all._tag === "None") {
        // the batch in flight still opens (or fails) before anything is counted; bounded as well
        yield* Effect.forEach(readies, Deferred.await, { discard: true }).pipe(Effect.timeoutOption("120 seconds"))
        return {
          stopped: `a batch of ${BATCH} took more than ${batchLimitMs / 1000} s to open at ${done.toLocaleString("en")}–${
            (done + readies.length).toLocaleString("en")
          } sessions (the process is saturated)`
        }
      }
    }
    return { stopped: undefined }
  }))

const traffic = () =>
  Effect.runSync(Effect.gen(function*() {
    return {
      pings: yield* Observability.totalCount((m) => m.pingsSent),
      pongs: yield* Observability.totalCount((m) => m.pongsSent),
      dead: yield* Observability.totalCount((m) => m.peersDead)
    }
  }))

const child = () => {
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()
  const lagSample = () => {
    const sample = { lagP99: lag.percentile(99) / 1e6, lagMax: lag.max / 1e6 }
    lag.reset()
    return sample
  }
  serveParent({
    memory: async () => ({ memory: await settledMemory(), ...stats }),
    cpu: () => ({ ...cpuSample(), ...traffic(), ...stats, ...lagSample() }),
    "cpu-profile-start": async () => {
      await startCpuProfile()
      return {}
    },
    "cpu-profile-stop": async () => ({ summary: summarizeProfile(await stopCpuProfile(), 15) }),
    create: async (m: { sessions: number; budgetMs: number; batchLimitMs: number }) => {
      const start = performance.now()
      const { stopped } = await create(m.sessions, m.budgetMs, m.batchLimitMs)
      return { ms: performance.now() - start, stopped, ...stats }
    }
  }, 30 * 60_000).send({ type: "started" })
}

// ---------------------------------------------------------------------------------------------------------------
// The parent: drives the child and prints the table
// ---------------------------------------------------------------------------------------------------------------

interface Memory {
  readonly memory: NodeJS.MemoryUsage
  readonly live: number
  readonly ended: number
  readonly failed: number
}
interface Cpu {
  readonly cpuUs: number
  readonly at: number
  readonly pings: number
  readonly pongs: number
  readonly dead: number
  readonly live: number
  readonly lagP99: number
  readonly lagMax: number
}

export const main = async () => {
  console.log(
    `## In-memory sessions: ${SESSIONS.toLocaleString("en")} client/server pairs in one process, real clock, keepalive I = ${
      INTERVAL / 1000
    } s, C = ${COUNT} both sides, run ${RUN_S} s${quick ? " (quick)" : ""}`
  )
  console.log(machine())
  const heapMiB = 20_480
  const worker = spawnChild(fileURLToPath(import.meta.url), ["--child"], ["--expose-gc", `--max-old-space-size=${heapMiB}`])
  try {
    await worker.next("started")
    const base = await worker.ask<Memory>("memory")
    const created = await worker.ask<{ ms: number; live: number; failed: number; stopped: string | undefined }>(
      "create",
      { sessions: SESSIONS, budgetMs: CREATE_BUDGET_S * 1000, batchLimitMs: BATCH_LIMIT_S * 1000 },
      (CREATE_BUDGET_S + BATCH_LIMIT_S + 600) * 1000
    )
    const n = created.live
    process.stdout.write(
      `  ${n.toLocaleString("en")} sessions open in ${(created.ms / 1000).toFixed(1)} s (${created.failed} failed)${
        created.stopped === undefined ? "" : `; creation stopped: ${created.stopped}`
      }\n`
    )
    const afterCreate = await worker.ask<Memory>("memory", {}, 10 * 60_000)
    const samples: Array<{ t: number; memory: Memory; cpu: Cpu; cpuPercent: number; frames: number }> = []
    let previous = await worker.ask<Cpu>("cpu")
    const start = previous.at
    const step = 5
    for (let t = step; t <= RUN_S; t += step) {
      await sleep(step * 1000)
      const cpu = await worker.ask<Cpu>("cpu")
      const memory = await worker.ask<Memory>("memory", {}, 10 * 60_000)
      const wallS = (cpu.at - previous.at) / 1000
      samples.push({
        t: Math.round((cpu.at - start) / 1000),
        memory,
        cpu,
        cpuPercent: ((cpu.cpuUs - previous.cpuUs) / 1e6 / wallS) * 100,
        frames: (cpu.pings + cpu.pongs - previous.pings - previous.pongs) / wallS
      })
      // the sample's own GC is not part of the next interval's CPU
      previous = await worker.ask<Cpu>("cpu")
    }
    // where the time of the running sessions goes: a CPU profile of 5 s after the measured samples
    await worker.ask("cpu-profile-start")
    await sleep(5000)
    const { summary: profile } = await worker.ask<{ summary: Summary }>("cpu-profile-stop", {}, 10 * 60_000)
    const per = (m: Memory, f: (u: NodeJS.MemoryUsage) => number) => (f(m.memory) - f(base.memory)) / n
    console.log("")
    console.log(`Memory per session (KiB; one session = a client and a server connection; after a full GC, against the same process before creating)`)
    console.log(table(
      [
        "moment",
        "heapUsed / session",
        "RSS / session",
        "heapUsed total (MiB)",
        "RSS total (MiB)",
        "vs after creating",
        "CPU % (last 5 s)",
        "keepalive frames/s",
        "event-loop delay p99 / max (ms)",
        "live",
        "dead"
      ],
      [
        [
          "after creating",
          kib(per(afterCreate, (u) => u.heapUsed)),
          kib(per(afterCreate, (u) => u.rss)),
          mib(afterCreate.memory.heapUsed),
          mib(afterCreate.memory.rss),
          "1.00×",
          "",
          "",
          "",
          afterCreate.live,
          afterCreate.ended + afterCreate.failed
        ],
        ...samples.map((s) => [
          `after ${s.t} s running`,
          kib(per(s.memory, (u) => u.heapUsed)),
          kib(per(s.memory, (u) => u.rss)),
          mib(s.memory.memory.heapUsed),
          mib(s.memory.memory.rss),
          ratio(s.memory.memory.heapUsed - base.memory.heapUsed, afterCreate.memory.heapUsed - base.memory.heapUsed),
          fixed(s.cpuPercent, 1),
          fixed(s.frames, 0),
          `${fixed(s.cpu.lagP99, 0)} / ${fixed(s.cpu.lagMax, 0)}`,
          s.memory.live,
          s.memory.ended + s.memory.failed
        ])
      ]
    ))
    const last = samples[samples.length - 1]
    if (last !== undefined) {
      const growth = (last.memory.memory.heapUsed - afterCreate.memory.heapUsed) / (afterCreate.memory.heapUsed - base.memory.heapUsed)
      console.log("")
      console.log(
        `heap growth while running: ${(growth * 100).toFixed(1)}% of the sessions' heap over ${last.t} s; ${last.memory.live.toLocaleString("en")} of ${
          SESSIONS.toLocaleString("en")
        } sessions still live (${n.toLocaleString("en")} created), ${last.cpu.dead} declared dead`
      )
      const bounded = Math.abs(growth) < 0.1 && last.memory.live === n && last.cpu.dead === 0
      console.log(
        `heap bounded while running (grows by less than 10%, no session dies): ${bounded ? "yes" : "no"}; target of ${
          SESSIONS.toLocaleString("en")
        } sessions reached: ${n >= SESSIONS ? "yes" : "no"}`
      )
      const GOAL = 100_000
      emitRow({
        key: "sessions",
        measure: `in-memory session pairs in one process, heap flat (< 10 % growth over ${last.t} s), no false death; tried ${SESSIONS.toLocaleString("en")}${
          SESSIONS < GOAL ? " (quick: fewer than the goal, so the goal cannot be met in this run)" : ""
        }`,
        baseline: "",
        ours: `${bounded ? n.toLocaleString("en") : 0} (${n.toLocaleString("en")} created${
          created.stopped === undefined ? "" : ", creation stopped: saturated"
        }; heap ${growth >= 0 ? "+" : ""}${fixed(growth * 100, 1)} %, ${last.cpu.dead} dead, ${kib(per(last.memory, (u) => u.heapUsed))} KiB heap per pair)`,
        ratio: `${fixed(((bounded ? n : 0) / GOAL) * 100, 0)} % of the goal`,
        target: "≥ 100 000 (stretch 250 000)",
        verdict: atLeast(bounded ? n : 0, GOAL, (x) => `${x.toLocaleString("en")} pairs`) + (bounded && n >= 250_000 ? " (stretch met)" : "")
      })
    }
    console.log("")
    console.log(
      `Where the running sessions' time goes: V8 CPU profile of the process over 5 s after the samples (${
        fixed(profile.total / 1000, 0)
      } ms busy; self time by area, idle left out)`
    )
    console.log(table(["area", "self time"], profile.areas.slice(0, 12)))
    console.log(table(["function", "self time"], profile.functions.slice(0, 15)))
    console.log(
      `expected keepalive traffic if every timer runs on time: about ${
        fixed((n * 2) / INTERVAL * 1000, 0)
      } frames/s (one PING and one PONG per session per interval)`
    )
  } finally {
    await worker.kill()
  }
}

if (process.argv.includes("--child")) child()
else if (import.meta.main) await main()
