import * as MemoryWorkerStore from "../src/MemoryWorkerStore.ts"
import { workerStoreContract } from "./contract/WorkerStoreContract.ts"

workerStoreContract("memory", MemoryWorkerStore.layer)
