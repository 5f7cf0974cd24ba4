export * from "./attribution/index.js";
export * from "./audit/index.js";
export * from "./checkpoint.js";
export * from "./ports/index.js";
export * from "./profiles/index.js";
export * from "./recording/index.js";
export * from "./schemas/index.js";
export * from "./syscalls/index.js";
