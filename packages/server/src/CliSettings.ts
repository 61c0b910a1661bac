/**
 * Command-line settings for the runtime process and for backends built like the example one: flags that fall back
 * to an environment variable and then to a default, with both shown in `--help`, and the presenter that reports an
 * invalid invocation as one `error:` line — naming the environment variable when the bad value came from one,
 * which effect/cli alone reports as `Invalid value for flag --port: "config"`.
 *
 * **Details** Each helper records which variable backs which flag, so the presenter can name it; values are checked
 * with the same schema whether they come from the flag or the variable. Only integers are quoted back: a string or
 * JSON setting could hold a URL with credentials, so its error names the variable and the expected shape only.
 *
 * Deliberately not here: which flags a command has (the commands say), and secrets — a token is never a flag or a
 * plain setting (see `Token`), so nothing echoed here can be one.
 */
import { Config, Console, Effect, Option, Schema } from "effect"
import { type CliError, CliOutput, Flag } from "effect/cli"

interface Variable {
  readonly name: string
  /** What a valid value is, for people: `an integer from 0 to 65535`. */
  readonly expected: string
  /** Whether an invalid value may be quoted back (only values that cannot hold a secret). */
  readonly echo: boolean
}

/** Flag name → the environment variable behind it (every flag name means the same variable in every command). */
const variables = new Map<string, Variable>()

const document = (description: string, variable: string, shownDefault: string | undefined) =>
  `${description} (env ${variable}${shownDefault === undefined ? "" : `; default ${shownDefault}`})`

/**
 * A string flag, else `variable`, else `defaultValue` (`shownDefault` is what help prints for it).
 * @category constructors
 */
export const string = (name: string, options: {
  readonly description: string
  readonly variable: string
  readonly default: string
  readonly shownDefault?: string
}): Flag.Flag<string> => {
  variables.set(name, { name: options.variable, expected: "a string", echo: false })
  return Flag.String(name).pipe(
    Flag.withDescription(document(options.description, options.variable, options.shownDefault ?? options.default)),
    Flag.withFallbackConfig(Config.String(options.variable)),
    Flag.withDefault(options.default)
  )
}

/** An optional string flag, else `variable`, else none (`shownDefault` says what none means). @category constructors */
export const optionalString = (name: string, options: {
  readonly description: string
  readonly variable: string
  readonly shownDefault: string
}): Flag.Flag<Option.Option<string>> => {
  variables.set(name, { name: options.variable, expected: "a string", echo: false })
  return Flag.String(name).pipe(
    Flag.withDescription(document(options.description, options.variable, options.shownDefault)),
    Flag.withFallbackConfig(Config.String(options.variable)),
    Flag.optional
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

/** An optional integer flag within `[minimum, maximum]`, else `variable`, else none. @category constructors */
export const optionalInteger = (name: string, options: {
  readonly description: string
  readonly variable: string
  readonly shownDefault: string
  readonly minimum: number
  readonly maximum: number
}): Flag.Flag<Option.Option<number>> => {
  const expected = `an integer from ${options.minimum} to ${options.maximum}`
  variables.set(name, { name: options.variable, expected, echo: true })
  const Bounded = Schema.Int.check(
    Schema.isBetween({ minimum: options.minimum, maximum: options.maximum }, { message: `expected ${expected}` })
  )
  return Flag.Int(name).pipe(
    Flag.withSchema(Bounded),
    Flag.withDescription(document(options.description, options.variable, options.shownDefault)),
    Flag.withFallbackConfig(Config.schema(Bounded, options.variable)),
    Flag.optional
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

/** One reason an invocation is invalid, naming the environment variable when the value came from one. */
const describe = (error: CliError.NonShowHelpErrors): Effect.Effect<string> => {
  if (error._tag !== "InvalidValue") return Effect.succeed(error.message)
  const variable = variables.get(error.option)
  if (variable === undefined) return Effect.succeed(error.message)
  if (error.value !== "config") {
    return Effect.succeed(
      variable.echo ? error.message : `--${error.option} is not valid: expected ${variable.expected}`
    )
  }
  const raw = variable.echo
    ? Config.option(Config.String(variable.name)).pipe(Effect.orElseSucceed(() => Option.none<string>()))
    : Effect.succeed(Option.none<string>())
  return Effect.map(raw, (value) => {
    const shown = Option.match(value, {
      onNone: () => "",
      onSome: (text) => `=${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)}`
    })
    return `${variable.name}${shown} is not a valid --${error.option}: expected ${variable.expected}`
  })
}

/**
 * Help and version as effect/cli prints them; an invalid invocation as exactly one line on stderr (no help dump),
 * pointing at `--help`. The run still fails with `ShowHelp` (exit code 1).
 * @category layers
 */
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
