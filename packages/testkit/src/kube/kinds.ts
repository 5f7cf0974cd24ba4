import type { KindSpec } from "./types.js";

export const SPO_GROUP = "security-profiles-operator.x-k8s.io";

/** Fields the real server lets these core kinds be selected by (pkg/registry/core/*\/strategy.go). */
const POD_FIELDS = [
  "spec.nodeName",
  "spec.restartPolicy",
  "spec.schedulerName",
  "spec.serviceAccountName",
  "spec.hostNetwork",
  "status.phase",
  "status.podIP",
  "status.nominatedNodeName",
];
const EVENT_FIELDS = [
  "involvedObject.kind",
  "involvedObject.namespace",
  "involvedObject.name",
  "involvedObject.uid",
  "involvedObject.apiVersion",
  "involvedObject.resourceVersion",
  "involvedObject.fieldPath",
  "reason",
  "reportingComponent",
  "source",
  "type",
];

export const CORE_KINDS: readonly KindSpec[] = [
  core("Namespace", "namespaces", false, true, ["ns"], ["status.phase"]),
  core("Pod", "pods", true, true, ["po"], POD_FIELDS),
  core("Event", "events", true, false, ["ev"], EVENT_FIELDS),
  core("Node", "nodes", false, true, ["no"], ["spec.unschedulable"]),
  core("ConfigMap", "configmaps", true, false, ["cm"], []),
  core("Secret", "secrets", true, false, [], ["type"]),
  core("ServiceAccount", "serviceaccounts", true, false, ["sa"], []),
];

function core(
  kind: string,
  plural: string,
  namespaced: boolean,
  statusSubresource: boolean,
  shortNames: string[],
  selectableFields: string[],
): KindSpec {
  return {
    group: "",
    version: "v1",
    kind,
    plural,
    namespaced,
    statusSubresource,
    shortNames,
    selectableFields,
  };
}

/**
 * secprof's CRDs, served at both v1 and v1alpha1 (one storage, two views). Profiles are
 * namespaced by default like SPO ≥ v0.8; pass `profilesNamespaced: false` for the cluster-scoped variant.
 */
export function spoKinds(opts: { profilesNamespaced?: boolean; versions?: string[] } = {}): KindSpec[] {
  const profilesNamespaced = opts.profilesNamespaced ?? true;
  const kinds: [string, string, boolean][] = [
    ["ProfileRecording", "profilerecordings", true],
    ["SeccompProfile", "seccompprofiles", profilesNamespaced],
    ["SelinuxProfile", "selinuxprofiles", profilesNamespaced],
    ["AppArmorProfile", "apparmorprofiles", profilesNamespaced],
  ];
  return (opts.versions ?? ["v1", "v1alpha1"]).flatMap((version) =>
    kinds.map(([kind, plural, namespaced]) => ({
      group: SPO_GROUP,
      version,
      kind,
      plural,
      namespaced,
      statusSubresource: true,
    })),
  );
}

/** GA > beta > alpha, then by number: how the server orders versions and picks the preferred one. */
function versionRank(v: string): [number, number, number] {
  const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
  if (!m) return [0, 0, 0];
  const stability = m[2] === undefined ? 3 : m[2] === "beta" ? 2 : 1;
  return [stability, Number(m[1]), Number(m[3] ?? 0)];
}
const byPriority = (a: string, b: string): number => {
  const [x, y] = [versionRank(a), versionRank(b)];
  return y[0] - x[0] || y[1] - x[1] || y[2] - x[2];
};

/** Storage is shared by every version of a group+resource, like a multi-version CRD without conversion. */
export const storageKey = (k: { group: string; plural: string }): string => `${k.group}/${k.plural}`;

export class KindRegistry {
  private readonly byPath = new Map<string, KindSpec>();

  register(spec: KindSpec): void {
    for (const other of this.byPath.values()) {
      if (storageKey(other) !== storageKey(spec)) continue;
      if (other.kind !== spec.kind || other.namespaced !== spec.namespaced)
        throw new Error(`registerKind: ${spec.plural}.${spec.group} conflicts with version ${other.version}`);
    }
    this.byPath.set(`${spec.group}/${spec.version}/${spec.plural}`, spec);
  }

  resolve(group: string, version: string, plural: string): KindSpec | undefined {
    return this.byPath.get(`${group}/${version}/${plural}`);
  }

  /** Lookup by an object's apiVersion + kind (for the programmatic store API). */
  byKind(apiVersion: string, kind: string): KindSpec | undefined {
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
    return this.all().find((k) => k.group === group && k.version === version && k.kind === kind);
  }

  all(): KindSpec[] {
    return [...this.byPath.values()];
  }

  /** Namespaced storage keys, one entry per resource (for namespace cascade deletion). */
  namespacedResources(): KindSpec[] {
    const seen = new Map<string, KindSpec>();
    for (const k of this.all()) if (k.namespaced && !seen.has(storageKey(k))) seen.set(storageKey(k), k);
    return [...seen.values()];
  }

  versionsOf(group: string): string[] {
    return [
      ...new Set(
        this.all()
          .filter((k) => k.group === group)
          .map((k) => k.version),
      ),
    ].sort(byPriority);
  }

  /** GET /api */
  apiVersions(): Record<string, unknown> {
    return {
      kind: "APIVersions",
      versions: this.versionsOf(""),
      serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1" }],
    };
  }

  /** GET /apis/<group>, and the entries of GET /apis */
  apiGroup(group: string): Record<string, unknown> | undefined {
    const versions = this.versionsOf(group).map((version) => ({
      groupVersion: `${group}/${version}`,
      version,
    }));
    if (versions.length === 0) return undefined;
    return { kind: "APIGroup", apiVersion: "v1", name: group, versions, preferredVersion: versions[0] };
  }

  apiGroupList(): Record<string, unknown> {
    const groups = [...new Set(this.all().map((k) => k.group))].filter((g) => g !== "").sort();
    return {
      kind: "APIGroupList",
      apiVersion: "v1",
      groups: groups.map((g) => {
        const { kind: _k, apiVersion: _a, ...rest } = this.apiGroup(g) ?? {};
        return rest;
      }),
    };
  }

  /** GET /api/v1 or /apis/<group>/<version>: what KubernetesObjectApi uses to map kind → plural. */
  resourceList(group: string, version: string): Record<string, unknown> | undefined {
    const kinds = this.all().filter((k) => k.group === group && k.version === version);
    if (kinds.length === 0) return undefined;
    const verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
    const resources = kinds.flatMap((k) => [
      {
        name: k.plural,
        singularName: k.kind.toLowerCase(),
        namespaced: k.namespaced,
        kind: k.kind,
        verbs,
        ...(k.shortNames?.length ? { shortNames: k.shortNames } : {}),
      },
      ...(k.statusSubresource
        ? [
            {
              name: `${k.plural}/status`,
              singularName: "",
              namespaced: k.namespaced,
              kind: k.kind,
              verbs: ["get", "patch", "update"],
            },
          ]
        : []),
    ]);
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: group ? `${group}/${version}` : version,
      resources,
    };
  }
}

/** The installer's cluster-scoped kinds (v1 only; deploy/crds): ProfileApproval, ProfileNodeStatus. */
export function installerKinds(): KindSpec[] {
  return [
    ["ProfileApproval", "profileapprovals"],
    ["ProfileNodeStatus", "profilenodestatuses"],
  ].map(([kind = "", plural = ""]) => ({ group: SPO_GROUP, version: "v1", kind, plural, namespaced: false }));
}
