export * from "./cgroup-path.js";
export * from "./proc-text.js";
