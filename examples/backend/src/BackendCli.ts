/**
 * The example backend's command line: `--host`, `--port` and `--remote-runtimes`, each falling back to an
 * environment variable (`YOI_BACKEND_HOST`, `YOI_BACKEND_PORT`, `YOI_REMOTE_RUNTIMES`) and then to a default, as
 * `--help` shows. See `docs/backend.md`.
 *
 * A remote runtime is `{ runtimeId, displayName, url, tokenEnv?, workspace? }`; its token is read from the
 * environment variable `tokenEnv` names, so no token is ever written in the JSON or on a command line. Anything
 * that keeps the backend from starting — an invalid value, a `tokenEnv` that is not set, a port in use — is one
 * `error:` line and exit code 1; SIGINT/SIGTERM are a clean stop, exit code 0.
 *
 * Deliberately not here: what the backend serves (`Backend.ts`), and printing a remote runtime's URL or token.
 */
import type { RegistrySource } from "@yoi/registry"
import { CliExit, CliSettings } from "@yoi/server"
import { Config, Effect, Layer, Option, Schema } from "effect"
import { Command } from "effect/cli"
import * as Backend from "./Backend.ts"

/** The runtime id rule of `@yoi/domain`'s `Ids`: ASCII, no path separators. */
const RuntimeId = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9_:-]{0,119}$/))

const HttpUrl = Schema.String.check(
  Schema.makeFilter((url) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol))
)

/** One remote runtime process, as configured. @category schemas */
export const RemoteRuntimeEntry = Schema.Struct({
  runtimeId: RuntimeId,
  displayName: Schema.String,
  url: HttpUrl,
  /** The environment variable holding the runtime's bearer token. */
  tokenEnv: Schema.optional(Schema.String),
  /** The workspace whose viewers see it (default: the registry's default for remote runtimes). */
  workspace: Schema.optional(Schema.String)
})

const refused = CliExit.ExitCode.refused

/** Remote entries as registry sources: tokens read from their variables; ids unique and not the embedded one. */
const remoteSources = (entries: ReadonlyArray<typeof RemoteRuntimeEntry.Type>) =>
  Effect.forEach(entries, (entry, index) =>
    Effect.gen(function*() {
      const where = `YOI_REMOTE_RUNTIMES / --remote-runtimes entry ${index} (${entry.runtimeId})`
      if (entry.runtimeId === Backend.embeddedRuntimeId) {
        return yield* CliExit.fail(
          `${where}: the runtime id "${Backend.embeddedRuntimeId}" is the embedded runtime's`,
          refused
        )
      }
      if (entries.findIndex((other) => other.runtimeId === entry.runtimeId) !== index) {
        return yield* CliExit.fail(`${where}: the runtime id is used twice`, refused)
      }
      const token = entry.tokenEnv === undefined
        ? Option.none()
        : yield* Config.option(Config.Redacted(entry.tokenEnv)).pipe(Effect.orElseSucceed(() => Option.none()))
      if (entry.tokenEnv !== undefined && Option.isNone(token)) {
        return yield* CliExit.fail(`${where}: tokenEnv names ${entry.tokenEnv}, which is not set`, refused)
      }
      return {
        kind: "remote",
        runtimeId: entry.runtimeId,
        displayName: entry.displayName,
        url: entry.url,
        token: Option.getOrUndefined(token),
        workspace: entry.workspace
      } satisfies RegistrySource.RemoteSource
    }))

/** The backend command. @category constructors */
export const command = Command.make("example-backend", {
  host: CliSettings.string("host", {
    description: "Address to listen on",
    variable: "YOI_BACKEND_HOST",
    default: "127.0.0.1"
  }),
  port: CliSettings.integer("port", {
    description: "Port to listen on (0 picks a free one; the banner says which)",
    variable: "YOI_BACKEND_PORT",
    default: 38900,
    minimum: 0,
    maximum: 65535
  }),
  remoteRuntimes: CliSettings.json("remote-runtimes", Schema.Array(RemoteRuntimeEntry), {
    description: "Remote runtime processes, a JSON array of { runtimeId, displayName, url, tokenEnv?, workspace? }",
    variable: "YOI_REMOTE_RUNTIMES",
    expected: "a JSON array of { runtimeId, displayName, url (http or https), tokenEnv?, workspace? }",
    default: [],
    shownDefault: "[] (the embedded runtime only)"
  })
}, (flags) =>
  Effect.gen(function*() {
    const remotes = yield* remoteSources(flags.remoteRuntimes)
    return yield* Layer.launch(Backend.layer({ host: flags.host, port: flags.port, remotes })).pipe(
      Effect.catchTag(
        "ServeError",
        (error) => CliExit.fail(CliExit.listenFailure(flags.host, flags.port, error), CliExit.ExitCode.refused, error)
      )
    )
  })).pipe(Command.withDescription("An example backend: the browser API over an embedded and remote runtimes"))

/** Runs the command with the process arguments. @category constructors */
export const run = Command.run(command, { version: "0.0.0" }).pipe(Effect.provide(CliSettings.presenter))
