import * as path from "node:path"
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: [path.join(import.meta.dirname, "vitest.setup.ts")],
    sequence: { concurrent: true },
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
