/**
 * The package as a new user gets it: `npm pack`, unpacked into a fresh project next to effect and
 * @effect/platform-node, and an application (test/package/app, the README's examples) type-checked under strict
 * TypeScript against the packed declarations. Then every public module is imported in a plain Node process: none
 * prints or runs anything, and the CLI is not importable.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const root = Path.join(import.meta.dirname, "..", "..")
const app = Path.join(import.meta.dirname, "app")

/** Packs the library and makes a project that depends on the tarball; the other packages are linked from ours. */
const freshProject = (): string => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "keepalive-fresh-"))
  const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: root, encoding: "utf8" }).trim().split("\n").pop()!
  const modules = Path.join(dir, "node_modules")
  Fs.mkdirSync(Path.join(modules, "@effect"), { recursive: true })
  Fs.mkdirSync(Path.join(modules, "@types"), { recursive: true })
  execFileSync("tar", ["-xzf", Path.join(dir, out), "-C", modules])
  Fs.renameSync(Path.join(modules, "package"), Path.join(modules, "effect-keepalive"))
  for (const dep of ["effect", "@effect/platform-node", "@effect/platform-node-shared", "@types/node"]) {
    Fs.symlinkSync(Path.join(root, "node_modules", dep), Path.join(modules, dep))
  }
  Fs.writeFileSync(Path.join(dir, "package.json"), JSON.stringify({ name: "fresh", type: "module", private: true }))
  for (const f of Fs.readdirSync(app)) Fs.copyFileSync(Path.join(app, f), Path.join(dir, f))
  return dir
}

describe("The packed package in a fresh project", () => {
  it(
    "type-checks applications using the layers, reconnecting by URI, typed calls, event Streams, Config, Durations, catchTag and the testing module; imports run nothing",
    () => {
      const dir = freshProject()
      try {
        const tsc = spawnSync(Path.join(root, "node_modules", ".bin", "tsc"), ["-p", dir], { encoding: "utf8" })
        assert.strictEqual(tsc.status, 0, tsc.stdout + tsc.stderr)

        const exports = Object.keys(JSON.parse(Fs.readFileSync(Path.join(dir, "node_modules", "effect-keepalive", "package.json"), "utf8")).exports)
          .filter((e) => e !== "./package.json")
        assert.include(exports, "./testing")
        const imports = exports.map((e) => `await import(${JSON.stringify(`effect-keepalive${e.slice(1)}`)})`).join("\n")
        const run = spawnSync(process.execPath, ["--input-type=module", "-e", imports], { cwd: dir, encoding: "utf8", timeout: 30_000 })
        assert.strictEqual(run.status, 0, run.stderr)
        assert.strictEqual(run.stdout, "")

        const cli = spawnSync(process.execPath, ["--input-type=module", "-e", "await import('effect-keepalive/cli')"], { cwd: dir, encoding: "utf8" })
        assert.notStrictEqual(cli.status, 0)
        assert.include(cli.stderr, "ERR_PACKAGE_PATH_NOT_EXPORTED")
      } finally {
        Fs.rmSync(dir, { recursive: true, force: true })
      }
    },
    180_000
  )
})

describe("README", () => {
  it("embeds the fresh-project application exactly", () => {
    const readme = Fs.readFileSync(Path.join(root, "README.md"), "utf8")
    for (const file of ["main.ts", "reconnect.ts", "libvirt.ts"]) {
      const code = Fs.readFileSync(Path.join(app, file), "utf8").trimEnd()
      assert.include(readme, "```ts\n" + code + "\n```", `README.md does not embed test/package/app/${file} as it is`)
    }
  })
})

describe("package.json", () => {
  const pkg = JSON.parse(Fs.readFileSync(Path.join(root, "package.json"), "utf8"))

  it("effect and @effect/platform-node are peer dependencies, with the versions tested against as devDependencies", () => {
    assert.isUndefined(pkg.dependencies)
    for (const dep of ["effect", "@effect/platform-node"]) {
      assert.strictEqual(pkg.peerDependencies[dep], pkg.devDependencies[dep], dep)
      const installed = JSON.parse(Fs.readFileSync(Path.join(root, "node_modules", dep, "package.json"), "utf8")).version
      assert.strictEqual(`^${installed}`, pkg.peerDependencies[dep], `${dep}: tested against ${installed}`)
    }
  })

  it("exports the modules the README names in code (Proxy, Swarm)", () => {
    for (const name of ["./Proxy", "./Swarm", "./Client", "./Libvirt", "./Dial"]) assert.property(pkg.exports, name)
  })

  it("no @since names a version after the package's", () => {
    const newer = (v: string) => v.split(".").map(Number).reduce((acc, n, i) => acc !== 0 ? acc : n - Number(pkg.version.split(".")[i]), 0) > 0
    const walk = (dir: string): Array<string> =>
      Fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? walk(Path.join(dir, e.name)) : [Path.join(dir, e.name)])
    const late = walk(Path.join(root, "src")).flatMap((file) =>
      [...Fs.readFileSync(file, "utf8").matchAll(/@since (\d+\.\d+\.\d+)/g)].filter((m) => newer(m[1]!)).map((m) => `${Path.relative(root, file)}: ${m[1]}`)
    )
    assert.deepStrictEqual(late, [])
  })
})
