/**
 * The example backend's command-line plumbing: flags that fall back to an environment variable and then to a
 * default (both shown in `--help`), an invalid invocation reported as one `error:` line that names the variable a
 * bad value came from, and failures reported as one line with exit code 1 (the cause only at `--log-level debug`).
 *
 * It mirrors `@yoi/server`'s CLI helpers on purpose, in small: an example backend depends on the registry and the
 * runtime, not on the runtime process's package.
 *
 * Deliberately not here: which flags exist (`BackendCli.ts`), and echoing any value but an integer's — a JSON
 * setting could hold a URL with credentials, so its error names the variable and the expected shape only.
 */
import { Config, Console, Data, Effect, Option, Predicate, Runtime, Schema } from "effect"
import { type CliError, CliOutput, Flag } from "effect/cli"

interface Variable {
  readonly name: string
  readonly expected: string
  /** Whether an invalid value may be quoted back (only values that cannot hold a secret). */
  readonly echo: boolean
}

const variables = new Map<string, Variable>()

const document = (description: string, variable: string, shownDefault: string) =>
  `${description} (env ${variable}; default ${shownDefault})`

/** A string flag, else `variable`, else `defaultValue`. @category constructors */
export const string = (name: string, options: {
  readonly description: string
  readonly variable: string
  readonly default: string
}): Flag.Flag<string> => {
  variables.set(name, { name: options.variable, expected: "a string", echo: false })
  return Flag.String(name).pipe(
    Flag.withDescription(document(options.description, options.variable, options.default)),
    Flag.withFallbackConfig(Config.String(options.variable)),
    Flag.withDefault(options.default)
  )
}

/** An integer flag within `[minimum, maximum]`, else `variable`, else `defaultValue`. @category constructors */
export const integer = (name: string, options: {
  readonly description: string
  readonly variable: string
  readonly default: number
  readonly minimum: number
  readonly maximum: number
}): Flag.Flag<number> => {
  const expected = `an integer from ${options.minimum} to ${options.maximum}`
  variables.set(name, { name: options.variable, expected, echo: true })
  const Bounded = Schema.Int.check(
    Schema.isBetween({ minimum: options.minimum, maximum: options.maximum }, { message: `expected ${expected}` })
  )
  return Flag.Int(name).pipe(
    Flag.withSchema(Bounded),
    Flag.withDescription(document(options.description, options.variable, String(options.default))),
    Flag.withFallbackConfig(Config.schema(Bounded, options.variable)),
    Flag.withDefault(options.default)
  )
}

/** A JSON flag decoded with `schema`, else `variable`, else `defaultValue`. @category constructors */
export const json = <A>(name: string, schema: Schema.Codec<A, unknown>, options: {
  readonly description: string
  readonly variable: string
  readonly expected: string
  readonly default: A
  readonly shownDefault: string
}): Flag.Flag<A> => {
  variables.set(name, { name: options.variable, expected: options.expected, echo: false })
  const Json = Schema.fromJsonString(schema)
  return Flag.String(name).pipe(
    Flag.withSchema(Json),
    Flag.withDescription(document(options.description, options.variable, options.shownDefault)),
    Flag.withFallbackConfig(Config.schema(Json, options.variable)),
    Flag.withDefault(options.default)
  )
}

const describe = (error: CliError.NonShowHelpErrors): Effect.Effect<string> => {
  if (error._tag !== "InvalidValue") return Effect.succeed(error.message)
  const variable = variables.get(error.option)
  if (variable === undefined) return Effect.succeed(error.message)
  if (error.value !== "config") {
    return Effect.succeed(`--${error.option} is not valid: expected ${variable.expected}`)
  }
  const raw = variable.echo
    ? Config.option(Config.String(variable.name)).pipe(Effect.orElseSucceed(() => Option.none<string>()))
    : Effect.succeed(Option.none<string>())
  return Effect.map(
    raw,
    (value) =>
      `${variable.name}${
        Option.match(value, { onNone: () => "", onSome: (text) => `=${JSON.stringify(text.slice(0, 40))}` })
      } is not a valid --${error.option}: expected ${variable.expected}`
  )
}

/** Help and version as effect/cli prints them; an invalid invocation as one line on stderr. @category layers */
export const presenter = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Effect.forEach(event.errors, describe).pipe(
        Effect.flatMap((reasons) =>
          Console.error(`error: ${reasons.join("; ")} (see: ${event.commandPath.join(" ")} --help)`)
        )
      )
      : CliOutput.defaultPresenter.present(event)
})

/**
 * A failure already reported as one line; the process exits 1 and the runtime does not report it again.
 * @category errors
 */
export class Reported extends Data.TaggedError("Reported")<{}> {
  override readonly [Runtime.errorReported] = false
}

/** Prints `error: <line>`, logs `cause` at debug level, and fails. @category constructors */
export const fail = (line: string, cause?: unknown): Effect.Effect<never, Reported> =>
  Console.error(`error: ${line}`).pipe(
    Effect.andThen(cause === undefined ? Effect.void : Effect.logDebug(cause)),
    Effect.andThen(Effect.fail(new Reported()))
  )

/** The first system error code (`EADDRINUSE`, …) on an error's cause chain. @category constructors */
export const systemCode = (error: unknown): string | undefined => {
  let current = error
  for (let depth = 0; depth < 8 && Predicate.isObject(current); depth++) {
    if (Predicate.isString(current["code"])) return current["code"]
    current = current["cause"]
  }
  return undefined
}
