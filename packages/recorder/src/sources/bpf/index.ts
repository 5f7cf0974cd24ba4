export * from "./bpftrace-source.js";
export * from "./parse.js";
export * from "./raw-events.js";
export * from "./self-test.js";
