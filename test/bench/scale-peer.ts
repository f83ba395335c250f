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
import { Deferred, Effect, Exit, Metric } from "effect"
import { WebSocket, WebSocketServer } from "ws"
import * as Client from "../../src/Client.ts"
import * as Frame from "../../src/Frame.ts"
import * as Observability from "../../src/Observability.ts"
import * as Server from "../../src/Server.ts"
import * as Transport from "../../src/Transport.ts"
import { arg, cpuSample, serveParent, settledMemory } from "./util.ts"

const role = arg("role", "server")
const impl = arg("impl", "floor")
const INTERVAL = Number(arg("interval", "5000"))
const COUNT = Number(arg("count", "5"))
const HOST = "127.0.0.1"

/** Live connections and how many ended (an ended connection is a failure of the benchmark). */
const stats = { live: 0, ended: 0, failedToOpen: 0, pingsSent: 0, pongsSent: 0 }

// ---------------------------------------------------------------------------------------------------------------
// The floor: libvirt keepalive on plain node:net
// ---------------------------------------------------------------------------------------------------------------

const KEEP = 0x6b656570
const PING = Buffer.from(Frame.PING_BYTES)
const PONG = Buffer.from(Frame.PONG_BYTES)

class FloorKeepalive {
  private pending: Buffer | undefined
  private lastReceived = performance.now()
  private pingsSent = 0
  private timer: NodeJS.Timeout | undefined
  private readonly socket: net.Socket

  constructor(socket: net.Socket) {
    this.socket = socket
    socket.setNoDelay(true)
    socket.on("data", (chunk: Buffer) => this.receive(chunk))
    socket.on("error", () => {})
    socket.on("close", () => {
      if (this.timer !== undefined) clearTimeout(this.timer)
      stats.live--
      stats.ended++
    })
    stats.live++
    this.arm(INTERVAL)
  }

  private arm(delay: number) {
    this.timer = setTimeout(() => this.check(), Math.max(0, Math.ceil(delay)))
  }

  /** Whole frames only; any frame restarts the countdown, a keepalive PING gets a PONG. */
  private receive(chunk: Buffer) {
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk])
    let frames = 0
    while (buf.length >= 4) {
      const length = buf.readUInt32BE(0)
      if (length < 28) {
        this.socket.destroy()
        return
      }
      if (buf.length < length) break
      frames++
      if (buf.readUInt32BE(4) === KEEP && buf.readUInt32BE(12) === 1 && buf.readUInt32BE(16) === 2) {
        this.socket.write(PONG)
        stats.pongsSent++
      }
      buf = buf.subarray(length)
    }
    this.pending = buf.length > 0 ? buf : undefined
    if (frames > 0) {
      // the timer is left alone: when it fires it finds the new deadline and re-arms for the rest
      this.lastReceived = performance.now()
      this.pingsSent = 0
    }
  }

  /** PINGs at I, 2I, …, C·I after the last receipt; dead at (C+1)·I. */
  private check() {
    this.timer = undefined
    const now = performance.now()
    const due = this.lastReceived + (this.pingsSent + 1) * INTERVAL
    if (now < due) return this.arm(due - now)
    if (this.pingsSent >= COUNT) {
      this.socket.destroy()
      return
    }
    this.pingsSent++
    stats.pingsSent++
    this.socket.write(PING)
    this.arm(this.lastReceived + (this.pingsSent + 1) * INTERVAL - now)
  }
}

const floorServer = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer((socket) => void new FloorKeepalive(socket))
    server.listen({ host: HOST, port: 0, backlog: 4096 }, () => resolve((server.address() as net.AddressInfo).port))
  })

const floorConnect = (port: number) =>
  new Promise<void>((resolve) => {
    const socket = net.connect({ host: HOST, port })
    socket.once("connect", () => {
      new FloorKeepalive(socket)
      resolve()
    })
    socket.once("error", () => {
      stats.failedToOpen++
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
      stats.failedToOpen++
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
      const server = yield* Server.listen({ host: HOST, port: 0 }, {
        keepalive: { interval: INTERVAL, count: COUNT, policy: "if-supported" },
        onConnection: (c) =>
          Effect.sync(() => void stats.live++).pipe(
            Effect.andThen(Effect.exit(c.closed)),
            Effect.andThen(Effect.sync(() => {
              stats.live--
              stats.ended++
            }))
          )
      })
      resolve(server.port)
      return yield* Effect.never
    }).pipe(Effect.scoped)
    Effect.runFork(program).addObserver((exit) => {
      if (Exit.isFailure(exit)) reject(new Error(String(exit.cause)))
    })
  })

/** One client connection, kept open until the process ends; `ready` when keepalive started (or it failed). */
const libraryConnection = (port: number, ready: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    const socket = yield* Transport.tcp({ host: HOST, port, openTimeout: 30_000 })
    const client = yield* Client.connect(socket, { name: "test:///default", closeTimeout: 0 })
    const outcome = yield* client.setKeepAlive(INTERVAL, COUNT)
    if (outcome !== "started") return yield* Effect.die(new Error(`setKeepAlive: ${outcome}`))
    stats.live++
    yield* Deferred.succeed(ready, undefined)
    yield* Effect.exit(client.closed)
    stats.live--
    stats.ended++
  }).pipe(
    Effect.scoped,
    Effect.catchCause(() =>
      Effect.sync(() => void stats.failedToOpen++).pipe(Effect.andThen(Deferred.succeed(ready, undefined)))
    ),
    Effect.asVoid
  )

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
    const pings = yield* Metric.value(Observability.pingsSent)
    const pongs = yield* Metric.value(Observability.pongsSent)
    return { pingsSent: pings.count, pongsSent: pongs.count }
  }))

// ---------------------------------------------------------------------------------------------------------------
// The protocol with the parent
// ---------------------------------------------------------------------------------------------------------------

const traffic = () => (impl === "library" ? libraryTraffic() : { pingsSent: stats.pingsSent, pongsSent: stats.pongsSent })

const { send } = serveParent({
  memory: async () => ({ memory: await settledMemory(), ...stats }),
  cpu: () => ({ ...cpuSample(), ...stats, ...traffic() }),
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
