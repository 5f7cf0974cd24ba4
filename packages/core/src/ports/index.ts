export * from "./observation-queue.js";
export * from "./profile-state.js";
export * from "./profile-store.js";
