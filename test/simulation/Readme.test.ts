import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import { Effect } from "effect"
import { diagram } from "../../examples/simulated-demo.ts"

describe("README", () => {
  it.effect("embeds the Mermaid diagram of the dead-peer simulation exactly as a run draws it", () =>
    Effect.gen(function*() {
      const readme = Fs.readFileSync(new URL("../../README.md", import.meta.url), "utf8")
      const embedded = /```mermaid\n([\s\S]*?)\n```/.exec(readme)?.[1]
      assert.isDefined(embedded)
      assert.strictEqual(embedded, yield* diagram)
    }))
})
