import { assert, describe, it } from "@effect/vitest"
import * as Client from "../../src/runtime/Client.ts"
import * as Frame from "../../src/wire/Frame.ts"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as Server from "../../src/runtime/Server.ts"
import * as Testing from "../../src/testing/Testing.ts"
import * as Probe from "../../src/tools/Probe.ts"
import * as Flags from "../../src/tools/Flags.ts"

describe("probe statistics and formatting", () => {
  it("ping's statistics: loss, min/avg/max and mdev as the standard deviation", () => {
    const s = Probe.summarize("u", 5, [1, 2, 3, 4], 5000, 1)
    assert.strictEqual(s.loss, 20)
    assert.deepStrictEqual(s.rtt, { min: 1, avg: 2.5, max: 4, mdev: Math.sqrt(1.25) })
    assert.strictEqual(
      Probe.formatSummary(s),
      "--- u keepalive statistics ---\n5 PINGs sent, 4 PONGs received, 20% loss, time 5000 ms\nrtt min/avg/max/mdev = 1.000/2.500/4.000/1.118 ms"
    )
    assert.isUndefined(Probe.summarize("u", 0, [], 10, 2).rtt)
    assert.strictEqual(Probe.summarize("u", 0, [], 10, 2).loss, 0)
  })

  it("event lines and JSON", () => {
    assert.strictEqual(Probe.formatEvent({ _tag: "Pong", at: 10, seq: 3, rtt: 0.4567 }, "h:1"), "PONG from h:1: seq=3 time=0.457 ms")
    assert.strictEqual(
      Probe.formatEvent({ _tag: "Dead", at: 10, silence: 1503.2, pingsUnanswered: 2 }, "h:1"),
      "DEAD: h:1 declared dead after 2 unanswered PINGs and 1503 ms of silence"
    )
    assert.strictEqual(Probe.eventJson({ _tag: "Pong", at: 10.12345, seq: 1, rtt: 0.4567 }), `{"event":"pong","at":10.123,"seq":1,"rtt":0.457}`)
  })

  it("targets: host:port with the transport's default port, the socket, ssh user@host", () => {
    assert.strictEqual(Probe.target("qemu+tls://host/system"), "host:16514")
    assert.strictEqual(Probe.target("test+tcp://127.0.0.1:5000/default"), "127.0.0.1:5000")
    assert.strictEqual(Probe.target("qemu+unix:///system?socket=/run/s"), "/run/s")
    assert.strictEqual(Probe.target("qemu+ssh://root@h/system"), "ssh root@h")
    assert.strictEqual(Probe.target("not a uri"), "not a uri")
  })

  it("durations and HOST:PORT on the command line", () => {
    assert.strictEqual(Flags.parseDuration("500ms"), 500)
    assert.strictEqual(Flags.parseDuration("1.5s"), 1500)
    assert.strictEqual(Flags.parseDuration("2m"), 120_000)
    assert.strictEqual(Flags.parseDuration("1 second"), 1000)
    assert.throws(() => Flags.parseDuration("soon"), /500ms/)
    assert.throws(() => Flags.parseDuration("0s"), /duration/)
    assert.deepStrictEqual(Flags.parseHostPort("127.0.0.1:9464"), { host: "127.0.0.1", port: 9464 })
    assert.deepStrictEqual(Flags.parseHostPort("[::1]:9464"), { host: "::1", port: 9464 })
    assert.throws(() => Flags.parseHostPort("9464"), /HOST:PORT/)
  })
})

describe("probe pings at a fixed cadence (virtual time)", () => {
  /** Our PINGs in `ms` of virtual time, to a server that pings us every `serverEvery` ms, with keepalive at 150 ms. */
  const pingsTo = (fixed: boolean, ms: number, most = Infinity, serverEvery = 50, latency = 0) =>
    Effect.gen(function*() {
      const link = latency === 0
        ? yield* Testing.memoryPair
        : yield* Effect.map(Testing.link({ toServer: { latency, jitter: latency }, toClient: { latency, jitter: latency }, seed: 7 }), (l) => ({
          left: l.client,
          right: l.server
        }))
      yield* Effect.forkScoped(Effect.scoped(Server.handleSocket(link.right, { keepalive: { interval: serverEvery, count: 5, policy: "if-supported" } })))
      const sent: Array<number> = []
      let lastPing = Number.NEGATIVE_INFINITY
      yield* Effect.forkScoped(Effect.gen(function*() {
        const client = yield* Client.connect(link.left, {
          closeTimeout: 0,
          trace: (e) => {
            if (e.kind === "transmit" && Frame.isKeepalive(e.frame.header) && e.frame.header.proc === Frame.KeepaliveProc.Ping) sent.push(lastPing = e.at)
          }
        })
        yield* client.setKeepAlive(150, 5)
        if (fixed) yield* Effect.forkScoped(Probe.pingEvery(client, 150, () => lastPing, () => sent.length < most))
      }))
      for (let t = 0; t < ms; t += 5) yield* Testing.advance(5)
      return sent
    }).pipe(Effect.scoped)

  it.effect("one PING every interval, whatever the daemon sends: a probe for N PINGs always ends", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* pingsTo(true, 600), [150, 300, 450, 600])
    }))

  it.effect("a daemon that never pings: our keepalive's PING falls on the cadence's tick, and only one of the two is sent", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* pingsTo(true, 600, Infinity, 10_000), [150, 300, 450, 600])
      // 5-10 ms each way: the keepalive's deadline falls after the cadence's tick, before or after its PONG is back
      const sent = yield* pingsTo(true, 3000, Infinity, 10_000, 5)
      const gaps = sent.slice(1).map((t, i) => t - sent[i]!)
      assert.isAtLeast(sent.length, 15)
      assert.isTrue(gaps.every((g) => g >= 150 && g <= 200), `one PING per interval: ${gaps.join(", ")}`)
    }))

  it.effect("--pings N sends exactly N PINGs of the cadence, however long their PONGs take", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* pingsTo(true, 1200, 3), [150, 300, 450])
    }))

  it.effect("libvirt's rule (--after-silence) sends none to a daemon that pings more often than the interval", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* pingsTo(false, 600), [])
    }))
})

describe("probe's command line", () => {
  const cli = (...args: ReadonlyArray<string>) => {
    const run = spawnSync(process.execPath, ["src/tools/cli.ts", "probe", ...args], { encoding: "utf8", timeout: 60_000 })
    return { code: run.status, out: run.stdout, err: run.stderr }
  }

  it("--help shows every default", () => {
    const help = cli("--help").out
    for (const shown of ["(default: 1s)", "(default: 5)", "(default: 30s)", "(default: false)"]) assert.include(help, shown)
  })

  it("a URI that does not parse is a usage error, not UNREACHABLE: one line, exit 64, no statistics", () => {
    const run = cli("test+foo://x/default")
    assert.strictEqual(run.code, 64)
    assert.include(run.err, `unknown transport "foo"`)
    assert.notInclude(run.out + run.err, "UNREACHABLE")
    assert.notInclude(run.out + run.err, "statistics")
  })

  it("a bad flag: a short message naming it and a pointer to --help, exit 64, not the whole help", () => {
    const run = cli("--interval", "soon", "test+tcp://127.0.0.1:1/default")
    assert.strictEqual(run.code, 64)
    assert.include(run.err, "--interval")
    assert.include(run.err, "try 'keepalive probe --help'")
    assert.notInclude(run.out + run.err, "GLOBAL FLAGS")
    assert.strictEqual(cli("--for", "1s", "--pings", "1", "test+tcp://127.0.0.1:1/default").code, 64)
  })
})
