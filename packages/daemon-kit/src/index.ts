export { loadConfig } from "./config.js";
export * from "./kube/informer.js";
export * from "./kube/recordings.js";
export { newRegistry, observabilityServer } from "./observability.js";
