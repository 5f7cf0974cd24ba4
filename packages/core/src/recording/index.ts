export * from "./naming.js";
