#!/usr/bin/env node
/** The `yoi-runtime` executable: the CLI on Node. Pure composition. */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import * as Cli from "./Cli.ts"

Cli.run.pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain({ teardown: Cli.teardown }))
