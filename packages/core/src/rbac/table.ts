/**
 * Every Kubernetes API call each secprof component makes: the single source for deploy/rbac/.
 * Measured with the fake API server's request log; keep in sync when a component gains a call.
 */
export type Component = "recorder" | "merger" | "installer" | "webhook";
export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete" | "deletecollection";

export interface ApiCall {
  component: Component;
  verbs: readonly Verb[];
  /** "" is the core group. */
  group: string;
  resource: string;
  subresource?: string;
  /** `cluster`: cluster-scoped objects; `all-namespaces`: namespaced objects across namespaces. */
  scope: "cluster" | "all-namespaces";
  why: string;
}

export const SPO_GROUP = "security-profiles-operator.x-k8s.io";
export const COMPONENTS: readonly Component[] = ["recorder", "merger", "installer", "webhook"];
const PROFILES = ["seccompprofiles", "selinuxprofiles", "apparmorprofiles"] as const;

export const API_CALLS: readonly ApiCall[] = [
  // recorder
  {
    component: "recorder",
    verbs: ["list", "watch"],
    group: "",
    resource: "pods",
    scope: "all-namespaces",
    why: "pods on its node (fieldSelector spec.nodeName)",
  },
  {
    component: "recorder",
    verbs: ["list", "watch"],
    group: "",
    resource: "namespaces",
    scope: "cluster",
    why: "namespace labels for recording opt-in",
  },
  {
    component: "recorder",
    verbs: ["list", "watch"],
    group: SPO_GROUP,
    resource: "profilerecordings",
    scope: "all-namespaces",
    why: "which pods to record",
  },
  // merger
  {
    component: "merger",
    verbs: ["get", "list", "watch"],
    group: SPO_GROUP,
    resource: "profilerecordings",
    scope: "all-namespaces",
    why: "recordings to merge",
  },
  {
    component: "merger",
    verbs: ["update"],
    group: SPO_GROUP,
    resource: "profilerecordings",
    subresource: "status",
    scope: "all-namespaces",
    why: "Ready condition",
  },
  {
    component: "merger",
    verbs: ["create"],
    group: "",
    resource: "events",
    scope: "all-namespaces",
    why: "merge results",
  },
  ...PROFILES.map(
    (resource): ApiCall => ({
      component: "merger",
      verbs: ["create", "get", "update", "list", "delete"],
      group: SPO_GROUP,
      resource,
      scope: "cluster",
      why: "write merged profiles",
    }),
  ),
  // webhook
  {
    component: "webhook",
    verbs: ["list", "watch"],
    group: SPO_GROUP,
    resource: "profilerecordings",
    scope: "all-namespaces",
    why: "match pods to recordings",
  },
  {
    component: "webhook",
    verbs: ["list", "watch"],
    group: "",
    resource: "namespaces",
    scope: "cluster",
    why: "namespace opt-in label",
  },
  {
    component: "webhook",
    verbs: ["create"],
    group: "",
    resource: "events",
    scope: "all-namespaces",
    why: "NameNotDNSLabel and similar warnings",
  },
  // installer (measured: packages/installer/src/daemon/cluster.test.ts compares its request log)
  ...PROFILES.map(
    (resource): ApiCall => ({
      component: "installer",
      verbs: ["list", "watch", "patch"],
      group: SPO_GROUP,
      resource,
      scope: "cluster",
      why: "profiles to install; patch: only this node's finalizer (JSON patch guarded by resourceVersion)",
    }),
  ),
  ...PROFILES.map(
    (resource): ApiCall => ({
      component: "installer",
      verbs: ["patch"],
      group: SPO_GROUP,
      resource,
      subresource: "status",
      scope: "cluster",
      why: "aggregated state and Ready condition",
    }),
  ),
  {
    component: "installer",
    verbs: ["list", "watch"],
    group: SPO_GROUP,
    resource: "profileapprovals",
    scope: "cluster",
    why: "only approved digests are installed (read only)",
  },
  {
    component: "installer",
    verbs: ["create", "update", "list", "watch"],
    group: SPO_GROUP,
    resource: "profilenodestatuses",
    scope: "cluster",
    why: "per-node install state; every node's, for the aggregated state",
  },
  {
    component: "installer",
    verbs: ["list", "watch"],
    group: "",
    resource: "pods",
    scope: "all-namespaces",
    why: "pods on its node (usage / deletion protection)",
  },
];

/** Resources no daemon may ever write: approvals are made by people through the CLI. */
export const HUMAN_ONLY_RESOURCES: readonly string[] = ["profileapprovals"];
export const WRITE_VERBS: readonly Verb[] = ["create", "update", "patch", "delete", "deletecollection"];
