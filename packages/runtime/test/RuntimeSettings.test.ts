import { assert, describe, it } from "@effect/vitest"
import { LlmEngine } from "@yoi/domain"
import { Profiles, Runtime, RuntimePresets, RuntimeSettings } from "@yoi/runtime"
import { ConfigProvider, Effect, FileSystem, Layer, Option, Path, PlatformError, Result } from "effect"

const names: RuntimeSettings.SettingNames = {
  provider: "--provider",
  baseUrl: "--base-url",
  model: "--model",
  apiKeyEnv: "--api-key-env",
  maxOutputTokens: "--max-output-tokens"
}

const failure = <A>(result: Result.Result<A, RuntimeSettings.InvalidConfig>) => {
  assert.isTrue(Result.isFailure(result), "expected an InvalidConfig")
  return (result as Result.Failure<A, RuntimeSettings.InvalidConfig>).failure
}

const single = (fields: Partial<Record<keyof RuntimeSettings.SingleProvider, string | number>>) =>
  RuntimeSettings.fromSingle({
    provider: Option.fromUndefinedOr(fields.provider as string | undefined),
    baseUrl: Option.fromUndefinedOr(fields.baseUrl as string | undefined),
    model: Option.fromUndefinedOr(fields.model as string | undefined),
    apiKeyEnv: Option.fromUndefinedOr(fields.apiKeyEnv as string | undefined),
    maxOutputTokens: Option.fromUndefinedOr(fields.maxOutputTokens as number | undefined)
  }, names)

const secretUrl = "http://user:hunter2@10.1.2.3:8080/v1"

describe("RuntimeSettings: the config file", () => {
  it("decodes providers, names them by kind when unnamed, and takes the first as the default", () => {
    const settings = RuntimeSettings.decode(JSON.stringify({
      providers: [
        { kind: "openai-compatible", baseUrl: "http://127.0.0.1:8080/v1", model: "tiny", apiKeyEnv: "LLAMA_KEY" },
        { name: "claude", kind: "anthropic", model: "claude-sonnet-4-5", maxOutputTokens: 2048, temperature: 0.3 }
      ],
      defaultProfile: "orchestrator",
      profilesDir: "profiles"
    }))
    assert.isTrue(Result.isSuccess(settings))
    const value = (settings as Result.Success<RuntimeSettings.Settings, never>).success
    assert.deepStrictEqual(value.providers.map((p) => p.name), ["openai-compatible", "claude"])
    assert.strictEqual(value.defaultProvider, "openai-compatible")
    assert.strictEqual(value.defaultProfile, "orchestrator")
    assert.strictEqual(value.providers[1]!.maxOutputTokens, 2048)
  })

  it("names the field of every mistake, and never echoes a value", () => {
    const cases: ReadonlyArray<readonly [unknown, string, string]> = [
      [{ providers: [] }, "cfg.json: providers", "at least one"],
      [{ providers: [{ kind: "openai-compatible", model: "m" }] }, "cfg.json: providers[0].baseUrl", "required"],
      [{ providers: [{ kind: "anthropic" }] }, "cfg.json: providers[0].model", "required"],
      [{ providers: [{ kind: "llama", model: "m" }] }, "cfg.json: providers[0].kind", ""],
      [
        { providers: [{ kind: "openai-compatible", model: "m", baseUrl: secretUrl }] },
        "cfg.json: providers[0].baseUrl",
        "without credentials"
      ],
      [
        { providers: [{ kind: "anthropic", model: "m", apiKey: "sk-secret" }] },
        "cfg.json: providers[0].apiKey",
        "not a known setting"
      ],
      [
        { providers: [{ kind: "anthropic", model: "m", timeouts: { idleMs: 400_000 } }] },
        "cfg.json: providers[0].timeouts.idleMs",
        "290000"
      ],
      [{ providers: [{ kind: "scripted" }, { kind: "scripted" }] }, "cfg.json: providers[1].name", "already"],
      [
        { providers: [{ kind: "scripted" }], defaultProvider: "other" },
        "cfg.json: defaultProvider",
        "configured provider"
      ],
      [{ providers: [{ kind: "scripted" }], port: 1 }, "cfg.json: port", "not a known setting"],
      [
        { providers: [{ kind: "anthropic", model: "m", apiKeyEnv: { K: "sk-secret" } }] },
        "cfg.json: providers[0].apiKeyEnv",
        ""
      ],
      [
        { providers: [{ kind: "openai-compatible", model: "m", baseUrl: "http://h:99999/v1" }] },
        "cfg.json: providers[0].baseUrl",
        "http(s) URL"
      ],
      [
        { providers: [{ kind: "openai-compatible", model: "m", baseUrl: "http://h/v1?key=sk-secret" }] },
        "cfg.json: providers[0].baseUrl",
        "query"
      ],
      [
        { providers: [{ kind: "openai-compatible", model: "m", baseUrl: "ftp://h/v1" }] },
        "cfg.json: providers[0].baseUrl",
        "http(s)"
      ]
    ]
    for (const [file, field, message] of cases) {
      const error = failure(RuntimeSettings.decode(JSON.stringify(file), "cfg.json"))
      assert.strictEqual(error._tag, "InvalidConfig")
      assert.strictEqual(error.field, field, JSON.stringify(file))
      assert.include(error.message, message)
      for (const secret of ["hunter2", "10.1.2.3", "sk-secret"]) {
        assert.notInclude(`${error.field} ${error.message}`, secret)
      }
    }
    assert.strictEqual(failure(RuntimeSettings.decode("{nope", "cfg.json")).message, "is not valid JSON")
  })
})

describe("RuntimeSettings: one provider from flags", () => {
  it("is none when no provider is set, and names the flag that needs one", () => {
    assert.deepStrictEqual(single({}), Result.succeed(Option.none()))
    const error = failure(single({ model: "m" }))
    assert.strictEqual(error.field, "--model")
    assert.include(error.message, "--provider")
  })

  it("builds one provider checked like a file's, errors naming flags", () => {
    const ok = single({ provider: "openai-compatible", baseUrl: "http://127.0.0.1:1/v1", model: "tiny" })
    assert.isTrue(Result.isSuccess(ok))
    assert.strictEqual(failure(single({ provider: "openai-compatible", model: "tiny" })).field, "--base-url")
    assert.strictEqual(failure(single({ provider: "gpt" })).field, "--provider")
    const credentials = failure(single({ provider: "openai-compatible", model: "m", baseUrl: secretUrl }))
    assert.strictEqual(credentials.field, "--base-url")
    assert.notInclude(credentials.message, "hunter2")
    assert.strictEqual(
      failure(single({ provider: "anthropic", model: "m", apiKeyEnv: "not a name" })).field,
      "--api-key-env"
    )
  })
})

const profileFile = (fields: Record<string, unknown>) =>
  JSON.stringify({ name: "coder", systemPrompt: "You write code.", ...fields })

const directory = (files: Record<string, string>) =>
  Layer.mergeAll(
    Path.layer,
    FileSystem.layerNoop({
      readDirectory: () => Effect.succeed(Object.keys(files)),
      readFileString: (path) => {
        const content = files[path.split("/").at(-1)!]
        return content === undefined
          ? Effect.fail(
            PlatformError.systemError({ _tag: "NotFound", module: "FileSystem", method: "readFileString" })
          )
          : Effect.succeed(content)
      }
    })
  )

describe("Profiles: named profiles", () => {
  it("decodes a profile file with its provider, model and generation settings", () => {
    const profile = Profiles.decode(
      "coder.json",
      profileFile({
        description: "d",
        provider: "claude",
        model: "m2",
        generation: { maxOutputTokens: 100, temperature: 0 }
      })
    )
    assert.isTrue(Result.isSuccess(profile))
    const p = (profile as Result.Success<LlmEngine.Profile, never>).success
    assert.strictEqual(p.provider, "claude")
    assert.strictEqual(p.model, "m2")
    assert.deepStrictEqual(p.generation, { maxOutputTokens: 100, temperature: 0 })
    assert.deepStrictEqual(p.tools, [])
  })

  it("refuses unknown keys, tool grants, bad settings and builtin names, naming the file and field", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      [profileFile({ extra: 1 }), "coder.json: extra"],
      [profileFile({ tools: ["shell"] }), "coder.json: tools"],
      [profileFile({ generation: { temperature: 3 } }), "coder.json: generation.temperature"],
      [profileFile({ name: "Coder!" }), "coder.json: name"],
      [profileFile({ name: "companion" }), "coder.json: name"],
      [JSON.stringify({ name: "coder" }), "coder.json: systemPrompt"],
      ["not json", "coder.json"]
    ]
    for (const [content, field] of cases) {
      assert.strictEqual(failure(Profiles.decode("coder.json", content)).field, field)
    }
  })

  it.effect("loads every *.json of a directory in name order; a name taken twice is refused", () =>
    Effect.gen(function*() {
      const loaded = yield* Profiles.loadDirectory("/profiles").pipe(
        Effect.provide(directory({
          "b.json": profileFile({ name: "reviewer" }),
          "a.json": profileFile({}),
          "notes.txt": "ignored"
        }))
      )
      assert.deepStrictEqual(loaded.map((p) => p.name), ["coder", "reviewer"])
      const twice = yield* Effect.flip(
        Profiles.loadDirectory("/profiles").pipe(
          Effect.provide(directory({ "a.json": profileFile({}), "b.json": profileFile({}) }))
        )
      )
      assert.strictEqual(twice.field, "b.json: name")
    }))

  it("resolves builtin, named and default selectors, and an unknown one is InvalidProfile", () => {
    const coder = new LlmEngine.Profile({ name: "coder", description: "", systemPrompt: "x", tools: [] })
    const catalog: Profiles.Catalog = {
      builtins: Profiles.builtins,
      named: new Map([["coder", coder]]),
      defaultProfile: "coder"
    }
    const run = (selector: Parameters<typeof Profiles.resolve>[0]) =>
      Effect.runSync(Effect.result(Profiles.resolve(selector, catalog)))
    assert.strictEqual(Result.getOrThrow(run({ kind: "runtime_default" })).name, "coder")
    assert.strictEqual(Result.getOrThrow(run({ kind: "builtin", name: "orchestrator" })).name, "orchestrator")
    assert.strictEqual(Result.getOrThrow(run({ kind: "named", name: "coder" })).name, "coder")
    const unknown = run({ kind: "named", name: "companion" })
    assert.isTrue(Result.isFailure(unknown))
    assert.strictEqual((unknown as Result.Failure<unknown, { _tag: string }>).failure._tag, "InvalidProfile")
  })

  it("a named profile must name a configured provider; the default profile must exist", () => {
    const settings = Result.getOrThrow(RuntimeSettings.decode(JSON.stringify({ providers: [{ kind: "scripted" }] })))
    const onClaude = new LlmEngine.Profile({
      name: "coder",
      description: "",
      systemPrompt: "x",
      tools: [],
      provider: "claude"
    })
    assert.strictEqual(failure(RuntimePresets.checkProfiles(settings, [onClaude])).field, "profile \"coder\": provider")
    assert.strictEqual(
      failure(RuntimePresets.checkProfiles({ ...settings, defaultProfile: "nope" }, [])).field,
      "defaultProfile"
    )
    assert.isTrue(Result.isSuccess(RuntimePresets.checkProfiles({ ...settings, defaultProfile: "orchestrator" }, [])))
  })
})

const withEnv = (env: Record<string, string>) =>
  Layer.mergeAll(Path.layer, FileSystem.layerNoop({}), ConfigProvider.layer(ConfigProvider.fromEnvRecord(env)))

/** Why `RuntimePresets.layerConfig` refuses to build from `env`. */
const refusal = (env: Record<string, string>) =>
  Effect.flip(Layer.build(RuntimePresets.layerConfig().pipe(Layer.provide(withEnv(env)))).pipe(Effect.scoped))

describe("RuntimePresets.layerConfig: a Runtime configured from the environment", () => {
  it.effect("builds the providers the variables name; views show name and model, never the URL or the key", () =>
    Effect.gen(function*() {
      const runtime = yield* Runtime.Runtime
      const summary = yield* runtime.getRuntime
      assert.deepStrictEqual(
        summary.providers.map((p) => [p.name, p.kind, p.model, p.isDefault]),
        [["openai-compatible", "openai-compatible", "tiny", true]]
      )
      assert.strictEqual(summary.engine, "openai-compatible/tiny")
      const { worker } = yield* runtime.createWorker({})
      assert.deepStrictEqual([worker.provider, worker.model], ["openai-compatible", "tiny"])
      const shown = JSON.stringify([summary, worker])
      assert.notInclude(shown, "sk-env-secret")
      assert.notInclude(shown, "10.20.30.40")
    }).pipe(
      Effect.provide(
        RuntimePresets.layerConfig().pipe(Layer.provide(withEnv({
          YOI_PROVIDER: "openai-compatible",
          YOI_BASE_URL: "http://10.20.30.40:9/v1",
          YOI_MODEL: "tiny",
          YOI_API_KEY_ENV: "MY_KEY",
          MY_KEY: "sk-env-secret"
        })))
      )
    ))

  it.effect("with nothing set it is the scripted engine; a key variable that is not set is InvalidConfig", () =>
    Effect.gen(function*() {
      const scripted = yield* Effect.gen(function*() {
        return (yield* (yield* Runtime.Runtime).getRuntime).engine
      }).pipe(Effect.provide(RuntimePresets.layerConfig().pipe(Layer.provide(withEnv({})))))
      assert.strictEqual(scripted, "scripted (no model)")
      const missing = yield* refusal({
        YOI_PROVIDER: "anthropic",
        YOI_MODEL: "claude",
        YOI_API_KEY_ENV: "ANTHROPIC_API_KEY"
      })
      assert.strictEqual(missing._tag, "InvalidConfig")
      assert.include(missing.message, "not set")
      assert.notInclude(missing.message, "ANTHROPIC_API_KEY", "the variable's name could be a pasted key")
      const empty = yield* refusal({ YOI_PROVIDER: "anthropic", YOI_MODEL: "claude", YOI_API_KEY_ENV: "KEY", KEY: " " })
      assert.strictEqual(empty._tag, "InvalidConfig")
      const bad = yield* refusal({ YOI_MODEL: "m" })
      assert.strictEqual(bad._tag === "InvalidConfig" ? bad.field : bad._tag, "YOI_MODEL")
    }))
})
