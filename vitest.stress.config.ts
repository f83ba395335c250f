import { defineConfig } from "vitest/config"

// Long hostile-condition runs, not part of `npm test`: `npm run test:stress`.
export default defineConfig({
  test: {
    environment: "node",
    include: ["test/stress/**/*.test.ts"],
    testTimeout: 600_000,
    fileParallelism: false
  }
})
