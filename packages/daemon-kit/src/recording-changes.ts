import type { ProfileRecording } from "@secprof/core";
import type { ProfileRecordingChange } from "./kube/recordings.js";

/** Recordings keyed `namespace/name`, as both recording sources keep them: sorted by key, filtered. */
export function sortedRecordings(
  byKey: ReadonlyMap<string, ProfileRecording>,
  namespace?: string,
): ProfileRecording[] {
  return [...byKey.entries()]
    .filter(([, r]) => namespace === undefined || r.metadata.namespace === namespace)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, r]) => r);
}

/** `subscribe` listeners of a recording source; one that throws is reported and does not stop the others. */
export class RecordingListeners {
  readonly #listeners = new Set<(c: ProfileRecordingChange) => void>();

  constructor(private readonly onError: (err: unknown) => void) {}

  add(listener: (c: ProfileRecordingChange) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  notify(change: ProfileRecordingChange): void {
    for (const l of [...this.#listeners])
      try {
        l(change);
      } catch (err) {
        this.onError(err);
      }
  }
}
