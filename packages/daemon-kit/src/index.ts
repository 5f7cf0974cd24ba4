export { loadConfig } from "./config.js";
export { newRegistry, observabilityServer } from "./observability.js";
export * from "./kube/informer.js";
export * from "./kube/recordings.js";
