import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as Bounds from "../../src/verify/Bounds.ts"
import { LAYOUT, Model, Scratch, WIDTH } from "../../src/verify/Model.ts"
import * as Property from "../helpers/Property.ts"

const model = () => new Model(Result.getOrThrow(Bounds.resolveBounds({ allowThaw: { client: true, server: true } })), "none", [])

const get = (s: Scratch, path: string): number => {
  const m = /^(\w+)(?:\[(\d)\])?$/.exec(path)!
  const v = (s as unknown as Record<string, unknown>)[m[1]!]
  return m[2] === undefined ? (v as number) : (v as Array<number>)[Number(m[2])]!
}

const set = (s: Scratch, path: string, value: number): void => {
  const m = /^(\w+)(?:\[(\d)\])?$/.exec(path)!
  if (m[2] === undefined) (s as unknown as Record<string, number>)[m[1]!] = value
  else ((s as unknown as Record<string, Array<number>>)[m[1]!]!)[Number(m[2])] = value
}

describe("The packed state's layout", () => {
  it("fields fit their words and never overlap", () => {
    for (const word of [0, 1, 2, "apps"] as const) {
      let used = 0
      for (const f of LAYOUT.filter((f) => f.word === word)) {
        assert.isAtMost(f.shift + f.bits, 32, f.path)
        const mask = (f.bits === 32 ? -1 : ((1 << f.bits) - 1) << f.shift) >>> 0
        assert.strictEqual((used & mask) >>> 0, 0, `${f.path} overlaps`)
        used = (used | mask) >>> 0
      }
    }
  })

  it("names every number of the scratch but the ghosts", () => {
    const s = new Scratch()
    const paths = Object.entries(s).flatMap((
      [k, v]
    ) => (typeof v === "number" ? [k] : Array.isArray(v) && typeof v[0] === "number" ? v.map((_, i) => `${k}[${i}]`) : []))
    assert.sameMembers(LAYOUT.map((f) => f.path), paths)
  })

  const Values = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0x7fffffff }))).check(Schema.isMinLength(LAYOUT.length))

  it.prop("packing then unpacking gives the same state back", [Values], ([values]) => {
    const m = model()
    const s = new Scratch()
    LAYOUT.forEach((f, i) => set(s, f.path, f.path.startsWith("frozen") ? (values[i]! % 2) * 2 : f.path === "ended" ? 0 : values[i]! % (2 ** f.bits)))
    const words = new Int32Array(WIDTH)
    m.store(s, words)
    const back = new Scratch()
    m.load(back, words, 0)
    for (const f of LAYOUT) assert.strictEqual(get(back, f.path), get(s, f.path), f.path)
  }, Property.options(200))
})

describe("Hash compaction", () => {
  it("finds the states of the exact search and reports its probability of omission", async () => {
    const { check } = await import("../../src/verify/Search.ts")
    for (const bounds of [{ intervalTicks: 1, countClient: 2, maxDelay: 1 }, { intervalTicks: 2, countClient: 1, maxDelay: 2 }]) {
      const exact = check(bounds)
      const compact = check(bounds, { hashCompact: true })
      console.log(`hash compaction: ${compact.statesExplored} states, probability of omission ≤ ${compact.omission?.toExponential(2)}`)
      assert.strictEqual(compact.statesExplored, exact.statesExplored)
      assert.isUndefined(exact.omission)
      assert.isAbove(compact.omission ?? 0, 0)
      assert.isBelow(compact.omission ?? 1, 1e-6)
    }
    const bounds = { intervalTicks: 1, countClient: 2, maxDelay: 0 }
    const mutant = check(bounds, { mutant: "send-resets", hashCompact: true })
    assert.isDefined(mutant.violation)
    assert.strictEqual(mutant.violation?.property, check(bounds, { mutant: "send-resets" }).violation?.property)
  })
})
