import * as Path from "node:path"
import { defineConfig } from "vitest/config"

// Interop tests against the real libvirt (libvirtd, virsh, libvirt-python): `npm run test:interop`.
export default defineConfig({
  // the README's applications (test/package/app) import the package by name: here, its sources
  resolve: { alias: { "effect-keepalive": Path.join(import.meta.dirname, "src", "index.ts") } },
  test: {
    environment: "node",
    include: ["test/interop/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    fileParallelism: false
  }
})
