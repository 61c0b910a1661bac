/**
 * Scope claims of live Workers and the rules for when two claims conflict — the one definition every
 * `LiveAllocation` adapter shares (the legacy pod-registry semantics, `shared/reference/legacy-pod.md` §8).
 *
 * A recursive rule covers `target/**`; a non-recursive rule covers the target and its direct children.
 * Only write rules conflict. Targets are normalized absolute POSIX paths; `normalizeTarget` rejects anything else.
 * Deliberately not here: delegation, deny rules and segments of the legacy registry (no caller needs them yet).
 */
import { Option, Schema } from "effect"
import { controlCharacters, sameRef, WorkerRef } from "./Ids.ts"
import { ScopeRule } from "./Worker.ts"

/** One live Worker's claim. @category models */
export class Allocation extends Schema.Class<Allocation>("@yoi/domain/Allocation")({
  owner: WorkerRef,
  rules: Schema.Array(ScopeRule)
}) {}

/**
 * Normalizes an absolute POSIX path: collapses repeated and trailing slashes and `.` segments. Rejects relative
 * paths, `..` segments, control characters and over-long paths (returns `None`).
 * @category constructors
 */
export const normalizeTarget = (target: string): Option.Option<string> => {
  if (!target.startsWith("/") || target.length > 4096 || controlCharacters.test(target)) {
    return Option.none()
  }
  const segments: Array<string> = []
  for (const segment of target.split("/")) {
    if (segment === "" || segment === ".") continue
    if (segment === "..") return Option.none()
    segments.push(segment)
  }
  return Option.some(`/${segments.join("/")}`)
}

const isWithin = (child: string, parent: string): boolean =>
  child === parent || parent === "/" || child.startsWith(`${parent}/`)

const parentOf = (path: string): string | undefined => {
  if (path === "/") return undefined
  const i = path.lastIndexOf("/")
  return i <= 0 ? "/" : path.slice(0, i)
}

const isParentOf = (parent: string, child: string): boolean => parentOf(child) === parent

/**
 * Whether the regions two rules cover intersect (regardless of permission).
 * @category constructors
 */
export const rulesOverlap = (a: ScopeRule, b: ScopeRule): boolean => {
  if (a.recursive && b.recursive) return isWithin(a.target, b.target) || isWithin(b.target, a.target)
  if (a.recursive) return isWithin(b.target, a.target) || isParentOf(b.target, a.target)
  if (b.recursive) return isWithin(a.target, b.target) || isParentOf(a.target, b.target)
  return a.target === b.target || isParentOf(a.target, b.target) || isParentOf(b.target, a.target)
}

/** Two rules conflict when both are write rules and they overlap. @category constructors */
export const rulesConflict = (a: ScopeRule, b: ScopeRule): boolean =>
  a.permission === "write" && b.permission === "write" && rulesOverlap(a, b)

/**
 * The conflict for the lowest-indexed requested rule that conflicts with any live claim of another owner; when
 * several owners conflict with that rule, the smallest `WorkerRef` (runtime id, then worker id) — so every adapter
 * reports the same competitor whatever order it stores claims in.
 * @category constructors
 */
export const findConflict = (
  existing: Iterable<Allocation>,
  owner: WorkerRef,
  rules: ReadonlyArray<ScopeRule>
): Option.Option<{ readonly owner: WorkerRef; readonly ruleIndex: number }> => {
  const others = [...existing].filter((allocation) => !sameRef(allocation.owner, owner))
  for (let ruleIndex = 0; ruleIndex < rules.length; ruleIndex++) {
    const rule = rules[ruleIndex]!
    let found: WorkerRef | undefined
    for (const allocation of others) {
      if (allocation.rules.some((other) => rulesConflict(rule, other))) {
        if (found === undefined || compareRefs(allocation.owner, found) < 0) found = allocation.owner
      }
    }
    if (found !== undefined) return Option.some({ owner: found, ruleIndex })
  }
  return Option.none()
}

const compareRefs = (a: WorkerRef, b: WorkerRef): number =>
  a.runtimeId === b.runtimeId
    ? (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0)
    : (a.runtimeId < b.runtimeId ? -1 : 1)
