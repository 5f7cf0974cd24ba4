import { CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { API_GROUP, type ApprovalRecord, type ProfileRef } from "@secprof/core";
import { apiFailure } from "@secprof/daemon-kit";
import {
  APPROVAL_PLURAL,
  ApprovalObject,
  approvalObject,
  approvalObjectName,
  NAMESPACE_LABEL,
  NODE_STATUS_PLURAL,
  NodeStatusObject,
  PROFILE_PLURALS,
  PROFILE_VERSION,
} from "./daemon/kube-objects.js";

/**
 * What `secprof approve` does against the cluster, with the person's own kubeconfig (the
 * daemons' RBAC cannot write approvals): read the profile, read and write its ProfileApproval,
 * read the per-node statuses to see what is installed where.
 */

export interface NodeInstall {
  node: string;
  state: string | undefined;
  /** Digest installed on that node, if any. */
  digest: string | undefined;
}

export class ClusterApprovalApi {
  readonly #api: CustomObjectsApi;

  constructor(readonly kubeConfig: KubeConfig) {
    this.#api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** `file` or the usual places (KUBECONFIG, ~/.kube/config, in-cluster). */
  static load(file?: string): ClusterApprovalApi {
    const kc = new KubeConfig();
    if (file === undefined) kc.loadFromDefault();
    else kc.loadFromFile(file);
    // client-node's last resort is an anonymous http://localhost:8080: never approve through that.
    if (kc.getCurrentCluster()?.server === "http://localhost:8080" && kc.getCurrentUser()?.name === "user")
      throw new Error("no kubeconfig found (set --kubeconfig or KUBECONFIG; --dir for single-host mode)");
    return new ClusterApprovalApi(kc);
  }

  /** The kubeconfig user: who approves. */
  get user(): string | undefined {
    return this.kubeConfig.getCurrentUser()?.name;
  }

  async #get(call: () => Promise<unknown>): Promise<unknown> {
    try {
      return await call();
    } catch (err) {
      if (apiFailure(err)?.code === 404) return undefined;
      throw err;
    }
  }

  profile(ref: ProfileRef): Promise<unknown> {
    const base = {
      group: API_GROUP,
      version: PROFILE_VERSION,
      plural: PROFILE_PLURALS[ref.kind],
      name: ref.name,
    };
    return this.#get(() =>
      ref.namespace === undefined
        ? this.#api.getClusterCustomObject(base)
        : this.#api.getNamespacedCustomObject({ ...base, namespace: ref.namespace }),
    );
  }

  /** The profile's approval object; throws for one that is there but malformed (fail closed). */
  async approval(ref: ProfileRef): Promise<ApprovalObject | undefined> {
    const name = approvalObjectName(ref);
    const raw = await this.#get(() =>
      this.#api.getClusterCustomObject({ group: API_GROUP, version: "v1", plural: APPROVAL_PLURAL, name }),
    );
    if (raw === undefined) return undefined;
    const parsed = ApprovalObject.safeParse(raw);
    if (!parsed.success)
      throw new Error(`ProfileApproval ${name} is malformed: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  }

  /** Creates the approval object, or replaces `existing` (guarded by its resourceVersion). */
  async save(record: ApprovalRecord, snapshot: string | undefined, existing?: ApprovalObject): Promise<void> {
    const base = { group: API_GROUP, version: "v1", plural: APPROVAL_PLURAL };
    const body = approvalObject(record, snapshot, existing?.metadata.resourceVersion);
    if (existing === undefined) await this.#api.createClusterCustomObject({ ...base, body });
    else await this.#api.replaceClusterCustomObject({ ...base, name: body.metadata.name, body });
  }

  async installs(ref: ProfileRef): Promise<NodeInstall[]> {
    const list = (await this.#api.listClusterCustomObject({
      group: API_GROUP,
      version: "v1",
      plural: NODE_STATUS_PLURAL,
    })) as { items?: unknown[] };
    const out: NodeInstall[] = [];
    for (const raw of list.items ?? []) {
      const o = NodeStatusObject.safeParse(raw);
      if (!o.success || o.data.spec.kind !== ref.kind || o.data.spec.name !== ref.name) continue;
      if ((o.data.metadata.labels?.[NAMESPACE_LABEL] ?? undefined) !== ref.namespace) continue;
      out.push({ node: o.data.spec.node, state: o.data.status?.state, digest: o.data.status?.digest });
    }
    return out.sort((a, b) => (a.node < b.node ? -1 : 1));
  }
}
