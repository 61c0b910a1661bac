import * as MemoryLiveAllocation from "../src/MemoryLiveAllocation.ts"
import { liveAllocationContract } from "./contract/LiveAllocationContract.ts"

liveAllocationContract("memory", MemoryLiveAllocation.layer)
