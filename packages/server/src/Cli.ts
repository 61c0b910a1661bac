/**
 * `yoi-runtime`: the runtime process (`serve`) and the client commands against a running one (`status`, `workers
 * list|create|show`, `send`, `watch`, `transcript`, `cancel`, `stop`; see `internal/clientCommands.ts`).
 *
 * Every setting is a flag that falls back to an environment variable (`YOI_RUNTIME_*`) and then to a default; help
 * shows both. `serve` has only the process's flags, each client command only `--url`/`--token-file` and its own.
 * The token only ever comes from `YOI_RUNTIME_TOKEN` or a token file, is held as `Redacted`, and is never printed.
 *
 * Exit codes (documented in `docs/cli.md`): `0` done (and a clean stop of `serve` or `watch` on SIGINT/SIGTERM);
 * `1` refused — a typed error from the runtime, an invalid flag, argument or environment value, or a refused start;
 * `2` `send`: the run failed; `3` `send`: the run was cancelled; `4` the runtime could not be reached or answered
 * outside the protocol; `130` `send` interrupted by Ctrl-C (the run goes on). Every failure is one `error:` line on
 * stderr; the cause with its stack is logged only at `--log-level debug`.
 *
 * Deliberately not here: what the process does (`ServerMain`), and retries of commands that change state.
 */
import { Effect, Option } from "effect"
import { Command } from "effect/cli"
import { tmpdir } from "node:os"
import * as CliExit from "./CliExit.ts"
import * as CliSettings from "./CliSettings.ts"
import * as ClientCommands from "./internal/clientCommands.ts"
import * as ServerSettings from "./internal/serverSettings.ts"
import * as Token from "./internal/token.ts"
import * as ServerMain from "./ServerMain.ts"

const serve = Command.make(
  "serve",
  {
    host: CliSettings.string("host", {
      description: "Address to listen on (a non-loopback address requires a token)",
      variable: "YOI_RUNTIME_HOST",
      default: "127.0.0.1"
    }),
    port: CliSettings.integer("port", {
      description: "Port to listen on (0 picks a free one; the banner says which)",
      variable: "YOI_RUNTIME_PORT",
      default: 38800,
      minimum: 0,
      maximum: 65535
    }),
    dataDir: CliSettings.string("data-dir", {
      description: "Directory of the Runtime's durable state (one runtime process at a time)",
      variable: "YOI_DATA_DIR",
      default: ".yoi-data",
      shownDefault: ".yoi-data in the working directory"
    }),
    allocationDir: CliSettings.string("allocation-dir", {
      description: "Host-wide directory of live scope allocations, shared by every runtime process",
      variable: "YOI_ALLOCATION_DIR",
      default: `${tmpdir()}/yoi-runtime-allocations`,
      shownDefault: "<tmpdir>/yoi-runtime-allocations"
    }),
    runtimeId: CliSettings.string("runtime-id", {
      description: "This Runtime's id",
      variable: "YOI_RUNTIME_ID",
      default: "local"
    }),
    displayName: CliSettings.optionalString("display-name", {
      description: "This Runtime's display name",
      variable: "YOI_RUNTIME_DISPLAY_NAME",
      shownDefault: "the runtime id"
    }),
    grace: CliSettings.integer("grace", {
      description: "Seconds runs may take to finish on SIGTERM/SIGINT before they are cancelled",
      variable: "YOI_SHUTDOWN_GRACE",
      default: 10,
      minimum: 0,
      maximum: 86_400
    }),
    tokenFile: Token.tokenFileFlag("clients must present"),
    config: CliSettings.optionalString("config", {
      description: "A JSON config file naming the providers, the default provider and profile, the profiles directory",
      variable: "YOI_RUNTIME_CONFIG",
      shownDefault: "none"
    }),
    provider: CliSettings.optionalString("provider", {
      description: "One provider without a config file: openai-compatible, anthropic or scripted",
      variable: "YOI_PROVIDER",
      shownDefault: "scripted, when no config file is given either"
    }),
    baseUrl: CliSettings.optionalString("base-url", {
      description: "The provider's API base URL (e.g. http://127.0.0.1:8080/v1 for llama.cpp's llama-server)",
      variable: "YOI_BASE_URL",
      shownDefault: "Anthropic's API for anthropic"
    }),
    model: CliSettings.optionalString("model", {
      description: "The provider's model",
      variable: "YOI_MODEL",
      shownDefault: "none"
    }),
    apiKeyEnv: CliSettings.optionalString("api-key-env", {
      description: "The environment variable holding the provider's API key (the key itself is never a flag)",
      variable: "YOI_API_KEY_ENV",
      shownDefault: "no key"
    }),
    maxOutputTokens: CliSettings.optionalInteger("max-output-tokens", {
      description: "The provider's output token limit per reply",
      variable: "YOI_MAX_OUTPUT_TOKENS",
      shownDefault: "the provider's (4096 for anthropic)",
      minimum: 1,
      maximum: 1_000_000
    }),
    profilesDir: CliSettings.optionalString("profiles-dir", {
      description: "A directory of named profiles, one JSON file each",
      variable: "YOI_PROFILES_DIR",
      shownDefault: "none, or the config file's profilesDir"
    })
  },
  Effect.fnUntraced(function*(flags) {
    const token = yield* Token.load(flags.tokenFile)
    const settings = yield* ServerSettings.resolve(flags).pipe(
      Effect.catchTag(
        "InvalidConfig",
        (error) => CliExit.fail(`invalid configuration: ${error.field} ${error.message}`, CliExit.ExitCode.refused)
      )
    )
    yield* ServerMain.run({
      settings,
      host: flags.host,
      port: flags.port,
      dataDir: flags.dataDir,
      allocationDir: flags.allocationDir,
      runtimeId: flags.runtimeId,
      displayName: Option.getOrUndefined(flags.displayName),
      graceSeconds: flags.grace,
      token: Option.getOrUndefined(token)
    }).pipe(
      Effect.catchTag("StartupError", (error) => CliExit.fail(error.message, CliExit.ExitCode.refused, error.cause))
    )
  })
).pipe(Command.withDescription("Run a runtime process serving RuntimeRpcs over HTTP; SIGINT/SIGTERM stop it cleanly"))

/** The whole CLI. @category constructors */
export const cli = Command.make("yoi-runtime").pipe(
  Command.withDescription("The Yoi Worker Runtime: the runtime process and a client for it"),
  Command.withSubcommands([serve, ...ClientCommands.commands])
)

/**
 * Runs the CLI with the process arguments; an invalid invocation is reported as one line.
 * @category constructors
 */
export const run = Command.run(cli, { version: "0.0.0" }).pipe(Effect.provide(CliSettings.presenter))
