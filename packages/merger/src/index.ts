export * from "./bundle/http-api.js";
export * from "./bundle/write-bundle.js";
export * from "./finalize.js";
export * from "./kube/profile-store.js";
export * from "./memory-state.js";
export * from "./redis-state.js";
export * from "./worker.js";
