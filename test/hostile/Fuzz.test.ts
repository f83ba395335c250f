import { assert, describe, it } from "@effect/vitest"
import * as Frame from "../../src/wire/Frame.ts"
import { fuzz } from "../helpers/Fuzz.ts"

describe("decoder fuzz (fast; `npm run test:stress` runs 1M cases)", () => {
  it("20 000 random and mutated frame streams: nothing throws, bad lengths get typed errors, memory stays bounded", () => {
    const report = fuzz(20_000, 42)
    assert.isAbove(report.frames, 20_000)
    assert.isAbove(report.errors["LengthTooSmall"] ?? 0, 1000)
    assert.isAbove(report.errors["LengthTooLarge"] ?? 0, 1000)
    // mutated lengths claim up to 4 GiB; the decoder holds what arrived (a stream is at most 4 frames), never what was claimed
    assert.isAtMost(report.maxBuffered, 4 * (63 * 4 + Frame.MIN_FRAME_SIZE))
  })
})
