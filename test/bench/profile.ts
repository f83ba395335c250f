/**
 * Profiles for the benchmarks (not tests): V8's sampling CPU profiler and sampling heap profiler, run in-process
 * through the inspector (as `--cpu-prof` / `--heap-prof` do, but around a chosen window only), and their summaries
 * by area (Effect's fiber runtime, other Effect modules, this library's files, Node, GC) and by function.
 */
import * as inspector from "node:inspector/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}
export interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}
export interface HeapNode {
  readonly callFrame: ProfileNode["callFrame"]
  readonly selfSize: number
  readonly children: ReadonlyArray<HeapNode>
}
export interface HeapProfile {
  readonly head: HeapNode
}

/** Rows of `[name, share]`, the largest first. */
export interface Summary {
  readonly total: number
  readonly areas: Array<[string, string]>
  readonly functions: Array<[string, string]>
}

const root = path.resolve(fileURLToPath(new URL("../..", import.meta.url)))

/** A location without this machine's paths: `effect/dist/internal/x.js`, `src/Session.ts`, `node:internal/…`. */
export const shortUrl = (url: string): string => {
  const file = url.startsWith("file://") ? fileURLToPath(url) : url
  const nm = file.lastIndexOf("node_modules/")
  if (nm >= 0) return file.slice(nm + "node_modules/".length)
  if (file.startsWith(root)) return path.relative(root, file)
  return file
}

export const area = (url: string, name: string): string => {
  if (name === "(garbage collector)") return "garbage collector"
  if (name === "(program)" || name === "(idle)" || name === "(root)") return "V8 (no JS frame)"
  const u = shortUrl(url)
  if (u.startsWith("effect/dist/internal/effect")) return "effect: fiber runtime (internal/effect.js)"
  if (u.startsWith("effect/dist/testing") || u.includes("TestClock")) return "effect: TestClock"
  if (u.startsWith("effect/dist/unstable/socket") || u.startsWith("@effect/platform-node")) return `effect: sockets (${u.split("/").slice(0, 4).join("/")})`
  if (u.startsWith("effect/")) return "effect: other modules"
  if (u.startsWith("@effect/")) return `${u.split("/").slice(0, 2).join("/")}`
  if (u.startsWith("src/") || u.startsWith("dist/")) return `this library: ${u}`
  if (u.startsWith("test/")) return `the benchmark: ${u}`
  if (u.startsWith("node:") || u === "") return "Node internals / native"
  return "other"
}

const fnKey = (f: ProfileNode["callFrame"]) => `${f.functionName || "(anonymous)"} ${f.url === "" ? "" : `${shortUrl(f.url)}:${f.lineNumber + 1}`}`.trim()

const sortedShares = (m: Map<string, number>, total: number, top = Number.POSITIVE_INFINITY): Array<[string, string]> =>
  [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, `${((v / total) * 100).toFixed(1)}%`])

/** Self time by area and by function (the `top` largest), as shares of the busy time (idle left out). */
export const summarizeProfile = (profile: Profile, top: number): Summary & { readonly totalMs: number } => {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  let total = 0
  const byArea = new Map<string, number>()
  const byFunction = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const node = byId.get(id)
    // idle time is not work, and the inspector's own calls are the profiler's
    if (node === undefined || node.callFrame.functionName === "(idle)" || node.callFrame.url === "node:inspector") continue
    total += us
    const a = area(node.callFrame.url, node.callFrame.functionName)
    byArea.set(a, (byArea.get(a) ?? 0) + us)
    const key = fnKey(node.callFrame)
    byFunction.set(key, (byFunction.get(key) ?? 0) + us)
  }
  return { total, totalMs: total / 1000, areas: sortedShares(byArea, total), functions: sortedShares(byFunction, total, top) }
}

/** Live bytes (sampled) by the area and the function that allocated them. */
export const summarizeHeap = (profile: HeapProfile, top: number): Summary => {
  const byArea = new Map<string, number>()
  const byFunction = new Map<string, number>()
  let total = 0
  const visit = (node: HeapNode) => {
    if (node.selfSize > 0) {
      total += node.selfSize
      const a = area(node.callFrame.url, node.callFrame.functionName)
      byArea.set(a, (byArea.get(a) ?? 0) + node.selfSize)
      const key = fnKey(node.callFrame)
      byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize)
    }
    for (const c of node.children) visit(c)
  }
  visit(profile.head)
  return { total, areas: sortedShares(byArea, total), functions: sortedShares(byFunction, total, top) }
}

let session: inspector.Session | undefined
const connected = () => {
  if (session === undefined) {
    session = new inspector.Session()
    session.connect()
  }
  return session
}

/** Starts V8's CPU profiler in this process (sampling every `intervalUs`). */
export const startCpuProfile = async (intervalUs = 500): Promise<void> => {
  const s = connected()
  await s.post("Profiler.enable")
  await s.post("Profiler.setSamplingInterval", { interval: intervalUs })
  await s.post("Profiler.start")
}

export const stopCpuProfile = async (): Promise<Profile> => {
  const { profile } = await connected().post("Profiler.stop")
  return profile as unknown as Profile
}

/** Starts V8's sampling heap profiler (a sample every `intervalBytes` allocated, on average). */
export const startHeapSampling = async (intervalBytes = 16 * 1024): Promise<void> => {
  const s = connected()
  await s.post("HeapProfiler.enable")
  await s.post("HeapProfiler.startSampling", { samplingInterval: intervalBytes })
}

/** The samples still alive (collect garbage first for a profile of what is retained). */
export const stopHeapSampling = async (): Promise<HeapProfile> => {
  const { profile } = await connected().post("HeapProfiler.stopSampling")
  return profile as unknown as HeapProfile
}
