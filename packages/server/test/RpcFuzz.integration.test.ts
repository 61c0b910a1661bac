/**
 * `POST /rpc` under hostile input, over real HTTP on loopback: a bounded property test (schema-derived valid
 * requests, mutated) and every hostile body a fuzzer once found, as fixed cases.
 *
 * Each answer must be a typed 4xx (one short JSON `InvalidRequest`/`Unauthorized`, no echo of the body) or, for a
 * body the server admits, a 200 of Exit (and Chunk) frames for exactly the ids sent, none of them a defect or an
 * interruption; it must come within a few seconds (real time); and the server must answer a normal RPC afterwards.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { afterAll, assert, describe, layer } from "@effect/vitest"
import { Errors, HttpRuntimeClient, RuntimeClient, RuntimeRpcs } from "@yoi/domain"
import { RuntimePresets } from "@yoi/runtime"
import { Arbitrary, Effect, Layer, Redacted, Result, Schema, Stream } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpServer } from "effect/http"
import { RpcSchema } from "effect/rpc"
import { TestClock } from "effect/testing"
import { createServer } from "node:http"
import * as RpcGuard from "../src/RpcGuard.ts"
import * as Server from "../src/Server.ts"

const token = Redacted.make("fuzz-token-3b9d71c2e8")
const maxBodyBytes = 4 * 1024 * 1024

const baseUrl = Effect.map(HttpServer.HttpServer, (server) => HttpServer.formatAddress(server.address))

const ServerLayer = Server.layer({ token, maxBodyBytes }).pipe(
  Layer.provide(RuntimePresets.layerMemory({ runtimeId: "fuzz" })),
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Layer.provideMerge(FetchHttpClient.layer)
)

/** A well-behaved client next to the fuzzer, to show the server still serves. */
const TestLayer = Layer.provideMerge(
  Layer.unwrap(Effect.map(baseUrl, (url) => HttpRuntimeClient.layer({ url, token, timeout: "1000 days" }))),
  ServerLayer
)

// ---------------------------------------------------------------------------------------------------------------
// One exchange, read as far as needed

interface Answer {
  readonly status: number
  readonly contentType: string
  readonly text: string
  /** Ids sent that got neither an Exit nor (streams) a first Chunk. */
  readonly unsettled: ReadonlyArray<number>
}

const Frame = Schema.Union([
  Schema.Struct({
    _tag: Schema.Literal("Chunk"),
    requestId: Schema.Number,
    values: Schema.NonEmptyArray(Schema.Unknown)
  }),
  Schema.Struct({
    _tag: Schema.Literal("Exit"),
    requestId: Schema.Number,
    exit: Schema.Union([
      Schema.Struct({ _tag: Schema.Literal("Success"), value: Schema.Unknown }),
      // an RPC's own typed failure only: a defect (`Die`) or an interruption here is a guard that let through a
      // body the RPC server could not handle
      Schema.Struct({
        _tag: Schema.Literal("Failure"),
        cause: Schema.NonEmptyArray(
          Schema.Struct({ _tag: Schema.Literal("Fail"), error: Schema.Struct({ _tag: Schema.String }) })
        )
      })
    ])
  })
])
const decodeFrame = Schema.decodeUnknownSync(Schema.fromJsonString(Frame))

const Rejection = Schema.fromJsonString(Schema.Union([Errors.InvalidRequest, Errors.Unauthorized]))
const decodeRejection = Schema.decodeUnknownResult(Rejection)

interface Sent {
  readonly body: string | Uint8Array
  readonly contentType?: string
  /** Absent: the right token; `undefined`: no `Authorization` header; else the header as given. */
  readonly auth?: string | undefined
  readonly method?: "POST" | "GET" | "PUT"
  readonly path?: string
}

/** The streaming RPCs: a client may stop reading them after their first Chunk. */
const streaming: ReadonlySet<string> = new Set(
  [...RuntimeRpcs.RuntimeRpcs.requests].filter(([, rpc]) => RpcSchema.isStreamSchema(rpc.successSchema)).map(([tag]) =>
    tag
  )
)

/**
 * The requests an admitted body carries: ids, and which are streams (settled by their first Chunk). Read from the
 * bytes actually sent, so a mutation that happens to stay valid is checked too; a body the server admitted but
 * that does not parse here fails the test.
 */
const carried = (sent: string | Uint8Array) => {
  const text = typeof sent === "string" ? sent : new TextDecoder().decode(sent)
  const requests = text.split("\n").filter((line) => line.replace(/\r$/, "").length > 0).map((line) =>
    decodeCarried(line)
  )
  return {
    ids: requests.map(({ id }) => id),
    streams: requests.filter(({ tag }) => streaming.has(tag)).map(({ id }) => id)
  }
}
const decodeCarried = Schema.decodeUnknownSync(
  Schema.fromJsonString(Schema.Struct({ id: Schema.Number, tag: Schema.String }))
)

const exchange = (sent: Sent) =>
  Effect.scoped(Effect.gen(function*() {
    const url = yield* baseUrl
    const client = HttpClient.withScope(yield* HttpClient.HttpClient)
    const contentType = sent.contentType ?? "application/x-ndjson"
    let request = HttpClientRequest.make(sent.method ?? "POST")(`${url}${sent.path ?? "/rpc"}`)
    if (sent.method === undefined || sent.method === "POST") {
      request = typeof sent.body === "string"
        ? HttpClientRequest.bodyText(request, sent.body, contentType)
        : HttpClientRequest.bodyUint8Array(request, sent.body, contentType)
    }
    const auth = "auth" in sent ? sent.auth : `Bearer ${Redacted.value(token)}`
    if (auth !== undefined) request = HttpClientRequest.setHeader(request, "authorization", auth)
    const response = yield* client.execute(request)
    const answerType = response.headers["content-type"] ?? ""
    if (response.status !== 200) {
      return { status: response.status, contentType: answerType, text: yield* response.text, unsettled: [] }
    }
    const { ids, streams: streamIds } = carried(sent.body)
    const pending = new Set(ids)
    const streams = new Set(streamIds)
    const lines = yield* response.stream.pipe(
      Stream.decodeText,
      Stream.splitLines,
      Stream.filter((line) => line.length > 0),
      Stream.tap((line) => {
        const frame = decodeFrame(line)
        assert.isTrue(pending.has(frame.requestId) || streams.has(frame.requestId), `unexpected frame ${line}`)
        if (frame._tag === "Exit" || streams.has(frame.requestId)) pending.delete(frame.requestId)
        return Effect.void
      }),
      Stream.takeUntil(() => pending.size === 0),
      Stream.runCollect
    )
    return { status: 200, contentType: answerType, text: lines.join("\n"), unsettled: [...pending] }
  }))

/** Every response body seen, scanned for the token once all ran. */
const seen: Array<string> = []
afterAll(() => {
  assert.isAbove(seen.length, 100)
  for (const text of seen) assert.notInclude(text, Redacted.value(token))
})

type Expect =
  | { readonly _tag: "Admitted" }
  | { readonly _tag: "Rejected"; readonly status: number; readonly field?: string | RegExp | undefined }
  | { readonly _tag: "Either" }

/** Sends, checks the answer against `expect` and the invariants, then checks the server still serves. */
const probe = (sent: Sent, expect: Expect) =>
  Effect.gen(function*() {
    const answer: Answer = yield* TestClock.withLive(
      exchange(sent).pipe(Effect.timeoutOrElse({
        duration: "5 seconds",
        orElse: () => Effect.die("the server did not answer within 5 seconds")
      }))
    )
    seen.push(answer.text)
    assert.isBelow(answer.status, 500)
    if (answer.status === 200) {
      assert.notStrictEqual(expect._tag, "Rejected", `admitted: ${answer.text.slice(0, 200)}`)
      assert.match(answer.contentType, /ndjson/)
      assert.deepStrictEqual(answer.unsettled, [], "every request id is answered")
    } else {
      assert.notStrictEqual(expect._tag, "Admitted", `rejected: ${answer.status} ${answer.text}`)
      assert.match(answer.contentType, /^application\/json/)
      // one short typed error: nothing of the body is echoed beyond a short field excerpt
      assert.isBelow(answer.text.length, 400, answer.text)
      const rejection = decodeRejection(answer.text)
      assert.isTrue(Result.isSuccess(rejection), answer.text)
      if (expect._tag === "Rejected" && Result.isSuccess(rejection)) {
        assert.strictEqual(answer.status, expect.status, answer.text)
        if (expect.field !== undefined) {
          assert.strictEqual(rejection.success._tag, "InvalidRequest")
          const field = rejection.success._tag === "InvalidRequest" ? rejection.success.field : ""
          if (typeof expect.field === "string") assert.strictEqual(field, expect.field, answer.text)
          else assert.match(field, expect.field, answer.text)
        }
      }
    }
    const after = yield* Effect.flatMap(RuntimeClient.RuntimeClient, (client) => client.GetRuntime())
    assert.strictEqual(after.status, "ready")
    return answer
  })

// ---------------------------------------------------------------------------------------------------------------
// Building bodies

/** A message as ordered `key: raw JSON text` pairs, so mutations can write what `JSON.stringify` never would. */
type Message = ReadonlyArray<readonly [string, string]>

const render = (message: Message) => `{${message.map(([key, raw]) => `${JSON.stringify(key)}:${raw}`).join(",")}}`

const body = (messages: ReadonlyArray<Message>) => messages.map((m) => `${render(m)}\n`).join("")

const request = (id: number, tag: string, payload: unknown, extra: Message = []): Message => [
  ["_tag", "\"Request\""],
  ["id", JSON.stringify(id)],
  ["tag", JSON.stringify(tag)],
  ["payload", JSON.stringify(payload)],
  ["headers", "[]"],
  ...extra
]

const replace = (message: Message, key: string, raw: string): Message =>
  message.map(([k, v]) => k === key ? [k, raw] as const : [k, v] as const)

const drop = (message: Message, key: string): Message => message.filter(([k]) => k !== key)

const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`

// ---------------------------------------------------------------------------------------------------------------
// The property

const tags = [...RuntimeRpcs.RuntimeRpcs.requests.keys()]

/** Valid payloads of each RPC, generated from its schema and encoded as its client would. */
const payloads = new Map(
  [...RuntimeRpcs.RuntimeRpcs.requests].map(([tag, rpc]) => {
    const schema = rpc.payloadSchema as Schema.Codec<unknown, unknown>
    const encode = Schema.encodeSync(Schema.toCodecJson(schema))
    return [tag, Arbitrary.map(Arbitrary.schema(schema), (payload) => encode(payload))]
  })
)

const Call = Arbitrary.flatMap(
  Arbitrary.schema(Schema.Literals(tags)),
  (tag) => Arbitrary.map(payloads.get(tag)!, (payload) => ({ tag, payload }))
)

const mutations = [
  "none",
  "dropField",
  "retypeField",
  "extraField",
  "payloadExtraField",
  "payloadRetype",
  "duplicateId",
  "manyLines",
  "truncate",
  "noFinalNewline",
  "deepValue",
  "wideValue",
  "hugeValue",
  "flipByte",
  "randomBytes"
] as const

const Case = Arbitrary.all({
  calls: Arbitrary.array(Call, { minLength: 1, maxLength: 3 }),
  mutation: Arbitrary.schema(Schema.Literals(mutations)),
  pick: Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000 }))),
  noise: Arbitrary.schema(Schema.Uint8Array)
})
type Case = typeof Case extends Arbitrary.Arbitrary<infer A> ? A : never

const envelopeKeys = ["_tag", "id", "tag", "payload", "headers"]

/** Never valid for any envelope field nor any payload (every payload is an object, or `null`). */
const hostile = [
  nested(40),
  `"${"x".repeat(200_000)}"`,
  "-1.5",
  "true",
  "[[1]]",
  "{\"zz\":1}",
  "1e999",
  "\"\\u0000\""
]

const reject = (field?: string | RegExp): Expect => ({ _tag: "Rejected", status: 400, field })

const build = ({ calls, mutation, noise, pick }: Case): { readonly sent: Sent; readonly expect: Expect } => {
  const messages = calls.map((call, id) => request(id, call.tag, call.payload))
  const admitted = { body: body(messages) }
  const first = messages[0]!
  const rest = messages.slice(1)
  const hostileValue = hostile[pick % hostile.length]!
  switch (mutation) {
    case "none":
      return { sent: admitted, expect: { _tag: "Admitted" } }
    case "dropField": {
      const key = envelopeKeys[pick % envelopeKeys.length]!
      return { sent: { body: body([drop(first, key), ...rest]) }, expect: reject(`body[0].${key}`) }
    }
    case "retypeField": {
      const key = envelopeKeys[pick % envelopeKeys.length]!
      return { sent: { body: body([replace(first, key, hostileValue), ...rest]) }, expect: reject(/^body\[0\]/) }
    }
    case "extraField": {
      const key = ["isNotification", "discard", "__proto__", "x\u0000y", "requestId"][pick % 5]!
      return { sent: { body: body([[...first, [key, "true"]], ...rest]) }, expect: reject(/^body\[0\]/) }
    }
    case "payloadExtraField": {
      const payload = calls[0]!.payload
      const extended = { ...(typeof payload === "object" && payload !== null ? payload : {}), zz_extra: 1 }
      return {
        sent: { body: body([replace(first, "payload", JSON.stringify(extended)), ...rest]) },
        expect: reject(/^body\[0\]\.payload/)
      }
    }
    case "payloadRetype": {
      // a field of the payload gets a hostile value; some are still of the field's type (the Runtime then answers)
      const payload = calls[0]!.payload
      const keys = typeof payload === "object" && payload !== null ? Object.keys(payload) : []
      const key = keys[pick % Math.max(keys.length, 1)] ?? "workerId"
      const raw = `{${JSON.stringify(key)}:${hostileValue}}`
      return {
        sent: { body: body([replace(first, "payload", raw), ...rest]) },
        expect: { _tag: "Either" }
      }
    }
    case "duplicateId":
      return {
        sent: { body: body([...messages, replace(first, "id", "0")]) },
        expect: reject(`body[${messages.length}].id`)
      }
    case "manyLines": {
      const count = RpcGuard.maxMessages + 1 + (pick % 200)
      const many = Array.from({ length: count }, (_, id) => request(id, "GetUsage", {}))
      return { sent: { body: body(many) }, expect: reject("body") }
    }
    case "truncate": {
      const whole = body([first])
      return { sent: { body: whole.slice(0, pick % whole.length) }, expect: reject("body") }
    }
    case "noFinalNewline":
      return { sent: { body: admitted.body.slice(0, -1) }, expect: reject("body") }
    case "deepValue": {
      const key = ["id", "payload", "headers", "traceId"][pick % 4]!
      const deep = nested(RpcGuard.maxDepth + (pick % 5000))
      return { sent: { body: body([[...drop(first, key), [key, deep]], ...rest]) }, expect: reject("body[0]") }
    }
    case "wideValue":
      return {
        sent: { body: body([replace(first, "headers", `[${"0,".repeat(RpcGuard.maxValues)}0]`), ...rest]) },
        expect: reject("body[0]")
      }
    case "hugeValue": {
      // a 200 KB string in the payload: refused by the guard, or by the Runtime's own limits
      const payload = calls[0]!.payload
      const keys = typeof payload === "object" && payload !== null ? Object.keys(payload) : []
      const key = keys[pick % Math.max(keys.length, 1)] ?? "workerId"
      const raw = `{${JSON.stringify(key)}:${JSON.stringify("y".repeat(200_000))}}`
      return {
        sent: { body: body([replace(first, "payload", raw), ...rest]) },
        expect: { _tag: "Either" }
      }
    }
    case "flipByte": {
      const bytes = new TextEncoder().encode(admitted.body)
      bytes[pick % bytes.length] = noise[0] ?? 0x7b
      return { sent: { body: bytes }, expect: { _tag: "Either" } }
    }
    case "randomBytes":
      return { sent: { body: noise }, expect: { _tag: "Either" } }
  }
}

layer(TestLayer)("POST /rpc under hostile input", (it) => {
  it.effect.prop(
    "schema-derived requests, mutated: a typed 4xx or proper Exit frames, promptly, and the server stays up",
    { testCase: Case },
    ({ testCase }) => {
      const { expect, sent } = build(testCase)
      return Effect.asVoid(probe(sent, expect))
    },
    { timeout: 60_000, arbitrary: { runs: 300, seed: 9, maxShrinks: 50 } }
  )

  describe("every hostile body the fuzzer found", () => {
    const usage = (id: number) => request(id, "GetUsage", {})
    const cases: ReadonlyArray<readonly [string, Sent, Expect]> = [
      [
        "16 GetUsage lines, then GetRuntime with payload {} (hung)",
        { body: body([...Array.from({ length: 16 }, (_, id) => usage(id)), request(16, "GetRuntime", {})]) },
        { _tag: "Rejected", status: 400, field: "body" }
      ],
      [
        "7 GetUsage lines, then GetRuntime with payload {}",
        { body: body([...Array.from({ length: 7 }, (_, id) => usage(id)), request(7, "GetRuntime", {})]) },
        { _tag: "Rejected", status: 400, field: "body[7].payload" }
      ],
      [
        "18 lines with one request id (503)",
        { body: body(Array.from({ length: 18 }, () => usage(1))) },
        { _tag: "Rejected", status: 400, field: "body" }
      ],
      [
        "two lines with one request id",
        { body: body([usage(1), usage(1)]) },
        { _tag: "Rejected", status: 400, field: "body[1].id" }
      ],
      [
        "GetRuntime with payload {} (Die \"Expected null\")",
        { body: body([request(0, "GetRuntime", {})]) },
        { _tag: "Rejected", status: 400, field: "body[0].payload" }
      ],
      [
        "GetRuntime without a payload",
        { body: body([drop(request(0, "GetRuntime", null), "payload")]) },
        { _tag: "Rejected", status: 400, field: "body[0].payload" }
      ],
      [
        "missing headers (TypeError: not iterable)",
        { body: body([drop(usage(0), "headers")]) },
        { _tag: "Rejected", status: 400, field: "body[0].headers" }
      ],
      [
        "headers as an object",
        { body: body([replace(usage(0), "headers", "{}")]) },
        { _tag: "Rejected", status: 400, field: "body[0].headers" }
      ],
      [
        "a header pair of numbers (k.toLowerCase is not a function)",
        { body: body([replace(usage(0), "headers", "[[1,2]]")]) },
        { _tag: "Rejected", status: 400, field: "body[0].headers[0][0]" }
      ],
      [
        "a header value that is no string",
        { body: body([replace(usage(0), "headers", "[[\"x-a\",{}]]")]) },
        { _tag: "Rejected", status: 400, field: "body[0].headers[0][1]" }
      ],
      [
        "a missing id (Invalid request id: undefined)",
        { body: body([drop(usage(0), "id")]) },
        { _tag: "Rejected", status: 400, field: "body[0].id" }
      ],
      [
        "an object id",
        { body: body([replace(usage(0), "id", "{\"a\":1}")]) },
        { _tag: "Rejected", status: 400, field: "body[0].id" }
      ],
      [
        "a 200 KB id (echoed back)",
        { body: body([replace(usage(0), "id", JSON.stringify(["z".repeat(200_000)]))]) },
        { _tag: "Rejected", status: 400, field: "body[0].id" }
      ],
      [
        "an id nested 100,000 deep (RangeError)",
        { body: body([replace(usage(0), "id", nested(100_000))]) },
        { _tag: "Rejected", status: 400, field: "body[0]" }
      ],
      [
        "a string id (the protocol's ids are integers)",
        { body: body([replace(usage(0), "id", "\"1\"")]) },
        { _tag: "Rejected", status: 400, field: "body[0].id" }
      ],
      [
        "ListWorkers with limit 1e999 (Die \"Expected a finite number\")",
        { body: body([replace(request(0, "ListWorkers", {}), "payload", "{\"limit\":1e999}")]) },
        { _tag: "Rejected", status: 400, field: "body[0].payload.limit" }
      ],
      [
        "GetTranscript with limit 1e999",
        {
          body: body([
            replace(request(0, "GetTranscript", {}), "payload", "{\"workerId\":\"w_x\",\"limit\":1e999}")
          ])
        },
        { _tag: "Rejected", status: 400, field: "body[0].payload.limit" }
      ],
      [
        "a complete request without a final newline (200, empty)",
        { body: body([usage(0)]).slice(0, -1) },
        { _tag: "Rejected", status: 400, field: "body" }
      ],
      [
        "3.7 MB of 50,000 lines (RSS grew by hundreds of MiB)",
        { body: body(Array.from({ length: 50_000 }, (_, id) => usage(id))) },
        { _tag: "Rejected", status: 400, field: "body" }
      ],
      [
        "a malformed payload with a wrong token is Unauthorized, not decoded",
        { body: body([request(0, "GetWorker", { workerId: 5 })]), auth: "Bearer not-the-token" },
        { _tag: "Rejected", status: 401 }
      ],
      [
        "50,000 lines without a token are Unauthorized, not read",
        { body: body(Array.from({ length: 50_000 }, (_, id) => usage(id))), auth: undefined },
        { _tag: "Rejected", status: 401 }
      ],
      [
        "a control message (Ping) in a body",
        { body: "{\"_tag\":\"Ping\"}\n" },
        { _tag: "Rejected", status: 400, field: "body[0]._tag" }
      ],
      [
        "a notification (no reply would ever come)",
        { body: body([[...usage(0), ["isNotification", "true"]]]) },
        { _tag: "Rejected", status: 400, field: "body[0].isNotification" }
      ],
      [
        "a 200-character key of control characters (echoed only as a short sanitized excerpt)",
        { body: body([[...usage(0), [`\u0001\u0002${"k".repeat(200)}`, "1"]]]) },
        { _tag: "Rejected", status: 400, field: `body[0]["??${"k".repeat(30)}…"]` }
      ],
      [
        "an unknown path",
        { body: "", method: "GET", path: "/admin" },
        { _tag: "Rejected", status: 404, field: "path" }
      ],
      [
        "GET /rpc",
        { body: "", method: "GET" },
        { _tag: "Rejected", status: 405, field: "method" }
      ],
      [
        "a body over the size limit",
        { body: `${body([usage(0)])}${" ".repeat(maxBodyBytes)}` },
        { _tag: "Rejected", status: 413, field: "body" }
      ]
    ]
    for (const [label, sent, expect] of cases) {
      it.effect(label, () => Effect.asVoid(probe(sent, expect)))
    }

    it.effect("a valid body of the maximum number of requests, streams among them, is answered in full", () =>
      Effect.gen(function*() {
        const calls = [
          request(0, "GetRuntime", null),
          request(1, "WatchRuntime", {}),
          request(2, "ListWorkers", { limit: 5 }),
          request(3, "WatchWorker", { workerId: "w_missing" }),
          ...Array.from({ length: RpcGuard.maxMessages - 4 }, (_, i) => usage(4 + i))
        ]
        const answer = yield* probe({ body: body(calls) }, { _tag: "Admitted" })
        assert.include(answer.text, "\"runtime_snapshot\"")
        assert.include(answer.text, "\"WorkerNotFound\"")
      }))
  })
})
