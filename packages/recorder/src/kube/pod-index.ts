import type { KubeConfig } from "@kubernetes/client-node";
import {
  type PodContainerKind,
  type PodContainerRef,
  type PodFacts,
  type PodIndex,
  type PodIndexChange,
  type PodIndexWaitOptions,
  parseStatusContainerId,
} from "@secprof/core";
import { KubeRest, ResilientInformer, type RetryOptions } from "@secprof/daemon-kit";
import { z } from "zod";
import { waitForContainer } from "../attribution/wait-for.js";

/**
 * `PodIndex` backed by the Kubernetes API: a watch on the pods of this node only
 * (`fieldSelector=spec.nodeName=<node>`, so a node's memory is bounded by its own pods, not the
 * cluster's: SPO #1385) plus a watch on namespaces for their labels (recording opt-in).
 *
 * - Every init, regular and ephemeral container status with a `containerID` is one entry, and so
 *   is the `lastState.terminated.containerID` of a restarted container (its late events still
 *   attribute to the right container).
 * - A deleted pod's entries keep answering, flagged `deleted`, for `deletedGraceMs`; ids that drop
 *   out of a live pod's status (restarts) likewise. Then they are removed and `subscribe`
 *   listeners hear about it.
 * - `subscribePhases` reports each pod's lifecycle transitions, with `ended` set exactly once per
 *   pod on the first of Succeeded, Failed or Deleted.
 */

export type PodPhase = "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";
export type PodLifecycle = PodPhase | "Deleted";
export type PodEnd = "Succeeded" | "Failed" | "Deleted";

export interface KubePodContainer {
  name: string;
  kind: PodContainerKind;
}

/** What the index knows about one pod of this node. */
export interface KubePodInfo {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  phase: PodPhase;
  /** `metadata.generateName`, when the pod was created from one (replicas: SPO's naming §1.6). */
  generateName?: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  /** Spec containers: init first, then regular (SPO's order), then ephemeral. */
  containers: readonly KubePodContainer[];
  /** Has a deletionTimestamp (terminating, still running). */
  terminating: boolean;
  /** Gone from the API; kept for the grace period. */
  deleted: boolean;
}

/** `PodContainerRef` plus the pod facts the recorder needs without a second lookup. */
export interface KubeContainerRef extends PodContainerRef {
  node: string;
  annotations: Readonly<Record<string, string>>;
  labels: Readonly<Record<string, string>>;
  generateName?: string;
  phase: PodPhase;
  /** This id is a previous instance of the container (`lastState.terminated`) or dropped out of the status. */
  previous?: boolean;
}

export interface PodPhaseChange {
  /** The pod after the change. */
  pod: KubePodInfo;
  /** undefined when the pod is first seen (start-up list, or scheduled onto this node). */
  from: PodLifecycle | undefined;
  to: PodLifecycle;
  /** Set on the first transition into Succeeded, Failed or Deleted; once per pod uid. */
  ended?: PodEnd;
}

export interface KubePodIndexStats {
  pods: number;
  deletedPods: number;
  containers: number;
  namespaces: number;
  /** Pod objects that failed validation (see `lastInvalid`). */
  invalidPods: number;
  lastInvalid?: string;
  /** Pods handed over although their spec.nodeName is another node (ignored). */
  foreignPods: number;
}

export interface KubePodIndexOptions {
  kubeConfig: KubeConfig;
  /** This node's name (NODE_NAME from the downward API). */
  nodeName: string;
  /** How long entries of deleted pods (and retired container ids) keep answering. Default 10 min. */
  deletedGraceMs?: number;
  /** Also watch namespaces for their labels. Default true. */
  watchNamespaces?: boolean;
  retry?: RetryOptions;
  onError?: (err: unknown, source: "pods" | "namespaces" | "listener") => void;
}

const DEFAULT_GRACE_MS = 10 * 60_000;

const Named = z.object({ name: z.string() });
const ContainerStatus = z.object({
  name: z.string(),
  containerID: z.string().optional(),
  lastState: z.object({ terminated: z.object({ containerID: z.string().optional() }).optional() }).optional(),
});
const PodWire = z.object({
  metadata: z.object({
    name: z.string().min(1),
    namespace: z.string().min(1),
    uid: z.string().min(1),
    generateName: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    // A string on the wire, a Date once client-node's list deserialises it.
    deletionTimestamp: z.union([z.string(), z.date()]).optional(),
  }),
  spec: z.object({
    nodeName: z.string().optional(),
    initContainers: z.array(Named).optional(),
    containers: z.array(Named),
    ephemeralContainers: z.array(Named).optional(),
  }),
  status: z
    .object({
      phase: z.enum(["Pending", "Running", "Succeeded", "Failed", "Unknown"]).optional(),
      initContainerStatuses: z.array(ContainerStatus).optional(),
      containerStatuses: z.array(ContainerStatus).optional(),
      ephemeralContainerStatuses: z.array(ContainerStatus).optional(),
    })
    .optional(),
});
type PodWire = z.infer<typeof PodWire>;
/**
 * What the pod informer's cache keeps of a pod: `PodWire` (zod drops every other field:
 * managedFields, volumes, env, probes, resources, conditions, ...) and the resourceVersion the
 * cache compares. A pod that does not parse is kept whole, for `#parsePod` to count and report.
 */
const CachedPod = PodWire.extend({
  metadata: PodWire.shape.metadata.extend({ resourceVersion: z.string().optional() }),
});
const CachedNamespace = z.object({
  metadata: z.object({
    name: z.string(),
    resourceVersion: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
});
const projection =
  (schema: z.ZodType) =>
  (raw: unknown): unknown => {
    const kept = schema.safeParse(raw);
    return kept.success ? kept.data : raw;
  };
const PodKey = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string(), uid: z.string().optional() }),
});
const NamespaceWire = z.object({
  metadata: z.object({ name: z.string(), labels: z.record(z.string(), z.string()).optional() }),
});

interface IdEntry {
  container: string;
  kind: PodContainerKind;
  runtime?: string;
  previous: boolean;
}

interface PodRecord {
  info: KubePodInfo;
  lifecycle: PodLifecycle;
  ended: boolean;
  /** Ids the pod status lists now. */
  ids: Map<string, IdEntry>;
  /** Ids that dropped out of the status, with their removal timers. */
  retired: Map<string, NodeJS.Timeout>;
  expiry?: NodeJS.Timeout;
}

const ENDED_PHASES: ReadonlySet<PodLifecycle> = new Set(["Succeeded", "Failed"]);

export class KubePodIndex implements PodIndex {
  readonly #opts: KubePodIndexOptions;
  readonly #graceMs: number;
  readonly #pods: ResilientInformer;
  readonly #namespaces: ResilientInformer | undefined;
  readonly #byUid = new Map<string, PodRecord>();
  /** `ns/name` → uid of the live pod with that name. */
  readonly #byName = new Map<string, string>();
  readonly #byId = new Map<string, { uid: string; ref: KubeContainerRef }>();
  readonly #nsLabels = new Map<string, Readonly<Record<string, string>>>();
  readonly #listeners = new Set<(change: PodIndexChange) => void>();
  readonly #phaseListeners = new Set<(change: PodPhaseChange) => void>();
  #invalidPods = 0;
  #foreignPods = 0;
  #lastInvalid: string | undefined;

  constructor(opts: KubePodIndexOptions) {
    this.#opts = opts;
    this.#graceMs = opts.deletedGraceMs ?? DEFAULT_GRACE_MS;
    const rest = new KubeRest(opts.kubeConfig);
    const fieldSelector = `spec.nodeName=${opts.nodeName}`;
    this.#pods = new ResilientInformer({
      kubeConfig: opts.kubeConfig,
      path: "/api/v1/pods",
      fieldSelector,
      list: (page) =>
        rest.get("/api/v1/pods", { fieldSelector, limit: page.limit, continue: page._continue }),
      // A page at a time, projected before the next, instead of every pod of the node at once.
      pageSize: 100,
      project: projection(CachedPod),
      ...(opts.retry === undefined ? {} : { retry: opts.retry }),
      onError: (err) => opts.onError?.(err, "pods"),
      handlers: { upsert: (o) => this.#upsertPod(o), remove: (o) => this.#removePod(o) },
    });
    if (opts.watchNamespaces ?? true)
      this.#namespaces = new ResilientInformer({
        kubeConfig: opts.kubeConfig,
        path: "/api/v1/namespaces",
        list: () => rest.get("/api/v1/namespaces"),
        project: projection(CachedNamespace),
        ...(opts.retry === undefined ? {} : { retry: opts.retry }),
        onError: (err) => opts.onError?.(err, "namespaces"),
        handlers: { upsert: (o) => this.#upsertNamespace(o), remove: (o) => this.#removeNamespace(o) },
      });
  }

  /** Starts both watches; resolves once both initial lists are loaded. */
  async start(): Promise<void> {
    await Promise.all([this.#pods.start(), this.#namespaces?.start()]);
  }

  /** Stops the watches and the grace timers. The cache stays readable. */
  async stop(): Promise<void> {
    await Promise.all([this.#pods.stop(), this.#namespaces?.stop()]);
    for (const rec of this.#byUid.values()) {
      if (rec.expiry !== undefined) clearTimeout(rec.expiry);
      for (const t of rec.retired.values()) clearTimeout(t);
    }
  }

  /** The initial pod list has been loaded (namespaces: `namespacesSynced`). */
  get synced(): boolean {
    return this.#pods.synced;
  }

  get namespacesSynced(): boolean {
    return this.#namespaces?.synced ?? false;
  }

  get stats(): KubePodIndexStats {
    let deleted = 0;
    for (const r of this.#byUid.values()) if (r.info.deleted) deleted += 1;
    const s: KubePodIndexStats = {
      pods: this.#byUid.size - deleted,
      deletedPods: deleted,
      containers: this.#byId.size,
      namespaces: this.#nsLabels.size,
      invalidPods: this.#invalidPods,
      foreignPods: this.#foreignPods,
    };
    if (this.#lastInvalid !== undefined) s.lastInvalid = this.#lastInvalid;
    return s;
  }

  lookup(containerId: string): KubeContainerRef | undefined {
    return this.#byId.get(containerId)?.ref;
  }

  /** A live pod by namespace/name (after deletion: only while in the grace period). */
  pod(namespace: string, name: string): KubePodInfo | undefined {
    const uid = this.#byName.get(`${namespace}/${name}`);
    return uid === undefined ? undefined : this.#byUid.get(uid)?.info;
  }

  podByUid(uid: string): KubePodInfo | undefined {
    return this.#byUid.get(uid)?.info;
  }

  /** Pods of this node that are not deleted. */
  pods(): KubePodInfo[] {
    return [...this.#byUid.values()].filter((r) => !r.info.deleted).map((r) => r.info);
  }

  /** Labels of a namespace; undefined when unknown (not synced, or no namespace watch). */
  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined {
    return this.#nsLabels.get(namespace);
  }

  /** What core's `select()` needs to decide whether a recording records this pod. */
  podFacts(namespace: string, name: string): PodFacts | undefined {
    const pod = this.pod(namespace, name);
    if (pod === undefined) return undefined;
    return {
      namespaceLabels: this.#nsLabels.get(namespace) ?? {},
      labels: pod.labels,
      containers: pod.containers.filter((c) => c.kind !== "ephemeral").map((c) => c.name),
    };
  }

  subscribe(listener: (change: PodIndexChange) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Pod lifecycle transitions (phase changes and deletion); see `PodPhaseChange.ended`. */
  subscribePhases(listener: (change: PodPhaseChange) => void): () => void {
    this.#phaseListeners.add(listener);
    return () => {
      this.#phaseListeners.delete(listener);
    };
  }

  /** Convenience over `subscribePhases`: only the "pod ended" transitions. */
  onPodEnded(listener: (pod: KubePodInfo, end: PodEnd) => void): () => void {
    return this.subscribePhases((c) => {
      if (c.ended !== undefined) listener(c.pod, c.ended);
    });
  }

  waitFor(containerId: string, opts: PodIndexWaitOptions = {}): Promise<KubeContainerRef | undefined> {
    return waitForContainer(this, containerId, opts);
  }

  // --- pods -------------------------------------------------------------------------------------

  #parsePod(raw: unknown): PodWire | undefined {
    const parsed = PodWire.safeParse(raw);
    if (parsed.success) return parsed.data;
    this.#invalidPods += 1;
    const key = PodKey.safeParse(raw);
    const who = key.success ? `${key.data.metadata.namespace}/${key.data.metadata.name}` : "<unnamed>";
    this.#lastInvalid = `${who}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`;
    return undefined;
  }

  #upsertPod(raw: unknown): void {
    const pod = this.#parsePod(raw);
    if (pod === undefined) return;
    if (pod.spec.nodeName !== this.#opts.nodeName) {
      this.#foreignPods += 1;
      return;
    }
    const { uid, namespace, name } = pod.metadata;
    const nameKey = `${namespace}/${name}`;
    const previousUid = this.#byName.get(nameKey);
    if (previousUid !== undefined && previousUid !== uid) this.#markDeleted(previousUid, undefined);
    this.#byName.set(nameKey, uid);
    this.#apply(pod, false);
  }

  #removePod(raw: unknown): void {
    const pod = PodWire.safeParse(raw);
    if (pod.success) {
      if (pod.data.spec.nodeName !== this.#opts.nodeName) return;
      // The DELETED object carries the final status: index its last container ids first.
      if (this.#byUid.has(pod.data.metadata.uid) || this.#byName.has(this.#nameKey(pod.data)))
        this.#apply(pod.data, true);
      this.#markDeleted(pod.data.metadata.uid, pod.data);
      return;
    }
    const key = PodKey.safeParse(raw);
    if (!key.success) return;
    const uid =
      key.data.metadata.uid ?? this.#byName.get(`${key.data.metadata.namespace}/${key.data.metadata.name}`);
    if (uid !== undefined) this.#markDeleted(uid, undefined);
  }

  #nameKey(pod: PodWire): string {
    return `${pod.metadata.namespace}/${pod.metadata.name}`;
  }

  /** Brings the record of `pod` up to date; `quiet` skips the phase notification (deletion follows). */
  #apply(pod: PodWire, quiet: boolean): void {
    const { uid } = pod.metadata;
    let rec = this.#byUid.get(uid);
    const info = this.#infoOf(pod, rec?.info.deleted === true && quiet);
    if (rec === undefined) {
      rec = { info, lifecycle: info.phase, ended: false, ids: new Map(), retired: new Map() };
      this.#byUid.set(uid, rec);
      if (!quiet) this.#emitPhase(rec, undefined, info.phase);
    } else {
      if (rec.info.deleted && !quiet) {
        // Seen again after a DELETED (a relist raced the deletion): alive after all.
        if (rec.expiry !== undefined) clearTimeout(rec.expiry);
        delete rec.expiry;
      }
      const from = rec.lifecycle;
      rec.info = info;
      if (!quiet && from !== info.phase) {
        rec.lifecycle = info.phase;
        this.#emitPhase(rec, from, info.phase);
      }
    }
    this.#reindex(rec, this.#idsOf(pod));
  }

  #infoOf(pod: PodWire, deleted: boolean): KubePodInfo {
    const m = pod.metadata;
    const containers: KubePodContainer[] = [
      ...(pod.spec.initContainers ?? []).map((c) => ({ name: c.name, kind: "init" as const })),
      ...pod.spec.containers.map((c) => ({ name: c.name, kind: "regular" as const })),
      ...(pod.spec.ephemeralContainers ?? []).map((c) => ({ name: c.name, kind: "ephemeral" as const })),
    ];
    const info: KubePodInfo = {
      namespace: m.namespace,
      name: m.name,
      uid: m.uid,
      node: pod.spec.nodeName ?? "",
      phase: pod.status?.phase ?? "Pending",
      labels: m.labels ?? {},
      annotations: m.annotations ?? {},
      containers,
      terminating: m.deletionTimestamp !== undefined,
      deleted,
    };
    if (m.generateName !== undefined && m.generateName !== "") info.generateName = m.generateName;
    return info;
  }

  #idsOf(pod: PodWire): Map<string, IdEntry> {
    const out = new Map<string, IdEntry>();
    const lists: [PodContainerKind, z.infer<typeof ContainerStatus>[] | undefined][] = [
      ["init", pod.status?.initContainerStatuses],
      ["regular", pod.status?.containerStatuses],
      ["ephemeral", pod.status?.ephemeralContainerStatuses],
    ];
    const put = (value: string | undefined, container: string, kind: PodContainerKind, previous: boolean) => {
      const parsed = value === undefined ? undefined : parseStatusContainerId(value);
      if (parsed === undefined) return;
      // The current instance wins over a stale lastState pointing at the same id.
      if (previous && out.has(parsed.containerId)) return;
      const e: IdEntry = { container, kind, previous };
      if (parsed.runtime !== "unknown") e.runtime = parsed.runtime;
      out.set(parsed.containerId, e);
    };
    for (const [kind, statuses] of lists)
      for (const s of statuses ?? []) {
        put(s.containerID, s.name, kind, false);
        put(s.lastState?.terminated?.containerID, s.name, kind, true);
      }
    return out;
  }

  #refOf(info: KubePodInfo, id: string, e: IdEntry, previous: boolean): KubeContainerRef {
    const ref: KubeContainerRef = {
      containerId: id,
      namespace: info.namespace,
      pod: info.name,
      podUid: info.uid,
      container: e.container,
      kind: e.kind,
      node: info.node,
      annotations: info.annotations,
      labels: info.labels,
      phase: info.phase,
    };
    if (e.runtime !== undefined) ref.runtime = e.runtime;
    if (info.generateName !== undefined) ref.generateName = info.generateName;
    if (info.deleted) ref.deleted = true;
    if (previous) ref.previous = true;
    return ref;
  }

  #reindex(rec: PodRecord, ids: Map<string, IdEntry>): void {
    const added: string[] = [];
    const before = rec.ids;
    // Ids leaving the status are retired: kept (flagged previous) until the grace period ends.
    for (const [id, e] of before)
      if (!ids.has(id) && !rec.retired.has(id)) {
        rec.retired.set(
          id,
          this.#timer(() => this.#expireId(rec.info.uid, id)),
        );
        const cur = this.#byId.get(id);
        if (cur !== undefined && cur.uid === rec.info.uid)
          this.#byId.set(id, { uid: rec.info.uid, ref: this.#refOf(rec.info, id, e, true) });
      }
    for (const [id, e] of ids) {
      const t = rec.retired.get(id);
      if (t !== undefined) {
        clearTimeout(t);
        rec.retired.delete(id);
      }
      if (!this.#byId.has(id)) added.push(id);
      this.#byId.set(id, { uid: rec.info.uid, ref: this.#refOf(rec.info, id, e, e.previous) });
    }
    // Refresh the retired refs too (labels, phase, deleted flag).
    for (const id of rec.retired.keys()) {
      const cur = this.#byId.get(id);
      if (cur !== undefined && cur.uid === rec.info.uid)
        this.#byId.set(id, {
          uid: cur.uid,
          ref: this.#refOf(rec.info, id, this.#entryOf(cur.ref), true),
        });
    }
    rec.ids = ids;
    this.#emit({ added, removed: [] });
  }

  #entryOf(ref: KubeContainerRef): IdEntry {
    const e: IdEntry = { container: ref.container, kind: ref.kind, previous: true };
    if (ref.runtime !== undefined) e.runtime = ref.runtime;
    return e;
  }

  #markDeleted(uid: string, last: PodWire | undefined): void {
    const rec = this.#byUid.get(uid);
    if (rec === undefined || rec.info.deleted) return;
    rec.info = { ...(last === undefined ? rec.info : this.#infoOf(last, true)), deleted: true };
    const from = rec.lifecycle;
    rec.lifecycle = "Deleted";
    for (const id of [...rec.ids.keys(), ...rec.retired.keys()]) {
      const cur = this.#byId.get(id);
      if (cur !== undefined && cur.uid === uid)
        this.#byId.set(id, { uid, ref: { ...cur.ref, deleted: true } });
    }
    const nameKey = `${rec.info.namespace}/${rec.info.name}`;
    // The name keeps pointing at the deleted pod (grace period) unless a new pod took it.
    if (!this.#byName.has(nameKey)) this.#byName.set(nameKey, uid);
    rec.expiry = this.#timer(() => this.#expirePod(uid));
    this.#emitPhase(rec, from, "Deleted");
  }

  #expirePod(uid: string): void {
    const rec = this.#byUid.get(uid);
    if (rec === undefined || !rec.info.deleted) return;
    const removed: string[] = [];
    for (const id of [...rec.ids.keys(), ...rec.retired.keys()]) {
      const cur = this.#byId.get(id);
      if (cur !== undefined && cur.uid === uid) {
        this.#byId.delete(id);
        removed.push(id);
      }
    }
    for (const t of rec.retired.values()) clearTimeout(t);
    this.#byUid.delete(uid);
    const nameKey = `${rec.info.namespace}/${rec.info.name}`;
    if (this.#byName.get(nameKey) === uid) this.#byName.delete(nameKey);
    this.#emit({ added: [], removed });
  }

  #expireId(uid: string, id: string): void {
    const rec = this.#byUid.get(uid);
    if (rec === undefined || !rec.retired.delete(id)) return;
    const cur = this.#byId.get(id);
    if (cur === undefined || cur.uid !== uid) return;
    this.#byId.delete(id);
    this.#emit({ added: [], removed: [id] });
  }

  #timer(fn: () => void): NodeJS.Timeout {
    const t = setTimeout(fn, this.#graceMs);
    t.unref();
    return t;
  }

  #emitPhase(rec: PodRecord, from: PodLifecycle | undefined, to: PodLifecycle): void {
    const change: PodPhaseChange = { pod: rec.info, from, to };
    if (!rec.ended && (to === "Deleted" || ENDED_PHASES.has(to))) {
      rec.ended = true;
      change.ended = to === "Deleted" ? "Deleted" : to === "Succeeded" ? "Succeeded" : "Failed";
    }
    for (const l of [...this.#phaseListeners]) this.#call(() => l(change));
  }

  #emit(change: PodIndexChange): void {
    if (change.added.length === 0 && change.removed.length === 0) return;
    for (const l of [...this.#listeners]) this.#call(() => l(change));
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // The port says listeners must not throw; one that does must not break the watch.
      this.#opts.onError?.(err, "listener");
    }
  }

  // --- namespaces -------------------------------------------------------------------------------

  #upsertNamespace(raw: unknown): void {
    const ns = NamespaceWire.safeParse(raw);
    if (ns.success) this.#nsLabels.set(ns.data.metadata.name, ns.data.metadata.labels ?? {});
  }

  #removeNamespace(raw: unknown): void {
    const ns = NamespaceWire.safeParse(raw);
    if (ns.success) this.#nsLabels.delete(ns.data.metadata.name);
  }
}
