/**
 * Benchmark (not a test): the footprint of the built package (dist/, built first with `npm run build` when missing
 * or older than src/). Idle RSS (from /proc, after the process has been idle a few seconds) of:
 *
 * - bare Node (`node -e` with a timer) and Node after `import("effect")` alone: the floor any Effect program pays;
 * - the built server: `Server.listen` from dist/ on 127.0.0.1, 5 s × 5, policy `if-supported`, nothing connected;
 * - the built `keepalive proxy` (dist/tools/cli.js) listening on 127.0.0.1, in front of a libvirtd;
 * - libvirtd itself, idle, in a temporary directory (the baseline), when installed;
 *
 * and the start-up of the built CLI (`keepalive --help`, run with this Node, not the `#!/usr/bin/env node` of the
 * PATH) against `virsh --help`: wall time from spawn to exit, the median of several runs.
 *
 * Where the rest goes: the modules each of them loads (by package, with their source bytes; `census.ts` preloaded
 * in a separate run) and a CPU profile of `keepalive --help`.
 *
 *   node test/bench/footprint.ts [--quick] [--runs n]
 */
import { spawn, spawnSync } from "node:child_process"
import * as Os from "node:os"
import type { ChildProcess } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { summarizeProfile } from "./profile.ts"
import type { Profile } from "./profile.ts"
import { libvirtdInstalled, rssOf, startLibvirtd } from "./servers.ts"
import type { Target } from "./servers.ts"
import { arg, atMost, emitRow, fixed, machine, mib, percentile, quick, ratio, sleep, table } from "./util.ts"

const ROOT = Path.resolve(fileURLToPath(new URL("../..", import.meta.url)))
const DIST = Path.join(ROOT, "dist")
const CLI = Path.join(DIST, "tools", "cli.js")
const CENSUS = fileURLToPath(new URL("./census.ts", import.meta.url))
const RUNS = Number(arg("runs", quick ? "3" : "15"))
const IDLE_MS = Number(arg("idle-ms", quick ? "2000" : "5000"))
const MiB = 2 ** 20

// ---------------------------------------------------------------------------------------------------------------
// The build
// ---------------------------------------------------------------------------------------------------------------

/** The newest modification time (ms) of the files under `dir` whose name passes `keep`. */
const newest = (dir: string, keep: (name: string) => boolean): number => {
  let t = 0
  for (const entry of Fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !keep(entry.name)) continue
    t = Math.max(t, Fs.statSync(Path.join(entry.parentPath, entry.name)).mtimeMs)
  }
  return t
}

/** Builds dist/ (`tsc -p tsconfig.build.json`, what `npm run build` runs) when it is missing or older than src/. */
const ensureBuilt = (): string => {
  const stale = !Fs.existsSync(CLI) || newest(DIST, (n) => n.endsWith(".js")) < newest(Path.join(ROOT, "src"), (n) => n.endsWith(".ts"))
  if (!stale) return "dist/ is up to date"
  const tsc = Path.join(ROOT, "node_modules", ".bin", "tsc")
  const run = spawnSync(tsc, ["-p", "tsconfig.build.json"], { cwd: ROOT, encoding: "utf8", timeout: 300_000 })
  if (run.status !== 0) throw new Error(`npm run build failed: ${run.stdout}${run.stderr}`)
  return "dist/ was missing or older than src/: built it (npm run build)"
}

// ---------------------------------------------------------------------------------------------------------------
// Idle processes
// ---------------------------------------------------------------------------------------------------------------

const live = new Set<ChildProcess>()
process.on("exit", () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL")
})

/** Starts `node args` (this Node), waits for `ready` on its stdout (or a fixed delay), then idles; RSS after. */
const idleNode = async (args: ReadonlyArray<string>, ready?: RegExp, env: Record<string, string> = {}): Promise<{ rss: number; note: string }> => {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } })
  live.add(child)
  let out = ""
  child.stdout.on("data", (d: Buffer) => void (out += d.toString()))
  child.stderr.on("data", (d: Buffer) => void (out += d.toString()))
  try {
    const deadline = performance.now() + 30_000
    while (ready !== undefined && !ready.test(out)) {
      if (child.exitCode !== null || performance.now() > deadline) throw new Error(`did not start: ${out.trim().slice(0, 400)}`)
      await sleep(20)
    }
    await sleep(IDLE_MS)
    if (child.exitCode !== null) throw new Error(`exited: ${out.trim().slice(0, 400)}`)
    return { rss: rssOf(child.pid ?? -1), note: out.trim().split("\n")[0] ?? "" }
  } finally {
    child.kill("SIGKILL")
    live.delete(child)
  }
}

const KEEP_ALIVE = "setInterval(() => {}, 1 << 30)"
/**
 * The built server in a program of its own. It imports Effect by module path, as the library does, so it pays for
 * the modules it uses; `barrel` imports `effect`'s index instead (every module of Effect, the 90 MiB above).
 */
const builtServer = (barrel: boolean) => `
${
  barrel ? `const { Effect, References } = await import("effect")` : `const Effect = await import("effect/Effect")
const References = await import("effect/References")`
}
const Server = await import(${JSON.stringify(Path.join(DIST, "runtime", "Server.js"))})
Effect.runFork(Effect.gen(function*() {
  const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, { keepalive: { interval: 5000, count: 5, policy: "if-supported" } })
  console.log("LISTENING " + server.port)
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error")))
`
const BUILT_SERVER = builtServer(false)

// ---------------------------------------------------------------------------------------------------------------
// Start-up
// ---------------------------------------------------------------------------------------------------------------

/** Wall time (ms) of `command args` from spawn to exit, `RUNS` times after one warm-up; sorted. */
const startups = async (command: string, args: ReadonlyArray<string>): Promise<{ times: Array<number>; status: number | null }> => {
  const once = () =>
    new Promise<{ ms: number; status: number | null }>((resolve) => {
      const t0 = performance.now()
      const child = spawn(command, args, { cwd: ROOT, stdio: "ignore" })
      live.add(child)
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
      child.on("exit", (status) => {
        clearTimeout(timer)
        live.delete(child)
        resolve({ ms: performance.now() - t0, status })
      })
      child.on("error", () => {
        clearTimeout(timer)
        live.delete(child)
        resolve({ ms: Number.NaN, status: -1 })
      })
    })
  await once()
  const times: Array<number> = []
  let status: number | null = 0
  for (let i = 0; i < RUNS; i++) {
    const r = await once()
    times.push(r.ms)
    status = r.status
  }
  return { times: times.sort((a, b) => a - b), status }
}

export const main = async () => {
  console.log(`## Footprint of the built package: idle RSS and CLI start-up, against libvirtd and virsh${quick ? " (quick)" : ""}`)
  console.log(machine())
  console.log(ensureBuilt())
  const rows: Array<Array<string>> = []
  const measure = async (name: string, f: () => Promise<{ rss: number; note: string }>) => {
    try {
      const r = await f()
      rows.push([name, mib(r.rss), r.note])
      return r.rss
    } catch (e) {
      rows.push([name, "n/a", e instanceof Error ? e.message : String(e)])
      return Number.NaN
    }
  }
  const bare = await measure("bare Node 24 (a timer)", () => idleNode(["-e", KEEP_ALIVE]))
  const effect = await measure(`Node 24 + import("effect") alone`, () => idleNode(["--input-type=module", "-e", `await import("effect"); ${KEEP_ALIVE}`]))
  const server = await measure(
    "the built server (dist/runtime/Server.js, Server.listen; its program imports Effect by module path)",
    () => idleNode(["--input-type=module", "-e", BUILT_SERVER], /LISTENING \d+/)
  )
  await measure(
    "the same server, its program importing the \"effect\" index (every module of Effect)",
    () => idleNode(["--input-type=module", "-e", builtServer(true)], /LISTENING \d+/)
  )
  let libvirtd: Target | undefined
  try {
    if (libvirtdInstalled()) libvirtd = await startLibvirtd()
  } catch (e) {
    console.log(`libvirtd did not start: ${e instanceof Error ? e.message : String(e)}`)
  }
  let proxy = Number.NaN
  let baseline = Number.NaN
  try {
    const upstream = libvirtd === undefined ? "test+tcp://127.0.0.1:1/default" : `test+tcp://127.0.0.1:${libvirtd.port}/default`
    proxy = await measure(
      `the built \`keepalive proxy\` (dist/tools/cli.js proxy --listen 127.0.0.1:0 --upstream ${libvirtd === undefined ? "(none)" : "libvirtd"})`,
      () => idleNode([CLI, "proxy", "--listen", "127.0.0.1:0", "--upstream", upstream], /PROXY /)
    )
    if (libvirtd !== undefined) {
      const lv = libvirtd
      baseline = await measure(`${lv.name}, idle`, async () => {
        await sleep(IDLE_MS)
        return { rss: rssOf(lv.pid), note: "" }
      })
    }
  } finally {
    await libvirtd?.stop()
  }
  console.log("")
  console.log(`idle RSS (MiB, after ${IDLE_MS / 1000} s idle)`)
  console.log(table(["process", "RSS MiB", "its first line of output"], rows))

  const cli = await startups(process.execPath, [CLI, "--help"])
  const virshInstalled = spawnSync("sh", ["-c", "command -v virsh"]).status === 0
  const virsh = virshInstalled ? await startups("virsh", ["--help"]) : undefined
  const nodeAlone = await startups(process.execPath, ["-e", "0"])
  const med = (t: ReadonlyArray<number>) => percentile(t, 50)
  const ms = (x: number) => `${fixed(x, 0)} ms`
  console.log("")
  console.log(`start-up, wall time from spawn to exit (ms), ${RUNS} runs after a warm-up`)
  console.log(table(
    ["command", "min", "median", "max", "exit code"],
    [
      ["keepalive --help (node dist/tools/cli.js --help)", fixed(cli.times[0]!, 0), fixed(med(cli.times), 0), fixed(cli.times.at(-1)!, 0), String(cli.status)],
      ...(virsh === undefined
        ? []
        : [["virsh --help", fixed(virsh.times[0]!, 0), fixed(med(virsh.times), 0), fixed(virsh.times.at(-1)!, 0), String(virsh.status)]]),
      [
        "node -e 0 (Node's own start-up)",
        fixed(nodeAlone.times[0]!, 0),
        fixed(med(nodeAlone.times), 0),
        fixed(nodeAlone.times.at(-1)!, 0),
        String(nodeAlone.status)
      ]
    ]
  ))

  // where the rest goes: the modules loaded, by package (a separate run of each, with census.ts preloaded)
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "keepalive-bench-footprint-"))
  try {
    type Census = Record<string, { modules: number; bytes: number }>
    const census = async (name: string, run: (env: Record<string, string>) => Promise<unknown>): Promise<[string, Census]> => {
      const file = Path.join(dir, `${name.replace(/\W+/g, "-")}.json`)
      try {
        await run({ KEEPALIVE_BENCH_CENSUS: file })
        await sleep(200)
        return [name, JSON.parse(Fs.readFileSync(file, "utf8")) as Census]
      } catch {
        return [name, {}]
      }
    }
    const upstream = "test+tcp://127.0.0.1:1/default"
    const censuses = [
      await census(
        `import("effect")`,
        (env) => idleNode(["--import", CENSUS, "--input-type=module", "-e", `await import("effect"); ${KEEP_ALIVE}`], undefined, env)
      ),
      await census("built server", (env) => idleNode(["--import", CENSUS, "--input-type=module", "-e", BUILT_SERVER], /LISTENING \d+/, env)),
      await census("keepalive proxy", (env) => idleNode(["--import", CENSUS, CLI, "proxy", "--listen", "127.0.0.1:0", "--upstream", upstream], /PROXY /, env)),
      await census(
        "keepalive --help",
        async (env) =>
          spawnSync(process.execPath, ["--import", CENSUS, CLI, "--help"], { cwd: ROOT, env: { ...process.env, ...env }, stdio: "ignore", timeout: 60_000 })
      )
    ]
    const packages = [...new Set(censuses.flatMap(([, c]) => Object.keys(c)))]
      .sort((a, b) => Math.max(...censuses.map(([, c]) => c[b]?.bytes ?? 0)) - Math.max(...censuses.map(([, c]) => c[a]?.bytes ?? 0)))
    console.log("")
    console.log("where the rest goes: modules loaded (count / KiB of source), by package")
    console.log(table(
      ["package", ...censuses.map(([n]) => n)],
      [
        ...packages.map((p) => [p, ...censuses.map(([, c]) => (c[p] === undefined ? "" : `${c[p].modules} / ${fixed(c[p].bytes / 1024, 0)}`))]),
        [
          "all",
          ...censuses.map(([, c]) => {
            const all = Object.values(c)
            return `${all.reduce((n, x) => n + x.modules, 0)} / ${fixed(all.reduce((n, x) => n + x.bytes, 0) / 1024, 0)}`
          })
        ]
      ]
    ))
    // and a CPU profile of `keepalive --help`
    const profDir = Path.join(dir, "prof")
    spawnSync(process.execPath, ["--cpu-prof", "--cpu-prof-dir", profDir, "--cpu-prof-interval", "200", CLI, "--help"], {
      cwd: ROOT,
      stdio: "ignore",
      timeout: 60_000
    })
    const prof = Fs.existsSync(profDir) ? Fs.readdirSync(profDir).find((f) => f.endsWith(".cpuprofile")) : undefined
    if (prof !== undefined) {
      const p = summarizeProfile(JSON.parse(Fs.readFileSync(Path.join(profDir, prof), "utf8")) as Profile, 12)
      console.log("")
      console.log(
        `CPU profile of \`keepalive --help\` (--cpu-prof, ${
          fixed(p.totalMs, 0)
        } ms sampled; self time by area: "V8 (no JS frame)" is mostly compiling the modules loaded)`
      )
      console.log(table(["area", "self time"], p.areas.slice(0, 10)))
      console.log(table(["function", "self time"], p.functions.slice(0, 12)))
    }
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }

  const M = (x: number) => `${mib(x)} MiB`
  const base = `${Number.isFinite(baseline) ? `libvirtd ${M(baseline)}` : "libvirtd not measured (issue: 21 MiB)"}; bare Node ${M(bare)}; import("effect") ${
    M(effect)
  }`
  emitRow({
    key: "idle-rss-server",
    measure: "idle RSS of the built server (dist/, Server.listen, nothing connected; the program imports Effect by module path)",
    baseline: base,
    ours: M(server),
    ratio: `${ratio(server, baseline)} libvirtd, ${ratio(server, effect)} import("effect")`,
    target: "≤ 100 MiB",
    verdict: atMost(server, 100 * MiB, M)
  })
  emitRow({
    key: "idle-rss-proxy",
    measure: "idle RSS of the built `keepalive proxy` (dist/tools/cli.js, nothing connected)",
    baseline: base,
    ours: M(proxy),
    ratio: `${ratio(proxy, baseline)} libvirtd, ${ratio(proxy, effect)} import("effect")`,
    target: "≤ 100 MiB",
    verdict: atMost(proxy, 100 * MiB, M)
  })
  const s = med(cli.times) / 1000
  emitRow({
    key: "cli-start",
    measure: `start of the built CLI (\`node dist/tools/cli.js --help\`, wall time, median of ${RUNS})`,
    baseline: `${virsh === undefined ? "virsh not installed" : `virsh --help ${ms(med(virsh.times))}`}; node -e 0 ${ms(med(nodeAlone.times))}`,
    ours: ms(med(cli.times)),
    ratio: virsh === undefined ? "n/a" : `${ratio(med(cli.times), med(virsh.times))} virsh`,
    target: "≤ 0.25 s",
    verdict: atMost(s, 0.25, (x) => `${fixed(x * 1000, 0)} ms`)
  })
}

if (import.meta.main) await main()
