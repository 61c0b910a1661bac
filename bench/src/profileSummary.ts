/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): the functions with the most self time, and the share of
 * idle and garbage-collection time. `node bench/src/profileSummary.ts <file.cpuprofile> [top] [inclusive-match]`.
 */
import { readFileSync } from "node:fs"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
  }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const keyOf = (node: ProfileNode): string => {
  const frame = node.callFrame
  const file = frame.url.replace(/^.*\/node_modules\//, "").replace(/^file:\/\/.*?\/(packages|bench)\//, "$1/")
  return `${frame.functionName || "(anonymous)"}${file === "" ? "" : ` ${file}:${frame.lineNumber + 1}`}`
}

/**
 * Top functions by self time, and (when `match` is given) by inclusive time among the frames whose key matches
 * it — e.g. `packages/` for this repository's own functions.
 */
export const summarizeProfile = (file: string, top = 25, match?: RegExp): string => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const self = new Map<string, number>()
  const byFile = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)
    const delta = profile.timeDeltas[i] ?? 0
    total += delta
    if (node === undefined) continue
    const key = keyOf(node)
    self.set(key, (self.get(key) ?? 0) + delta)
    const file = key.includes(" ") ? key.slice(key.lastIndexOf(" ") + 1).replace(/:\d+$/, "") : key
    byFile.set(file, (byFile.get(file) ?? 0) + delta)
    if (match === undefined) continue
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const k = keyOf(byId.get(id)!)
      if (!seen.has(k) && match.test(k)) {
        seen.add(k)
        inclusive.set(k, (inclusive.get(k) ?? 0) + delta)
      }
    }
  }
  const format = (entries: Map<string, number>) =>
    [...entries.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([key, us]) =>
      `${(us / 1000).toFixed(1).padStart(9)} ms ${(100 * us / total).toFixed(1).padStart(5)}%  ${key}`
    )
  return [
    `total ${(total / 1000).toFixed(0)} ms sampled; self time:`,
    ...format(self),
    "self time by file:",
    ...format(byFile),
    ...(match === undefined ? [] : [`inclusive time of frames matching ${match}:`, ...format(inclusive)])
  ].join("\n")
}

if (import.meta.main) {
  const [file, top, match] = process.argv.slice(2)
  console.log(summarizeProfile(file!, Number(top ?? 25), match === undefined ? undefined : new RegExp(match)))
}
