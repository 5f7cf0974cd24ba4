export * from "./admission.js";
export * from "./naming.js";
export * from "./selection.js";
