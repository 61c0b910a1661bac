/**
 * The file primitives `FileSystemWorkerStore` and its open-time recovery share, over Effect's `FileSystem` and
 * `Path`: directory fsync, atomic replacement, optional reads, sizes, exact positional slices, temp-file cleanup.
 *
 * Records are replaced atomically: a uniquely named temp file in the same directory (`<name>.<token>-<n>.tmp`, the
 * names `FileSystemStoreFormat.temporaryName` matches), write, fsync, rename; the caller fsyncs the directory.
 * A directory fsync the platform refuses (some filesystems and operating systems cannot open or sync one) is
 * skipped rather than failing every commit.
 *
 * Deliberately not here: what the files mean (`FileSystemStoreFormat`) and error messages — primitives fail with
 * the platform's `PlatformError`, which callers map to fixed, path-free `StoreFailure`s (`platformFailure`).
 */
import { Errors } from "@yoi/domain"
import { Effect, type FileSystem, Option, type Path, type PlatformError, Predicate } from "effect"
import { temporaryName } from "../FileSystemStoreFormat.ts"
import * as AtomicFile from "./atomicFile.ts"

export const failure = (operation: string, message: string) => new Errors.StoreFailure({ operation, message })

/** A `StoreFailure` for a platform error: a fixed message plus the error's kind, never its path. */
export const platformFailure = (operation: string, message: string) => (error: PlatformError.PlatformError) =>
  failure(operation, `${message} (${error.reason._tag})`)

export const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  let length = 0
  for (const chunk of chunks) length += chunk.length
  const out = new Uint8Array(length)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

/** The platform cannot open or fsync a directory. */
const refusesDirectorySync = (error: PlatformError.PlatformError): boolean => {
  const reason = error.reason
  if (reason._tag === "BadResource" || reason._tag === "PermissionDenied") return true
  const code = Predicate.hasProperty(reason.cause, "code") ? reason.cause.code : undefined
  return code === "EINVAL" || code === "ENOTSUP" || code === "EOPNOTSUPP"
}

const encoder = new TextEncoder()

/** The primitives over `fs`; `token` makes this store's temp file names unique. */
export const make = (fs: FileSystem.FileSystem, path: Path.Path, token: string) => {
  let temporaries = 0

  const syncDirectory = (directory: string) =>
    Effect.scoped(Effect.flatMap(fs.open(directory, { flag: "r" }), (handle) => handle.sync)).pipe(
      Effect.catchTag("PlatformError", (error) => refusesDirectorySync(error) ? Effect.void : Effect.fail(error))
    )

  /** Replaces `directory/name` with `text`: temp file, write, fsync, rename. The caller fsyncs the directory. */
  const replaceFile = (directory: string, name: string, text: string) =>
    Effect.suspend(() => {
      const target = path.join(directory, name)
      const temporary = path.join(directory, `${name}.${token}-${(temporaries++).toString(36)}.tmp`)
      return AtomicFile.replaceFile(fs, target, temporary, encoder.encode(text))
    })

  /** The file's text, or none if it does not exist (or, with `notDirectoryIsAbsent`, its directory is a file). */
  const readOptional = (file: string, notDirectoryIsAbsent = false) =>
    fs.readFileString(file).pipe(
      Effect.map(Option.some),
      Effect.catchTag("PlatformError", (error) =>
        error.reason._tag === "NotFound" || (notDirectoryIsAbsent && error.reason._tag === "BadResource")
          ? Effect.succeedNone
          : Effect.fail(error))
    )

  const sizeOf = (file: string) =>
    fs.stat(file).pipe(
      Effect.map((info) => Number(info.size)),
      Effect.catchTag("PlatformError", (error) =>
        error.reason._tag === "NotFound" ? Effect.succeed(0) : Effect.fail(error))
    )

  /**
   * Removes a crash's leftover temp files; answers the names listed, `"absent"` when `directory` is no directory
   * (gone, or a stray file), or `undefined` if the listing failed otherwise.
   */
  const removeTemporaries = (directory: string): Effect.Effect<ReadonlySet<string> | "absent" | undefined> =>
    fs.readDirectory(directory).pipe(
      Effect.tap((names) =>
        Effect.forEach(
          names.filter((name) => temporaryName.test(name)),
          (name) => Effect.ignore(fs.remove(path.join(directory, name))),
          { discard: true }
        )
      ),
      Effect.map((names): ReadonlySet<string> | "absent" | undefined => new Set(names)),
      Effect.catchTag("PlatformError", (error) =>
        Effect.succeed(
          // NotFound: removed since the listing; BadResource: ENOTDIR, a stray file where a Worker would be.
          error.reason._tag === "NotFound" || error.reason._tag === "BadResource" ? "absent" as const : undefined
        ))
    )

  /** Exactly the bytes `[from, to)` of `file`, by positional reads; fails if the file ends before `to`. */
  const readSlice = (operation: string, label: string, file: string, from: number, to: number) =>
    Effect.scoped(Effect.gen(function*() {
      const out = new Uint8Array(to - from)
      if (out.length === 0) return out
      const handle = yield* fs.open(file, { flag: "r" })
      let filled = 0
      while (filled < out.length) {
        const chunk = yield* handle.readAlloc(out.length - filled, { position: BigInt(from + filled) })
        if (Option.isNone(chunk)) {
          return yield* failure(operation, `the ${label} is shorter than its committed length`)
        }
        out.set(chunk.value, filled)
        filled += chunk.value.length
      }
      return out
    })).pipe(
      Effect.catchTag(
        "PlatformError",
        (error) => Effect.fail(platformFailure(operation, `could not read the ${label}`)(error))
      )
    )

  return { fs, path, syncDirectory, replaceFile, readOptional, sizeOf, removeTemporaries, readSlice }
}

/** @category models */
export type StoreFiles = ReturnType<typeof make>
