import { type FSWatcher, watch } from "node:fs";
import {
  ENABLE_RECORDING_LABEL,
  type PodFacts,
  type PodIndexChange,
  type PodIndexWaitOptions,
} from "@secprof/core";
import { waitForContainer } from "../attribution/wait-for.js";
import type { KubeContainerRef, KubePodInfo, PodEnd } from "../kube/pod-index.js";
import type { RecorderPodIndex } from "./recorder-pod-index.js";
import { initAlive, type RuncContainer, type RuncScan, scanRuncRoots } from "./runc-state.js";

/**
 * Host mode's pod index: the containers under OCI runtime state roots (runc-state.ts) stand in
 * for the pods of a node, so the recorder attributes and selects without a Kubernetes API.
 *
 * Mapping (README, "Host mode"), from each container's OCI annotations:
 * - namespace `io.kubernetes.pod.namespace`, else `default`;
 * - pod name `io.kubernetes.pod.name`, else the runc container id; pod uid
 *   `io.kubernetes.pod.uid`, else the runc container id (containers sharing a uid are one pod);
 * - container name `io.kubernetes.container.name`, else the runc container id;
 * - labels: every annotation as it is, then `secprof.io/label.<key>=<value>` as `<key>=<value>`
 *   (overriding), so `podSelector.matchLabels` can name either;
 * - every namespace counts as opted in to recording (`spo.x-k8s.io/enable-recording`): putting a
 *   manifest into the recordings directory is the opt-in.
 * A container is looked up by the id its cgroup path names (what attribution reads from
 * `/proc/<pid>/cgroup`); one whose cgroup names no 64-hex id is counted (`unattributable`) and
 * not indexed. A pod ends once all its containers ended: state directory gone (`Deleted`), or
 * init process exited while the state remains (`Succeeded`: runc does not record the exit code).
 * Ended entries keep answering, flagged `deleted`, for `deletedGraceMs` (late audit records).
 *
 * The roots are rescanned every `pollMs`, on `fs.watch` events of the roots (a new container
 * directory) and of container directories that have no state.json yet, and on a `lookup` miss
 * (rate-limited): runc writes state.json before the container's process runs (create, then
 * start), so the container is there when its first audit record is read. What still comes too
 * early waits in attribution's bounded backlog and is replayed when `subscribe` reports the id.
 */

export interface RuncPodIndexOptions {
  /** runc `--root` directories. */
  roots: readonly string[];
  nodeName: string;
  /** Where init processes are checked (`<procRoot>/<pid>/stat`). Default /proc. */
  procRoot?: string;
  /** Default 1 s. */
  pollMs?: number;
  /** Default 10 min. */
  deletedGraceMs?: number;
  /** Least time between two scans that misses of the same id start. Default 1 s. */
  lookupScanGapMs?: number;
  onError?: (err: unknown, source: "scan" | "listener") => void;
  /** A state.json that does not parse (reported once per file and reason). */
  onInvalid?: (file: string, error: string) => void;
}

export interface RuncPodIndexStats {
  pods: number;
  endedPods: number;
  containers: number;
  unattributable: number;
  invalidStates: number;
  missingRoots: number;
  scans: number;
  scanFailures: number;
}

interface Entry {
  container: RuncContainer;
  cgroupId: string;
  name: string;
  ended: boolean;
}

interface PodRecord {
  info: KubePodInfo;
  /** `<root>/<runc id>` → container. */
  containers: Map<string, Entry>;
  ended: boolean;
  expiry?: NodeJS.Timeout;
}

const ANNOTATION = {
  namespace: "io.kubernetes.pod.namespace",
  pod: "io.kubernetes.pod.name",
  uid: "io.kubernetes.pod.uid",
  container: "io.kubernetes.container.name",
} as const;
export const LABEL_ANNOTATION_PREFIX = "secprof.io/label.";

/** The pod labels a container's annotations give (see the header). */
export function labelsOf(annotations: Readonly<Record<string, string>>): Record<string, string> {
  const labels: Record<string, string> = { ...annotations };
  for (const [k, v] of Object.entries(annotations))
    if (k.startsWith(LABEL_ANNOTATION_PREFIX) && k.length > LABEL_ANNOTATION_PREFIX.length)
      labels[k.slice(LABEL_ANNOTATION_PREFIX.length)] = v;
  return labels;
}

const keyOf = (c: RuncContainer) => `${c.root}/${c.id}`;
const MISSES_REMEMBERED = 4096;

export class RuncPodIndex implements RecorderPodIndex {
  readonly #opts: RuncPodIndexOptions;
  readonly #byUid = new Map<string, PodRecord>();
  readonly #byName = new Map<string, string>();
  readonly #byId = new Map<string, { uid: string; ref: KubeContainerRef }>();
  readonly #listeners = new Set<(change: PodIndexChange) => void>();
  readonly #endListeners = new Set<(pod: KubePodInfo, end: PodEnd) => void>();
  /** Watched roots and container directories still waiting for their state.json. */
  readonly #watchers = new Map<string, FSWatcher>();
  readonly #invalidReported = new Set<string>();
  readonly #unattributable = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #synced = false;
  #started = false;
  /** Ids a lookup missed → when (insertion order = age, bounded). */
  readonly #missed = new Map<string, number>();
  #invalidStates = 0;
  #missingRoots = 0;
  #scans = 0;
  #scanFailures = 0;

  constructor(opts: RuncPodIndexOptions) {
    this.#opts = opts;
  }

  /** First scan, then watch the roots and poll. A missing root is not an error (no runtime used it yet). */
  async start(): Promise<void> {
    this.#started = true;
    this.rescan();
    this.#synced = true;
    this.#timer = setInterval(() => this.rescan(), this.#opts.pollMs ?? 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#started = false;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const rec of this.#byUid.values()) if (rec.expiry !== undefined) clearTimeout(rec.expiry);
  }

  get synced(): boolean {
    return this.#synced;
  }

  get stats(): RuncPodIndexStats {
    let ended = 0;
    for (const r of this.#byUid.values()) if (r.ended) ended += 1;
    return {
      pods: this.#byUid.size - ended,
      endedPods: ended,
      containers: this.#byId.size,
      unattributable: this.#unattributable.size,
      invalidStates: this.#invalidStates,
      missingRoots: this.#missingRoots,
      scans: this.#scans,
      scanFailures: this.#scanFailures,
    };
  }

  /**
   * On a miss, scans the roots at once: runc writes a container's state.json before its process
   * runs, so the container that just made the event is usually there, and its events need not
   * wait in attribution's bounded backlog (a process start is a burst of records read in one go).
   * The same id misses again only after `lookupScanGapMs` (containers of runtimes whose root is
   * not configured miss forever), so scans are bounded by the distinct unknown ids per interval.
   * Listeners hear about what the scan found in a microtask, not inside the caller's lookup.
   */
  lookup(containerId: string): KubeContainerRef | undefined {
    const hit = this.#byId.get(containerId);
    if (hit !== undefined || !this.#started) return hit?.ref;
    const now = Date.now();
    const last = this.#missed.get(containerId);
    if (last !== undefined && now - last < (this.#opts.lookupScanGapMs ?? 1000)) return undefined;
    this.#missed.delete(containerId);
    this.#missed.set(containerId, now);
    if (this.#missed.size > MISSES_REMEMBERED) this.#missed.delete(this.#missed.keys().next().value ?? "");
    this.#scanNow(true);
    return this.#byId.get(containerId)?.ref;
  }

  pod(namespace: string, name: string): KubePodInfo | undefined {
    const uid = this.#byName.get(`${namespace}/${name}`);
    return uid === undefined ? undefined : this.#byUid.get(uid)?.info;
  }

  podFacts(namespace: string, name: string): PodFacts | undefined {
    const pod = this.pod(namespace, name);
    if (pod === undefined) return undefined;
    return {
      namespaceLabels: { [ENABLE_RECORDING_LABEL]: "true" },
      labels: pod.labels,
      containers: pod.containers.map((c) => c.name),
    };
  }

  subscribe(listener: (change: PodIndexChange) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  onPodEnded(listener: (pod: KubePodInfo, end: PodEnd) => void): () => void {
    this.#endListeners.add(listener);
    return () => {
      this.#endListeners.delete(listener);
    };
  }

  waitFor(containerId: string, opts: PodIndexWaitOptions = {}): Promise<KubeContainerRef | undefined> {
    return waitForContainer(this, containerId, opts);
  }

  /** Scans the roots now. */
  rescan(): void {
    this.#scanNow(false);
  }

  /** One scan; its notifications run now, or (from a lookup) in a microtask. */
  #scanNow(deferred: boolean): void {
    const notes: (() => void)[] = [];
    try {
      this.#scan(notes);
    } catch (err) {
      this.#scanFailures += 1;
      this.#opts.onError?.(err, "scan");
    }
    const run = () => {
      for (const n of notes) n();
    };
    if (deferred) queueMicrotask(run);
    else run();
  }

  #scan(notes: (() => void)[]): void {
    this.#scans += 1;
    const scan = scanRuncRoots(this.#opts.roots);
    this.#watch(scan);
    this.#missingRoots = scan.missingRoots.length;
    this.#invalidStates = scan.invalid.length;
    for (const i of scan.invalid) {
      const id = `${i.file}|${i.error}`;
      if (this.#invalidReported.has(id)) continue;
      this.#invalidReported.add(id);
      notes.push(() => this.#opts.onInvalid?.(i.file, i.error));
    }
    const procRoot = this.#opts.procRoot ?? "/proc";
    const live = new Map<string, RuncContainer>();
    for (const c of scan.containers) if (initAlive(procRoot, c)) live.set(keyOf(c), c);
    const present = new Set(scan.containers.map(keyOf));
    const added: string[] = [];
    // Ends first: a pod name reused by a new container must not be taken for the old one.
    for (const rec of this.#byUid.values()) {
      if (rec.ended) continue;
      for (const [k, e] of rec.containers)
        if (!e.ended && live.get(k)?.pidStart !== e.container.pidStart) e.ended = true;
      if ([...rec.containers.values()].every((e) => e.ended))
        this.#end(
          rec,
          [...rec.containers.keys()].some((k) => present.has(k)) ? "Succeeded" : "Deleted",
          notes,
        );
    }
    for (const [k, c] of live) {
      if (c.cgroupId === undefined) {
        this.#unattributable.add(k);
        continue;
      }
      if (this.#known(k, c)) continue;
      this.#add(k, c, c.cgroupId, notes);
      added.push(c.cgroupId);
    }
    for (const k of this.#unattributable) if (!live.has(k)) this.#unattributable.delete(k);
    notes.push(() => this.#emit({ added, removed: [] }));
  }

  /** Watches the existing roots and the container directories without state; drops stale watches. */
  #watch(scan: RuncScan): void {
    if (!this.#started) return;
    const want = new Set([
      ...this.#opts.roots.filter((r) => !scan.missingRoots.includes(r)),
      ...scan.pending,
    ]);
    for (const [p, w] of this.#watchers)
      if (!want.has(p)) {
        w.close();
        this.#watchers.delete(p);
      }
    for (const p of want) {
      if (this.#watchers.has(p)) continue;
      try {
        const w = watch(p, () => this.rescan());
        w.on("error", () => {
          // The directory went away (container removed): the next scan drops the watch.
          w.close();
          this.#watchers.delete(p);
        });
        this.#watchers.set(p, w);
      } catch {
        // Gone already: polling covers it.
      }
    }
  }

  #known(k: string, c: RuncContainer): boolean {
    const cur = c.cgroupId === undefined ? undefined : this.#byId.get(c.cgroupId);
    if (cur === undefined) return false;
    const e = this.#byUid.get(cur.uid)?.containers.get(k);
    return e !== undefined && !e.ended && e.container.pidStart === c.pidStart;
  }

  #add(k: string, c: RuncContainer, cgroupId: string, notes: (() => void)[]): void {
    const a = c.annotations;
    const namespace = a[ANNOTATION.namespace] || "default";
    const name = a[ANNOTATION.pod] || c.id;
    const uid = a[ANNOTATION.uid] || c.id;
    const container = a[ANNOTATION.container] || c.id;
    let rec = this.#byUid.get(uid);
    if (rec?.ended === true) {
      // The same pod uid again after it ended (a runtime restarting it): a new pod life.
      if (rec.expiry !== undefined) clearTimeout(rec.expiry);
      const removed = this.#forget(uid, rec);
      notes.push(() => this.#emit({ added: [], removed }));
      rec = undefined;
    }
    if (rec === undefined) {
      rec = {
        info: {
          namespace,
          name,
          uid,
          node: this.#opts.nodeName,
          phase: "Running",
          labels: labelsOf(a),
          annotations: a,
          containers: [],
          terminating: false,
          deleted: false,
        },
        containers: new Map(),
        ended: false,
      };
      this.#byUid.set(uid, rec);
      this.#byName.set(`${namespace}/${name}`, uid);
    }
    rec.containers.set(k, { container: c, cgroupId, name: container, ended: false });
    if (!rec.info.containers.some((x) => x.name === container))
      rec.info = { ...rec.info, containers: [...rec.info.containers, { name: container, kind: "regular" }] };
    this.#byId.set(cgroupId, {
      uid,
      ref: {
        containerId: cgroupId,
        namespace,
        pod: name,
        podUid: uid,
        container,
        kind: "regular",
        node: this.#opts.nodeName,
        annotations: a,
        labels: rec.info.labels,
        phase: "Running",
      },
    });
  }

  #end(rec: PodRecord, end: PodEnd, notes: (() => void)[]): void {
    rec.ended = true;
    const phase = end === "Deleted" ? rec.info.phase : "Succeeded";
    rec.info = { ...rec.info, phase, deleted: end === "Deleted" };
    for (const e of rec.containers.values()) {
      const cur = this.#byId.get(e.cgroupId);
      if (cur?.uid === rec.info.uid)
        this.#byId.set(e.cgroupId, { ...cur, ref: { ...cur.ref, deleted: true, phase } });
    }
    const uid = rec.info.uid;
    rec.expiry = setTimeout(
      () => this.#emit({ added: [], removed: this.#forget(uid, rec) }),
      this.#opts.deletedGraceMs ?? 10 * 60_000,
    );
    rec.expiry.unref();
    const info = rec.info;
    notes.push(() => {
      for (const l of [...this.#endListeners])
        try {
          l(info, end);
        } catch (err) {
          this.#opts.onError?.(err, "listener");
        }
    });
  }

  /** Drops an ended pod; returns the ids `lookup` no longer answers. */
  #forget(uid: string, rec: PodRecord): string[] {
    if (this.#byUid.get(uid) !== rec) return [];
    this.#byUid.delete(uid);
    const nameKey = `${rec.info.namespace}/${rec.info.name}`;
    if (this.#byName.get(nameKey) === uid) this.#byName.delete(nameKey);
    const removed: string[] = [];
    for (const e of rec.containers.values())
      if (this.#byId.get(e.cgroupId)?.uid === uid) {
        this.#byId.delete(e.cgroupId);
        removed.push(e.cgroupId);
      }
    return removed;
  }

  #emit(change: PodIndexChange): void {
    if (change.added.length === 0 && change.removed.length === 0) return;
    for (const l of [...this.#listeners])
      try {
        l(change);
      } catch (err) {
        this.#opts.onError?.(err, "listener");
      }
  }
}
