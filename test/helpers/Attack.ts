/**
 * Raw attackers over real TCP (node:net, 127.0.0.1 only) for the hostile tests and the hostile benchmark. They
 * speak bytes, not this library: the same attack runs against our server and against a real libvirtd.
 *
 * Every attacker is bounded in count, bytes and time and stops by itself: each socket has a hard lifetime after
 * which it is destroyed, floods stop at their duration or byte budget, and nothing retries.
 *
 * Floods of each frame kind (keepalive PONG, PING, an unknown keepalive procedure, remote-program calls, garbage)
 * are written as fast as the socket takes them, in 64 KiB writes; between writes the attacker yields to the event
 * loop so that a server in the same process still runs.
 */
import { execFileSync } from "node:child_process"
import * as Net from "node:net"
import { setImmediate as yieldLoop, setTimeout as sleep } from "node:timers/promises"
import * as Frame from "../../src/wire/Frame.ts"
import * as FrameDecoder from "../../src/wire/FrameDecoder.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"
import { heapAfterGc } from "./Leaks.ts"

export const HOST = "127.0.0.1"

/** No attacker socket lives longer than this, whatever the caller does. */
const LIFETIME_MS = 180_000

// ---------------------------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------------------------

export type FloodKind = "pong" | "ping" | "unknown" | "call" | "garbage"
export const FLOOD_KINDS: ReadonlyArray<FloodKind> = ["pong", "ping", "unknown", "call"]

/** An AUTH_LIST call (allowed before CONNECT_OPEN, answered by libvirtd and by us). */
export const authList = (serial = 0): Uint8Array => Frame.encode(Frame.make(Remote.callHeader(Remote.RemoteProc.AuthList, serial)))

/** A keepalive MESSAGE with a procedure libvirt does not know (consumed and ignored by libvirt). */
export const UNKNOWN_KEEPALIVE: Uint8Array = Frame.encode(Frame.make(Frame.keepaliveHeader(4)))

/** Bytes that are not a libvirt frame: an HTTP request, whose first 4 bytes claim a length of about 1.2 GB. */
export const GARBAGE: Uint8Array = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

/** One unit of a flood of `kind`. */
export const unitOf = (kind: FloodKind): Uint8Array => {
  switch (kind) {
    case "pong":
      return Frame.PONG_BYTES
    case "ping":
      return Frame.PING_BYTES
    case "unknown":
      return UNKNOWN_KEEPALIVE
    case "call":
      return authList()
    case "garbage":
      return GARBAGE
  }
}

/** `unit` repeated to about `bytes` (whole units). */
export const repeated = (unit: Uint8Array, bytes = 64 * 1024): Buffer => {
  const n = Math.max(1, Math.floor(bytes / unit.length))
  const out = Buffer.allocUnsafe(n * unit.length)
  for (let i = 0; i < n; i++) out.set(unit, i * unit.length)
  return out
}

/** The length word of a frame that claims `length` bytes in total (the 4 bytes included). */
export const lengthWord = (length: number): Uint8Array => {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, length)
  return out
}

/** The largest length libvirt accepts: 32 MiB of header and payload plus the 4-byte length word. */
export const MAX_CLAIMED = Frame.MESSAGE_MAX + Frame.LENGTH_SIZE

// ---------------------------------------------------------------------------------------------------------------
// A raw peer
// ---------------------------------------------------------------------------------------------------------------

/** How a connection ended, seen from the attacker; `ms` after it opened. */
export interface Closure {
  readonly ms: number
  readonly how: "end" | "reset" | "error" | "ours"
  readonly code?: string | undefined
}

export interface Peer {
  readonly socket: Net.Socket
  /** performance.now() when the connection opened. */
  readonly openedAt: number
  readonly localPort: number
  /** Bytes received so far. */
  readonly bytesIn: () => number
  /** Frames received and decoded (at most `keepFrames` are kept; the count goes on). */
  readonly frames: Array<Frame.Frame>
  readonly frameCount: () => number
  /** Keepalive PONGs received so far. */
  readonly pongs: () => number
  /** The framing error of the bytes we received, if any. */
  readonly malformed: () => FrameDecoder.FrameError | undefined
  /** Set once the socket closed. */
  readonly closure: () => Closure | undefined
  /** Resolves when the socket closed. */
  readonly closed: Promise<Closure>
  /** Writes and resolves once the bytes left Node's buffer (or the socket closed). */
  readonly write: (bytes: Uint8Array) => Promise<boolean>
  /** Waits until `predicate` holds or the socket closed or `timeoutMs` passed; whether it held. */
  readonly until: (predicate: () => boolean, timeoutMs: number) => Promise<boolean>
  /** Answer the server's PINGs with PONGs (default false). */
  answerPings: boolean
  readonly destroy: () => void
}

export interface PeerOptions {
  /** Read the socket (default true). A peer that does not read pauses its socket at once. */
  readonly read?: boolean
  /** Decode what arrives into frames (default true). */
  readonly decode?: boolean
  /** At most this many frames are kept in `frames` (default 10 000). */
  readonly keepFrames?: number
  /** Destroyed after this long, whatever happens (default and maximum 180 s). */
  readonly lifetimeMs?: number
}

/** Opens a TCP connection to 127.0.0.1:`port`; rejects when it cannot connect within 5 s. */
export const connect = (port: number, options: PeerOptions = {}): Promise<Peer> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect({ host: HOST, port })
    socket.setNoDelay(true)
    if (options.read === false) socket.pause()
    const keep = options.keepFrames ?? 10_000
    let bytesIn = 0
    let count = 0
    let pongs = 0
    let decoder = FrameDecoder.initial
    let malformed: FrameDecoder.FrameError | undefined
    let closure: Closure | undefined
    let lastError: NodeJS.ErrnoException | undefined
    let openedAt = performance.now()
    const frames: Array<Frame.Frame> = []
    const waiters = new Set<() => void>()
    const wake = () => {
      for (const w of waiters) w()
    }
    const life = setTimeout(() => socket.destroy(), Math.min(options.lifetimeMs ?? LIFETIME_MS, LIFETIME_MS))
    life.unref()
    let resolveClosed!: (c: Closure) => void
    const closed = new Promise<Closure>((r) => (resolveClosed = r))
    const connectTimer = setTimeout(() => socket.destroy(new Error("connect timed out")), 5000)
    socket.on("data", (chunk: Buffer) => {
      bytesIn += chunk.length
      if (options.decode === false || malformed !== undefined) return wake()
      const step = FrameDecoder.feed(decoder, chunk)
      decoder = step.state
      malformed = step.error
      for (const frame of step.frames) {
        count++
        if (isPong(frame)) pongs++
        if (frames.length < keep) frames.push(frame)
        if (peer.answerPings && Frame.isKeepalive(frame.header) && frame.header.proc === Frame.KeepaliveProc.Ping) {
          socket.write(Frame.PONG_BYTES)
        }
      }
      wake()
    })
    socket.on("end", () => {
      // the server's FIN: answer it so that its side does not linger half-closed
      socket.end()
    })
    socket.on("error", (e: NodeJS.ErrnoException) => {
      lastError = e
    })
    socket.on("close", () => {
      clearTimeout(life)
      clearTimeout(connectTimer)
      const ms = performance.now() - openedAt
      closure = lastError === undefined
        ? { ms, how: ours ? "ours" : "end" }
        : { ms, how: lastError.code === "ECONNRESET" || lastError.code === "EPIPE" ? "reset" : "error", code: lastError.code ?? lastError.message }
      resolveClosed(closure)
      wake()
      if (!connected) reject(lastError ?? new Error("closed before connecting"))
    })
    let connected = false
    let ours = false
    let boundPort = -1
    const peer: Peer = {
      socket,
      get openedAt() {
        return openedAt
      },
      // the port is kept from the connect: a closed socket no longer reports it
      get localPort() {
        if (socket.localPort !== undefined) boundPort = socket.localPort
        return boundPort
      },
      bytesIn: () => bytesIn,
      frames,
      frameCount: () => count,
      pongs: () => pongs,
      malformed: () => malformed,
      closure: () => closure,
      closed,
      write: (bytes) =>
        new Promise((done) => {
          if (socket.destroyed) return done(false)
          socket.write(bytes, (e) => done(e === undefined || e === null))
        }),
      until: (predicate, timeoutMs) =>
        new Promise((done) => {
          if (predicate()) return done(true)
          const finish = () => {
            clearTimeout(timer)
            waiters.delete(check)
            done(predicate())
          }
          const check = () => {
            if (predicate() || closure !== undefined) finish()
          }
          const timer = setTimeout(finish, timeoutMs)
          waiters.add(check)
        }),
      answerPings: false,
      destroy: () => {
        if (closure === undefined) ours = true
        socket.destroy()
      }
    }
    socket.once("connect", () => {
      clearTimeout(connectTimer)
      connected = true
      boundPort = socket.localPort ?? -1
      openedAt = performance.now()
      resolve(peer)
    })
  })

/** Replies (type REPLY) among the frames received. */
export const replies = (peer: Peer): Array<Frame.Frame> => peer.frames.filter((f) => f.header.type === Frame.MessageType.Reply)

export const isPong = (f: Frame.Frame) => Frame.isKeepalive(f.header) && f.header.proc === Frame.KeepaliveProc.Pong
export const isPing = (f: Frame.Frame) => Frame.isKeepalive(f.header) && f.header.proc === Frame.KeepaliveProc.Ping

/**
 * The client half of libvirt's handshake, as virsh does it: AUTH_LIST, SUPPORTS_FEATURE(keepalive) when
 * `advertise`, CONNECT_OPEN("test:///default"). Waits for the replies (5 s at most); whether they all came.
 */
export const handshake = async (peer: Peer, advertise = true): Promise<boolean> => {
  const before = replies(peer).length
  const calls = [authList(0)]
  if (advertise) {
    calls.push(
      Frame.encode(
        Frame.make(
          Remote.callHeader(Remote.RemoteProc.ConnectSupportsFeature, 1),
          Remote.encodeSupportsFeatureArgs({ feature: Remote.Feature.ProgramKeepalive })
        )
      )
    )
  }
  calls.push(
    Frame.encode(
      Frame.make(Remote.callHeader(Remote.RemoteProc.ConnectOpen, calls.length), Remote.encodeConnectOpenArgs({ name: "test:///default", flags: 0 }))
    )
  )
  await peer.write(Buffer.concat(calls))
  return peer.until(() => replies(peer).length >= before + calls.length, 5000)
}

// ---------------------------------------------------------------------------------------------------------------
// Floods
// ---------------------------------------------------------------------------------------------------------------

export interface FloodOptions {
  readonly kind: FloodKind
  /** Do the handshake (advertising keepalive) before the flood (default false). */
  readonly handshake?: boolean
  readonly durationMs: number
  /** Stop after this many bytes (default: no budget). */
  readonly maxBytes?: number
  /** Read (and count) what the server sends back (default true). */
  readonly read?: boolean
  /** Called once connected, e.g. to stop the flood from outside through `peer.destroy()`. */
  readonly onPeer?: (peer: Peer) => void
}

export interface FloodResult {
  readonly kind: FloodKind
  readonly handshake: boolean
  readonly bytesSent: number
  readonly framesSent: number
  readonly bytesIn: number
  readonly framesIn: number
  readonly ms: number
  /** Set when the server closed the connection during the flood. */
  readonly closure: Closure | undefined
}

/**
 * Writes `chunk` and resolves when Node takes more (drain), the socket closed or `deadline` (performance.now())
 * passed; at once (after yielding to the event loop) if the socket was not full.
 */
const pushChunk = (socket: Net.Socket, chunk: Uint8Array, deadline: number): Promise<void> => {
  if (socket.write(chunk)) return yieldLoop()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      socket.off("drain", done)
      socket.off("close", done)
      resolve()
    }
    const timer = setTimeout(done, Math.max(0, deadline - performance.now()))
    socket.on("drain", done)
    socket.on("close", done)
  })
}

/** One connection flooding frames of one kind as fast as the socket takes them. */
export const flood = async (port: number, options: FloodOptions): Promise<FloodResult> => {
  const peer = await connect(port, { read: options.read ?? true, keepFrames: 16 })
  options.onPeer?.(peer)
  const handshaken = options.handshake === true && (await handshake(peer, true))
  const unit = unitOf(options.kind)
  const chunk = repeated(unit)
  const budget = options.maxBytes ?? Number.POSITIVE_INFINITY
  const start = performance.now()
  let sent = 0
  while (peer.closure() === undefined && !peer.socket.destroyed && sent < budget && performance.now() - start < options.durationMs) {
    const piece = budget - sent < chunk.length ? chunk.subarray(0, Math.max(unit.length, Math.floor((budget - sent) / unit.length) * unit.length)) : chunk
    await pushChunk(peer.socket, piece, start + options.durationMs)
    sent += piece.length
  }
  // a write that failed destroys the socket before its close event: wait for that event (briefly)
  if (peer.socket.destroyed) await Promise.race([peer.closed, sleep(1000)])
  const closure = peer.closure()
  const result: FloodResult = {
    kind: options.kind,
    handshake: handshaken,
    bytesSent: sent - (peer.socket.destroyed ? 0 : peer.socket.writableLength),
    framesSent: Math.floor(sent / unit.length),
    bytesIn: peer.bytesIn(),
    framesIn: peer.frameCount(),
    ms: performance.now() - start,
    closure
  }
  peer.destroy()
  return result
}

/**
 * A peer that never reads and sends AUTH_LIST calls at `callsPerSecond` (default 20 000) for `durationMs`, in
 * batches every 10 ms. When the server stops reading, the calls pile up in our own socket buffer; past
 * `maxPendingBytes` (default 8 MiB) a batch is skipped instead, so the attacker stays bounded too.
 */
export const neverReader = async (
  port: number,
  options: { readonly durationMs: number; readonly callsPerSecond?: number; readonly maxPendingBytes?: number; readonly handshake?: boolean }
): Promise<
  { readonly callsSent: number; readonly skipped: number; readonly pendingBytes: number; readonly closure: Closure | undefined; readonly peer: Peer }
> => {
  const peer = await connect(port, { read: options.handshake === true, decode: true, keepFrames: 16 })
  if (options.handshake === true) {
    await handshake(peer, true)
    peer.socket.pause()
  }
  const perBatch = Math.max(1, Math.round((options.callsPerSecond ?? 20_000) / 100))
  const batch = repeated(authList(7), perBatch * 28)
  const maxPending = options.maxPendingBytes ?? 8 * 1024 * 1024
  const start = performance.now()
  let calls = 0
  let skipped = 0
  let tick = 0
  while (peer.closure() === undefined && performance.now() - start < options.durationMs) {
    if (peer.socket.writableLength > maxPending) skipped++
    else {
      peer.socket.write(batch)
      calls += perBatch
    }
    tick++
    const next = start + tick * 10 - performance.now()
    await sleep(Math.max(0, next))
  }
  return { callsSent: calls, skipped, pendingBytes: peer.socket.writableLength, closure: peer.closure(), peer }
}

// ---------------------------------------------------------------------------------------------------------------
// Partial frames
// ---------------------------------------------------------------------------------------------------------------

/** Writes `bytes` one byte per write (Nagle off), `delayMs` apart; resolves when done or the socket closed. */
export const trickle = async (peer: Peer, bytes: Uint8Array, delayMs = 1): Promise<number> => {
  let i = 0
  for (; i < bytes.length && peer.closure() === undefined; i++) {
    peer.socket.write(bytes.subarray(i, i + 1))
    await sleep(delayMs)
  }
  return i
}

/**
 * The start of a frame of `total` bytes: its length word, a remote-program CALL header, then payload bytes, `sent`
 * bytes in all (the frame is never completed).
 */
export const partialFrame = (total: number, sent: number): Uint8Array => {
  const out = new Uint8Array(sent)
  const whole = new Uint8Array(Math.min(total, Math.max(sent, Frame.MIN_FRAME_SIZE)))
  const view = new DataView(whole.buffer)
  view.setUint32(0, total)
  Frame.writeHeader(view, Frame.LENGTH_SIZE, Remote.callHeader(Remote.RemoteProc.ConnectGetHostname, 1))
  out.set(whole.subarray(0, sent))
  return out
}

/** `n` connections, each holding `prefix` (a partial frame), opened `batch` at a time. */
export const holdPartial = async (port: number, n: number, prefix: Uint8Array, batch = 50): Promise<Array<Peer>> => {
  const peers: Array<Peer> = []
  for (let i = 0; i < n; i += batch) {
    const opened = await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => connect(port, { keepFrames: 4 })))
    await Promise.all(opened.map((p) => p.write(prefix)))
    peers.push(...opened)
  }
  return peers
}

// ---------------------------------------------------------------------------------------------------------------
// Connection storms
// ---------------------------------------------------------------------------------------------------------------

/** Opens and at once closes `count` connections, `concurrency` at a time, as fast as possible. */
export const storm = async (
  port: number,
  count: number,
  concurrency = 32
): Promise<{ readonly opened: number; readonly failed: number; readonly ms: number }> => {
  const start = performance.now()
  let next = 0
  let opened = 0
  let failed = 0
  const worker = async () => {
    while (next < count) {
      next++
      try {
        const peer = await connect(port, { decode: false, lifetimeMs: 5000 })
        opened++
        peer.destroy()
        await peer.closed
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { opened, failed, ms: performance.now() - start }
}

/** Opens `n` connections and keeps them (reading); the caller destroys them. Connections that fail are left out. */
export const openMany = async (port: number, n: number, options: PeerOptions = {}): Promise<Array<Peer>> => {
  const peers = await Promise.allSettled(Array.from({ length: n }, () => connect(port, options)))
  return peers.flatMap((p) => (p.status === "fulfilled" ? [p.value] : []))
}

// ---------------------------------------------------------------------------------------------------------------
// Stuff our send queue and go silent
// ---------------------------------------------------------------------------------------------------------------

/**
 * Handshakes (advertising keepalive, so the server pings), stops reading, sends `calls` AUTH_LIST calls in one go
 * (their replies fill the server's send queue and both kernels' buffers), then goes silent: it never reads or
 * writes again. Bounded: `calls` defaults to 300 000 (8.4 MB).
 */
export const stuffAndGoSilent = async (port: number, calls = 300_000): Promise<Peer> => {
  const peer = await connect(port, { keepFrames: 16 })
  await handshake(peer, true)
  peer.socket.pause()
  // handed to Node at once: a server that stops reading (flow control) leaves the rest in our buffer
  peer.socket.write(repeated(authList(9), calls * 28))
  return peer
}

// ---------------------------------------------------------------------------------------------------------------
// The good client
// ---------------------------------------------------------------------------------------------------------------

export interface GoodClient {
  readonly peer: Peer
  /** Round-trip times (ms) of the PINGs answered so far. */
  readonly rtts: Array<number>
  /** Stops pinging; the round trips, the PINGs that got no PONG within `lostAfterMs`, and the closure if any. */
  readonly stop: () => Promise<{ readonly rtts: ReadonlyArray<number>; readonly lost: number; readonly closure: Closure | undefined }>
}

/**
 * A well-behaved client on its own connection: the handshake (advertising keepalive), then one PING every
 * `intervalMs`, each sent once the previous one was answered or given up after `lostAfterMs` (counted as lost,
 * and its wait recorded as its round trip). It answers the server's PINGs.
 */
export const goodClient = async (port: number, options: { readonly intervalMs?: number; readonly lostAfterMs?: number } = {}): Promise<GoodClient> => {
  const interval = options.intervalMs ?? 50
  const lostAfter = options.lostAfterMs ?? 5000
  const peer = await connect(port, { keepFrames: 64 })
  peer.answerPings = true
  if (!(await handshake(peer, true))) {
    peer.destroy()
    throw new Error("the good client's handshake got no answer")
  }
  const rtts: Array<number> = []
  let lost = 0
  let running = true
  const loop = (async () => {
    while (running && peer.closure() === undefined) {
      const expected = peer.pongs() + 1
      const sentAt = performance.now()
      peer.socket.write(Frame.PING_BYTES)
      const answered = await peer.until(() => peer.pongs() >= expected || !running, lostAfter)
      if (!running) break
      if (!answered || peer.pongs() < expected) lost++
      rtts.push(performance.now() - sentAt)
      await sleep(interval)
    }
  })()
  return {
    peer,
    rtts,
    stop: async () => {
      running = false
      await loop
      const closure = peer.closure()
      peer.destroy()
      return { rtts, lost, closure }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring the server
// ---------------------------------------------------------------------------------------------------------------

/** JS heap plus ArrayBuffer memory after full collections: what a server in this process retains. */
export const retainedAfterGc = (): number => heapAfterGc() + process.memoryUsage().arrayBuffers

/** The kernel's view of a TCP socket: its state and queues. */
export interface SocketState {
  readonly state: string
  readonly recvQ: number
  readonly sendQ: number
}

/**
 * The server's side of the connection from `peerPort` to `serverPort`, as `ss` sees it (empty when the kernel
 * has no such socket any more). ESTAB or CLOSE-WAIT there means the server still holds the socket's fd.
 */
export const serverSide = (serverPort: number, peerPort: number): Array<SocketState> => {
  const out = execFileSync("ss", ["-tanH", `( sport = :${serverPort} and dport = :${peerPort} )`], { encoding: "utf8" })
  return out.split("\n").filter((l) => l.trim() !== "").map((line) => {
    const [state = "", recvQ = "0", sendQ = "0"] = line.trim().split(/\s+/)
    return { state, recvQ: Number(recvQ), sendQ: Number(sendQ) }
  })
}

/** Whether the server still holds the socket's fd (ESTAB or CLOSE-WAIT on its side). */
export const serverHolds = (serverPort: number, peerPort: number): boolean =>
  serverSide(serverPort, peerPort).some((s) => s.state === "ESTAB" || s.state === "CLOSE-WAIT")

/** How many sockets the server on `serverPort` still holds (ESTAB or CLOSE-WAIT on its side). */
export const heldOnPort = (serverPort: number): number =>
  execFileSync("ss", ["-tanH", `( sport = :${serverPort} )`], { encoding: "utf8" }).split("\n").filter((l) => /^(ESTAB|CLOSE-WAIT)/.test(l)).length

/** `promise`'s value, or undefined when it takes longer than `ms`. */
export const within = <A>(promise: Promise<A>, ms: number): Promise<A | undefined> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms)
    promise.then((a) => {
      clearTimeout(timer)
      resolve(a)
    })
  })

/** Nearest-rank percentile of unsorted values. */
export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
