export { loadConfig } from "./config.js";
export * from "./host/metrics.js";
export * from "./host/mode.js";
export * from "./host/recording-view.js";
export * from "./host/recordings-dir.js";
export * from "./kube/informer.js";
export * from "./kube/recordings.js";
export { KubeRest } from "./kube/rest.js";
export { newRegistry, observabilityServer } from "./observability.js";
