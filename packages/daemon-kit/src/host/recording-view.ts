import type { ProfileRecording } from "@secprof/core";
import type { ProfileRecordingChange } from "../kube/recordings.js";

/**
 * What the daemons read ProfileRecordings through, whichever the source: the Kubernetes API
 * (`RecordingWatcher`) or, in host mode, a directory of manifests (`DirRecordingWatcher`).
 */
export interface RecordingView {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly synced: boolean;
  /** Valid recordings, sorted by namespace/name. */
  list(namespace?: string): ProfileRecording[];
  get(namespace: string, name: string): ProfileRecording | undefined;
  /** Valid recordings added/changed/removed (one turning invalid is a delete). */
  subscribe(listener: (c: ProfileRecordingChange) => void): () => void;
}
