export * from "./naming.js";
export * from "./selection.js";
