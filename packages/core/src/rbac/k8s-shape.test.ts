/**
 * Offline Kubernetes shape checks of every generated manifest: @kubernetes/client-node's generated
 * models carry each API type's field names and types (attributeTypeMap), which catches unknown
 * fields; the OpenAPI schemas allow those, so k8s-openapi.test.ts (kubernetes-models validators:
 * types, required fields, enums, formats) does not.
 */
import * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { deployTree, type Obj } from "./manifests.js";

// biome-ignore lint/suspicious/noExplicitAny: untyped parsed YAML
type Any = Record<string, any>;
type Attr = { name: string; baseName: string; type: string };
const models = k8s as unknown as Record<string, { getAttributeTypeMap?: () => Attr[] }>;

const KINDS: Record<string, string> = {
  "v1/Namespace": "V1Namespace",
  "v1/ServiceAccount": "V1ServiceAccount",
  "v1/Service": "V1Service",
  "rbac.authorization.k8s.io/v1/ClusterRole": "V1ClusterRole",
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "V1ClusterRoleBinding",
  "apps/v1/DaemonSet": "V1DaemonSet",
  "apps/v1/Deployment": "V1Deployment",
  "apps/v1/StatefulSet": "V1StatefulSet",
  "networking.k8s.io/v1/NetworkPolicy": "V1NetworkPolicy",
  "policy/v1/PodDisruptionBudget": "V1PodDisruptionBudget",
  "admissionregistration.k8s.io/v1/MutatingWebhookConfiguration": "V1MutatingWebhookConfiguration",
  "apiextensions.k8s.io/v1/CustomResourceDefinition": "V1CustomResourceDefinition",
};

/** Type errors of `value` against a client-node type string. */
function check(type: string, value: unknown, path: string): string[] {
  if (type === "any" || type === "object" || type === "{ [key: string]: any; }") return [];
  if (type === "string") return typeof value === "string" ? [] : [`${path}: expected string`];
  if (type === "boolean") return typeof value === "boolean" ? [] : [`${path}: expected boolean`];
  if (type === "number") return typeof value === "number" ? [] : [`${path}: expected number`];
  if (type === "Date")
    return typeof value === "string" && !Number.isNaN(Date.parse(value)) ? [] : [`${path}: expected date`];
  if (type === "IntOrString")
    return typeof value === "string" || Number.isInteger(value) ? [] : [`${path}: expected int-or-string`];
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr)
    return Array.isArray(value)
      ? value.flatMap((v, i) => check(arr[1] as string, v, `${path}[${i}]`))
      : [`${path}: expected array`];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return [`${path}: expected map`];
    return Object.entries(value).flatMap(([k, v]) => check(map[1] as string, v, `${path}.${k}`));
  }
  const model = models[type];
  if (!model?.getAttributeTypeMap) return [`${path}: unknown model ${type}`];
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return [`${path}: expected ${type} object`];
  const attrs = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a]));
  return Object.entries(value).flatMap(([k, v]) => {
    const a = attrs.get(k);
    if (!a) return [`${path}: unknown field ${k} in ${type}`];
    return check(a.type, v, `${path}.${k}`);
  });
}

const docs: [string, Any][] = [...deployTree()].flatMap(([rel, ds]) =>
  rel.endsWith("kustomization.yaml") || rel.startsWith("overlays/")
    ? []
    : ds.map((d: Obj, i) => [`${rel}#${i} ${String(d.kind)}`, d as Any] as [string, Any]),
);

describe("generated manifests have a valid Kubernetes shape", () => {
  it.each(docs)("%s", (_n, d) => {
    const model = KINDS[`${d.apiVersion}/${d.kind}`];
    expect(model, `unknown apiVersion/kind ${d.apiVersion}/${d.kind}`).toBeDefined();
    expect(check(model as string, d, d.kind)).toEqual([]);
    expect(d.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    const clusterScoped = [
      "Namespace",
      "ClusterRole",
      "ClusterRoleBinding",
      "MutatingWebhookConfiguration",
      "CustomResourceDefinition",
    ];
    if (clusterScoped.includes(d.kind)) expect(d.metadata.namespace).toBeUndefined();
    else expect(d.metadata.namespace).toBe("secprof");

    const tpl = d.spec?.template;
    if (tpl) {
      expect(d.spec.selector.matchLabels).toBeDefined();
      for (const [k, v] of Object.entries(d.spec.selector.matchLabels))
        expect(tpl.metadata.labels[k]).toBe(v);
      const pod = tpl.spec;
      expect(pod.containers.length).toBeGreaterThan(0);
      const volumes = new Set(
        [...(pod.volumes ?? []), ...(d.spec.volumeClaimTemplates ?? []).map((v: Any) => v.metadata)].map(
          (v: Any) => v.name,
        ),
      );
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        expect(typeof c.name).toBe("string");
        expect(typeof c.image).toBe("string");
        expect(c.resources?.limits?.memory, `${c.name} memory limit`).toBeDefined();
        const sc = c.securityContext;
        expect(sc, `${c.name} securityContext`).toBeDefined();
        expect(typeof sc.readOnlyRootFilesystem).toBe("boolean");
        expect(sc.readOnlyRootFilesystem).toBe(true);
        expect(Array.isArray(sc.capabilities.drop)).toBe(true);
        expect(sc.capabilities.drop).toEqual(["ALL"]);
        expect(typeof sc.runAsNonRoot).toBe("boolean");
        for (const m of c.volumeMounts ?? [])
          expect(volumes.has(m.name), `${c.name} mounts undeclared ${m.name}`).toBe(true);
        // API server rule: privileged and allowPrivilegeEscalation=false are mutually exclusive.
        expect(sc.privileged === true && sc.allowPrivilegeEscalation === false).toBe(false);
      }
    }
  });

  it("the record overlay patch is a valid partial DaemonSet", () => {
    const patch = deployTree().get("overlays/record/recorder-privileged.yaml")?.[0] as Any;
    expect(check("V1DaemonSet", patch, "patch")).toEqual([]);
  });

  it("Redis never evicts queue data and persists it", () => {
    const sts = docs.map(([, d]) => d).find((d) => d.kind === "StatefulSet") as Any;
    const args: string[] = sts.spec.template.spec.containers[0].args;
    expect(args.join(" ")).toContain("--maxmemory-policy noeviction");
    expect(args.join(" ")).toContain("--appendonly yes");
  });

  it("the webhook fails open, is opt-in per namespace and points at the handler path", () => {
    const mwc = docs.map(([, d]) => d).find((d) => d.kind === "MutatingWebhookConfiguration") as Any;
    const [w] = mwc.webhooks;
    expect(w.failurePolicy).toBe("Ignore");
    expect(w.namespaceSelector).toEqual({
      matchExpressions: [{ key: "spo.x-k8s.io/enable-recording", operator: "Exists" }],
    });
    expect(w.clientConfig.service.path).toBe("/mutate-v1-pod-recording");
  });

  it("installer: init container has exactly the four capabilities, main container uid 65535, three writable host paths", () => {
    const ds = docs
      .map(([, d]) => d)
      .find((d) => d.kind === "DaemonSet" && d.metadata.name === "secprof-installer") as Any;
    const pod = ds.spec.template.spec;
    expect(pod.initContainers[0].securityContext.capabilities.add.sort()).toEqual([
      "CHOWN",
      "DAC_OVERRIDE",
      "FOWNER",
      "FSETID",
    ]);
    expect(pod.containers[0].securityContext).toMatchObject({ runAsUser: 65535, runAsNonRoot: true });
    expect(
      pod.volumes
        .filter((v: Any) => v.hostPath)
        .map((v: Any) => v.hostPath.path)
        .sort(),
    ).toEqual(["/etc/apparmor.d", "/etc/selinux.d", "/var/lib/kubelet/seccomp"]);
    expect(pod.hostPID).toBeUndefined();
  });

  it("daemons get the env vars they read", () => {
    const env = (name: string) =>
      (
        docs.map(([, d]) => d).find((d) => d.metadata.name === name && d.spec?.template) as Any
      ).spec.template.spec.containers[0].env.map((e: Any) => e.name);
    expect(env("secprof-recorder")).toEqual(
      expect.arrayContaining([
        "NODE_NAME",
        "SECPROF_REDIS_URL",
        "SECPROF_AUDIT_LOG",
        "SECPROF_CHECKPOINT",
        "SECPROF_SPOOL",
        "SECPROF_METRICS_PORT",
      ]),
    );
    expect(env("secprof-merger")).toEqual(
      expect.arrayContaining([
        "SECPROF_REDIS_URL",
        "SECPROF_API_TOKEN",
        "SECPROF_API_PORT",
        "SECPROF_METRICS_PORT",
      ]),
    );
  });
});
