/**
 * Benchmark (not a test): N TCP loopback connections between a client process and a server process, keepalive
 * I = 5 s, C = 5 on both sides, held for a steady window. CPU (process.cpuUsage over the window) and memory (RSS,
 * heapUsed after a full GC, against the same process before it connected) per connection, for three
 * implementations of the same keepalive: this library, a hand-written floor on node:net, and `ws`.
 *
 *   node test/bench/scale.ts [--quick] [--connections n] [--hold seconds] [--impl floor,ws,library]
 */
import { execSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { Summary } from "./profile.ts"
import { arg, atMost, emitRow, fixed, kib, machine, quick, ratio, sleep, spawnChild, table } from "./util.ts"

const PEER = fileURLToPath(new URL("./scale-peer.ts", import.meta.url))
const CONNECTIONS = Number(arg("connections", quick ? "2000" : "10000"))
const HOLD_S = Number(arg("hold", quick ? "12" : "60"))
const BATCH = Number(arg("batch", "200"))
const INTERVAL = 5000
const COUNT = 5
/** After the last connection opened, before the window: the first keepalive exchanges happen. */
const SETTLE_MS = Number(arg("settle", quick ? "6000" : "11000"))
const IMPLS = arg("impl", "floor,ws,library").split(",")
/** After the measured window, this library's processes are profiled: CPU for this long, then the heap of this many more connections. */
const PROFILE = !process.argv.includes("--no-profile")
const PROFILE_S = Number(arg("profile-for", quick ? "8" : "20"))
const PROFILE_CONNECTIONS = Number(arg("profile-connections", quick ? "300" : "1000"))

interface Memory {
  readonly memory: NodeJS.MemoryUsage
  readonly live: number
  readonly ended: number
}
interface Cpu {
  readonly cpuUs: number
  readonly at: number
  readonly pingsSent: number
  readonly pongsSent: number
  readonly live: number
  readonly ended: number
  readonly failed: number
}

interface Side {
  readonly cpuPercent: number
  readonly cpuUsPerConnSec: number
  /** µs of CPU per second of the window, the whole process */
  readonly cpuUsPerSec: number
  readonly rssPerConn: number
  readonly heapPerConn: number
  readonly heapTotalPerConn: number
  readonly rss: number
  readonly heap: number
  readonly framesPerSec: number
  readonly live: number
  readonly ended: number
  readonly failed: number
}
interface Profiles {
  readonly cpu: { readonly server: Summary; readonly client: Summary }
  readonly heap: { readonly server: Summary; readonly client: Summary; readonly connections: number }
}
interface Result {
  readonly impl: string
  readonly profiles?: Profiles | undefined
  readonly connectMs: number
  readonly server: Side
  readonly client: Side
}

const fdLimit = (): string => {
  try {
    return execSync("ulimit -n; ulimit -Hn", { shell: "/bin/sh", encoding: "utf8" }).trim().split("\n").join(" (hard ") + ")"
  } catch {
    return "unknown"
  }
}

const side = (base: Memory, end: Memory, c0: Cpu, c1: Cpu, n: number): Side => {
  const wallS = (c1.at - c0.at) / 1000
  const cpuUs = c1.cpuUs - c0.cpuUs
  return {
    cpuPercent: (cpuUs / 1e6 / wallS) * 100,
    cpuUsPerConnSec: cpuUs / wallS / n,
    cpuUsPerSec: cpuUs / wallS,
    rssPerConn: (end.memory.rss - base.memory.rss) / n,
    heapPerConn: (end.memory.heapUsed - base.memory.heapUsed) / n,
    heapTotalPerConn: (end.memory.heapTotal - base.memory.heapTotal) / n,
    rss: end.memory.rss,
    heap: end.memory.heapUsed,
    framesPerSec: (c1.pingsSent + c1.pongsSent - c0.pingsSent - c0.pongsSent) / wallS,
    live: c1.live,
    ended: c1.ended,
    failed: c1.failed
  }
}

const runOne = async (impl: string): Promise<Result> => {
  const common = ["--impl", impl, "--interval", String(INTERVAL), "--count", String(COUNT)]
  const server = spawnChild(PEER, ["--role", "server", ...common], ["--expose-gc"])
  const client = spawnChild(PEER, ["--role", "client", ...common], ["--expose-gc"])
  try {
    const { port } = await server.next<{ port: number }>("listening")
    await client.next("started")
    const [sBase, cBase] = await Promise.all([server.ask<Memory>("memory"), client.ask<Memory>("memory")])
    const connect = await client.ask<{ ms: number; live: number; failed: number }>(
      "connect",
      { port, connections: CONNECTIONS, batch: BATCH },
      10 * 60_000
    )
    process.stdout.write(
      `  ${impl}: ${connect.live} connections open in ${(connect.ms / 1000).toFixed(1)} s (${connect.failed} failed); settling ${
        SETTLE_MS / 1000
      } s, then holding ${HOLD_S} s\n`
    )
    await sleep(SETTLE_MS)
    const [s0, c0] = await Promise.all([server.ask<Cpu>("cpu"), client.ask<Cpu>("cpu")])
    await sleep(HOLD_S * 1000)
    const [s1, c1] = await Promise.all([server.ask<Cpu>("cpu"), client.ask<Cpu>("cpu")])
    const [sEnd, cEnd] = await Promise.all([server.ask<Memory>("memory"), client.ask<Memory>("memory")])
    let profiles: Profiles | undefined
    if (PROFILE && impl === "library") {
      process.stdout.write(`  ${impl}: profiling: CPU for ${PROFILE_S} s, then the heap of ${PROFILE_CONNECTIONS} more connections\n`)
      await Promise.all([server.ask("cpu-profile-start"), client.ask("cpu-profile-start")])
      await sleep(PROFILE_S * 1000)
      const [sCpu, cCpu] = await Promise.all([server.ask<{ summary: Summary }>("cpu-profile-stop"), client.ask<{ summary: Summary }>("cpu-profile-stop")])
      await Promise.all([server.ask("heap-sampling-start"), client.ask("heap-sampling-start")])
      await client.ask("connect", { port, connections: PROFILE_CONNECTIONS, batch: BATCH }, 10 * 60_000)
      await sleep(SETTLE_MS)
      const [sHeap, cHeap] = await Promise.all([server.ask<{ summary: Summary }>("heap-sampling-stop"), client.ask<{ summary: Summary }>("heap-sampling-stop")])
      profiles = {
        cpu: { server: sCpu.summary, client: cCpu.summary },
        heap: { server: sHeap.summary, client: cHeap.summary, connections: PROFILE_CONNECTIONS }
      }
    }
    return {
      impl,
      profiles,
      connectMs: connect.ms,
      server: side(sBase, sEnd, s0, s1, CONNECTIONS),
      client: side(cBase, cEnd, c0, c1, CONNECTIONS)
    }
  } finally {
    await Promise.all([server.kill(), client.kill()])
  }
}

const label: Record<string, string> = {
  library: "this library (Effect)",
  floor: "floor (node:net + setTimeout)",
  ws: "ws (ping/pong heartbeat)"
}

export const main = async () => {
  console.log(
    `## Scale: ${CONNECTIONS.toLocaleString("en")} TCP loopback connections, keepalive I = ${
      INTERVAL / 1000
    } s, C = ${COUNT}, both sides pinging, held ${HOLD_S} s${quick ? " (quick)" : ""}`
  )
  console.log(machine())
  const limit = fdLimit()
  console.log(`fd limit (ulimit -n): ${limit}; each process holds ${CONNECTIONS.toLocaleString("en")} sockets; connections opened ${BATCH} at a time`)
  if (Number.parseInt(limit, 10) < CONNECTIONS + 100)
    console.log(`warning: the fd limit is below ${CONNECTIONS + 100}; raise it (ulimit -n) or connections will fail`)
  const results: Array<Result> = []
  for (const impl of IMPLS) results.push(await runOne(impl))
  const floor = results.find((r) => r.impl === "floor")
  const ws = results.find((r) => r.impl === "ws")
  const total = (r: Result, f: (s: Side) => number) => f(r.server) + f(r.client)

  console.log("")
  console.log("CPU over the steady window (client + server processes; per connection = µs of CPU per second per connection)")
  console.log(table(
    ["implementation", "server CPU %", "client CPU %", "µs/s per conn (sum)", "vs floor", "vs ws", "keepalive frames/s", "live at end", "dropped"],
    results.map((r) => [
      label[r.impl] ?? r.impl,
      fixed(r.server.cpuPercent, 2),
      fixed(r.client.cpuPercent, 2),
      fixed(total(r, (s) => s.cpuUsPerConnSec), 3),
      floor === undefined ? "n/a" : ratio(total(r, (s) => s.cpuUsPerConnSec), total(floor, (s) => s.cpuUsPerConnSec)),
      ws === undefined ? "n/a" : ratio(total(r, (s) => s.cpuUsPerConnSec), total(ws, (s) => s.cpuUsPerConnSec)),
      fixed(r.server.framesPerSec + r.client.framesPerSec, 0),
      `${r.server.live}/${r.client.live}`,
      r.server.ended + r.client.ended + r.client.failed
    ])
  ))
  console.log("")
  console.log("Memory per connection (KiB, growth over the same process before connecting; heap after a full GC)")
  console.log(table(
    [
      "implementation",
      "server RSS",
      "client RSS",
      "RSS sum",
      "RSS vs floor",
      "RSS vs ws",
      "server heap",
      "client heap",
      "heap sum",
      "heap vs floor",
      "heap vs ws"
    ],
    results.map((r) => {
      const rss = total(r, (s) => s.rssPerConn)
      const heap = total(r, (s) => s.heapPerConn)
      return [
        label[r.impl] ?? r.impl,
        kib(r.server.rssPerConn),
        kib(r.client.rssPerConn),
        kib(rss),
        floor === undefined ? "n/a" : ratio(rss, total(floor, (s) => s.rssPerConn)),
        ws === undefined ? "n/a" : ratio(rss, total(ws, (s) => s.rssPerConn)),
        kib(r.server.heapPerConn),
        kib(r.client.heapPerConn),
        kib(heap),
        floor === undefined ? "n/a" : ratio(heap, total(floor, (s) => s.heapPerConn)),
        ws === undefined ? "n/a" : ratio(heap, total(ws, (s) => s.heapPerConn))
      ]
    })
  ))
  console.log(
    `V8 heap reserved (heapTotal) per connection, server + client: ${
      results.map((r) => `${r.impl} ${kib(total(r, (s) => s.heapTotalPerConn))} KiB`).join(", ")
    }`
  )
  console.log("")
  console.log(
    `time to open ${CONNECTIONS.toLocaleString("en")} connections: ${results.map((r) => `${r.impl} ${(r.connectMs / 1000).toFixed(1)} s`).join(", ")}`
  )
  console.log("goals (reported, not asserted): this library per connection within 1.5× of the floor and below ws, for CPU and memory")
  const perFrame = (r: Result) => total(r, (s) => s.cpuUsPerSec) / total(r, (s) => s.framesPerSec)
  console.log(
    `CPU per keepalive frame sent (both processes' CPU over the window / the PINGs and PONGs both sent): ${
      results.map((r) => `${r.impl} ${fixed(perFrame(r), 1)} µs`).join(", ")
    }`
  )
  rows(results)
  const profiled = results.find((r) => r.profiles !== undefined)?.profiles
  if (profiled !== undefined) {
    const side = (a: Summary, b: Summary, n: number) => {
      const names = [...new Set([...a.areas.map((r) => r[0]), ...b.areas.map((r) => r[0])])].slice(0, n)
      const share = (s: Summary, k: string) => s.areas.find((r) => r[0] === k)?.[1] ?? ""
      return names.map((k) => [k, share(a, k), share(b, k)])
    }
    console.log("")
    console.log(
      `Where this library's CPU goes: V8 CPU profile of both processes over ${PROFILE_S} s after the measured window (self time by area, as shares of the busy time: idle and the profiler's own calls left out; server ${
        fixed(profiled.cpu.server.total / 1000, 0)
      } ms, client ${fixed(profiled.cpu.client.total / 1000, 0)} ms busy)`
    )
    console.log(table(["area", "server", "client"], side(profiled.cpu.server, profiled.cpu.client, 14)))
    console.log("")
    console.log("top functions by self time, server | client")
    console.log(
      table(
        ["server function", "self", "client function", "self "],
        profiled.cpu.server.functions.map((f, i) => [f[0], f[1], profiled.cpu.client.functions[i]?.[0] ?? "", profiled.cpu.client.functions[i]?.[1] ?? ""])
      )
    )
    const per = (s: Summary) => `${kib(s.total / profiled.heap.connections)} KiB`
    console.log("")
    console.log(
      `Where this library's heap per connection goes: V8 sampling heap profile of ${profiled.heap.connections} more connections, opened and settled ${
        SETTLE_MS / 1000
      } s under the profiler (live bytes after a full GC, by the area that allocated them; about server ${per(profiled.heap.server)}, client ${
        per(profiled.heap.client)
      } per connection, sampled)`
    )
    console.log(table(["area", "server", "client"], side(profiled.heap.server, profiled.heap.client, 14)))
    console.log("")
    console.log("top allocating functions (live bytes), server | client")
    console.log(
      table(
        ["server function", "live", "client function", "live "],
        profiled.heap.server.functions.map((f, i) => [f[0], f[1], profiled.heap.client.functions[i]?.[0] ?? "", profiled.heap.client.functions[i]?.[1] ?? ""])
      )
    )
  }
}

/** The rows of the summary table (issue 18). */
const rows = (results: ReadonlyArray<Result>) => {
  const library = results.find((r) => r.impl === "library")
  const floor = results.find((r) => r.impl === "floor")
  const ws = results.find((r) => r.impl === "ws")
  if (library === undefined) return
  const total = (r: Result | undefined, f: (s: Side) => number) => (r === undefined ? Number.NaN : f(r.server) + f(r.client))
  const size = `${CONNECTIONS.toLocaleString("en")} TCP${CONNECTIONS < 10_000 ? " (quick; the issue's is 10k)" : ""}, I = ${
    INTERVAL / 1000
  } s, C = ${COUNT}, held ${HOLD_S} s`
  const cpu = (r: Result | undefined) => total(r, (s) => s.cpuUsPerConnSec)
  const us = (x: number) => `${fixed(x, 2)} µs/s`
  emitRow({
    key: "cpu-per-connection",
    measure: `CPU per connection, both processes, ${size}`,
    baseline: `floor ${us(cpu(floor))}, ws ${us(cpu(ws))}`,
    ours: us(cpu(library)),
    ratio: `${ratio(cpu(library), cpu(floor))} floor, ${ratio(cpu(library), cpu(ws))} ws`,
    target: "≤ 1.3× floor",
    verdict: atMost(cpu(library), 1.3 * cpu(floor), us)
  })
  const perFrame = (r: Result | undefined) => total(r, (s) => s.cpuUsPerSec) / total(r, (s) => s.framesPerSec)
  const frameUs = (x: number) => `${fixed(x, 1)} µs`
  emitRow({
    key: "cpu-per-frame",
    measure: `CPU per keepalive frame sent, both processes (their CPU / the PINGs and PONGs they sent), ${size}`,
    baseline: `floor ${frameUs(perFrame(floor))}, ws ${frameUs(perFrame(ws))}`,
    ours: frameUs(perFrame(library)),
    ratio: `${ratio(perFrame(library), perFrame(floor))} floor`,
    target: "≤ 1.3× floor",
    verdict: atMost(perFrame(library), 1.3 * perFrame(floor), frameUs)
  })
  const heap = (r: Result | undefined) => total(r, (s) => s.heapPerConn)
  const k = (x: number) => `${kib(x)} KiB`
  emitRow({
    key: "heap-per-connection",
    measure: `heapUsed per connection, both processes, after a full GC, ${size}`,
    baseline: `ws ${k(heap(ws))}, floor ${k(heap(floor))}`,
    ours: k(heap(library)),
    ratio: `${ratio(heap(library), heap(ws))} ws`,
    target: "≤ ws",
    verdict: atMost(heap(library), heap(ws), k)
  })
  const rss = (r: Result | undefined) => total(r, (s) => s.rssPerConn)
  emitRow({
    key: "rss-per-connection",
    measure: `RSS per connection, both processes, ${size}`,
    baseline: `ws ${k(rss(ws))}, floor ${k(rss(floor))}`,
    ours: k(rss(library)),
    ratio: `${ratio(rss(library), rss(ws))} ws`,
    target: "≤ 1.5× ws",
    verdict: atMost(rss(library), 1.5 * rss(ws), k)
  })
}

if (import.meta.main) await main()
