import { MemoryProfileState } from "./memory-state.js";
import { profileStateContract } from "./profile-state.contract.js";

profileStateContract("memory", async () => ({ state: new MemoryProfileState() }), { numRuns: 200 });
