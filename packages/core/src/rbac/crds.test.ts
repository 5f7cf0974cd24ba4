import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CRD_SOURCES } from "./crds.js";
import { type Schema, structuralErrors, validate } from "./schema.js";

const deploy = new URL("../../../../deploy/", import.meta.url);
// biome-ignore lint/suspicious/noExplicitAny: untyped parsed YAML
type Obj = Record<string, any>;
const crds: Obj[] = CRD_SOURCES.map((c) =>
  parse(readFileSync(new URL(`crds/${c.plural}.yaml`, deploy), "utf8")),
);
const byKind = new Map(crds.map((c) => [c.spec.names.kind as string, c]));

function schemaOf(kind: string, version: string): Schema {
  const v = byKind.get(kind)?.spec.versions.find((x: Obj) => x.name === version);
  if (!v) throw new Error(`no ${kind}/${version}`);
  return v.schema.openAPIV3Schema;
}
const check = (obj: Obj) => validate(schemaOf(obj.kind, obj.apiVersion.split("/")[1]), obj);

describe("CRDs are apiextensions.k8s.io/v1 structural CRDs", () => {
  it.each(crds.map((c) => [c.metadata.name, c] as const))("%s", (_name, crd) => {
    expect(crd.apiVersion).toBe("apiextensions.k8s.io/v1");
    expect(crd.kind).toBe("CustomResourceDefinition");
    expect(crd.spec.group).toBe("security-profiles-operator.x-k8s.io");
    expect(crd.metadata.name).toBe(`${crd.spec.names.plural}.${crd.spec.group}`);
    expect(["Namespaced", "Cluster"]).toContain(crd.spec.scope);
    for (const k of ["kind", "listKind", "plural", "singular"])
      expect(typeof crd.spec.names[k]).toBe("string");
    expect(crd.spec.versions.filter((v: Obj) => v.storage)).toHaveLength(1);
    for (const v of crd.spec.versions) {
      expect(typeof v.served).toBe("boolean");
      const root = v.schema.openAPIV3Schema;
      expect(structuralErrors(root)).toEqual([]);
      expect(root.type).toBe("object");
      // metadata may only be declared as a bare object at the root.
      expect(root.properties.metadata).toEqual({ type: "object" });
      if (v.subresources?.status !== undefined) expect(root.properties.status).toBeDefined();
    }
  });

  it("scopes follow SPO: recordings namespaced, profiles and node statuses cluster-scoped", () => {
    expect(byKind.get("ProfileRecording")?.spec.scope).toBe("Namespaced");
    for (const k of [
      "SeccompProfile",
      "SelinuxProfile",
      "AppArmorProfile",
      "ProfileNodeStatus",
      "ProfileApproval",
    ])
      expect(byKind.get(k)?.spec.scope).toBe("Cluster");
  });

  it("ProfileRecording: v1 stored, v1alpha1 served, status.conditions declared", () => {
    const versions = byKind.get("ProfileRecording")?.spec.versions as Obj[];
    expect(versions.map((v) => [v.name, v.served, v.storage])).toEqual([
      ["v1", true, true],
      ["v1alpha1", true, false],
    ]);
    const cond = schemaOf("ProfileRecording", "v1").properties?.status?.properties?.conditions;
    expect(cond?.items?.required).toEqual(expect.arrayContaining(["type", "status", "reason"]));
  });

  it("every array has maxItems and every string has a bound (length, enum, pattern or format)", () => {
    const walk = (s: Schema, path: string): string[] => {
      const out: string[] = [];
      if (s.type === "array" && s.maxItems === undefined) out.push(path);
      if (
        s.type === "string" &&
        path.split(".").length > 2 &&
        !s.maxLength &&
        !s.enum &&
        !s.pattern &&
        !s.format
      )
        out.push(path);
      for (const [k, v] of Object.entries(s.properties ?? {})) out.push(...walk(v, `${path}.${k}`));
      if (s.items) out.push(...walk(s.items, `${path}[]`));
      if (s.additionalProperties) out.push(...walk(s.additionalProperties, `${path}.*`));
      return out;
    };
    for (const c of crds)
      for (const v of c.spec.versions) expect(walk(v.schema.openAPIV3Schema, c.spec.names.kind)).toEqual([]);
  });
});

const SPO_V1_RECORDING = `
apiVersion: security-profiles-operator.x-k8s.io/v1
kind: ProfileRecording
metadata:
  name: test-recording
  namespace: default
spec:
  kind: SeccompProfile
  recorder: Logs
  mergeStrategy: Containers
  disableProfileAfterRecording: false
  containers:
    - nginx
    - redis
  podSelector:
    matchLabels:
      app: my-app
    matchExpressions:
      - key: tier
        operator: In
        values: [frontend]
status:
  activeWorkloads: [my-app-7d9c, my-app-x2f1]
`;
const V1ALPHA1_RECORDING = `
apiVersion: security-profiles-operator.x-k8s.io/v1alpha1
kind: ProfileRecording
metadata: { name: old-rec, namespace: shop }
spec:
  kind: SelinuxProfile
  recorder: logs
  mergeStrategy: none
  podSelector: { matchLabels: { app: web } }
`;
const SAMPLES: Obj[] = [
  parse(SPO_V1_RECORDING),
  parse(V1ALPHA1_RECORDING),
  {
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "ProfileRecording",
    metadata: { name: "r" },
    spec: { kind: "AppArmorProfile", recorder: "Bpf", podSelector: {} },
    status: {
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Available",
          message: "",
          lastTransitionTime: "2026-01-01T00:00:00Z",
          observedGeneration: 3,
        },
      ],
    },
  },
  parse(`
apiVersion: security-profiles-operator.x-k8s.io/v1
kind: SeccompProfile
metadata:
  name: web-rec-nginx
  labels:
    spo.x-k8s.io/recording-id: web-rec
spec:
  defaultAction: SCMP_ACT_ERRNO
  architectures: [SCMP_ARCH_X86_64]
  syscalls:
    - action: SCMP_ACT_ALLOW
      names: [accept4, epoll_wait, openat, read, write]
    - action: SCMP_ACT_ERRNO
      errnoRet: 1
      names: [personality]
      args: [{ index: 0, value: 8, op: SCMP_CMP_EQ }]
status:
  status: Installed
  localhostProfile: operator/web-rec-nginx.json
`),
  {
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "SelinuxProfile",
    metadata: { name: "nginx-rec-nginx" },
    spec: {
      inherit: [{ kind: "System", name: "container" }],
      allow: { "@self": { tcp_socket: ["listen"] }, http_port_t: { tcp_socket: ["name_bind"] } },
    },
  },
  {
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "AppArmorProfile",
    metadata: { name: "aa" },
    spec: {
      mode: "Complain",
      abstract: {
        executable: { allowedExecutables: ["/usr/sbin/nginx"] },
        network: { allowRaw: false, allowedProtocols: { allowTcp: true } },
        capability: { allowedCapabilities: ["net_bind_service"] },
      },
    },
  },
  {
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "ProfileNodeStatus",
    metadata: { name: "web-rec-nginx-node-1" },
    spec: { node: "node-1", kind: "SeccompProfile", name: "web-rec-nginx" },
    status: { state: "Installed", message: "", digest: `sha256:${"a".repeat(64)}` },
  },
  {
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "ProfileApproval",
    metadata: { name: "approval-1" },
    spec: {
      kind: "SeccompProfile",
      name: "web-rec-nginx",
      digest: `sha256:${"0".repeat(64)}`,
      approvedBy: "alice@example.com",
      approvedAt: "2026-01-01T00:00:00Z",
      revoked: { by: "bob", at: "2026-01-02T00:00:00+01:00" },
    },
  },
];

describe("sample objects validate against the CRD schemas", () => {
  it.each(SAMPLES.map((s) => [`${s.kind} ${s.apiVersion}`, s] as const))("%s", (_n, sample) => {
    expect(check(sample)).toEqual([]);
  });

  const bad = (base: Obj, edit: (o: Obj) => void) => {
    const o = structuredClone(base);
    edit(o);
    return check(o);
  };
  it("rejects bad enums, names, digests, list sizes and unknown fields", () => {
    const rec = SAMPLES[0] as Obj;
    expect(
      bad(rec, (o) => {
        o.spec.recorder = "Ebpf";
      }),
    ).not.toEqual([]);
    expect(
      bad(rec, (o) => {
        o.spec.containers = ["Not_A_Label"];
      }),
    ).not.toEqual([]);
    expect(
      bad(rec, (o) => {
        o.spec.containers = Array.from({ length: 257 }, (_, i) => `c${i}`);
      }),
    ).not.toEqual([]);
    expect(
      bad(rec, (o) => {
        delete o.spec.podSelector;
      }),
    ).not.toEqual([]);
    expect(
      bad(rec, (o) => {
        o.spec.typo = 1;
      }),
    ).not.toEqual([]);
    const sp = SAMPLES[3] as Obj;
    expect(
      bad(sp, (o) => {
        o.spec.syscalls[1].args = Array(7).fill({ index: 0, op: "SCMP_CMP_EQ" });
      }),
    ).not.toEqual([]);
    expect(
      bad(sp, (o) => {
        o.spec.defaultAction = "SCMP_ACT_NOPE";
      }),
    ).not.toEqual([]);
    const ns = SAMPLES[6] as Obj;
    expect(
      bad(ns, (o) => {
        o.status.state = "Done";
      }),
    ).not.toEqual([]);
    expect(
      bad(ns, (o) => {
        o.spec.node = "../etc";
      }),
    ).not.toEqual([]);
    const ap = SAMPLES[7] as Obj;
    expect(
      bad(ap, (o) => {
        o.spec.digest = "sha256:ABC";
      }),
    ).not.toEqual([]);
    expect(
      bad(ap, (o) => {
        o.spec.approvedBy = "evil\nline";
      }),
    ).not.toEqual([]);
    expect(
      bad(ap, (o) => {
        o.spec.namespace = "Bad.NS";
      }),
    ).not.toEqual([]);
  });
});
