/**
 * Benchmark (not a test): a server's memory under four loads, this library's `Server.listen` (policy
 * `if-supported`, 5 s × 5, the source run by Node's type stripping, `hostile-server.ts`) against a real libvirtd
 * (5 s × 5) in the same run, each load on a fresh server. Memory is the process's RSS from /proc, the same way for
 * both; "idle" is the fresh server's RSS before the load.
 *
 * - flood: 4 connections flood keepalive PONGs without a handshake, as fast as the socket takes them; the peak RSS
 *   over idle during the flood, and the RSS over idle some seconds after the flood ended (is it given back?);
 * - idle connections: n connections do the handshake and stay idle (answering PINGs); RSS over idle per connection;
 * - slowloris: n connections each send a 4 KiB frame one byte every 2 s (never finished); RSS over idle per
 *   connection at the end;
 * - churn: n connections, 16 at a time, each connects, does the handshake and closes; RSS over idle afterwards.
 *
 * The clients run in a child process (`server-peers.ts`, and `hostile-attack.ts` for the flood).
 *
 *   node test/bench/server.ts [--quick] [--load flood,idle,slowloris,churn] [--target library,libvirtd]
 *
 * Loopback only (127.0.0.1).
 */
import * as Fs from "node:fs"
import { fileURLToPath } from "node:url"
import type * as Attack from "../helpers/Attack.ts"
import { libvirtdInstalled, rssOf, startLibrary, startLibvirtd } from "./servers.ts"
import type { Target } from "./servers.ts"
import type { Summary } from "./profile.ts"
import { arg, atMost, emitRow, fixed, kib, machine, mib, quick, ratio, sleep, spawnChild, statusField, table } from "./util.ts"

const ATTACKER = fileURLToPath(new URL("./hostile-attack.ts", import.meta.url))
const PEERS = fileURLToPath(new URL("./server-peers.ts", import.meta.url))
const LOADS = arg("load", "flood,idle,slowloris,churn").split(",")
const TARGETS = arg("target", "library,libvirtd").split(",").filter((t) => t !== "libvirtd" || libvirtdInstalled())

const FLOOD_S = Number(arg("flood", quick ? "6" : "30"))
const AFTER_S = Number(arg("after", quick ? "4" : "15"))
const IDLE_N = Number(arg("idle", quick ? "2000" : "5000"))
const SLOW_N = Number(arg("slowloris", quick ? "1000" : "2000"))
const SLOW_S = Number(arg("slowloris-for", quick ? "10" : "40"))
const SLOW_EVERY_MS = 2000
const SLOW_CLAIMED = 4096
const CHURN_N = Number(arg("churn", quick ? "2000" : "20000"))
const CHURN_CONCURRENCY = 16
/** max_clients of both servers for the loads that hold many connections. */
const MAX_CLIENTS = 30_000
const MiB = 2 ** 20

const start = (name: string): Promise<Target> => (name === "libvirtd" ? startLibvirtd({ maxClients: MAX_CLIENTS }) : startLibrary({ maxClients: MAX_CLIENTS }))

/** The server's RSS once it has been idle `ms` (the first moments after start-up still allocate). */
const idleRss = async (target: Target, ms = 1500) => {
  await sleep(ms)
  return rssOf(target.pid)
}

/** Resets the kernel's peak-RSS mark (VmHWM) of a process; false when not allowed. */
const resetPeak = (pid: number): boolean => {
  try {
    Fs.writeFileSync(`/proc/${pid}/clear_refs`, "5")
    return true
  } catch {
    return false
  }
}

/** Where our server's memory is: V8 heap used, the rest of the V8 heap reserved, external and ArrayBuffers, the rest of RSS. */
interface Breakdown {
  readonly heapUsed: number
  readonly heapFree: number
  readonly external: number
  readonly rest: number
}
const usage = async (target: Target): Promise<NodeJS.MemoryUsage | undefined> => {
  if (target.ask === undefined || target.exited() !== undefined) return undefined
  try {
    return (await target.ask<{ memory: NodeJS.MemoryUsage }>("usage", {}, 30_000)).memory
  } catch {
    return undefined
  }
}
const breakdown = (m: NodeJS.MemoryUsage): Breakdown => ({
  heapUsed: m.heapUsed,
  heapFree: m.heapTotal - m.heapUsed,
  external: m.external,
  rest: m.rss - m.heapTotal - m.external
})
const minus = (a: Breakdown | undefined, b: Breakdown | undefined): Breakdown | undefined =>
  a === undefined || b === undefined
    ? undefined
    : { heapUsed: a.heapUsed - b.heapUsed, heapFree: a.heapFree - b.heapFree, external: a.external - b.external, rest: a.rest - b.rest }
interface Measured {
  readonly target: string
  readonly load: string
  readonly idle: number
  /** Our server only: the growth over idle by kind of memory (at the measure). */
  readonly growth?: Breakdown | undefined
  /** Our server only: a sampling heap profile of the load. */
  readonly heap?: Summary | undefined
  readonly values: Record<string, number>
  readonly note: string
}

const withTarget = async <A>(name: string, f: (t: Target) => Promise<A>): Promise<A> => {
  const target = await start(name)
  try {
    return await f(target)
  } finally {
    await target.stop()
  }
}

const flood = (name: string): Promise<Measured> =>
  withTarget(name, async (target) => {
    const idle = await idleRss(target)
    const before = await usage(target)
    const attacker = spawnChild(ATTACKER, [])
    let peak = idle
    const sampler = setInterval(() => void (peak = Math.max(peak, rssOf(target.pid) || 0)), 50)
    try {
      const hwm = resetPeak(target.pid)
      const { results } = await attacker.ask<{ results: ReadonlyArray<Attack.FloodResult> }>(
        "flood",
        { port: target.port, durationMs: FLOOD_S * 1000, kinds: ["pong", "pong", "pong", "pong"] },
        FLOOD_S * 1000 + 60_000
      )
      peak = Math.max(peak, rssOf(target.pid) || 0, hwm ? (statusField(target.pid, "VmHWM") ?? 0) : 0)
      clearInterval(sampler)
      const endOfFlood = rssOf(target.pid)
      await sleep(AFTER_S * 1000)
      const after = rssOf(target.pid)
      const later = await usage(target)
      const closedAt = results.map((r) => (r.closure !== undefined && r.closure.how !== "ours" ? `${fixed(r.closure.ms / 1000, 1)} s` : "never"))
      const sent = results.reduce((n, r) => n + r.bytesSent, 0)
      return {
        target: target.name,
        load: "flood",
        idle,
        growth: minus(later && breakdown(later), before && breakdown(before)),
        values: { peak: peak - idle, end: endOfFlood - idle, after: after - idle, sent },
        note: `${target.exited() ?? "survived"}; ${mib(sent)} MiB of PONGs taken; flooders closed at ${closedAt.join(", ")}${
          hwm ? "" : "; peak sampled every 50 ms (VmHWM not resettable)"
        }`
      }
    } finally {
      clearInterval(sampler)
      await attacker.kill()
    }
  })

const holding = (name: string, load: "idle" | "slowloris"): Promise<Measured> =>
  withTarget(name, async (target) => {
    const idle = await idleRss(target)
    const before = await usage(target)
    if (target.ask !== undefined) await target.ask("heap-sampling-start")
    const peers = spawnChild(PEERS, [])
    try {
      await peers.next("started")
      const r = load === "idle"
        ? await peers.ask<{ ms: number; failed: number; open: number }>("hold", { port: target.port, n: IDLE_N, batch: 100 }, 10 * 60_000)
        : await peers.ask<{ ms: number; failed: number; open: number; bytes: number }>(
          "slowloris",
          { port: target.port, n: SLOW_N, batch: 100, claimed: SLOW_CLAIMED, everyMs: SLOW_EVERY_MS, durationMs: SLOW_S * 1000 },
          10 * 60_000
        )
      if (load === "idle") await sleep(3000)
      const rss = rssOf(target.pid)
      const now = await usage(target)
      const heap = target.ask === undefined || target.exited() !== undefined
        ? undefined
        : (await target.ask<{ summary: Summary }>("heap-sampling-stop", {}, 120_000)).summary
      const { open } = await peers.ask<{ open: number }>("status")
      const n = load === "idle" ? IDLE_N : SLOW_N
      const counted = Math.max(1, open)
      return {
        target: target.name,
        load,
        idle,
        growth: minus(now && breakdown(now), before && breakdown(before)),
        heap,
        values: { rss: rss - idle, perConnection: (rss - idle) / counted, open, failed: r.failed },
        note: `${target.exited() ?? "survived"}; ${open} of ${n} still open at the measure (${r.failed} failed); opened in ${fixed(r.ms / 1000, 1)} s`
      }
    } finally {
      await peers.kill()
    }
  })

const churn = (name: string): Promise<Measured> =>
  withTarget(name, async (target) => {
    const idle = await idleRss(target)
    const peers = spawnChild(PEERS, [])
    try {
      await peers.next("started")
      const before = await usage(target)
      const r = await peers.ask<{ ms: number; done: number; failed: number }>(
        "churn",
        { port: target.port, n: CHURN_N, concurrency: CHURN_CONCURRENCY },
        20 * 60_000
      )
      await sleep(3000)
      const after = rssOf(target.pid)
      const now = await usage(target)
      // leak or garbage? our server's heap after a full GC, and its RSS then
      let collected = ""
      if (target.ask !== undefined && target.exited() === undefined && before !== undefined) {
        const m = (await target.ask<{ memory: NodeJS.MemoryUsage }>("memory", {}, 60_000)).memory
        const signed = (x: number) => `${x >= 0 ? "+" : "−"}${mib(Math.abs(x))}`
        collected = `; after a full GC: heap used ${signed(m.heapUsed - before.heapUsed)} MiB, heap reserved ${
          signed(m.heapTotal - before.heapTotal)
        } MiB, RSS ${signed(rssOf(target.pid) - idle)} MiB`
      }
      return {
        target: target.name,
        load: "churn",
        idle,
        growth: minus(now && breakdown(now), before && breakdown(before)),
        values: { growth: after - idle, done: r.done },
        note: `${target.exited() ?? "survived"}; ${r.done} handshakes completed, ${r.failed} failed, in ${fixed(r.ms / 1000, 1)} s${collected}`
      }
    } finally {
      await peers.kill()
    }
  })

const run = (load: string, name: string): Promise<Measured> =>
  load === "flood" ? flood(name) : load === "churn" ? churn(name) : holding(name, load as "idle" | "slowloris")

export const main = async () => {
  console.log(
    `## Server memory under load: this library's Server.listen against libvirtd${
      TARGETS.includes("libvirtd") ? "" : " (libvirtd not installed: ours only)"
    }, each load on a fresh server${quick ? " (quick: smaller loads)" : ""}`
  )
  console.log(machine())
  const results: Array<Measured> = []
  for (const load of LOADS) {
    for (const name of TARGETS) {
      process.stdout.write(`  ${load}: ${name} ...\n`)
      try {
        results.push(await run(load, name))
      } catch (e) {
        console.log(`  ${load}: ${name} failed: ${e instanceof Error ? e.message : String(e)}`)
      }
    }
  }
  const of = (load: string, lib: boolean) => results.find((r) => r.load === load && (lib ? r.target === "this library" : r.target.startsWith("libvirtd")))
  const M = (x: number) => `${mib(x)} MiB`
  const K = (x: number) => `${kib(x)} KiB`

  console.log("")
  console.log(table(
    ["load", "server", "idle RSS MiB", "result", "notes"],
    results.map((r) => [
      r.load,
      r.target,
      mib(r.idle),
      r.load === "flood"
        ? `peak +${mib(r.values["peak"]!)} MiB, at the end +${mib(r.values["end"]!)}, ${AFTER_S} s later +${mib(r.values["after"]!)}`
        : r.load === "churn"
        ? `+${mib(r.values["growth"]!)} MiB after ${r.values["done"]} connect/handshake/close`
        : `+${mib(r.values["rss"]!)} MiB, ${kib(r.values["perConnection"]!)} KiB per open connection`,
      r.note
    ])
  ))

  const ours = results.filter((r) => r.growth !== undefined)
  if (ours.length > 0) {
    console.log("")
    console.log(
      "Where this library's server memory went: growth over idle by kind (process.memoryUsage(), no GC forced; per open connection for idle and slowloris)"
    )
    console.log(table(
      ["load", "V8 heap used KiB", "V8 heap reserved, free KiB", "external + ArrayBuffers KiB", "rest of RSS (code, native, malloc) KiB", "per"],
      ours.map((r) => {
        const per = r.load === "idle" || r.load === "slowloris" ? Math.max(1, r.values["open"]!) : 1
        const g = r.growth!
        return [
          r.load,
          kib(g.heapUsed / per),
          kib(g.heapFree / per),
          kib(g.external / per),
          kib(g.rest / per),
          per === 1 ? "whole load" : `connection (${per})`
        ]
      })
    ))
    for (const r of results.filter((x) => x.heap !== undefined)) {
      const per = Math.max(1, r.values["open"]!)
      console.log("")
      console.log(
        `${r.load}: sampling heap profile of our server while the connections opened (live bytes after a full GC by the area that allocated them; ${
          kib(r.heap!.total / per)
        } KiB sampled per open connection)`
      )
      console.log(table(["area", "share"], r.heap!.areas.slice(0, 10)))
      console.log(table(["function", "share"], r.heap!.functions.slice(0, 10)))
    }
  }

  const f = of("flood", true)
  if (f !== undefined) {
    const b = of("flood", false)
    const peak = f.values["peak"]!
    const after = f.values["after"]!
    const givenBack = after <= Math.max(2 * MiB, peak / 4)
    emitRow({
      key: "flood-rss",
      measure: `server RSS growth over idle under a 4-connection PONG flood, ${FLOOD_S} s${quick ? " (quick)" : ""}; RSS again ${AFTER_S} s after it ends`,
      baseline: b === undefined
        ? "libvirtd not measured (issue: flat)"
        : `${b.target} peak +${M(b.values["peak"]!)}, after +${M(b.values["after"]!)} (idle ${M(b.idle)})`,
      ours: `peak +${M(peak)}, after +${M(after)} (idle ${M(f.idle)}; ${f.note})`,
      ratio: b === undefined ? "n/a" : `${ratio(peak, b.values["peak"]!)} libvirtd's growth`,
      target: "≤ +16 MiB, given back (after ≤ max(2 MiB, a quarter of the peak growth))",
      verdict: peak > 16 * MiB
        ? atMost(peak, 16 * MiB, M) + (givenBack ? "; given back" : "; not given back")
        : givenBack
        ? "met"
        : `missed: not given back (+${M(after)} after ${AFTER_S} s)`
    })
  }
  for (
    const [load, key, what, n, base] of [
      [
        "idle",
        "idle-connection-memory",
        `server memory per idle connection (${IDLE_N.toLocaleString("en")} held after the handshake${IDLE_N < 5000 ? "; quick, the issue's is 5000" : ""})`,
        IDLE_N,
        "libvirtd ≈ 2 KiB"
      ],
      [
        "slowloris",
        "slowloris-memory",
        `server memory per slowloris connection (${SLOW_N.toLocaleString("en")}, 1 byte / 2 s of a ${SLOW_CLAIMED / 1024} KiB frame, ${SLOW_S} s${
          SLOW_N < 2000 ? "; quick, the issue's is 2000" : ""
        })`,
        SLOW_N,
        "libvirtd ≈ 4 KiB"
      ]
    ] as const
  ) {
    const o = of(load, true)
    if (o === undefined) continue
    const b = of(load, false)
    const per = o.values["perConnection"]!
    const open = o.values["open"]!
    emitRow({
      key,
      measure: what,
      baseline: b === undefined ? `libvirtd not measured (issue: ${base})` : `${b.target} ${K(b.values["perConnection"]!)} (${b.values["open"]} open)`,
      ours: `${K(per)} (${open} of ${n} open)`,
      ratio: b === undefined ? "n/a" : `${ratio(per, b.values["perConnection"]!)} libvirtd`,
      target: "≤ 8 KiB",
      verdict: atMost(per, 8 * 1024, K) + (open < n ? `; ${n - open} connections closed by the server` : "")
    })
  }
  const c = of("churn", true)
  if (c !== undefined) {
    const b = of("churn", false)
    emitRow({
      key: "churn-rss",
      measure: `server RSS over idle after ${CHURN_N.toLocaleString("en")} connect/handshake/close (${CHURN_CONCURRENCY} at a time${
        CHURN_N < 20_000 ? "; quick, the issue's is 20 000" : ""
      })`,
      baseline: b === undefined ? "libvirtd not measured (issue: +3 MiB)" : `${b.target} +${M(b.values["growth"]!)} (${b.values["done"]} done)`,
      ours: `+${M(c.values["growth"]!)} (${c.values["done"]} done)`,
      ratio: b === undefined ? "n/a" : `${ratio(c.values["growth"]!, b.values["growth"]!)} libvirtd`,
      target: "≤ +32 MiB",
      verdict: atMost(c.values["growth"]!, 32 * MiB, M)
    })
  }
}

if (import.meta.main) await main()
