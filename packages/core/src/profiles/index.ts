export * from "./canonical.js";
export * from "./diff.js";
export * from "./merge-seccomp.js";
export * from "./seccomp.js";
export * from "./syscall-set.js";
