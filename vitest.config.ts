import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    environment: "node",
    include: ["test/**/*.test.ts"],
    exclude: ["test/interop/**", "node_modules/**"],
    testTimeout: 20_000
  }
})
