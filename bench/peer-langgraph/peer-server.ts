/**
 * Starts the langgraph.js in-memory API server (`@langchain/langgraph-api`) programmatically, serving the echo graph
 * as assistant `echo`. Usage: `node peer-server.ts <host> <port> <cwd>`; prints `listening on http://HOST:PORT` once
 * it accepts connections. Run it as a child process so its dependencies stay in this folder's node_modules. The
 * environment should carry LANGGRAPH_CLI_NO_ANALYTICS=1, DO_NOT_TRACK=1 and LANGSMITH_TRACING=false (case.ts and
 * driver.ts set them).
 */
import { startServer } from "@langchain/langgraph-api/server"
import { fileURLToPath } from "node:url"

const [host = "127.0.0.1", port = "0", cwd = process.cwd()] = process.argv.slice(2)
const graphFile = fileURLToPath(new URL("./echo-graph.ts", import.meta.url))

const { host: address } = await startServer({
  host,
  port: Number(port),
  cwd,
  // The CLI's default (`langgraph dev --n-jobs-per-worker 10`).
  nWorkers: 10,
  graphs: { echo: `${graphFile}:graph` }
})
console.log(`listening on http://${address}`)
