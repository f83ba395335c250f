/**
 * The layers of `src/` as data, and the check that each module imports only from its own layer or a lower one.
 *
 * Contract:
 * - {@link LAYERS} lists the folders of `src/` from the bottom up; the README's Architecture section explains the
 *   order. `src/index.ts` is the package's root and may import from every layer.
 * - Every relative `import … from "…"`, `import "…"` and `export … from "…"` of every `src/**\/*.ts` is read (type-only
 *   imports too: a type is knowledge of the layer it comes from). An import into a higher layer, or a folder of
 *   `src/` missing from {@link LAYERS}, fails the test naming the file and the import.
 */
import { assert, describe, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve, sep } from "node:path"

const ROOT = resolve(import.meta.dirname, "..")
const SRC = join(ROOT, "src")

/**
 * The layers from the bottom up: a module may import from its own layer and from any layer before it.
 */
export const LAYERS = [
  "wire",
  "core",
  "session",
  "trace",
  "verify",
  "runtime",
  "simulation",
  "testing",
  "tools"
] as const

const files = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? files(join(dir, entry.name))
      : entry.name.endsWith(".ts")
      ? [join(dir, entry.name)]
      : []
  )

/** The module specifiers of a source text's static imports and re-exports. */
const specifiers = (text: string): Array<string> => {
  const found: Array<string> = []
  const clause = String.raw`(?:type\s+)?(?:\*(?:\s+as\s+\w+)?|\{[^}]*\}|\w+(?:\s*,\s*(?:\{[^}]*\}|\*\s+as\s+\w+))?)`
  const statement = new RegExp(
    String.raw`^\s*(?:import|export)\s+${clause}\s*from\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']`,
    "gm"
  )
  for (const match of text.matchAll(statement)) found.push(match[1] ?? match[2] ?? "")
  return found
}

/** The layer of a path under `src/`, or `"root"` for `src/index.ts`. */
const layerOf = (path: string): string => {
  const parts = relative(SRC, path).split(sep)
  return parts.length === 1 ? "root" : parts[0] ?? "root"
}

const rank = (layer: string): number => layer === "root" ? LAYERS.length : LAYERS.indexOf(layer as never)

/** Every import that runs up the layers, as `file: import (from → to)`. */
export const violations = (): Array<string> => {
  const found: Array<string> = []
  for (const file of files(SRC)) {
    const from = layerOf(file)
    const name = relative(ROOT, file).split(sep).join("/")
    if (rank(from) < 0) found.push(`${name}: folder "${from}" is not in LAYERS`)
    for (const spec of specifiers(readFileSync(file, "utf8"))) {
      if (!spec.startsWith(".")) continue
      const target = resolve(dirname(file), spec)
      if (!target.startsWith(SRC + sep)) {
        found.push(`${name}: imports "${spec}" from outside src/`)
        continue
      }
      const to = layerOf(target)
      if (rank(to) < 0 || rank(to) > rank(from)) found.push(`${name}: imports "${spec}" (${from} → ${to})`)
    }
  }
  return found
}

describe("layers", () => {
  it("reads the imports it checks", () => {
    assert.deepStrictEqual(
      specifiers(
        `import { a,\n  b } from "../x/A.ts"\nimport type * as B from './B.ts'\nexport * as C from "../c/C.ts"\nimport "./side.ts"\nconst s = "import nothing from here"`
      ),
      ["../x/A.ts", "./B.ts", "../c/C.ts", "./side.ts"]
    )
  })

  it("every module imports only from its own layer or a lower one", () => {
    const found = violations()
    assert.deepStrictEqual(found, [], `imports that run up the layers (${LAYERS.join(" < ")}):\n${found.join("\n")}`)
  })
})
