import { Gauge, type Registry } from "prom-client";
import type { DirRecordingWatcher } from "./recordings-dir.js";

/** `secprof_host_recordings{what}`: valid and invalid manifests, scans and failed scans. */
export function registerRecordingsDirMetrics(registry: Registry, watcher: DirRecordingWatcher): void {
  new Gauge({
    name: "secprof_host_recordings",
    help: "host mode recordings directory: valid and invalid recordings, scans, failed scans",
    labelNames: ["what"],
    registers: [registry],
    collect() {
      for (const [what, n] of Object.entries(watcher.stats)) this.set({ what }, n);
    },
  });
}
