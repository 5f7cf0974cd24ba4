export * from "./apparmor-facts.js";
export * from "./apparmor-parse.js";
export * from "./apparmor-source.js";
export * from "./bpftrace-source.js";
export * from "./parse.js";
export * from "./raw-events.js";
export * from "./self-test.js";
