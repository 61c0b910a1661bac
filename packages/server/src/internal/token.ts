/**
 * The bearer token, for `serve` and for the client commands alike: from `--token-file` (trimmed), else
 * `YOI_RUNTIME_TOKEN`, else none. It is held as `Redacted` from the moment it is read.
 *
 * Deliberately not here: a `--token` flag (a token on a command line ends up in shell history and `ps`), and any
 * message naming the file — a failure says only that the token file cannot be read or is empty.
 */
import { Config, Effect, FileSystem, Option, Redacted } from "effect"
import { Flag } from "effect/cli"
import * as CliExit from "../CliExit.ts"

/** `--token-file`, described for `serve` or for a client command. @category constructors */
export const tokenFileFlag = (purpose: string) =>
  Flag.Path("token-file").pipe(
    Flag.withDescription(`File holding the bearer token ${purpose} (else env YOI_RUNTIME_TOKEN; default no token)`),
    Flag.optional
  )

/** The token, or none; an unreadable or empty file is reported as one line (exit code 1). @category constructors */
export const load = (file: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isSome(file)) {
      const fs = yield* FileSystem.FileSystem
      const text = yield* fs.readFileString(file.value).pipe(
        Effect.catch(() => CliExit.fail("the token file cannot be read", CliExit.ExitCode.refused))
      )
      const token = text.trim()
      if (token.length === 0) return yield* CliExit.fail("the token file is empty", CliExit.ExitCode.refused)
      return Option.some(Redacted.make(token))
    }
    const fromEnv = yield* Config.option(Config.Redacted("YOI_RUNTIME_TOKEN")).pipe(
      Effect.catch(() => Effect.succeed(Option.none<Redacted.Redacted<string>>()))
    )
    return Option.filter(fromEnv, (token) => Redacted.value(token).trim().length > 0)
  })
