/**
 * `LegacyPodSource` over `LegacyPodMetadata` on a real temp directory of legacy pod metadata: the projection, its diagnostics and bounds, the
 * derived ids and labels, unsupported commands, and that nothing path-, pod- or workspace-shaped leaks into a view,
 * a diagnostic or an error.
 */
import { NodeCrypto, NodeServices } from "@effect/platform-node"
import { assert, describe, it, layer } from "@effect/vitest"
import { LegacyPodMetadata } from "@yoi/adapters"
import { Errors, Ids } from "@yoi/domain"
import { Effect, FileSystem, Layer, Path, Schema, Stream } from "effect"
import { Digest } from "effect/crypto"
import { execFileSync } from "node:child_process"
import * as Audit from "../src/Audit.ts"
import * as LegacyPodSource from "../src/LegacyPodSource.ts"
import * as Policy from "../src/Policy.ts"
import * as Registry from "../src/Registry.ts"
import * as RegistryErrors from "../src/RegistryErrors.ts"
import { alice, mallory } from "./support/viewers.ts"

const RUNTIME_ID = "legacy-local"
const identifierPattern = /^[A-Za-z0-9][A-Za-z0-9_:-]{0,119}$/
const SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
const SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/** A temp data dir, a workspace root, and helpers to write pod entries into it. */
const fixture = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const base = yield* fs.makeTempDirectoryScoped({ prefix: "yoi-legacy-" })
  const dataDir = path.join(base, "data")
  const workspaceRoot = path.join(base, "workspace", "project")
  const otherRoot = path.join(base, "workspace", "elsewhere-secret")
  const podsDir = path.join(dataDir, "pods")
  yield* fs.makeDirectory(podsDir, { recursive: true })
  const entryDir = (dir: string) => path.join(podsDir, dir)
  const writeRaw = Effect.fnUntraced(function*(dir: string, text: string) {
    yield* fs.makeDirectory(entryDir(dir), { recursive: true })
    yield* fs.writeFileString(path.join(entryDir(dir), "metadata.json"), text)
  })
  const writePod = (dir: string, metadata: Record<string, unknown>) => writeRaw(dir, JSON.stringify(metadata, null, 2))
  return {
    base,
    dataDir,
    workspaceRoot,
    otherRoot,
    podsDir,
    writeRaw,
    writePod,
    /** A pod of this workspace; `active` unless `metadataOnly`. */
    pod: (dir: string, podName: string, extra: Record<string, unknown> = {}) =>
      writePod(dir, {
        pod_name: podName,
        workspace_root: workspaceRoot,
        active: { session_id: "0b4a6e4c-7f5e-4c61-9d0a-5d5e0e7a1c11", segment_id: "seg-1" },
        spawned_children: [{ pod_name: "child", socket_path: `${base}/sock`, scope_delegated: [] }],
        ...extra
      }),
    remove: (dir: string) => fs.remove(entryDir(dir), { recursive: true }),
    makeDir: (relative: string) => fs.makeDirectory(path.join(podsDir, relative), { recursive: true }),
    writeFile: (relative: string, text: string) => fs.writeFileString(path.join(podsDir, relative), text),
    open: (options: { readonly maxScan?: number; readonly maxDiagnostics?: number; readonly dataDir?: string } = {}) =>
      LegacyPodSource.make({ runtimeId: RUNTIME_ID, dataDir, workspaceRoot, ...options })
  }
})

const idOf = (raw: string) => LegacyPodSource.boundedIdentifier("local-pod-", raw)

const codesOf = (probe: { readonly diagnostics: ReadonlyArray<{ readonly code: string; readonly level: string }> }) =>
  probe.diagnostics.map((d) => `${d.level}:${d.code}`)

/** The sanitized body of a `local-pod-` id. */
const body = (id: string) => id.slice("local-pod-".length, -17)

const names = (workers: ReadonlyArray<{ readonly displayName: string }>) => workers.map((w) => w.displayName)

const unsupported = (operation: string) => new RegistryErrors.OperationUnsupported({ runtimeId: RUNTIME_ID, operation })

describe("LegacyPodSource.boundedIdentifier", () => {
  it.effect("is <prefix><body>-<first 16 hex of sha256(raw)> (known SHA-256 vectors)", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* idOf("abc"), `local-pod-abc-${SHA256_ABC.slice(0, 16)}`)
      assert.strictEqual(yield* idOf(""), `local-pod-id-${SHA256_EMPTY.slice(0, 16)}`)
      // The digest is of the raw name, not of the sanitized body.
      const upper = yield* idOf("ABC")
      assert.isTrue(upper.startsWith("local-pod-abc-"))
      assert.notStrictEqual(upper, yield* idOf("abc"))
    }))

  it.effect("sanitizes the body: lowercase ASCII alphanumerics, '-' and '_', others '-', outer dashes trimmed", () =>
    Effect.gen(function*() {
      assert.strictEqual(body(yield* idOf("Coder Pod #1")), "coder-pod--1")
      assert.strictEqual(body(yield* idOf("--a_b--")), "a_b")
      assert.strictEqual(body(yield* idOf("/home/me/.ssh")), "home-me--ssh")
      assert.strictEqual(body(yield* idOf("日本語")), "id")
      assert.strictEqual(body(yield* idOf("a😀b")), "a-b", "one '-' per character, not per UTF-16 unit")
      assert.strictEqual(body(yield* idOf("////")), "id")
      assert.strictEqual(body(yield* idOf("a:b")), "a-b", "':' is valid in ids but not kept in bodies")
    }))

  it.effect("is stable, valid as a RuntimeId/WorkerId, and differs for names with the same body", () =>
    Effect.gen(function*() {
      const names = ["a/b", "a?b", "a\u0007b", "A B", "a-b", "a b", "", "..", "\u0000", "x".repeat(1000)]
      const ids = yield* Effect.forEach(names, idOf)
      assert.deepStrictEqual(yield* Effect.forEach(names, idOf), ids, "stable across calls")
      assert.strictEqual(new Set(ids).size, names.length, "distinct raw names, distinct ids")
      for (const id of ids) {
        assert.match(id, identifierPattern)
        assert.isTrue(Schema.is(Ids.WorkerId)(id))
        assert.isTrue(Schema.is(Ids.RuntimeId)(id))
      }
      // The first five all sanitize to the body "a-b".
      for (const id of ids.slice(0, 6)) assert.isTrue(id.startsWith("local-pod-a-b-"), id)
    }))

  it.effect("truncates the body so the whole id is at most 120 characters", () =>
    Effect.gen(function*() {
      const long = yield* idOf("a".repeat(500))
      assert.strictEqual(long.length, 120)
      assert.strictEqual(long, `local-pod-${"a".repeat(93)}-${(yield* idOf("a".repeat(500))).slice(-16)}`)
      // Exactly at the budget: no truncation.
      const fits = yield* idOf("b".repeat(93))
      assert.strictEqual(fits.length, 120)
      assert.isTrue(fits.startsWith(`local-pod-${"b".repeat(93)}-`))
      // A cut that ends on '-' is trimmed back, and the id stays valid.
      const dashy = yield* idOf(`${"c".repeat(92)}/${"d".repeat(50)}`)
      assert.isTrue(dashy.startsWith(`local-pod-${"c".repeat(92)}-`), dashy)
      assert.strictEqual(dashy.length, 119)
      assert.notInclude(dashy, "--")
      // Ids of long names that share their first 93 characters still differ.
      assert.notStrictEqual(yield* idOf(`${"a".repeat(200)}1`), yield* idOf(`${"a".repeat(200)}2`))
      // A prefix longer than the budget is itself cut; the digest survives.
      const hugePrefix = yield* LegacyPodSource.boundedIdentifier("p".repeat(200), "abc")
      assert.strictEqual(hugePrefix, `${"p".repeat(103)}-${SHA256_ABC.slice(0, 16)}`)
      for (const id of [long, fits, dashy, hugePrefix]) assert.match(id, identifierPattern)
    }))

  it.effect("uses the caller's Digest service when one is provided, and agrees with node:crypto", () =>
    Effect.gen(function*() {
      const fake = Layer.succeed(Digest.Digest, {
        digest: () => Effect.succeed(new Uint8Array(32)),
        digestHex: () => Effect.succeed("f".repeat(64))
      })
      assert.strictEqual(yield* idOf("abc").pipe(Effect.provide(fake)), `local-pod-abc-${"f".repeat(16)}`)
      assert.strictEqual(
        yield* idOf("abc").pipe(Effect.provide(NodeCrypto.layerDigest)),
        `local-pod-abc-${SHA256_ABC.slice(0, 16)}`
      )
      assert.strictEqual(yield* idOf("x/y").pipe(Effect.provide(NodeCrypto.layerDigest)), yield* idOf("x/y"))
    }))
})

describe("LegacyPodSource.sanitizeLabel", () => {
  it("removes control characters, slashes and bidi marks, and keeps at most 80 characters", () => {
    assert.strictEqual(LegacyPodSource.sanitizeLabel("a/b\u0007c"), "abc")
    assert.strictEqual(LegacyPodSource.sanitizeLabel("a\\b\u0000\u001b[31mc\u007f\u0085"), "ab[31mc")
    assert.strictEqual(LegacyPodSource.sanitizeLabel("line\nbreak\ttab\u2028"), "linebreaktab")
    assert.strictEqual(LegacyPodSource.sanitizeLabel("evil\u202etxt.exe"), "eviltxt.exe")
    assert.strictEqual(LegacyPodSource.sanitizeLabel("  coder pod  "), "coder pod")
    assert.strictEqual(LegacyPodSource.sanitizeLabel("x".repeat(200)), "x".repeat(80))
    assert.strictEqual(LegacyPodSource.sanitizeLabel("/".repeat(10)), "")
    // Counted in code points: an astral character is never split into a lone surrogate.
    const emoji = LegacyPodSource.sanitizeLabel("😀".repeat(100))
    assert.strictEqual(Array.from(emoji).length, 80)
    assert.strictEqual(emoji, "😀".repeat(80))
  })
})

layer(LegacyPodMetadata.layer.pipe(Layer.provideMerge(NodeServices.layer)))("LegacyPodSource", (it) => {
  it.effect("projects this workspace's pods and skips the rest with §9 diagnostics", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      yield* f.pod("alpha", "alpha", { resolved_manifest_snapshot: { role: "coder", extra: [1, 2] } })
      yield* f.pod("beta", "beta", {
        active: undefined,
        workspace_root: `${f.workspaceRoot}///`,
        resolved_manifest_snapshot: { profile_selector: { name: "builtin:reviewer" } }
      })
      yield* f.writeRaw("gamma-broken", "{ \"pod_name\": \"gamma\", ")
      yield* f.writePod("delta-noroot", { pod_name: "delta", active: { session_id: "s" } })
      yield* f.pod("epsilon-other", "epsilon", { workspace_root: f.otherRoot })
      yield* f.makeDir("eta-dir/metadata.json")
      yield* f.writePod("theta-shape", { pod_name: 42, workspace_root: f.workspaceRoot })
      yield* f.pod("zeta", "a/b\u0007c", { active: null, resolved_manifest_snapshot: { role_claim: { role: "x/y" } } })
      yield* f.writeFile("stray.lock", "not a pod")
      const source = yield* f.open()

      const workers = yield* source.listWorkers({ limit: 100 })
      assert.deepStrictEqual(workers, [
        {
          runtimeId: RUNTIME_ID,
          workerId: yield* idOf("alpha"),
          displayName: "alpha",
          displayRef: `alpha@${RUNTIME_ID}`,
          implementation: "legacy_compatibility",
          status: "idle",
          profileName: "coder",
          queueLength: 0,
          capabilities: { canAcceptInput: false, canCancel: false, canStop: false }
        },
        {
          runtimeId: RUNTIME_ID,
          workerId: yield* idOf("beta"),
          displayName: "beta",
          displayRef: `beta@${RUNTIME_ID}`,
          implementation: "legacy_compatibility",
          status: "stopped",
          profileName: "builtin:reviewer",
          queueLength: 0,
          capabilities: { canAcceptInput: false, canCancel: false, canStop: false }
        },
        {
          runtimeId: RUNTIME_ID,
          workerId: yield* idOf("a/b\u0007c"),
          displayName: "abc",
          displayRef: `abc@${RUNTIME_ID}`,
          implementation: "legacy_compatibility",
          status: "stopped",
          profileName: "xy",
          queueLength: 0,
          capabilities: { canAcceptInput: false, canCancel: false, canStop: false }
        }
      ])
      // The id comes from the metadata's pod_name, not from the directory.
      assert.notStrictEqual(workers[2]!.workerId, yield* idOf("zeta"))
      assert.isTrue(workers[2]!.workerId.startsWith("local-pod-a-b-c-"))

      const probe = yield* source.probe
      assert.deepStrictEqual(probe.counts, { idle: 1, running: 0, stopped: 2, failed: 0, total: 3 })
      assert.deepStrictEqual(codesOf(probe), [
        "warning:local_pod_workspace_root_missing", // delta-noroot
        "info:local_pod_workspace_not_visible", // epsilon-other
        "warning:local_pod_metadata_unreadable", // eta-dir (metadata.json is a directory)
        "warning:local_pod_metadata_invalid", // gamma-broken (not JSON)
        "warning:local_pod_metadata_invalid" // theta-shape (pod_name is a number)
      ])
      assert.deepStrictEqual(source.capabilities, {
        canCreateWorkers: false,
        canAcceptInput: false,
        canStreamEvents: false
      })
    }))

  it.effect(
    "metadata that is not a regular file, or larger than 1 MiB, is unreadable (and never read)",
    () =>
      Effect.gen(function*() {
        const f = yield* fixture
        const path = yield* Path.Path
        yield* f.pod("big", "big", { padding: "x".repeat(1024 * 1024) })
        yield* f.makeDir("fifo")
        // Reading a FIFO with no writer would block forever: only `stat` may touch it.
        execFileSync("mkfifo", [path.join(f.podsDir, "fifo", "metadata.json")])
        yield* f.makeDir("no-metadata")
        yield* f.pod("small", "small", { padding: "x".repeat(1000) })
        const source = yield* f.open()
        assert.deepStrictEqual(names(yield* source.listWorkers({ limit: 10 })), ["small"])
        assert.deepStrictEqual(codesOf(yield* source.probe), [
          "warning:local_pod_metadata_unreadable", // big
          "warning:local_pod_metadata_unreadable", // fifo
          "warning:local_pod_metadata_unreadable" // no-metadata
        ])
      }),
    { timeout: 10_000 }
  )

  it.effect("a pod_name with nothing displayable is shown as 'legacy pod'; an empty pod_name is invalid", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      yield* f.pod("slashes", "///\u0007")
      yield* f.pod("empty", "")
      const source = yield* f.open()
      const workers = yield* source.listWorkers({ limit: 10 })
      assert.deepStrictEqual(workers.map((w) => [w.displayName, w.displayRef, w.workerId]), [
        ["legacy pod", `legacy pod@${RUNTIME_ID}`, yield* idOf("///\u0007")]
      ])
      assert.deepStrictEqual(codesOf(yield* source.probe), ["warning:local_pod_metadata_invalid"])
    }))

  it.effect("compares workspace roots lexically with trailing slashes trimmed, on either side", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      yield* f.pod("plain", "plain")
      yield* f.pod("slashed", "slashed", { workspace_root: `${f.workspaceRoot}/` })
      yield* f.pod("prefix", "prefix", { workspace_root: `${f.workspaceRoot}-2` })
      yield* f.pod("child", "child", { workspace_root: `${f.workspaceRoot}/sub` })
      yield* f.pod("dotted", "dotted", { workspace_root: `${f.workspaceRoot}/.` })
      yield* f.pod("empty", "empty", { workspace_root: "" })
      const fromSlashed = yield* LegacyPodSource.make({
        runtimeId: RUNTIME_ID,
        dataDir: f.dataDir,
        workspaceRoot: `${f.workspaceRoot}//`
      })
      for (const source of [yield* f.open(), fromSlashed]) {
        const names = (yield* source.listWorkers({ limit: 100 })).map((w) => w.displayName)
        assert.deepStrictEqual(names, ["plain", "slashed"])
        assert.deepStrictEqual(codesOf(yield* source.probe), [
          "info:local_pod_workspace_not_visible", // child
          "info:local_pod_workspace_not_visible", // dotted: lexical, not resolved
          "warning:local_pod_workspace_root_missing", // empty
          "info:local_pod_workspace_not_visible" // prefix
        ])
      }
    }))

  it.effect("a missing data dir or pods dir is an empty list with local_pod_registry_unavailable", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      const path = yield* Path.Path
      const fs = yield* FileSystem.FileSystem
      const noData = yield* f.open({ dataDir: path.join(f.base, "nowhere") })
      yield* fs.makeDirectory(path.join(f.base, "empty-data"))
      const noPods = yield* f.open({ dataDir: path.join(f.base, "empty-data") })
      yield* fs.writeFileString(path.join(f.base, "file-data"), "")
      const notADir = yield* f.open({ dataDir: path.join(f.base, "file-data") })
      for (const source of [noData, noPods, notADir]) {
        assert.deepStrictEqual(yield* source.listWorkers({ limit: 10 }), [])
        const probe = yield* source.probe
        assert.deepStrictEqual(codesOf(probe), ["warning:local_pod_registry_unavailable"])
        assert.deepStrictEqual(probe.counts, { idle: 0, running: 0, stopped: 0, failed: 0, total: 0 })
        const error = yield* Effect.flip(source.getWorker(yield* idOf("alpha")))
        assert.instanceOf(error, RegistryErrors.UnknownWorker)
      }
      // An existing but empty pods dir is not "unavailable".
      const empty = yield* f.open()
      assert.deepStrictEqual((yield* empty.probe).diagnostics, [])
    }))

  it.effect("caps diagnostics at maxDiagnostics (default 16) and keeps listing the good pods", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      for (let i = 0; i < 20; i++) yield* f.writeRaw(`bad-${String(i).padStart(2, "0")}`, "not json")
      yield* f.pod("good", "good")
      const byDefault = yield* f.open()
      const probe = yield* byDefault.probe
      assert.strictEqual(probe.diagnostics.length, 16)
      assert.isTrue(probe.diagnostics.every((d) => d.code === "local_pod_metadata_invalid"))
      assert.strictEqual(probe.counts?.total, 1)
      assert.deepStrictEqual((yield* byDefault.listWorkers({ limit: 10 })).map((w) => w.displayName), ["good"])

      const three = yield* (yield* f.open({ maxDiagnostics: 3 })).probe
      assert.strictEqual(three.diagnostics.length, 3)
      const none = yield* (yield* f.open({ maxDiagnostics: 0 })).probe
      assert.deepStrictEqual(none.diagnostics, [])
    }))

  it.effect("reads at most maxScan entries, in name order, and says so", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      for (const name of ["e", "c", "a", "d", "b"]) yield* f.pod(`pod-${name}`, name)
      const source = yield* f.open({ maxScan: 3 })
      assert.deepStrictEqual((yield* source.listWorkers({ limit: 10 })).map((w) => w.displayName), ["a", "b", "c"])
      const probe = yield* source.probe
      assert.strictEqual(probe.counts?.total, 3)
      assert.deepStrictEqual(codesOf(probe), ["info:local_pod_scan_limited"])
      // A pod past the bound cannot be fetched either.
      assert.instanceOf(yield* Effect.flip(source.getWorker(yield* idOf("e"))), RegistryErrors.UnknownWorker)
      // Plain files do not use up the bound.
      yield* f.writeFile("0-aaa.lock", "")
      assert.deepStrictEqual((yield* source.listWorkers({ limit: 10 })).map((w) => w.displayName), ["a", "b", "c"])
      const all = yield* f.open()
      assert.deepStrictEqual((yield* all.listWorkers({ limit: 10 })).map((w) => w.displayName), [
        "a",
        "b",
        "c",
        "d",
        "e"
      ])
      assert.deepStrictEqual((yield* all.probe).diagnostics, [])
    }))

  it.effect("every call re-scans: new, changed and removed pods show at once", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      const source = yield* f.open()
      assert.deepStrictEqual(yield* source.listWorkers({ limit: 10 }), [])
      yield* f.pod("one", "one")
      const [one] = yield* source.listWorkers({ limit: 10 })
      assert.strictEqual(one?.status, "idle")
      assert.deepStrictEqual(yield* source.getWorker(one!.workerId), one)
      yield* f.pod("one", "one", { active: undefined })
      assert.strictEqual((yield* source.getWorker(one!.workerId)).status, "stopped")
      assert.deepStrictEqual((yield* source.probe).counts, { idle: 0, running: 0, stopped: 1, failed: 0, total: 1 })
      yield* f.remove("one")
      const gone = yield* Effect.flip(source.getWorker(one!.workerId))
      assert.deepStrictEqual(gone, new RegistryErrors.UnknownWorker({ runtimeId: RUNTIME_ID, workerId: one!.workerId }))
      assert.deepStrictEqual(yield* source.listWorkers({ limit: 10 }), [])
    }))

  it.effect("listWorkers honours status and limit; an unknown status is InvalidRequest", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      yield* f.pod("a", "a")
      yield* f.pod("b", "b", { active: undefined })
      yield* f.pod("c", "c")
      const source = yield* f.open()
      assert.deepStrictEqual(names(yield* source.listWorkers({ limit: 10, status: "idle" })), ["a", "c"])
      assert.deepStrictEqual(names(yield* source.listWorkers({ limit: 10, status: "stopped" })), ["b"])
      assert.deepStrictEqual(names(yield* source.listWorkers({ limit: 10, status: "running" })), [])
      assert.deepStrictEqual(names(yield* source.listWorkers({ limit: 10, status: "failed" })), [])
      assert.deepStrictEqual(names(yield* source.listWorkers({ limit: 2 })), ["a", "b"])
      assert.deepStrictEqual(names(yield* source.listWorkers({ limit: 1, status: "idle" })), ["a"])
      for (const status of ["bogus", "active", "metadata_only", ""]) {
        const error = yield* Effect.flip(source.listWorkers({ limit: 10, status }))
        assert.instanceOf(error, Errors.InvalidRequest)
        assert.strictEqual(error._tag === "InvalidRequest" ? error.field : undefined, "status")
      }
    }))

  it.effect("profileName: role, role_claim.role, profile_selector, profile, sanitized, else 'legacy'", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      const snapshot = (dir: string, value: unknown) => f.pod(dir, dir, { resolved_manifest_snapshot: value })
      yield* snapshot("p1", { role: "r", role_claim: { role: "claim" }, profile_selector: "sel", profile: "prof" })
      yield* snapshot("p2", { role_claim: { role: { name: "claimed" } }, profile: "prof" })
      yield* snapshot("p3", { profile_selector: "../profiles/x.toml", profile: "prof" })
      yield* snapshot("p4", { profile: { name: "named" } })
      yield* snapshot("p5", { role: 7, profile: "prof" })
      yield* snapshot("p6", { role: "///", profile: "prof" })
      yield* snapshot("p7", "just a string")
      yield* snapshot("p8", null)
      yield* f.pod("p9", "p9")
      yield* snapshot("pa", { role: "z".repeat(300) })
      const workers = yield* (yield* f.open()).listWorkers({ limit: 100 })
      assert.deepStrictEqual(workers.map((w) => w.profileName), [
        "r",
        "claimed",
        "..profilesx.toml",
        "named",
        "prof",
        "prof",
        "legacy",
        "legacy",
        "legacy",
        "z".repeat(80)
      ])
    }))

  it.effect("two entries with the same pod_name: the first by directory name wins, the other is a diagnostic", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      yield* f.pod("copy-b", "same", { active: undefined })
      yield* f.pod("copy-a", "same")
      yield* f.pod("x-slash", "x/y")
      yield* f.pod("x-query", "x?y")
      const source = yield* f.open()
      const workers = yield* source.listWorkers({ limit: 10 })
      assert.deepStrictEqual(workers.map((w) => [w.displayName, w.status]), [
        ["same", "idle"],
        ["x?y", "idle"],
        ["xy", "idle"]
      ])
      // Names that sanitize to the same body still get distinct ids.
      assert.notStrictEqual(workers[1]!.workerId, workers[2]!.workerId)
      assert.isTrue(workers[1]!.workerId.startsWith("local-pod-x-y-"))
      assert.isTrue(workers[2]!.workerId.startsWith("local-pod-x-y-"))
      assert.deepStrictEqual(codesOf(yield* source.probe), ["warning:local_pod_metadata_invalid"])
    }))

  it.effect("commands are OperationUnsupported; getWorker of an unknown id is UnknownWorker", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      yield* f.pod("alpha", "alpha")
      const source = yield* f.open()
      const [worker] = yield* source.listWorkers({ limit: 1 })
      const workerId = worker!.workerId
      assert.deepStrictEqual(
        yield* Effect.flip(source.createWorker({ displayName: "new" })),
        unsupported("createWorker")
      )
      assert.deepStrictEqual(yield* Effect.flip(source.sendInput(workerId, { text: "hi" })), unsupported("sendInput"))
      assert.deepStrictEqual(yield* Effect.flip(source.cancelRun(workerId)), unsupported("cancelRun"))
      assert.deepStrictEqual(yield* Effect.flip(source.stopWorker(workerId, "bye")), unsupported("stopWorker"))
      assert.deepStrictEqual(yield* Effect.flip(source.getTranscript(workerId, {})), unsupported("getTranscript"))
      assert.deepStrictEqual(yield* Effect.flip(source.getUsage(workerId)), unsupported("getUsage"))
      assert.deepStrictEqual(
        yield* Effect.flip(Stream.runCollect(source.watchWorker(workerId, undefined))),
        unsupported("watchWorker")
      )
      for (const unknown of ["alpha", "local-pod-nope-0000000000000000", "../etc/passwd", ""]) {
        assert.deepStrictEqual(
          yield* Effect.flip(source.getWorker(unknown)),
          new RegistryErrors.UnknownWorker({ runtimeId: RUNTIME_ID, workerId: unknown })
        )
      }
    }))

  it.effect("no view, diagnostic or error carries a path, another workspace root, a session or a raw pod name", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      const rawNames = ["a/b\u0007c", "/etc/passwd", "..\\..\\win", `${f.base}/inside`, "evil\u202eexe"]
      for (const [i, name] of rawNames.entries()) yield* f.pod(`named-${i}`, name)
      yield* f.pod("other", "other/pod", { workspace_root: f.otherRoot })
      yield* f.writePod("noroot", { pod_name: "no/root" })
      yield* f.writeRaw("broken", `{"pod_name": "${f.base}/broken", `)
      yield* f.makeDir("dir-meta/metadata.json")
      const source = yield* f.open()
      const missing = yield* f.open({ dataDir: `${f.base}/missing` })

      const workers = yield* source.listWorkers({ limit: 100 })
      assert.strictEqual(workers.length, rawNames.length)
      const seen = [
        workers,
        yield* Effect.forEach(workers, (w) => source.getWorker(w.workerId)),
        yield* source.probe,
        yield* missing.probe,
        yield* Effect.flip(source.getWorker("nope")),
        yield* Effect.flip(source.sendInput(workers[0]!.workerId, { text: "x" })),
        yield* Effect.flip(source.listWorkers({ limit: 1, status: f.base }))
      ]
      const text = JSON.stringify(seen)
      assert.isAbove((yield* source.probe).diagnostics.length, 3)
      for (
        const forbidden of [f.base, f.otherRoot, f.workspaceRoot, f.dataDir, "elsewhere-secret", "0b4a6e4c", "sock"]
      ) {
        assert.notInclude(text, forbidden)
      }
      for (const name of [...rawNames, "other/pod", "no/root", "/broken"]) assert.notInclude(text, name)
      for (const view of workers) {
        for (const field of [view.displayName, view.displayRef, view.profileName]) {
          assert.notMatch(field, /[/\\\p{Cc}\u202e]/u)
        }
        assert.match(view.workerId, identifierPattern)
      }
      for (const d of (yield* source.probe).diagnostics) assert.notMatch(d.message, /[/\\]/)
    }))

  it.effect("a registry with a legacy source reads pods through the LegacyPods layer the source brings", () =>
    Effect.gen(function*() {
      const f = yield* fixture
      yield* f.pod("alpha", "alpha")
      yield* f.pod("beta", "beta", { active: undefined })
      const registryLayer = Registry.layer({
        sources: [{
          kind: "legacy",
          runtimeId: RUNTIME_ID,
          displayName: "Legacy",
          workspace: alice.workspace,
          dataDir: f.dataDir,
          workspaceRoot: f.workspaceRoot,
          pods: LegacyPodMetadata.layer.pipe(Layer.provide(NodeServices.layer))
        }]
      }).pipe(Layer.provide(Layer.mergeAll(Policy.layerWorkspace, Audit.layerMemory())))
      yield* Effect.gen(function*() {
        const registry = yield* Registry.RuntimeRegistry
        const [runtime] = yield* registry.listRuntimes(alice)
        assert.deepStrictEqual(
          [runtime?.implementation, runtime?.state, runtime?.counts],
          ["legacy_compatibility", "available", { idle: 1, running: 0, stopped: 1, failed: 0, total: 2 }]
        )
        const { workers } = yield* registry.listWorkers(alice, {})
        assert.deepStrictEqual(workers.map((w) => `${w.displayName}:${w.status}`), ["alpha:idle", "beta:stopped"])
        const ref = { runtimeId: RUNTIME_ID, workerId: workers[0]!.workerId }
        assert.deepStrictEqual(
          yield* Effect.flip(registry.sendInput(alice, ref, { text: "hi" })),
          unsupported("sendInput")
        )
        assert.deepStrictEqual(yield* registry.listRuntimes(mallory), [])
      }).pipe(Effect.provide(registryLayer))
    }))
})
