import * as MemoryEventBus from "../src/MemoryEventBus.ts"
import { eventBusContract } from "./contract/EventBusContract.ts"

eventBusContract("memory", MemoryEventBus.layer({ replay: 8 }), { replay: 8 })
