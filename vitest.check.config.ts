import { defineConfig } from "vitest/config"

// The slower checks, each run on its own by its npm script (bench:check, test:consumer), never by
// `npm test`.
export default defineConfig({
  test: {
    include: ["test/**/*.check.ts"],
    testTimeout: 600_000,
    hookTimeout: 600_000
  }
})
