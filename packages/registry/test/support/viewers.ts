/**
 * The browser users of the registry tests: `alice` in workspace `ws-a`, where the sources under test are, and
 * `mallory` in `ws-b`, who must see none of them.
 *
 * Deliberately not here: the header form a browser sends (each HTTP test builds its own) and the fake registry's
 * workspaces of the browser API tests.
 */
import type * as Policy from "../../src/Policy.ts"

export const alice: Policy.Viewer = { id: "alice", workspace: "ws-a" }
export const mallory: Policy.Viewer = { id: "mallory", workspace: "ws-b" }
