import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { deployTree } from "./manifests.js";
import { rulesFor } from "./rbac.js";
import { API_CALLS, COMPONENTS, HUMAN_ONLY_RESOURCES, SPO_GROUP, WRITE_VERBS } from "./table.js";

const deploy = new URL("../../../../deploy/", import.meta.url);
// biome-ignore lint/suspicious/noExplicitAny: untyped parsed YAML
type Obj = Record<string, any>;
const readDocs = (rel: string): unknown[] =>
  parseAllDocuments(readFileSync(new URL(rel, deploy), "utf8")).map((d) => d.toJSON());

describe("committed deploy/ matches the generator (npx vite-node scripts/gen-deploy.mjs)", () => {
  it.each([...deployTree()].map(([rel, docs]) => [rel, docs] as const))("deploy/%s", (rel, docs) => {
    expect(readDocs(rel), `deploy/${rel} drifted: rerun scripts/gen-deploy.mjs`).toEqual(docs);
  });
});

const roles = COMPONENTS.map(
  (c) => [c, (readDocs(`rbac/${c}.yaml`) as Obj[]).find((d) => d.kind === "ClusterRole")] as const,
);

/** Does the role allow verb on group/resource? */
function allows(role: Obj, verb: string, group: string, resource: string): boolean {
  return (role.rules as Obj[]).some(
    (r) =>
      (r.apiGroups.includes(group) || r.apiGroups.includes("*")) &&
      (r.resources.includes(resource) || r.resources.includes("*")) &&
      (r.verbs.includes(verb) || r.verbs.includes("*")),
  );
}

describe("RBAC", () => {
  it.each(roles)("no daemon role (%s) can write profileapprovals", (_c, role) => {
    for (const res of HUMAN_ONLY_RESOURCES)
      for (const verb of [...WRITE_VERBS, "escalate", "bind", "impersonate"]) {
        expect(allows(role as Obj, verb, SPO_GROUP, res)).toBe(false);
        expect(allows(role as Obj, verb, SPO_GROUP, `${res}/status`)).toBe(false);
      }
  });

  it.each(roles)("%s role grants exactly the table's calls, no wildcards", (c, role) => {
    const r = role as Obj;
    for (const rule of r.rules as Obj[])
      for (const f of ["apiGroups", "resources", "verbs"]) expect(rule[f]).not.toContain("*");
    expect(r.rules).toEqual(rulesFor(c));
    for (const call of API_CALLS.filter((x) => x.component === c))
      for (const v of call.verbs)
        expect(
          allows(r, v, call.group, call.subresource ? `${call.resource}/${call.subresource}` : call.resource),
        ).toBe(true);
    const granted = (r.rules as Obj[]).reduce((n, x) => n + x.resources.length * x.verbs.length, 0);
    const needed = new Set(
      API_CALLS.filter((x) => x.component === c).flatMap((x) =>
        x.verbs.map((v) => `${x.group}|${x.resource}/${x.subresource ?? ""}|${v}`),
      ),
    );
    expect(granted).toBe(needed.size);
  });

  it("the measured call list", () => {
    const sum = (c: string) =>
      API_CALLS.filter((x) => x.component === c)
        .flatMap((x) =>
          x.verbs.map((v) => `${v} ${x.subresource ? `${x.resource}/${x.subresource}` : x.resource}`),
        )
        .sort();
    expect(sum("recorder")).toEqual([
      "list namespaces",
      "list pods",
      "list profilerecordings",
      "watch namespaces",
      "watch pods",
      "watch profilerecordings",
    ]);
    expect(sum("webhook")).toEqual([
      "create events",
      "list namespaces",
      "list profilerecordings",
      "watch namespaces",
      "watch profilerecordings",
    ]);
    expect(sum("installer")).toContain("create profilenodestatuses");
    expect(sum("installer").filter((s) => s.endsWith("profileapprovals"))).toEqual([
      "list profileapprovals",
      "watch profileapprovals",
    ]);
    // Only the merger writes profiles; nobody deletes node statuses or touches secrets.
    for (const c of ["recorder", "webhook", "installer"])
      expect(
        sum(c).filter((s) => /^(create|update|delete) (seccomp|selinux|apparmor)profiles/.test(s)),
      ).toEqual([]);
    expect(API_CALLS.some((x) => x.resource === "secrets")).toBe(false);
  });

  it("each ClusterRoleBinding binds its own ServiceAccount in secprof", () => {
    for (const c of COMPONENTS) {
      const docs = readDocs(`rbac/${c}.yaml`) as Obj[];
      const crb = docs.find((d) => d.kind === "ClusterRoleBinding") as Obj;
      expect(crb.roleRef).toEqual({
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: `secprof-${c}`,
      });
      expect(crb.subjects).toEqual([{ kind: "ServiceAccount", name: `secprof-${c}`, namespace: "secprof" }]);
      expect(docs.find((d) => d.kind === "ServiceAccount")?.metadata).toMatchObject({
        name: `secprof-${c}`,
        namespace: "secprof",
      });
    }
  });
});
