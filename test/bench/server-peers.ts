/**
 * The clients of the server benchmark (a child process of `server.ts`, so that the server's measurer does not share
 * its event loop): raw TCP peers on 127.0.0.1 that speak bytes, not this library, so the same load runs against our
 * server and against libvirtd.
 *
 * - `hold`: n connections, each does libvirt's handshake (AUTH_LIST, SUPPORTS_FEATURE keepalive, CONNECT_OPEN
 *   test:///default) and then stays idle, answering the server's PINGs; `release` closes them.
 * - `slowloris`: n connections, each sends a frame one byte every `everyMs` (a few bytes in all: it never ends).
 * - `churn`: n connections, `concurrency` at a time, each connects, does the handshake and closes.
 *
 * Every peer is bounded (Attack.connect destroys it after 180 s at most); the child exits when its parent goes.
 */
import * as Attack from "../helpers/Attack.ts"
import { serveParent, sleep } from "./util.ts"

let held: Array<Attack.Peer> = []

const openBatched = async (port: number, n: number, batch: number, setup: (peer: Attack.Peer) => Promise<boolean>) => {
  const start = performance.now()
  let failed = 0
  for (let i = 0; i < n; i += batch) {
    const opened = await Promise.allSettled(Array.from({ length: Math.min(batch, n - i) }, () => Attack.connect(port, { keepFrames: 8 })))
    for (const o of opened) {
      if (o.status === "rejected") {
        failed++
        continue
      }
      held.push(o.value)
    }
    const ready = await Promise.all(opened.flatMap((o) => (o.status === "fulfilled" ? [setup(o.value)] : [])))
    failed += ready.filter((ok) => !ok).length
  }
  return { ms: performance.now() - start, failed }
}

const open = () => held.filter((p) => p.closure() === undefined).length

const release = async () => {
  const peers = held
  held = []
  for (const p of peers) p.destroy()
  await Promise.race([Promise.all(peers.map((p) => p.closed)), sleep(5000)])
}

serveParent({
  hold: async (m: { port: number; n: number; batch: number }) => {
    const r = await openBatched(m.port, m.n, m.batch, async (peer) => {
      peer.answerPings = true
      return Attack.handshake(peer, true)
    })
    return { ...r, open: open() }
  },
  slowloris: async (m: { port: number; n: number; batch: number; claimed: number; everyMs: number; durationMs: number }) => {
    const frame = Attack.partialFrame(m.claimed, m.claimed)
    const timers: Array<NodeJS.Timeout> = []
    let bytes = 0
    const r = await openBatched(m.port, m.n, m.batch, async (peer) => {
      let i = 0
      // each peer on its own phase, so that the bytes arrive spread over the period
      const first = setTimeout(() => {
        const tick = () => {
          if (peer.closure() !== undefined || i >= frame.length) return
          peer.socket.write(frame.subarray(i, i + 1))
          i++
          bytes++
        }
        tick()
        timers.push(setInterval(tick, m.everyMs))
      }, Math.random() * m.everyMs)
      timers.push(first)
      return true
    })
    const end = performance.now() + Math.max(0, m.durationMs - r.ms)
    while (performance.now() < end) await sleep(Math.min(1000, end - performance.now()))
    for (const t of timers) clearTimeout(t)
    return { ...r, open: open(), bytes }
  },
  churn: async (m: { port: number; n: number; concurrency: number }) => {
    const start = performance.now()
    let next = 0
    let done = 0
    let failed = 0
    const worker = async () => {
      while (next < m.n) {
        next++
        try {
          const peer = await Attack.connect(m.port, { keepFrames: 8, lifetimeMs: 10_000 })
          const ok = await Attack.handshake(peer, true)
          peer.destroy()
          await peer.closed
          if (ok) done++
          else failed++
        } catch {
          failed++
        }
      }
    }
    await Promise.all(Array.from({ length: m.concurrency }, worker))
    return { ms: performance.now() - start, done, failed }
  },
  status: () => ({ open: open(), held: held.length }),
  release: async () => {
    await release()
    return {}
  }
}, 20 * 60_000).send({ type: "started" })
