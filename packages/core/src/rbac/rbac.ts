import { API_CALLS, type ApiCall, type Component, type Verb } from "./table.js";

export const NAMESPACE = "secprof";
type Obj = Record<string, unknown>;

const VERB_ORDER: readonly Verb[] = [
  "get",
  "list",
  "watch",
  "create",
  "update",
  "patch",
  "delete",
  "deletecollection",
];

/** ClusterRole rules for one component: one rule per (group, verb set), resources sorted. */
export function rulesFor(component: Component, calls: readonly ApiCall[] = API_CALLS): Obj[] {
  const byKey = new Map<string, { group: string; verbs: Verb[]; resources: Set<string> }>();
  for (const c of calls) {
    if (c.component !== component) continue;
    const verbs = VERB_ORDER.filter((v) => c.verbs.includes(v));
    const key = `${c.group}|${verbs.join(",")}`;
    const entry = byKey.get(key) ?? { group: c.group, verbs, resources: new Set<string>() };
    entry.resources.add(c.subresource ? `${c.resource}/${c.subresource}` : c.resource);
    byKey.set(key, entry);
  }
  return [...byKey.values()]
    .sort((a, b) => a.group.localeCompare(b.group) || a.verbs.join().localeCompare(b.verbs.join()))
    .map((e) => ({ apiGroups: [e.group], resources: [...e.resources].sort(), verbs: e.verbs }));
}

export function rbacFor(component: Component): Obj[] {
  const name = `secprof-${component}`;
  const labels = { "app.kubernetes.io/name": "secprof", "app.kubernetes.io/component": component };
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: NAMESPACE, labels } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name, labels },
      rules: rulesFor(component),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
      subjects: [{ kind: "ServiceAccount", name, namespace: NAMESPACE }],
    },
  ];
}
