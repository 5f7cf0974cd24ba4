export * from "./canonical.js";
export * from "./seccomp.js";
export * from "./syscall-set.js";
