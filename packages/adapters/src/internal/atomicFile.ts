/**
 * Atomic file replacement shared by the filesystem adapters: write a uniquely named temp file in the target's
 * directory (same filesystem), fsync it, rename it over the target. A reader sees the old or the new file, never
 * half of one. The temp file is removed when anything fails. Fsyncing the directory is the caller's choice.
 */
import { Effect, type FileSystem } from "effect"

export const replaceFile = (
  fs: FileSystem.FileSystem,
  target: string,
  temporary: string,
  data: Uint8Array,
  options?: { readonly mode?: number | undefined }
) =>
  Effect.scoped(Effect.gen(function*() {
    const handle = yield* fs.open(temporary, {
      flag: "wx",
      ...(options?.mode !== undefined ? { mode: options.mode } : {})
    })
    yield* handle.writeAll(data)
    yield* handle.sync
  })).pipe(
    Effect.andThen(fs.rename(temporary, target)),
    Effect.onError(() => Effect.ignore(fs.remove(temporary, { force: true })))
  )
