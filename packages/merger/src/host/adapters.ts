import { DirRecordingWatcher, HostModeConfig, loadConfig } from "@secprof/daemon-kit";
import type { Logger } from "pino";
import { z } from "zod";
import { FileProfileStore } from "./file-profile-store.js";

/** The merger's host-mode settings (README, "Host mode"). */
export const MergerHostConfig = z.object({
  /** Where profile objects are written (CR YAML), read by the installer and `secprof install`. */
  SECPROF_PROFILES_DIR: z.string().min(1, "set SECPROF_PROFILES_DIR (host mode writes profiles there)"),
});

/**
 * The merger's host-mode adapters (no Kubernetes API): recordings from SECPROF_RECORDINGS_DIR,
 * profiles written to SECPROF_PROFILES_DIR. Pod ends need nothing here: they arrive as the
 * recorder's `ended` observations, as in the cluster.
 */
export function mergerHostAdapters(
  env: NodeJS.ProcessEnv,
  log: Logger,
): { store: FileProfileStore; recordings: DirRecordingWatcher } {
  const hostCfg = loadConfig(HostModeConfig, env);
  const { SECPROF_PROFILES_DIR: dir } = loadConfig(MergerHostConfig, env);
  const store = new FileProfileStore({
    dir,
    onInvalid: (file, error) => log.warn({ file, error }, "invalid profile file"),
  });
  const recordings = new DirRecordingWatcher({
    dir: hostCfg.SECPROF_RECORDINGS_DIR,
    rescanMs: hostCfg.SECPROF_RECORDINGS_RESCAN_MS,
    onInvalid: (i) => log.warn(i, "invalid ProfileRecording manifest"),
    onError: (err, during) => log.warn({ err, during }, "recordings directory"),
  });
  log.info({ recordings: hostCfg.SECPROF_RECORDINGS_DIR, profiles: dir }, "host mode: no Kubernetes API");
  return { store, recordings };
}
