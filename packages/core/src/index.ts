export * from "./audit/index.js";
export * from "./checkpoint.js";
export * from "./profiles/index.js";
export * from "./schemas/index.js";
export * from "./syscalls/index.js";
export * from "./ports/index.js";
export * from "./recording/index.js";
