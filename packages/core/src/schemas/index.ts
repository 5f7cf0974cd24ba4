export * from "./events.js";
export * from "./kube.js";
export * from "./names.js";
export * from "./observation.js";
export * from "./profiles.js";
export * from "./recording.js";
export * from "./target.js";
