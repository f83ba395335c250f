import { assert, describe, it } from "@effect/vitest"
import * as Probe from "../../src/tools/Probe.ts"
import * as ProbeCommand from "../../src/tools/ProbeCommand.ts"

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
    assert.strictEqual(ProbeCommand.parseDuration("500ms"), 500)
    assert.strictEqual(ProbeCommand.parseDuration("1.5s"), 1500)
    assert.strictEqual(ProbeCommand.parseDuration("2m"), 120_000)
    assert.strictEqual(ProbeCommand.parseDuration("1 second"), 1000)
    assert.throws(() => ProbeCommand.parseDuration("soon"), /500ms/)
    assert.throws(() => ProbeCommand.parseDuration("0s"), /duration/)
    assert.deepStrictEqual(ProbeCommand.parseHostPort("127.0.0.1:9464"), { host: "127.0.0.1", port: 9464 })
    assert.deepStrictEqual(ProbeCommand.parseHostPort("[::1]:9464"), { host: "::1", port: 9464 })
    assert.throws(() => ProbeCommand.parseHostPort("9464"), /HOST:PORT/)
  })
})
