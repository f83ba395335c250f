import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Libvirt from "./Libvirt.ts"

beforeAll(() => Libvirt.requirePackages())

/** `keepalive probe` as a user runs it, in a process of its own. */
const probe = (args: ReadonlyArray<string>) => Libvirt.spawnScoped(process.execPath, ["src/tools/cli.ts", "probe", ...args])

const jsonEvents = (output: string): Array<Record<string, unknown>> =>
  output.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>)

describe("keepalive probe against a real libvirtd 9.0", () => {
  it.live("alive: one line per PONG with its RTT, the daemon's PINGs, a ping-style summary, exit 0", () =>
    Effect.gen(function*() {
      const daemon = yield* Libvirt.startLibvirtd({ interval: 1, count: 2 })
      const run = yield* probe([daemon.uri, "--interval", "400ms", "--pings", "5"])
      assert.strictEqual(yield* run.exited, 0)
      const out = run.output()
      console.log(out)
      assert.match(out, /connected to 127\.0\.0\.1:\d+ in [\d.]+ ms; the daemon supports keepalive/)
      assert.strictEqual(out.match(/PONG from 127\.0\.0\.1:\d+: seq=\d+ time=[\d.]+ ms/g)?.length, 5)
      assert.match(out, /5 PINGs sent, 5 PONGs received, 0% loss, time \d+ ms/)
      assert.match(out, /rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms/)
    }).pipe(Effect.scoped))

  it.live("the daemon's own PINGs are shown and answered (probe interval longer than the daemon's)", () =>
    Effect.gen(function*() {
      const daemon = yield* Libvirt.startLibvirtd({ interval: 1, count: 2 })
      const run = yield* probe([daemon.uri, "--interval", "5s", "--for", "2500ms", "--json"])
      assert.strictEqual(yield* run.exited, 0)
      const events = jsonEvents(run.output())
      assert.isAtLeast(events.filter((e) => e.event === "daemonping").length, 2)
      assert.strictEqual(events.at(-1)?.event, "summary")
      assert.strictEqual(events.at(-1)?.exitCode, 0)
    }).pipe(Effect.scoped))

  for (const [I, C] of [[500, 2], [300, 3]] as const) {
    it.live(
      `SIGSTOP'd daemon: declared dead after C PINGs, between C·I and (C+1)·I after the SIGSTOP (I=${I} ms, C=${C}), exit 1`,
      () =>
        Effect.gen(function*() {
          const daemon = yield* Libvirt.startLibvirtd({ interval: 5, count: 5 })
          const run = yield* probe([daemon.uri, "--interval", `${I}ms`, "--count", String(C), "--for", "20s", "--json"])
          yield* run.waitFor(`"seq":2`)
          yield* daemon.child.signal("SIGSTOP")
          const stoppedAt = performance.now()
          yield* run.waitFor(`"event":"dead"`)
          const elapsed = performance.now() - stoppedAt
          assert.strictEqual(yield* run.exited, 1)
          const events = jsonEvents(run.output())
          const dead = events.find((e) => e.event === "dead")
          assert.isDefined(dead)
          assert.strictEqual(dead?.pingsUnanswered, C)
          // the observation polls the probe's output: up to one poll late
          Libvirt.assertClosedAfterFault("probe vs a SIGSTOP'd libvirtd", elapsed, I, C, 150)
          const summary = events.at(-1)
          assert.strictEqual(summary?.exitCode, 1)
          assert.isAbove(Number(summary?.loss), 0)
        }).pipe(Effect.scoped),
      30_000
    )
  }

  it.live("without --for or --pings it runs until Ctrl-C, then prints the summary (exit 130, as for any interrupted command)", () =>
    Effect.gen(function*() {
      const daemon = yield* Libvirt.startLibvirtd({ interval: 5, count: 5 })
      const run = yield* probe([daemon.uri, "--interval", "300ms"])
      yield* run.waitFor("seq=3")
      yield* run.signal("SIGINT")
      assert.strictEqual(yield* run.exited, 130)
      assert.match(run.output(), /\d+ PINGs sent, \d+ PONGs received, 0% loss/)
    }).pipe(Effect.scoped))

  it.live("a refused connection: UNREACHABLE with the address and ECONNREFUSED, exit 2", () =>
    Effect.gen(function*() {
      const port = yield* Libvirt.freePort
      const run = yield* probe([`test+tcp://127.0.0.1:${port}/default`, "--pings", "1"])
      assert.strictEqual(yield* run.exited, 2)
      assert.include(run.output(), `UNREACHABLE: cannot connect to 127.0.0.1:${port}: ECONNREFUSED`)
    }).pipe(Effect.scoped))

  it.live("a bad URI: a usage error naming the parameter, exit 64, not UNREACHABLE", () =>
    Effect.gen(function*() {
      const run = yield* probe(["test+tcp://127.0.0.1:1/default?colour=blue", "--pings", "1"])
      assert.strictEqual(yield* run.exited, 64)
      assert.include(run.output(), `unknown parameter "colour"`)
      assert.notInclude(run.output(), "UNREACHABLE")
    }).pipe(Effect.scoped))

  it.live("a daemon frozen before the handshake: no answer within --open-timeout, exit 2, naming the phase", () =>
    Effect.gen(function*() {
      const daemon = yield* Libvirt.startLibvirtd({ interval: 5, count: 5 })
      yield* daemon.child.signal("SIGSTOP")
      const run = yield* probe([daemon.uri, "--pings", "1", "--open-timeout", "1s"])
      assert.strictEqual(yield* run.exited, 2)
      assert.include(run.output(), "the connection did not open within 1000 ms: stuck waiting for the reply to AUTH_LIST (phase auth-list)")
    }).pipe(Effect.scoped))

  it.live("--metrics HOST:PORT serves Prometheus metrics while probing", () =>
    Effect.gen(function*() {
      const daemon = yield* Libvirt.startLibvirtd({ interval: 5, count: 5 })
      const port = yield* Libvirt.freePort
      const run = yield* probe([daemon.uri, "--interval", "300ms", "--for", "4s", "--metrics", `127.0.0.1:${port}`])
      yield* run.waitFor("seq=3")
      const body = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()))
      assert.match(body, /keepalive_probe_pongs_received\S* ([3-9]|\d{2,})\b/)
      assert.include(body, "keepalive_probe_rtt_ms_bucket")
      assert.match(body, /keepalive_probe_alive\S* 1/)
      assert.strictEqual(yield* run.exited, 0)
    }).pipe(Effect.scoped))

  it.live("--pings 1 ends against a daemon that pings every second, with --interval 1.5s: one PING every interval", () =>
    Effect.gen(function*() {
      const daemon = yield* Libvirt.startLibvirtd({ interval: 1, count: 5 })
      const run = yield* probe([daemon.uri, "--interval", "1.5s", "--pings", "1"])
      assert.strictEqual(yield* run.exited, 0)
      assert.include(run.output(), "PONG from")
      assert.include(run.output(), "PING from")
    }).pipe(Effect.scoped), 30_000)
})
