/**
 * Port: container id → pod, as attribution needs it. Types only.
 *
 * Implemented in production by a watch on the pods of this node (`spec.nodeName=<node>` field
 * selector, @kubernetes/client-node informer) and in tests by the recorder's in-memory index.
 * Every init, regular and ephemeral container status with a `containerID` becomes one entry;
 * the id is stored bare (64 lowercase hex), without the `containerd://` / `cri-o://` / `docker://`
 * scheme.
 */

export type PodContainerKind = "init" | "regular" | "ephemeral";

export interface PodContainerRef {
  /** Bare container id (64 lowercase hex). */
  containerId: string;
  /** Scheme of the status `containerID` (`containerd`, `cri-o`, `docker`), when it had one. */
  runtime?: string;
  namespace: string;
  pod: string;
  podUid: string;
  /** Container name in the pod spec. */
  container: string;
  kind: PodContainerKind;
  node?: string;
  /** Pod annotations; the recorder derives the profile key from them (SPO: `io.containers.trace-*`). */
  annotations?: Readonly<Record<string, string>>;
  /**
   * The pod has been deleted. Implementations keep such entries for a grace period so events
   * read late from the audit log (after the pod is gone) still attribute.
   */
  deleted?: boolean;
}

export interface PodIndexChange {
  /** Container ids that `lookup` now answers and did not before (new pods, statuses gaining ids). */
  added: readonly string[];
  /** Container ids that `lookup` no longer answers (grace period over). */
  removed: readonly string[];
}

export interface PodIndexWaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PodIndex {
  /** Synchronous, from the local cache: attribution calls it once per event. */
  lookup(containerId: string): PodContainerRef | undefined;
  /**
   * Called after the index changed, with the ids that changed; returns an unsubscribe function.
   * Attribution uses it to retry the events it holds for containers whose pod was unknown.
   * Listeners are called synchronously and must not throw.
   */
  subscribe(listener: (change: PodIndexChange) => void): () => void;
  /** Resolves once `containerId` is known, or with undefined on timeout/abort. */
  waitFor(containerId: string, opts?: PodIndexWaitOptions): Promise<PodContainerRef | undefined>;
  /** True once the initial list has been loaded; before that "unknown" only means "not loaded yet". */
  readonly synced: boolean;
}
