/**
 * Runs one case in this process and prints its result as one marked JSON line on stdout, for the harness
 * (`main.ts`) that spawns it: `node bench/src/runCase.ts <id>[-<part>] [--quick]`.
 */
import { cases, entryName, resultMarker } from "./Cases.ts"

const [name, ...flags] = process.argv.slice(2)
const entry = cases.find((candidate) => entryName(candidate) === name)
if (entry === undefined) {
  console.error(`unknown case ${name ?? "(none)"}; known: ${cases.map(entryName).join(", ")}`)
  process.exit(2)
}
const result = await entry.run({ quick: flags.includes("--quick") })
process.stdout.write(`\n${resultMarker}${JSON.stringify(result)}\n`)
// Some cases leave keep-alive sockets or timers behind; the result is out, so end here.
process.exit(0)
