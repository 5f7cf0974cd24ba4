export * from "./kube/pod-index.js";
export { BpfRecorder } from "./local/bpf-recorder.js";
export { type ActiveLsms, activeLsms } from "./local/kernel-lsm.js";
export * from "./local/local-recorder.js";
export { LogsRecorder } from "./local/logs-recorder.js";
export { resolveCommand } from "./local/resolve-command.js";
export { type RunResult, runLocal } from "./local/run-local.js";
export * from "./queue/bullmq-queue.js";
export * from "./queue/delta-batcher.js";
export { type RuntimeCalibration, runcCalibration } from "./runtime/calibrate-runc.js";
export {
  containerOptions,
  RUNC_INIT_COMM,
  recordingProfile,
  runcRecording,
} from "./runtime/record-in-runc.js";
export * from "./runtime/runc.js";
export {
  AppArmorBpfSource,
  type AppArmorBpfSourceOptions,
  type AppArmorSourceStats,
} from "./sources/bpf/apparmor-source.js";
