/**
 * One side of the scale benchmark (a child process of `scale.ts`): a server or a client of N connections, in
 * one of three implementations of the same keepalive (interval I, count C; both sides ping):
 *
 * - `library`: this library's `Server.listen` (policy `if-supported`) and `Client.connect` + `setKeepAlive`;
 * - `floor`: plain `node:net` and `setTimeout`, libvirt's 28-byte PING/PONG frames, one lazily re-armed timer
 *   per connection, any frame received restarts the countdown, a PING gets a PONG;
 * - `ws`: the `ws` library with its documented heartbeat (server `setInterval` over the clients, `isAlive`,
 *   `ping()`, `on("pong")`; the client's `on("ping")` timeout).
 *
 * Usage (by `scale.ts` only): node scale-peer.ts --role server|client --impl library|floor|ws --interval ms --count n
 *   [--port p --connections n --batch n]
 */
import * as net from "node:net"
import { Deferred, Effect, Exit, References } from "effect"
import { WebSocket, WebSocketServer } from "ws"
import * as Observability from "../../src/runtime/Observability.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import { FloorKeepalive, floorTraffic } from "./floor.ts"
import { holdClient } from "./hold.ts"
import { startCpuProfile, startHeapSampling, stopCpuProfile, stopHeapSampling, summarizeHeap, summarizeProfile } from "./profile.ts"
import { arg, cpuSample, serveParent, settledMemory } from "./util.ts"

const role = arg("role", "server")
const impl = arg("impl", "floor")
const INTERVAL = Number(arg("interval", "5000"))
const COUNT = Number(arg("count", "5"))
const HOST = "127.0.0.1"

/** Live connections and how many ended (an ended connection is a failure of the benchmark). */
const stats = { live: 0, ended: 0, failed: 0, pingsSent: 0, pongsSent: 0 }

// ---------------------------------------------------------------------------------------------------------------
// The floor: libvirt keepalive on plain node:net
// ---------------------------------------------------------------------------------------------------------------

const floorOptions = {
  interval: INTERVAL,
  count: COUNT,
  onClose: () => {
    stats.live--
    stats.ended++
  }
}

const floorAccept = (socket: net.Socket) => {
  stats.live++
  new FloorKeepalive(socket, floorOptions)
}

const floorServer = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer(floorAccept)
    server.listen({ host: HOST, port: 0, backlog: 4096 }, () => resolve((server.address() as net.AddressInfo).port))
  })

const floorConnect = (port: number) =>
  new Promise<void>((resolve) => {
    const socket = net.connect({ host: HOST, port })
    socket.once("connect", () => {
      floorAccept(socket)
      resolve()
    })
    socket.once("error", () => {
      stats.failed++
      resolve()
    })
  })

// ---------------------------------------------------------------------------------------------------------------
// ws: the documented heartbeat (README, "How to detect and close broken connections?")
// ---------------------------------------------------------------------------------------------------------------

type Heartbeat = WebSocket & { isAlive?: boolean; pingTimeout?: NodeJS.Timeout }

const wsServer = () =>
  new Promise<number>((resolve) => {
    const wss = new WebSocketServer({ host: HOST, port: 0, backlog: 4096 })
    wss.on("connection", (ws: Heartbeat) => {
      stats.live++
      ws.isAlive = true
      ws.on("error", () => {})
      ws.on("pong", function(this: Heartbeat) {
        this.isAlive = true
      })
      ws.on("close", () => {
        stats.live--
        stats.ended++
      })
    })
    setInterval(() => {
      for (const client of wss.clients) {
        const ws = client as Heartbeat
        if (ws.isAlive === false) {
          ws.terminate()
          continue
        }
        ws.isAlive = false
        ws.ping()
        stats.pingsSent++
      }
    }, INTERVAL)
    wss.on("listening", () => resolve((wss.address() as net.AddressInfo).port))
  })

function heartbeat(this: Heartbeat) {
  clearTimeout(this.pingTimeout)
  // the README's pattern: terminate when the server's next ping is late (interval + an allowance for latency)
  this.pingTimeout = setTimeout(() => this.terminate(), INTERVAL + 1000)
}

const wsConnect = (port: number) =>
  new Promise<void>((resolve) => {
    const ws: Heartbeat = new WebSocket(`ws://${HOST}:${port}`)
    ws.on("open", function(this: Heartbeat) {
      stats.live++
      heartbeat.call(this)
      resolve()
    })
    ws.on("ping", function(this: Heartbeat) {
      stats.pongsSent++ // ws answers every ping with a pong by itself
      heartbeat.call(this)
    })
    ws.on("error", () => {
      stats.failed++
      resolve()
    })
    ws.on("close", function(this: Heartbeat) {
      clearTimeout(this.pingTimeout)
      if (this.pingTimeout !== undefined) {
        stats.live--
        stats.ended++
      }
    })
  })

// ---------------------------------------------------------------------------------------------------------------
// This library
// ---------------------------------------------------------------------------------------------------------------

const libraryServer = () =>
  new Promise<number>((resolve, reject) => {
    const program = Effect.gen(function*() {
      // no onConnection: the server process holds nothing but the library's own state; live connections are
      // read from the library's gauge and ended ones from its counter of peers declared dead
      const server = yield* Server.listen({ host: HOST, port: 0 }, {
        keepalive: { interval: INTERVAL, count: COUNT, policy: "if-supported" },
        // more than libvirtd's default max_clients (5000): the benchmark holds up to the fd limit
        maxClients: 100_000
      })
      resolve(server.port)
      return yield* Effect.never
    }).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error"))
    Effect.runFork(program).addObserver((exit) => {
      if (Exit.isFailure(exit)) reject(new Error(String(exit.cause)))
    })
  })

/** One client connection, kept open until the process ends; `ready` when keepalive started (or it failed). */
const libraryConnection = (port: number, ready: Deferred.Deferred<void>) =>
  holdClient(Transport.tcp({ host: HOST, port, openTimeout: 30_000 }), { interval: INTERVAL, count: COUNT }, stats, ready).pipe(Effect.scoped)

const libraryBatch = (port: number, size: number) =>
  Effect.runPromise(Effect.gen(function*() {
    const readies: Array<Deferred.Deferred<void>> = []
    for (let i = 0; i < size; i++) {
      const ready = yield* Deferred.make<void>()
      readies.push(ready)
      yield* Effect.forkDetach(libraryConnection(port, ready))
    }
    for (const ready of readies) yield* Deferred.await(ready)
  }))

const libraryTraffic = () =>
  Effect.runSync(Effect.gen(function*() {
    const pingsSent = yield* Observability.totalCount((m) => m.pingsSent)
    const pongsSent = yield* Observability.totalCount((m) => m.pongsSent)
    const live = yield* Observability.liveSessions
    const dead = yield* Observability.totalCount((m) => m.peersDead)
    return { pingsSent, pongsSent, ...(role === "server" ? { live, ended: dead } : {}) }
  }))

// ---------------------------------------------------------------------------------------------------------------
// The protocol with the parent
// ---------------------------------------------------------------------------------------------------------------

const traffic = () =>
  impl === "library" ? libraryTraffic() : impl === "floor" ? { ...floorTraffic } : { pingsSent: stats.pingsSent, pongsSent: stats.pongsSent }

const { send } = serveParent({
  memory: async () => ({ memory: await settledMemory(), ...stats, ...traffic() }),
  cpu: () => ({ ...cpuSample(), ...stats, ...traffic() }),
  // profiles of a window chosen by the parent (after the measured one, so that they do not weigh on it)
  "cpu-profile-start": async () => {
    // a fine interval: the processes are mostly idle, and their busy time is what is profiled
    await startCpuProfile(100)
    return {}
  },
  "cpu-profile-stop": async () => ({ summary: summarizeProfile(await stopCpuProfile(), 15) }),
  "heap-sampling-start": async () => {
    await startHeapSampling()
    return {}
  },
  "heap-sampling-stop": async () => {
    await settledMemory()
    return { summary: summarizeHeap(await stopHeapSampling(), 15) }
  },
  connect: async (m: { port: number; connections: number; batch: number }) => {
    const start = performance.now()
    for (let opened = 0; opened < m.connections; opened += m.batch) {
      const size = Math.min(m.batch, m.connections - opened)
      if (impl === "library") await libraryBatch(m.port, size)
      else {
        const open = impl === "floor" ? floorConnect : wsConnect
        await Promise.all(Array.from({ length: size }, () => open(m.port)))
      }
    }
    return { ...stats, ms: performance.now() - start }
  }
}, 30 * 60_000)

if (role === "server") {
  const port = await (impl === "library" ? libraryServer() : impl === "floor" ? floorServer() : wsServer())
  send({ type: "listening", port })
} else {
  send({ type: "started" })
}
