import { assert, describe, it } from "@effect/vitest"
import * as Frame from "../../src/wire/Frame.ts"
import { fuzz } from "../helpers/Fuzz.ts"
import * as Property from "../helpers/Property.ts"

describe("decoder fuzz (fast; `npm run test:stress` runs 1M cases)", () => {
  it("20 000 random and mutated frame streams: each ends as the framing rule says (every injected bad length refused at its word, with that length), memory stays bounded", () => {
    const report = fuzz(20_000, Property.SEED)
    console.log(`fuzz: ${JSON.stringify(report)}`)
    // about 2 in 5 mutations inject a huge or tiny length; every one is reported as injected
    assert.isAbove(report.injected, 6000)
    assert.strictEqual(report.injectedReported, report.injected)
    assert.isAbove(report.frames, 20_000)
    assert.isAbove(report.errors["LengthTooSmall"] ?? 0, 1000)
    assert.isAbove(report.errors["LengthTooLarge"] ?? 0, 1000)
    // mutated lengths claim up to 4 GiB; the decoder holds what arrived (a stream is at most 4 frames), never what was claimed
    assert.isAtMost(report.maxBuffered, 4 * (63 * 4 + Frame.MIN_FRAME_SIZE))
  })
})
