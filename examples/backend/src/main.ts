#!/usr/bin/env node
/**
 * The example backend's executable (`pnpm example:backend [--host …] [--port …] [--remote-runtimes …]`): its
 * command line on Node. Pure composition; see `BackendCli.ts` and `docs/backend.md`.
 */
import { NodeServices } from "@effect/platform-node"
import { CliExit } from "@yoi/server"
import { Effect } from "effect"
import * as BackendCli from "./BackendCli.ts"

BackendCli.run.pipe(Effect.provide(NodeServices.layer), CliExit.runMain)
