export * from "./observation-queue.js";
export type * from "./pod-index.js";
export * from "./profile-state.js";
export * from "./profile-store.js";
