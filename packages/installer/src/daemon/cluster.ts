import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import {
  API_GROUP,
  type ApprovalRecord,
  DNS_LABEL,
  ObjectName,
  type ProfileKind,
  type ProfileRef,
  profileRefKey,
} from "@secprof/core";
import { apiFailure, type RetryOptions } from "@secprof/daemon-kit";
import type { HostFiles } from "../host-writer.js";
import { type DesiredProfile, type ReconcileDeps, type ReconcileResult, reconcile } from "../install.js";
import { podListUsage } from "../usage.js";
import { type ClusterCaches, clusterCaches } from "./kube-cache.js";
import {
  ApprovalObject,
  KubeMeta,
  NAMESPACE_LABEL,
  NODE_STATUS_PLURAL,
  NodeStatusObject,
  nodeFinalizer,
  nodeStatusBody,
  nodeStatusName,
  nodeStatusObject,
  type Owner,
  PROFILE_PLURALS,
  PROFILE_VERSION,
} from "./kube-objects.js";
import type { ManifestStore } from "./manifest-store.js";
import { type NodeState, profileStatusPatch } from "./profile-status.js";

/**
 * Cluster mode: installs the profile CRs of the cluster on this node, driven by watches.
 *
 * Each reconcile (debounced after any watch event, and every `resyncMs`):
 * 1. Every profile not being deleted gets this node's finalizer (JSON patch guarded by the
 *    object's resourceVersion) before anything is installed, so its deletion waits for this node.
 * 2. `reconcile()` (install.ts) with the profiles, the approvals from ProfileApproval objects
 *    and the pods of this node as the usage source: validation, approval by digest, atomic
 *    writes, loads, the deletion flow (Terminating while a pod on this node uses it).
 * 3. One ProfileNodeStatus per profile for this node, written only when its content changed
 *    (InProgress is written before new content goes to the host, then the outcome).
 * 4. A deleting profile whose file is gone (no status left) loses this node's finalizer.
 * 5. The profile's status subresource gets the aggregated state of all nodes' statuses (SPO's
 *    order: the lowest wins) and the Ready condition, when that differs from what it has.
 * API write failures are logged and retried by the next reconcile; they never touch the host.
 */

export interface ClusterInstallerOptions {
  kubeConfig: KubeConfig;
  node: string;
  writer: HostFiles;
  manifest: ManifestStore;
  reconcileDeps: Omit<ReconcileDeps, "writer" | "node" | "usage">;
  resyncMs?: number;
  debounceMs?: number;
  retry?: RetryOptions;
  onError?: (err: unknown, during: string) => void;
  onReconciled?: (r: ReconcileResult, ms: number) => void;
}

export class ClusterInstaller {
  readonly caches: ClusterCaches;
  readonly #opts: ClusterInstallerOptions;
  readonly #api: CustomObjectsApi;
  readonly #finalizer: string;
  /** name → what this process last wrote (resourceVersion and body), ahead of the watch. */
  readonly #written = new Map<string, { rv: string | undefined; body: string }>();
  #started = false;
  #timer: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #dirty = false;
  #stopped = false;
  #reconciles = 0;
  invalidApprovals = 0;

  constructor(opts: ClusterInstallerOptions) {
    this.#opts = opts;
    this.#api = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.#finalizer = nodeFinalizer(opts.node);
    this.caches = clusterCaches({
      kubeConfig: opts.kubeConfig,
      node: opts.node,
      onChange: () => this.schedule(),
      onError: (err, resource) => opts.onError?.(err, `watch ${resource}`),
      ...(opts.retry === undefined ? {} : { retry: opts.retry }),
    });
  }

  get synced(): boolean {
    return this.caches.all.every((c) => c.informer.synced);
  }

  /** Completed reconciles so far. */
  get reconciles(): number {
    return this.#reconciles;
  }

  async start(): Promise<void> {
    await Promise.all(this.caches.all.map((c) => c.informer.start()));
    this.#started = true;
    this.#resync = setInterval(() => this.schedule(), this.#opts.resyncMs ?? 60_000);
    this.#resync.unref();
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#resync !== undefined) clearInterval(this.#resync);
    await Promise.all(this.caches.all.map((c) => c.informer.stop()));
    await this.#running;
  }

  /** Resolves after a reconcile that started after this call has finished. */
  async settle(): Promise<void> {
    const target = this.#reconciles + (this.#running === undefined ? 1 : 2);
    this.schedule(0);
    while (this.#reconciles < target && !this.#stopped) await new Promise((r) => setTimeout(r, 10));
  }

  schedule(delay = this.#opts.debounceMs ?? 100): void {
    if (!this.#started || this.#stopped) return;
    if (this.#running !== undefined) {
      this.#dirty = true;
      return;
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#runLoop().finally(() => {
        this.#running = undefined;
      });
    }, delay);
  }

  async #runLoop(): Promise<void> {
    do {
      this.#dirty = false;
      try {
        await this.reconcileOnce();
      } catch (err) {
        this.#opts.onError?.(err, "reconcile");
      }
      this.#reconciles += 1;
    } while (this.#dirty && !this.#stopped);
  }

  async reconcileOnce(): Promise<ReconcileResult> {
    const t0 = performance.now();
    const objects = Object.values(this.caches.profiles).flatMap((c) => c.values());
    const desired: DesiredProfile[] = [];
    const owners = new Map<
      string,
      { owner: Owner | undefined; meta: KubeMeta["metadata"]; kind: ProfileKind }
    >();
    for (const raw of objects) {
      const m = KubeMeta.safeParse(raw);
      const kind = (raw as { kind?: unknown }).kind;
      if (
        !m.success ||
        (kind !== "SeccompProfile" && kind !== "SelinuxProfile" && kind !== "AppArmorProfile")
      ) {
        desired.push({ object: raw, source: "api" });
        continue;
      }
      const meta = m.data.metadata;
      const ref: ProfileRef = { kind, name: meta.name };
      if (meta.namespace !== undefined) ref.namespace = meta.namespace;
      const deleting = meta.deletionTimestamp !== undefined;
      // A name no API server would accept must not end up in a request path (`a/../../x`).
      if (
        !ObjectName.safeParse(meta.name).success ||
        (meta.namespace !== undefined && !DNS_LABEL.test(meta.namespace))
      ) {
        desired.push({ object: raw, source: "api" });
        continue;
      }
      owners.set(profileRefKey(ref), {
        kind,
        meta,
        owner:
          meta.uid === undefined
            ? undefined
            : { apiVersion: `${API_GROUP}/${PROFILE_VERSION}`, kind, name: meta.name, uid: meta.uid },
      });
      if (!deleting && !(meta.finalizers ?? []).includes(this.#finalizer))
        await this.#setFinalizer(kind, meta, [...(meta.finalizers ?? []), this.#finalizer]);
      desired.push({
        object: raw,
        source: `${kind}/${meta.namespace === undefined ? "" : `${meta.namespace}/`}${meta.name}`,
        ...(deleting ? { deleting: true } : {}),
      });
    }

    const approvals: ApprovalRecord[] = [];
    let invalid = 0;
    for (const raw of this.caches.approvals.values()) {
      const a = ApprovalObject.safeParse(raw);
      if (a.success) approvals.push(a.data.spec);
      else invalid += 1;
    }
    this.invalidApprovals = invalid;

    const installed = await this.#opts.manifest.load();
    const result = await reconcile(
      { desired, approvals, installed },
      {
        ...this.#opts.reconcileDeps,
        writer: this.#opts.writer,
        node: this.#opts.node,
        usage: podListUsage(async () => this.caches.pods.values()),
        beforeInstall: (s) => this.#writeNodeStatus(s, owners.get(profileRefKey(s))?.owner),
      },
    );
    await this.#opts.manifest.save(result.installed, result.statuses);

    const byKey = new Map(result.statuses.map((s) => [profileRefKey(s), s]));
    for (const s of result.statuses) await this.#writeNodeStatus(s, owners.get(profileRefKey(s))?.owner);
    for (const [key, o] of owners) {
      if (o.meta.deletionTimestamp === undefined) continue;
      const s = byKey.get(key);
      if (s === undefined && (o.meta.finalizers ?? []).includes(this.#finalizer))
        await this.#setFinalizer(
          o.kind,
          o.meta,
          (o.meta.finalizers ?? []).filter((f) => f !== this.#finalizer),
        );
    }
    await this.#aggregate(owners, byKey);
    this.#opts.onReconciled?.(result, performance.now() - t0);
    return result;
  }

  #target(kind: ProfileKind, meta: KubeMeta["metadata"]) {
    return {
      group: API_GROUP,
      version: PROFILE_VERSION,
      plural: PROFILE_PLURALS[kind],
      name: meta.name,
      ...(meta.namespace === undefined ? {} : { namespace: meta.namespace }),
    };
  }

  async #patch(
    kind: ProfileKind,
    meta: KubeMeta["metadata"],
    body: object[],
    status: boolean,
  ): Promise<void> {
    const t = this.#target(kind, meta);
    const { namespace, ...rest } = t;
    if (namespace === undefined) {
      if (status) await this.#api.patchClusterCustomObjectStatus({ ...rest, body });
      else await this.#api.patchClusterCustomObject({ ...rest, body });
    } else if (status) await this.#api.patchNamespacedCustomObjectStatus({ ...rest, namespace, body });
    else await this.#api.patchNamespacedCustomObject({ ...rest, namespace, body });
  }

  /** JSON patch of metadata.finalizers, guarded by the resourceVersion it was computed from. */
  async #setFinalizer(kind: ProfileKind, meta: KubeMeta["metadata"], finalizers: string[]): Promise<void> {
    const ops: object[] = [];
    if (meta.resourceVersion !== undefined)
      ops.push({ op: "test", path: "/metadata/resourceVersion", value: meta.resourceVersion });
    ops.push({ op: "add", path: "/metadata/finalizers", value: finalizers });
    try {
      await this.#patch(kind, meta, ops, false);
    } catch (err) {
      this.#retryLater(err, `finalizer ${kind}/${meta.name}`);
    }
  }

  #retryLater(err: unknown, during: string): void {
    const f = apiFailure(err);
    // 404: gone meanwhile; 409/422 (a failed test op): the watch brings the new version.
    if (f?.code !== 404) this.#opts.onError?.(err, during);
    setTimeout(() => this.schedule(), 1000).unref();
  }

  async #writeNodeStatus(s: ReconcileResult["statuses"][number], owner: Owner | undefined): Promise<void> {
    const ref: ProfileRef = { kind: s.kind, name: s.name };
    if (s.namespace !== undefined) ref.namespace = s.namespace;
    const name = nodeStatusName(this.#opts.node, ref);
    const body = JSON.stringify(nodeStatusBody(s));
    const seen = NodeStatusObject.safeParse(this.caches.nodeStatuses.get("", name));
    const last =
      this.#written.get(name) ??
      (seen.success
        ? { rv: seen.data.metadata.resourceVersion, body: JSON.stringify(seen.data.status ?? {}) }
        : undefined);
    if (last?.body === body) return;
    const base = { group: API_GROUP, version: PROFILE_VERSION, plural: NODE_STATUS_PLURAL };
    try {
      const obj = nodeStatusObject(s, owner, last?.rv);
      const out = (
        last === undefined
          ? await this.#api.createClusterCustomObject({ ...base, body: obj })
          : await this.#api.replaceClusterCustomObject({ ...base, name, body: obj })
      ) as { metadata?: { resourceVersion?: string } };
      this.#written.set(name, { rv: out.metadata?.resourceVersion, body });
    } catch (err) {
      this.#written.delete(name);
      this.#retryLater(err, `node status ${name}`);
    }
  }

  async #aggregate(
    owners: Map<string, { owner: Owner | undefined; meta: KubeMeta["metadata"]; kind: ProfileKind }>,
    own: Map<string, ReconcileResult["statuses"][number]>,
  ): Promise<void> {
    const states = new Map<string, NodeState[]>();
    for (const raw of this.caches.nodeStatuses.values()) {
      const o = NodeStatusObject.safeParse(raw);
      if (!o.success || o.data.spec.node === this.#opts.node || o.data.status?.state === undefined) continue;
      const ns = o.data.metadata.labels?.[NAMESPACE_LABEL];
      const key = `${o.data.spec.kind}/${ns ?? ""}/${o.data.spec.name}`;
      const entry = {
        node: o.data.spec.node,
        state: o.data.status.state,
        message: o.data.status.message ?? "",
      };
      states.set(key, [...(states.get(key) ?? []), entry]);
    }
    for (const [key, o] of owners) {
      const mine = own.get(key);
      const all = [
        ...(states.get(key) ?? []),
        ...(mine === undefined
          ? []
          : [{ node: this.#opts.node, state: mine.state, message: nodeStatusBody(mine).message }]),
      ];
      const raw = this.caches.profiles[o.kind].get(o.meta.namespace ?? "", o.meta.name);
      const patch = profileStatusPatch((raw as { status?: unknown } | undefined)?.status, all, mine);
      if (patch === undefined) continue;
      try {
        await this.#patch(o.kind, o.meta, [{ op: "add", path: "/status", value: patch }], true);
      } catch (err) {
        this.#retryLater(err, `status ${key}`);
      }
    }
  }
}
