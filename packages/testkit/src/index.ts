export { type RuncOptions, type RuncResult, runcBundle, runcRun } from "@secprof/recorder";
export * from "./fixtures.js";
export * from "./requirements.js";
export * from "./strace.js";
export * from "./tailer-contract.js";
export * from "./tls.js";
export * from "./workloads.js";
