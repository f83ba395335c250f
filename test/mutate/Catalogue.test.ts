import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { catalogue } from "./catalogue.ts"

const ROOT = resolve(import.meta.dirname, "../..")

describe("the mutation catalogue", () => {
  // a find text that no longer occurs (or occurs twice) after a change to the source would make `npm run mutate`
  // refuse the mutant, or mutate another place than the one its note describes
  it("every mutant's text occurs exactly once in its file, and the mutant changes it", () => {
    for (const m of catalogue) {
      const text = readFileSync(join(ROOT, m.file), "utf8")
      assert.strictEqual(text.split(m.find).length - 1, 1, `${m.id}: ${JSON.stringify(m.find)} in ${m.file}`)
      assert.notStrictEqual(m.replace, m.find, m.id)
    }
  })

  it("mutant ids are unique", () => {
    const ids = catalogue.map((m) => m.id)
    assert.strictEqual(new Set(ids).size, ids.length)
  })
})
