import { assert, describe, it } from "@effect/vitest"
import * as Frame from "../../src/wire/Frame.ts"
import { fuzz } from "../helpers/Fuzz.ts"
import * as Property from "../helpers/Property.ts"

describe("decoder fuzz, long", () => {
  it("1 000 000 random and mutated frame streams", () => {
    const heapBefore = process.memoryUsage().heapUsed
    const report = fuzz(1_000_000, Property.SEED)
    const growth = process.memoryUsage().heapUsed - heapBefore
    console.log(
      `fuzz: seed ${report.seed} (PROPERTY_SEED=<integer> draws others), ${report.cases} cases, ${report.frames} frames decoded, errors ${
        JSON.stringify(report.errors)
      }, at most ${report.maxBuffered} bytes held, heap growth ${(growth / 1024 / 1024).toFixed(1)} MiB`
    )
    assert.isAbove(report.injected, 300_000)
    assert.strictEqual(report.injectedReported, report.injected)
    assert.isAbove(report.errors["LengthTooSmall"] ?? 0, 50_000)
    assert.isAbove(report.errors["LengthTooLarge"] ?? 0, 50_000)
    assert.isAtMost(report.maxBuffered, 4 * (63 * 4 + Frame.MIN_FRAME_SIZE))
    assert.isBelow(growth, 256 * 1024 * 1024)
  }, 600_000)
})
