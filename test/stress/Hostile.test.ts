/**
 * Bounded under any peer, the long half (issue 10 §2; the fast half is test/hostile/Bounds.test.ts). Our server
 * runs in this process on 127.0.0.1; the raw attackers of test/helpers/Attack.ts flood it. The heap is measured
 * after full collections while the attack is still going on, so that a backlog released at the end does not hide.
 *
 * A guard stops any flood once this process's heap passes 1.5 GiB, so that an unbounded server fails the
 * assertion instead of killing the test run.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type * as Connection from "../../src/runtime/Connection.ts"
import * as Policing from "../../src/runtime/Policing.ts"
import * as Server from "../../src/runtime/Server.ts"
import * as Attack from "../helpers/Attack.ts"

const MiB = 1024 * 1024
const promise = <A>(f: () => Promise<A>) => Effect.promise(f)
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const AT_ONCE_MS = 500
const HEAP_GUARD = 1.5 * 1024 * MiB

/** How each server connection ended (its error's tag, or "closed"), in the order they ended. */
const ends: Array<string> = []
const onConnection = (c: Connection.Connection) =>
  c.closed.pipe(Effect.as("closed"), Effect.catch((e) => Effect.succeed(e._tag)), Effect.map((end) => void ends.push(end)))

const listen = (options: Server.ServeOptions = {}) =>
  Effect.sync(() => void ends.splice(0)).pipe(Effect.andThen(
    Server.listen({ host: "127.0.0.1", port: 0 }, { keepalive: { interval: 5000, count: 5, policy: "if-supported" }, onConnection, ...options })
  ))

const mib = (n: number) => (n / MiB).toFixed(1)
const stats = (rtts: ReadonlyArray<number>) =>
  `RTT p50 ${Attack.percentile(rtts, 50).toFixed(1)} ms, p99 ${Attack.percentile(rtts, 99).toFixed(1)} ms, max ${
    Math.max(...rtts).toFixed(1)
  } ms over ${rtts.length} PINGs`

/**
 * `kinds.length` floods for `durationMs` with a good client pinging every 50 ms; the heap growth measured after
 * full collections 1 s before the floods end, and the good client's round trips during the floods.
 */
const underFlood = (port: number, kinds: ReadonlyArray<Attack.FloodKind>, durationMs: number, handshake: boolean) =>
  promise(async () => {
    await sleep(100)
    const before = Attack.retainedAfterGc()
    const good = await Attack.goodClient(port, { intervalMs: 50, lostAfterMs: 2000 })
    const peers: Array<Attack.Peer> = []
    let guarded = false
    const guard = setInterval(() => {
      if (process.memoryUsage().heapUsed > HEAP_GUARD) {
        guarded = true
        for (const p of peers) p.destroy()
      }
    }, 50)
    const start = good.rtts.length
    const floods = Promise.all(kinds.map((kind) => Attack.flood(port, { kind, handshake, durationMs, onPeer: (p) => void peers.push(p) })))
    await sleep(durationMs - 1000)
    // the round trips up to now: the forced full collections below stop this whole process, the good client too
    const measured = good.rtts.slice(start)
    const during = guarded ? process.memoryUsage().heapUsed : Attack.retainedAfterGc()
    const results = await floods
    clearInterval(guard)
    const { rtts, lost, closure } = await good.stop()
    return { growth: during - before, guarded, rtts: measured.length > 0 ? measured : rtts.slice(start), lost, closure, results }
  })

const describeFloods = (results: ReadonlyArray<Attack.FloodResult>) =>
  results.map((r) =>
    `${r.kind} ${mib(r.bytesSent)} MiB${r.closure !== undefined && r.closure.how !== "ours" ? ` (closed at ${Math.round(r.closure.ms)} ms)` : ""}`
  ).join(", ")

/**
 * Every flooder was closed by the server with FrameFlood (default policing: rate 10 000/s, burst 20 000), and when:
 * not before it had sent more than the burst (the bucket cannot overflow sooner), and before its flood ended, on
 * its own clock.
 */
const assertFloodersClosed = (label: string, results: ReadonlyArray<Attack.FloodResult>, durationMs: number) => {
  for (const r of results) {
    assert.isDefined(r.closure, `${label}: a ${r.kind} flooder was never closed: ${mib(r.bytesSent)} MiB sent`)
    assert.notStrictEqual(r.closure!.how, "ours", `${label}: a ${r.kind} flooder closed its own socket`)
    assert.isAbove(r.framesSent, Policing.defaults.burst, `${label}: a ${r.kind} flooder was closed before it exceeded the burst`)
    assert.isBelow(r.closure!.ms, durationMs, `${label}: a ${r.kind} flooder was closed only when its flood ended`)
  }
  assert.strictEqual(ends.filter((e) => e === "FrameFlood").length, results.length, `${label}: server-side ends ${JSON.stringify(ends)}`)
}

/** Heap flat and the good client answered in time, under a flood; the numbers are printed either way. */
const assertBounded = (label: string, r: Effect.Success<ReturnType<typeof underFlood>>) => {
  console.log(
    `${label}: heap +${mib(r.growth)} MiB${r.guarded ? " (guard tripped)" : ""}, ${stats(r.rtts)}, ${r.lost} unanswered; ${describeFloods(r.results)}`
  )
  assert.isFalse(r.guarded, `the heap passed ${mib(HEAP_GUARD)} MiB`)
  assert.isBelow(r.growth, 16 * MiB, `heap +${mib(r.growth)} MiB`)
  assert.isUndefined(r.closure, "the good client was closed")
  assert.strictEqual(r.lost, 0, stats(r.rtts))
  assert.isBelow(Attack.percentile(r.rtts, 99), 200, stats(r.rtts))
}

describe("floods of each frame kind", () => {
  for (const handshake of [false, true]) {
    for (const kind of Attack.FLOOD_KINDS) {
      it.live(`4 connections flooding ${kind}${handshake ? " after a handshake" : " without a handshake"} for 6 s: each closed with FrameFlood, heap flat, a good client's RTT under 200 ms`, () =>
        Effect.gen(function*() {
          const server = yield* listen()
          const r = yield* underFlood(server.port, [kind, kind, kind, kind], 6000, handshake)
          assertBounded(`${kind} flood${handshake ? " after handshake" : ""}`, r)
          assertFloodersClosed(`${kind} flood`, r.results, 6000)
        }).pipe(Effect.scoped))
    }
  }

  it.live("one connection per kind (PONG, PING, unknown procedure, calls) for 10 s: each closed with FrameFlood, heap flat, a good client's RTT under 200 ms", () =>
    Effect.gen(function*() {
      const server = yield* listen()
      const r = yield* underFlood(server.port, Attack.FLOOD_KINDS, 10_000, false)
      assertBounded("mixed flood", r)
      assertFloodersClosed("mixed flood", r.results, 10_000)
    }).pipe(Effect.scoped))

  it.live("4 connections sending garbage are each closed at once, and the server holds none of their sockets", () =>
    Effect.gen(function*() {
      const server = yield* listen()
      const peers: Array<Attack.Peer> = []
      const results = yield* promise(() =>
        Promise.all(Array.from({ length: 4 }, () => Attack.flood(server.port, { kind: "garbage", durationMs: 3000, onPeer: (p) => void peers.push(p) })))
      )
      for (const r of results) {
        assert.isDefined(r.closure, `a garbage flood was not closed: ${mib(r.bytesSent)} MiB sent`)
        assert.isBelow(r.closure!.ms, AT_ONCE_MS)
      }
      yield* promise(() => sleep(100))
      for (const p of peers) assert.isFalse(Attack.serverHolds(server.port, p.localPort))
    }).pipe(Effect.scoped))
})

describe("flow control, long", () => {
  it.live("a never-reading peer sending AUTH_LIST at 20 000/s for 20 s does not grow our heap past 16 MiB", () =>
    Effect.gen(function*() {
      const server = yield* listen()
      yield* promise(() => sleep(100))
      const before = Attack.retainedAfterGc()
      const attack = yield* promise(() => Attack.neverReader(server.port, { durationMs: 20_000, maxPendingBytes: 256 * 1024 }))
      yield* Effect.addFinalizer(() => Effect.sync(() => attack.peer.destroy()))
      const growth = Attack.retainedAfterGc() - before - attack.pendingBytes
      console.log(`never-reading peer, 20 s: ${attack.callsSent} calls sent, ${attack.skipped} batches skipped, server retains +${mib(growth)} MiB`)
      assert.isBelow(growth, 16 * MiB, `${attack.callsSent} calls sent: the server retains ${mib(growth)} MiB`)
    }).pipe(Effect.scoped))

  it.live("a peer that stuffed 8 MB of calls and went silent: after its keepalive death the server holds no socket for it", () =>
    Effect.gen(function*() {
      const server = yield* listen({ keepalive: { interval: 300, count: 1, policy: "if-supported" } })
      const peer = yield* Effect.acquireRelease(promise(() => Attack.stuffAndGoSilent(server.port, 300_000)), (p) => Effect.sync(() => p.destroy()))
      // death is due 600 ms after the last frame the server reads; give it 20 s to read what it will
      const released = yield* promise(async () => {
        const start = performance.now()
        while (performance.now() - start < 20_000) {
          if (!Attack.serverHolds(server.port, peer.localPort)) return performance.now() - start
          await sleep(50)
        }
        return undefined
      })
      assert.isDefined(released, `20 s later the server still holds the socket: ${JSON.stringify(Attack.serverSide(server.port, peer.localPort))}`)
    }).pipe(Effect.scoped))
})

describe("partial frames, many connections", () => {
  it.live("500 connections each holding 16 KiB of a 1 MiB frame cost O(bytes): at most 4× the bytes held", () =>
    Effect.gen(function*() {
      const server = yield* listen()
      const frame = Attack.partialFrame(MiB, 4 + 16 * 1024)
      const peers = yield* Effect.acquireRelease(promise(() => Attack.holdPartial(server.port, 500, frame.subarray(0, 4))), (ps) =>
        Effect.sync(() => ps.forEach((p) => p.destroy())))
      yield* promise(() =>
        sleep(300)
      )
      const before = Attack.retainedAfterGc()
      yield* promise(() => Promise.all(peers.map((p) => p.write(frame.subarray(4)))))
      yield* promise(() => sleep(500))
      const growth = Attack.retainedAfterGc() - before
      const held = 500 * 16 * 1024
      console.log(`500 × 16 KiB partial frames: +${mib(growth)} MiB for ${mib(held)} MiB held (${(growth / held).toFixed(2)}×)`)
      assert.strictEqual(peers.filter((p) => p.closure() !== undefined).length, 0)
      assert.isBelow(growth, 4 * held, `${mib(growth)} MiB retained`)
    }).pipe(Effect.scoped))

  it.live("64 connections claiming 32 MiB, then trickling 512 bytes one byte per write: O(bytes), at most 4× the bytes", () =>
    Effect.gen(function*() {
      const server = yield* listen()
      const frame = Attack.partialFrame(Attack.MAX_CLAIMED, 4 + 512)
      const peers = yield* Effect.acquireRelease(promise(() => Attack.holdPartial(server.port, 64, frame.subarray(0, 4))), (ps) =>
        Effect.sync(() => ps.forEach((p) => p.destroy())))
      yield* promise(() =>
        sleep(300)
      )
      const before = Attack.retainedAfterGc()
      const sent = yield* promise(() => Promise.all(peers.map((p) => Attack.trickle(p, frame.subarray(4), 2))))
      yield* promise(() => sleep(300))
      const growth = Attack.retainedAfterGc() - before
      const total = sent.reduce((a, b) => a + b, 0)
      console.log(`64 × 32 MiB claimed, 512 bytes trickled each: +${(growth / 1024).toFixed(0)} KiB for ${total} bytes (${(growth / total).toFixed(1)}×)`)
      assert.strictEqual(total, 64 * 512)
      assert.isBelow(growth, 4 * total + 256 * 1024, `${(growth / 1024).toFixed(0)} KiB retained for ${total} bytes`)
    }).pipe(Effect.scoped))
})

describe("connection storms", () => {
  it.live("3000 connections opened and closed as fast as possible: heap flat, no socket left, a good client still answered", () =>
    Effect.gen(function*() {
      const server = yield* listen()
      yield* promise(() => Attack.storm(server.port, 300))
      yield* promise(() => sleep(300))
      const before = Attack.retainedAfterGc()
      const storm = yield* promise(() => Attack.storm(server.port, 3000))
      yield* promise(() => sleep(1000))
      const growth = Attack.retainedAfterGc() - before
      const stillHeld = Attack.heldOnPort(server.port)
      const good = yield* promise(() => Attack.goodClient(server.port, { intervalMs: 20, lostAfterMs: 2000 }))
      yield* promise(() => sleep(500))
      const { rtts, lost } = yield* promise(() => good.stop())
      console.log(
        `storm: ${storm.opened} opened, ${storm.failed} failed in ${Math.round(storm.ms)} ms; heap +${
          mib(growth)
        } MiB; ${stillHeld} sockets still held; good client ${stats(rtts)}`
      )
      assert.strictEqual(stillHeld, 0)
      assert.isBelow(growth, 8 * MiB)
      assert.strictEqual(lost, 0)
    }).pipe(Effect.scoped))

  it.live("beyond max_clients, a storm of 200 connections: the extra ones are closed at once, the server holds at most max_clients", () =>
    Effect.gen(function*() {
      const server = yield* listen({ maxClients: 50 })
      const peers = yield* Effect.acquireRelease(promise(() => Attack.openMany(server.port, 200)), (ps) => Effect.sync(() => ps.forEach((p) => p.destroy())))
      yield* promise(() => sleep(AT_ONCE_MS))
      const open = peers.filter((p) => p.closure() === undefined).length
      const closedAtOnce = peers.filter((p) => p.closure() !== undefined && p.closure()!.ms < AT_ONCE_MS).length
      assert.strictEqual(open, 50)
      assert.strictEqual(closedAtOnce, 150)
      const held = peers.filter((p) => Attack.serverHolds(server.port, p.localPort)).length
      assert.isAtMost(held, 50)
    }).pipe(Effect.scoped))
})
