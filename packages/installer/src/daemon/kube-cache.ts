import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { API_GROUP, ProfileKind } from "@secprof/core";
import { ResilientInformer, type RetryOptions } from "@secprof/daemon-kit";
import {
  APPROVAL_PLURAL,
  KubeMeta,
  NODE_STATUS_PLURAL,
  PROFILE_PLURALS,
  PROFILE_VERSION,
} from "./kube-objects.js";

/**
 * The cluster installer's view of the API: one resilient list+watch per resource, each kept as
 * raw objects by `namespace/name`. Objects without readable metadata are counted and dropped
 * (they cannot be keyed; the reconcile validates the rest). Every change calls `onChange`, which
 * the daemon turns into one debounced reconcile.
 *
 * - the three profile kinds (all namespaces when namespaced, else cluster-scoped);
 * - ProfileApprovals (read only: the installer cannot write them);
 * - ProfileNodeStatuses (all nodes: the profile's aggregated state is computed from them);
 * - Pods of this node only (`fieldSelector=spec.nodeName=<node>`): deletion protection.
 */

export class ObjectCache {
  readonly #items = new Map<string, unknown>();
  readonly informer: ResilientInformer;
  dropped = 0;

  constructor(opts: {
    kubeConfig: KubeConfig;
    path: string;
    list: () => Promise<unknown>;
    fieldSelector?: string;
    retry?: RetryOptions;
    onChange: () => void;
    onError: (err: unknown) => void;
  }) {
    const key = (o: unknown): string | undefined => {
      const m = KubeMeta.safeParse(o);
      if (!m.success) return undefined;
      return `${m.data.metadata.namespace ?? ""}/${m.data.metadata.name}`;
    };
    this.informer = new ResilientInformer({
      kubeConfig: opts.kubeConfig,
      path: opts.path,
      list: opts.list,
      ...(opts.fieldSelector === undefined ? {} : { fieldSelector: opts.fieldSelector }),
      ...(opts.retry === undefined ? {} : { retry: opts.retry }),
      onError: opts.onError,
      handlers: {
        upsert: (o) => {
          const k = key(o);
          if (k === undefined) this.dropped += 1;
          else this.#items.set(k, o);
          opts.onChange();
        },
        remove: (o) => {
          const k = key(o);
          if (k !== undefined) this.#items.delete(k);
          opts.onChange();
        },
      },
    });
  }

  get(namespace: string, name: string): unknown {
    return this.#items.get(`${namespace}/${name}`);
  }

  values(): unknown[] {
    return [...this.#items.values()];
  }

  get size(): number {
    return this.#items.size;
  }
}

export interface ClusterCaches {
  profiles: Record<ProfileKind, ObjectCache>;
  approvals: ObjectCache;
  nodeStatuses: ObjectCache;
  pods: ObjectCache;
  all: ObjectCache[];
}

export function clusterCaches(opts: {
  kubeConfig: KubeConfig;
  node: string;
  onChange: () => void;
  onError: (err: unknown, resource: string) => void;
  retry?: RetryOptions;
}): ClusterCaches {
  const custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  const common = {
    kubeConfig: opts.kubeConfig,
    onChange: opts.onChange,
    ...(opts.retry === undefined ? {} : { retry: opts.retry }),
  };
  // The all-namespaces list works for cluster-scoped and namespaced CRDs alike.
  const crd = (plural: string) =>
    new ObjectCache({
      ...common,
      path: `/apis/${API_GROUP}/${PROFILE_VERSION}/${plural}`,
      list: () =>
        custom.listCustomObjectForAllNamespaces({ group: API_GROUP, version: PROFILE_VERSION, plural }),
      onError: (err) => opts.onError(err, plural),
    });
  const fieldSelector = `spec.nodeName=${opts.node}`;
  const profiles = Object.fromEntries(ProfileKind.options.map((k) => [k, crd(PROFILE_PLURALS[k])])) as Record<
    ProfileKind,
    ObjectCache
  >;
  const approvals = crd(APPROVAL_PLURAL);
  const nodeStatuses = crd(NODE_STATUS_PLURAL);
  const pods = new ObjectCache({
    ...common,
    path: "/api/v1/pods",
    fieldSelector,
    list: () => core.listPodForAllNamespaces({ fieldSelector }),
    onError: (err) => opts.onError(err, "pods"),
  });
  return {
    profiles,
    approvals,
    nodeStatuses,
    pods,
    all: [...Object.values(profiles), approvals, nodeStatuses, pods],
  };
}
