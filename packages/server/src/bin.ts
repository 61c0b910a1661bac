#!/usr/bin/env node
/** The `yoi-runtime` executable: the CLI on Node. Pure composition. */
import { NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import * as Cli from "./Cli.ts"
import * as CliExit from "./CliExit.ts"

Cli.run.pipe(Effect.provide(NodeServices.layer), CliExit.runMain)
