import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    environment: "node",
    include: ["test/**/*.test.ts"],
    exclude: ["test/interop/**", "test/stress/**", "node_modules/**"],
    testTimeout: 20_000
  }
})
