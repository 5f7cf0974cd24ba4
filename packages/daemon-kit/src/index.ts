export { loadConfig } from "./config.js";
export { newRegistry, observabilityServer } from "./observability.js";
