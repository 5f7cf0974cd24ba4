export * from "./manifest.js";
export * from "./ustar.js";
export * from "./verify.js";
