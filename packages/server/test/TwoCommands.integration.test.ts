/**
 * The README's start command as a person runs it: `npm start` (and `pnpm start`, for those with the toolchain on
 * their PATH) through `scripts/with-toolchain`, stopped with Ctrl-C — SIGINT to the whole foreground process group,
 * as a terminal sends it. It must be a clean stop: the runtime's shutdown runs, the package manager exits 0 and
 * prints no failure line (npm's `Lifecycle script … failed`, pnpm's `ELIFECYCLE`).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { fileURLToPath } from "node:url"
import { serveArgs, serverDirs, spawnCommand } from "./support/serverProcess.ts"

const repository = fileURLToPath(new URL("../../..", import.meta.url))

describe("the README's start command", () => {
  for (const manager of ["npm", "pnpm"] as const) {
    it.live(
      `${manager} start, then Ctrl-C: the server stops cleanly and ${manager} exits 0`,
      () =>
        Effect.gen(function*() {
          const dirs = yield* serverDirs
          const args = serveArgs({ ...dirs, runtimeId: "two-commands", port: "0", grace: 1 })
          // npm hands a script the arguments after `--`; pnpm hands it everything, `--` included
          const argv = manager === "npm" ? ["start", "--", ...args] : ["start", ...args]
          const started = yield* spawnCommand(manager, argv, {}, { cwd: repository, group: true })
          yield* started.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+/)
          yield* started.kill("SIGINT")
          const exit = yield* started.exited
          const output = started.output()
          assert.strictEqual(exit.code, 0, output)
          assert.include(output, "runs settled; closing")
          assert.notMatch(output, /ELIFECYCLE|Lifecycle script|npm error|failed/i)
        }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)),
      { timeout: 60_000 }
    )
  }
})
