export * from "./diff.js";
export * from "./digest.js";
export * from "./schema.js";
export * from "./verdict.js";
