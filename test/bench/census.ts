/**
 * Preloaded by the footprint benchmark (`node --import ./census.ts …`, not a test): counts the modules the process
 * loads and their source bytes, by package, and writes the counts as JSON to the file named in
 * KEEPALIVE_BENCH_CENSUS (after each burst of loads, and at exit).
 */
import { writeFileSync } from "node:fs"
import { registerHooks } from "node:module"

const file = process.env["KEEPALIVE_BENCH_CENSUS"]
const counts: Record<string, { modules: number; bytes: number }> = {}

const packageOf = (url: string): string => {
  if (url.startsWith("node:")) return "node: built-ins"
  const nm = url.lastIndexOf("/node_modules/")
  if (nm >= 0) {
    const rest = url.slice(nm + "/node_modules/".length).split("/")
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  if (url.includes("/dist/")) return "this library (dist/)"
  if (url.includes("/src/")) return "this library (src/)"
  return "other"
}

let timer: NodeJS.Timeout | undefined
const write = () => {
  timer = undefined
  if (file !== undefined) writeFileSync(file, JSON.stringify(counts))
}

registerHooks({
  load(url, context, nextLoad) {
    const result = nextLoad(url, context)
    const source = result.source
    const bytes = source === undefined || source === null ? 0 : typeof source === "string" ? Buffer.byteLength(source) : source.byteLength
    const key = packageOf(url)
    const c = (counts[key] ??= { modules: 0, bytes: 0 })
    c.modules++
    c.bytes += bytes
    if (timer === undefined) {
      timer = setTimeout(write, 100)
      timer.unref()
    }
    return result
  }
})
process.on("exit", write)
