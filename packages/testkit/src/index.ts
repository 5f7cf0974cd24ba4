export * from "./requirements.js";
