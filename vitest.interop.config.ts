import { defineConfig } from "vitest/config"

// Interop tests against the real libvirt (libvirtd, virsh, libvirt-python): `npm run test:interop`.
export default defineConfig({
  test: {
    environment: "node",
    include: ["test/interop/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    fileParallelism: false
  }
})
