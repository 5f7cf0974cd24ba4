import {
  DirRecordingWatcher,
  HostModeConfig,
  loadConfig,
  registerRecordingsDirMetrics,
} from "@secprof/daemon-kit";
import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import { RecorderHostConfig } from "./config.js";
import { RuncPodIndex } from "./runc-pod-index.js";

/**
 * The recorder's host-mode adapters (no Kubernetes API): recordings from SECPROF_RECORDINGS_DIR,
 * "pods" from the runc state roots SECPROF_RUNC_ROOTS (README, "Host mode").
 */
export function recorderHostAdapters(
  env: NodeJS.ProcessEnv,
  o: { nodeName: string; procRoot: string; log: Logger },
): { podIndex: RuncPodIndex; recordings: DirRecordingWatcher } {
  const hostCfg = loadConfig(HostModeConfig, env);
  const runcCfg = loadConfig(RecorderHostConfig, env);
  const { log } = o;
  const podIndex = new RuncPodIndex({
    roots: runcCfg.SECPROF_RUNC_ROOTS,
    nodeName: o.nodeName,
    procRoot: o.procRoot,
    pollMs: runcCfg.SECPROF_RUNC_POLL_MS,
    onError: (err, source) => log.warn({ err, source }, "runc state"),
    onInvalid: (file, error) => log.warn({ file, error }, "invalid runc state file"),
  });
  const recordings = new DirRecordingWatcher({
    dir: hostCfg.SECPROF_RECORDINGS_DIR,
    rescanMs: hostCfg.SECPROF_RECORDINGS_RESCAN_MS,
    onInvalid: (i) => log.warn(i, "invalid ProfileRecording manifest"),
    onError: (err, during) => log.warn({ err, during }, "recordings directory"),
  });
  log.info(
    { recordings: hostCfg.SECPROF_RECORDINGS_DIR, runcRoots: runcCfg.SECPROF_RUNC_ROOTS },
    "host mode: no Kubernetes API",
  );
  return { podIndex, recordings };
}

/** Host-mode gauges: the recordings directory and `secprof_recorder_runc{what}` (index counters). */
export function registerRecorderHostMetrics(
  registry: Registry,
  a: { podIndex: RuncPodIndex; recordings: DirRecordingWatcher },
): void {
  registerRecordingsDirMetrics(registry, a.recordings);
  new Gauge({
    name: "secprof_recorder_runc",
    help: "host mode runc pod index: pods, ended pods, containers, unattributable containers, invalid state files, missing roots, scans",
    labelNames: ["what"],
    registers: [registry],
    collect() {
      for (const [what, n] of Object.entries(a.podIndex.stats)) this.set({ what }, n);
    },
  });
}
