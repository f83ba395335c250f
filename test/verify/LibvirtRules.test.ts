import { assert, describe, it } from "@effect/vitest"
import * as ModelChecker from "../../src/verify/ModelChecker.ts"
import * as Workers from "../../src/verify/Workers.ts"

const settings = { intervalTicks: 1, countClient: 2, serverIntervalTicks: 1, serverCount: 2 } as const

describe("The checker under libvirt's rules: the field failures, found by search", () => {
  it("starvation at max_client_requests: the server kills a live client at 3.0 s (I = 1 s, C = 2); ours holds", () => {
    const bounds = { ...settings, callLimit: 1, calls: 1, allowFreeze: { client: false, server: false } }
    const libvirt = ModelChecker.check({ ...bounds, rules: "libvirt" })
    assert.strictEqual(libvirt.violation?.property, "no-false-death")
    assert.strictEqual(libvirt.violation?.at, 3000)
    assert.include(libvirt.violation?.description ?? "", "max_client_requests")
    const ours = ModelChecker.check(bounds)
    assert.isTrue(ours.ok && ours.complete)
  })

  it("keepalive_required is ignored: a client that does not advertise is let in", () => {
    const v = ModelChecker.check({ ...settings, rules: "libvirt", policy: "required", clientAdvertises: false })
    assert.strictEqual(v.violation?.property, "required-exact")
    assert.isTrue(ModelChecker.check({ ...settings, policy: "required", clientAdvertises: false }).ok)
  })

  it("a wall clock stepped back postpones the death of a frozen peer past (C+1)·I", () => {
    const v = ModelChecker.check({ ...settings, rules: "libvirt", clockStep: -3, allowFreeze: { client: false, server: true } }, {
      properties: ["bounded-liveness"]
    })
    assert.strictEqual(v.violation?.property, "bounded-liveness")
    assert.include(v.violation?.trace.map((e) => (e.kind === "note" ? e.text : "")).join("\n") ?? "", "wall clock steps back")
    // ours read only the monotonic clock: the same step changes nothing
    const ours = ModelChecker.check({ ...settings, clockStep: -3, allowFreeze: { client: false, server: true } }, { properties: ["bounded-liveness"] })
    assert.isTrue(ours.ok && ours.complete)
  })
})

describe("The complete sweep", () => {
  it("covers every dimension of the model: each value of each dimension appears, and every combination once", () => {
    const configs = ModelChecker.Sweep.complete()
    const d = ModelChecker.Sweep.DIMENSIONS
    const product = d.variant.length * d.policy.length * d.clientAdvertises.length * d.calls.length * d.lateTicks.length * d.client.length * d.server.length *
      d.maxDelay.length
    assert.strictEqual(configs.length, product)
    assert.strictEqual(new Set(configs.map((c) => JSON.stringify(c.bounds))).size, product)
    const seen = (f: (b: ModelChecker.Bounds) => unknown) => new Set(configs.map((c) => JSON.stringify(f(c.bounds))))
    assert.strictEqual(seen((b) => b.variant).size, 2)
    assert.strictEqual(seen((b) => b.policy).size, 3)
    assert.strictEqual(seen((b) => b.clientAdvertises).size, 2)
    assert.strictEqual(seen((b) => b.calls).size, 2)
    assert.strictEqual(seen((b) => b.lateTicks).size, 2)
    assert.isTrue(configs.some((c) => c.bounds.serverIntervalTicks === 0), "an answer-only server")
    assert.isTrue(configs.every((c) => c.bounds.bothOrders === true))
    assert.isTrue(ModelChecker.Sweep.complete({ base: { rules: "libvirt" } }).every((c) => c.bounds.rules === "libvirt"))
  })

  it("on worker threads gives the rows of the single-threaded run, in order, a mutant's counterexample included", async () => {
    const configs = ModelChecker.Sweep.complete({ quick: true }).filter((c) =>
      c.bounds.calls === 0 && c.bounds.lateTicks === 0 && c.bounds.variant === "libvirt"
    ).slice(0, 6)
    const options = { mutant: "off-by-one-count" as const }
    const one = ModelChecker.Sweep.run(configs, options)
    const two = await Workers.runParallel(configs, options, 2)
    assert.deepStrictEqual(
      two.rows.map((r) => [r.config.label, r.verdict.statesExplored, r.verdict.violation?.property]),
      one.rows.map((r) => [r.config.label, r.verdict.statesExplored, r.verdict.violation?.property])
    )
    assert.strictEqual(two.shortest?.verdict.violation?.trace.length, one.shortest?.verdict.violation?.trace.length)
    assert.isAbove(one.shortest?.verdict.violation?.trace.length ?? 0, 0)
  })
})
