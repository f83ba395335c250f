/**
 * The server side of the hostile benchmark (a child process of `hostile.ts`): this library's `Server.listen` on
 * 127.0.0.1 with libvirtd's default keepalive (5 s × 5), policy `if-supported`. It reports its memory to the
 * parent every 100 ms, so that the peak is known even when the process dies of it. `--max-clients n` raises
 * max_clients (default: the library's, 5000).
 */
import { Effect, References } from "effect"
import * as Server from "../../src/runtime/Server.ts"
import { startCpuProfile, startHeapSampling, stopCpuProfile, stopHeapSampling, summarizeHeap, summarizeProfile } from "./profile.ts"
import { arg, serveParent, settledMemory } from "./util.ts"

const MAX_CLIENTS = arg("max-clients", "") === "" ? undefined : Number(arg("max-clients", ""))

const { send } = serveParent({
  memory: async () => ({ memory: await settledMemory() }),
  /** memoryUsage() now, without collecting garbage first */
  usage: () => ({ memory: process.memoryUsage() }),
  "cpu-profile-start": async () => {
    await startCpuProfile(200)
    return {}
  },
  "cpu-profile-stop": async () => ({ summary: summarizeProfile(await stopCpuProfile(), 12) }),
  "heap-sampling-start": async () => {
    await startHeapSampling()
    return {}
  },
  "heap-sampling-stop": async () => {
    await settledMemory()
    return { summary: summarizeHeap(await stopHeapSampling(), 12) }
  }
}, 10 * 60_000)

const program = Effect.gen(function*() {
  const server = yield* Server.listen({ host: "127.0.0.1", port: 0 }, {
    keepalive: { interval: 5000, count: 5, policy: "if-supported" },
    ...(MAX_CLIENTS === undefined ? {} : { maxClients: MAX_CLIENTS })
  })
  send({ type: "listening", port: server.port })
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error"))

setInterval(() => {
  const m = process.memoryUsage()
  send({ type: "sample", heapUsed: m.heapUsed, rss: m.rss, arrayBuffers: m.arrayBuffers })
}, 100)

Effect.runFork(program)
