import {
  type PodContainerKind,
  type PodContainerRef,
  type PodIndex,
  type PodIndexChange,
  type PodIndexWaitOptions,
  parseStatusContainerId,
} from "@secprof/core";
import { waitForContainer } from "./wait-for.js";

/** The parts of a pod the index keeps (what a Kubernetes watch would hand it). */
export interface MemoryPod {
  namespace: string;
  name: string;
  uid: string;
  node?: string;
  annotations?: Readonly<Record<string, string>>;
  containers: readonly {
    name: string;
    /** As in the pod status: `containerd://<id>`, `cri-o://<id>`, or bare; empty while creating. */
    containerId: string;
    kind?: PodContainerKind;
  }[];
}

/**
 * In-memory `PodIndex`: for tests and for local mode, where pods are declared rather than
 * watched. `upsertPod` replaces everything the index knew about that pod uid.
 */
export class MemoryPodIndex implements PodIndex {
  readonly #byId = new Map<string, PodContainerRef>();
  readonly #byPod = new Map<string, Set<string>>();
  readonly #listeners = new Set<(change: PodIndexChange) => void>();
  #synced: boolean;

  constructor(opts: { synced?: boolean } = {}) {
    this.#synced = opts.synced ?? true;
  }

  get synced(): boolean {
    return this.#synced;
  }

  setSynced(v = true): void {
    this.#synced = v;
  }

  get size(): number {
    return this.#byId.size;
  }

  lookup(containerId: string): PodContainerRef | undefined {
    return this.#byId.get(containerId);
  }

  upsertPod(pod: MemoryPod): PodIndexChange {
    const before = this.#byPod.get(pod.uid) ?? new Set<string>();
    const after = new Set<string>();
    const added: string[] = [];
    for (const c of pod.containers) {
      const parsed = parseStatusContainerId(c.containerId);
      if (parsed === undefined) continue;
      const ref: PodContainerRef = {
        containerId: parsed.containerId,
        namespace: pod.namespace,
        pod: pod.name,
        podUid: pod.uid,
        container: c.name,
        kind: c.kind ?? "regular",
      };
      if (parsed.runtime !== "unknown") ref.runtime = parsed.runtime;
      if (pod.node !== undefined) ref.node = pod.node;
      if (pod.annotations !== undefined) ref.annotations = pod.annotations;
      if (!this.#byId.has(ref.containerId)) added.push(ref.containerId);
      this.#byId.set(ref.containerId, ref);
      after.add(ref.containerId);
    }
    const removed = [...before].filter((id) => !after.has(id));
    for (const id of removed) this.#byId.delete(id);
    if (after.size > 0) this.#byPod.set(pod.uid, after);
    else this.#byPod.delete(pod.uid);
    return this.#emit({ added, removed });
  }

  /** Marks a pod deleted but keeps answering for it (the grace period of the port contract). */
  markDeleted(uid: string): void {
    for (const id of this.#byPod.get(uid) ?? []) {
      const ref = this.#byId.get(id);
      if (ref !== undefined) this.#byId.set(id, { ...ref, deleted: true });
    }
  }

  removePod(uid: string): PodIndexChange {
    const ids = [...(this.#byPod.get(uid) ?? [])];
    for (const id of ids) this.#byId.delete(id);
    this.#byPod.delete(uid);
    return this.#emit({ added: [], removed: ids });
  }

  subscribe(listener: (change: PodIndexChange) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  waitFor(containerId: string, opts: PodIndexWaitOptions = {}): Promise<PodContainerRef | undefined> {
    return waitForContainer(this, containerId, opts);
  }

  #emit(change: PodIndexChange): PodIndexChange {
    if (change.added.length === 0 && change.removed.length === 0) return change;
    for (const l of [...this.#listeners]) l(change);
    return change;
  }
}
