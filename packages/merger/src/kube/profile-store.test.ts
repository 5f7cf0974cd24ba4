import { CustomObjectsApi } from "@kubernetes/client-node";
import { LABELS, type SeccompProfile } from "@secprof/core";
import {
  type FakeApiServer,
  type KObject,
  type RequestRecord,
  SPO_GROUP,
  spoKinds,
  startFakeApiServer,
} from "@secprof/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { KubeProfileStore, ProfileConflictError, ProfileOwnershipError } from "./profile-store.js";

const calls = (reqs: RequestRecord[], user: string) =>
  [
    ...new Set(
      reqs
        .filter((r) => r.user === user && r.nonResourceURL === "")
        .map(
          (r) =>
            `${r.verb} ${r.group || "core"} ${r.resource}${r.subresource ? `/${r.subresource}` : ""} ${r.namespace ? "ns" : "cluster"}`,
        ),
    ),
  ].sort();

function seccomp(
  name: string,
  syscalls: string[],
  labels: Record<string, string> = {},
  annotations?: Record<string, string>,
): SeccompProfile {
  return {
    apiVersion: `${SPO_GROUP}/v1`,
    kind: "SeccompProfile",
    metadata: { name, labels, ...(annotations === undefined ? {} : { annotations }) },
    spec: {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names: syscalls, action: "SCMP_ACT_ALLOW" }],
    },
  };
}
const recLabels = (rec: string, ns: string, container: string, partial = false) => ({
  [LABELS.recordingId]: rec,
  [LABELS.recordingNamespace]: ns,
  [LABELS.containerId]: container,
  ...(partial ? { [LABELS.partial]: "true" } : {}),
});
const names = (p: SeccompProfile["spec"]) => p.syscalls?.flatMap((r) => r.names) ?? [];

let api: FakeApiServer | undefined;
async function server(profilesNamespaced: boolean): Promise<FakeApiServer> {
  api = await startFakeApiServer({
    kinds: spoKinds({ profilesNamespaced }),
    namespaces: ["default", "shop", "ops"],
  });
  return api;
}
afterEach(async () => {
  await api?.close();
  api = undefined;
});

/** A client whose GETs let a "concurrent writer" bump the object before the caller's replace. */
function racyClient(a: FakeApiServer, user: string, bumps: { left: number }): CustomObjectsApi {
  const bump = (name: string, namespace?: string) => {
    const o = a.get(`${SPO_GROUP}/v1`, "SeccompProfile", name, namespace);
    if (o === undefined) return;
    const annotations = { ...(o.metadata.annotations ?? {}), "other-writer": String(bumps.left) };
    a.put({ ...o, metadata: { ...o.metadata, annotations } });
  };
  class Racy extends CustomObjectsApi {
    override async getClusterCustomObject(...args: Parameters<CustomObjectsApi["getClusterCustomObject"]>) {
      const o: unknown = await super.getClusterCustomObject(...args);
      if (bumps.left > 0) {
        bump(args[0].name);
        bumps.left -= 1;
      }
      return o;
    }
    override async getNamespacedCustomObject(
      ...args: Parameters<CustomObjectsApi["getNamespacedCustomObject"]>
    ) {
      const o: unknown = await super.getNamespacedCustomObject(...args);
      if (bumps.left > 0) {
        bump(args[0].name, args[0].namespace);
        bumps.left -= 1;
      }
      return o;
    }
  }
  return a.kubeConfig(user).makeApiClient(Racy);
}

describe("KubeProfileStore, cluster-scoped profiles (SPO's current layout, the default)", () => {
  it("creates, then updates in place: spec and owned labels/annotations replaced, identity and foreign keys kept", async () => {
    const a = await server(false);
    const store = new KubeProfileStore({ kubeConfig: a.kubeConfig("merger") });
    expect(await store.scopeOf("SeccompProfile")).toBe("Cluster");

    const first = await store.put(
      "shop",
      seccomp("rec-app", ["read"], recLabels("rec", "shop", "app"), { "secprof.x-k8s.io/incomplete": "{}" }),
    );
    expect(first.metadata.namespace).toBeUndefined();
    expect(first.metadata.uid).toBeTruthy();
    const uid = first.metadata.uid;

    // Someone else labels/annotates it (kubectl, GitOps): foreign keys must survive our update.
    const o = a.get(`${SPO_GROUP}/v1`, "SeccompProfile", "rec-app") as KObject;
    a.put({
      ...o,
      metadata: {
        ...o.metadata,
        labels: { ...o.metadata.labels, team: "payments" },
        finalizers: ["keep/me"],
      },
    });

    const second = await store.put(
      "shop",
      seccomp("rec-app", ["read", "write"], recLabels("rec", "shop", "app")),
    );
    expect(second.metadata).toMatchObject({ name: "rec-app", uid, finalizers: ["keep/me"] });
    expect(second.metadata.namespace).toBeUndefined();
    expect(second.metadata.labels).toEqual({ ...recLabels("rec", "shop", "app"), team: "payments" });
    // The stale "incomplete" marker of the earlier recording is gone (owned prefix, absent now).
    expect(second.metadata.annotations).toBeUndefined();
    expect(second.kind === "SeccompProfile" && names(second.spec)).toEqual(["read", "write"]);
    expect(await store.get("SeccompProfile", "shop", "rec-app")).toMatchObject({ metadata: { uid } });
    expect(await store.get("SeccompProfile", "shop", "missing")).toBeUndefined();

    expect(calls(a.requests, "merger")).toEqual([
      "create security-profiles-operator.x-k8s.io seccompprofiles cluster",
      "get security-profiles-operator.x-k8s.io seccompprofiles cluster",
      "update security-profiles-operator.x-k8s.io seccompprofiles cluster",
    ]);
    const codes = a.requests.filter((r) => r.user === "merger").map((r) => `${r.verb}:${r.code}`);
    expect(codes.slice(0, 4)).toEqual(["create:201", "create:409", "get:200", "update:200"]);
  });

  it("retries a replace that conflicts with a concurrent writer, with the fresh resourceVersion", async () => {
    const a = await server(false);
    const admin = new KubeProfileStore({ kubeConfig: a.kubeConfig("admin") });
    await admin.put("shop", seccomp("rec-app", ["read"], recLabels("rec", "shop", "app")));

    const bumps = { left: 2 };
    const store = new KubeProfileStore({
      client: racyClient(a, "merger", bumps),
      backoff: { initialMs: 1, maxMs: 5 },
    });
    const out = await store.put("shop", seccomp("rec-app", ["openat"], recLabels("rec", "shop", "app")));
    expect(bumps.left).toBe(0);
    expect(out.kind === "SeccompProfile" && names(out.spec)).toEqual(["openat"]);
    // The concurrent writer's foreign annotation survives; our spec won.
    expect(out.metadata.annotations).toEqual({ "other-writer": "1" });
    const mine = a.requests.filter((r) => r.user === "merger").map((r) => `${r.verb}:${r.code}`);
    expect(mine).toEqual([
      "create:409",
      "get:200",
      "update:409",
      "get:200",
      "update:409",
      "get:200",
      "update:200",
    ]);

    // A writer that never stops: bounded attempts, then a typed error.
    const forever = { left: Number.POSITIVE_INFINITY };
    const loser = new KubeProfileStore({
      client: racyClient(a, "loser", forever),
      maxAttempts: 3,
      backoff: { initialMs: 1, maxMs: 2 },
    });
    await expect(loser.put("shop", seccomp("rec-app", ["close"]))).rejects.toBeInstanceOf(
      ProfileConflictError,
    );
    expect(a.requests.filter((r) => r.user === "loser" && r.verb === "update")).toHaveLength(3);
  });

  it("lists by labels within the recording's namespace, paging through the results", async () => {
    const a = await server(false);
    const store = new KubeProfileStore({ kubeConfig: a.kubeConfig("merger"), pageSize: 2 });
    for (const suffix of ["a1", "b2", "c3"])
      await store.put("shop", seccomp(`rec-app-${suffix}`, ["read"], recLabels("rec", "shop", "app", true)));
    await store.put("shop", seccomp("rec-db-x1", ["read"], recLabels("rec", "shop", "db", true)));
    await store.put("shop", seccomp("rec-app", ["read"], recLabels("rec", "shop", "app")));
    await store.put("ops", seccomp("rec-app-z9", ["read"], recLabels("rec", "ops", "app", true)));

    const partials = await store.list("SeccompProfile", "shop", {
      [LABELS.recordingId]: "rec",
      [LABELS.partial]: "true",
    });
    expect(partials.map((p) => p.metadata.name)).toEqual([
      "rec-app-a1",
      "rec-app-b2",
      "rec-app-c3",
      "rec-db-x1",
    ]);
    const ofApp = await store.list("SeccompProfile", "shop", { [LABELS.containerId]: "app" });
    expect(ofApp.map((p) => p.metadata.name)).toEqual(["rec-app", "rec-app-a1", "rec-app-b2", "rec-app-c3"]);
    expect((await store.list("SeccompProfile", "", { [LABELS.partial]: "true" })).length).toBe(5);
    expect(await store.list("SeccompProfile", "shop", { [LABELS.recordingNamespace]: "ops" })).toEqual([]);
    expect(await store.list("AppArmorProfile", "shop")).toEqual([]);

    const lists = a.requests.filter((r) => r.user === "merger" && r.verb === "list");
    expect(lists.some((r) => decodeURIComponent(r.path).includes(`${LABELS.recordingNamespace}=shop`))).toBe(
      true,
    );
    expect(lists.some((r) => r.path.includes("continue="))).toBe(true);
  });

  it("keeps namespaces apart on shared cluster-scoped names, and deletes idempotently", async () => {
    const a = await server(false);
    const store = new KubeProfileStore({ kubeConfig: a.kubeConfig("merger") });
    await store.put("shop", seccomp("rec-app", ["read"], recLabels("rec", "shop", "app")));

    await expect(
      store.put("ops", seccomp("rec-app", ["write"], recLabels("rec", "ops", "app"))),
    ).rejects.toBeInstanceOf(ProfileOwnershipError);
    expect(await store.get("SeccompProfile", "ops", "rec-app")).toBeUndefined();
    await expect(store.delete("SeccompProfile", "ops", "rec-app")).rejects.toBeInstanceOf(
      ProfileOwnershipError,
    );
    expect(a.get(`${SPO_GROUP}/v1`, "SeccompProfile", "rec-app")).toBeDefined();

    await store.delete("SeccompProfile", "shop", "rec-app");
    expect(a.get(`${SPO_GROUP}/v1`, "SeccompProfile", "rec-app")).toBeUndefined();
    await store.delete("SeccompProfile", "shop", "rec-app");
    await store.delete("SeccompProfile", "", "never-existed");

    expect(calls(a.requests, "merger")).toEqual([
      "create security-profiles-operator.x-k8s.io seccompprofiles cluster",
      "delete security-profiles-operator.x-k8s.io seccompprofiles cluster",
      "get security-profiles-operator.x-k8s.io seccompprofiles cluster",
    ]);
  });

  it("stores all three kinds under their plurals", async () => {
    const a = await server(false);
    const store = new KubeProfileStore({ kubeConfig: a.kubeConfig("merger") });
    await store.put("shop", {
      apiVersion: `${SPO_GROUP}/v1`,
      kind: "SelinuxProfile",
      metadata: { name: "rec-se", labels: recLabels("rec", "shop", "app") },
      spec: {
        inherit: [{ kind: "System", name: "container" }],
        mode: "Enforcing",
        allow: { "@self": { file: ["read"] } },
      },
    });
    await store.put("shop", {
      apiVersion: `${SPO_GROUP}/v1`,
      kind: "AppArmorProfile",
      metadata: { name: "rec-aa", labels: recLabels("rec", "shop", "app") },
      spec: { mode: "Enforce", abstract: { filesystem: { readOnlyPaths: ["/etc/hosts"] } } },
    });
    expect((await store.list("SelinuxProfile", "shop")).map((p) => p.metadata.name)).toEqual(["rec-se"]);
    expect((await store.get("AppArmorProfile", "shop", "rec-aa"))?.kind).toBe("AppArmorProfile");
    expect(calls(a.requests, "merger")).toEqual([
      "create security-profiles-operator.x-k8s.io apparmorprofiles cluster",
      "create security-profiles-operator.x-k8s.io selinuxprofiles cluster",
      "get security-profiles-operator.x-k8s.io apparmorprofiles cluster",
      "list security-profiles-operator.x-k8s.io selinuxprofiles cluster",
    ]);
  });
});

describe("KubeProfileStore, namespaced profiles", () => {
  it("creates, updates (with conflict retry), lists and deletes inside the namespace", async () => {
    const a = await server(true);
    const store = new KubeProfileStore({
      client: racyClient(a, "merger", { left: 1 }),
      scope: "Namespaced",
      backoff: { initialMs: 1, maxMs: 5 },
    });
    const created = await store.put("shop", seccomp("rec-app", ["read"], recLabels("rec", "shop", "app")));
    expect(created.metadata.namespace).toBe("shop");
    await store.put("ops", seccomp("rec-app", ["read"], recLabels("rec", "ops", "app")));
    const updated = await store.put("shop", seccomp("rec-app", ["write"], recLabels("rec", "shop", "app")));
    expect(updated.metadata).toMatchObject({ namespace: "shop", uid: created.metadata.uid });
    expect(updated.kind === "SeccompProfile" && names(updated.spec)).toEqual(["write"]);

    await expect(
      store.put("ops", { ...seccomp("x", ["read"]), metadata: { name: "x", namespace: "shop" } }),
    ).rejects.toThrow(/differs/);
    await expect(store.put("", seccomp("x", ["read"]))).rejects.toThrow(/namespace is required/);

    expect((await store.list("SeccompProfile", "shop", { [LABELS.recordingId]: "rec" })).length).toBe(1);
    expect((await store.list("SeccompProfile", "")).length).toBe(2);
    await store.delete("SeccompProfile", "shop", "rec-app");
    await store.delete("SeccompProfile", "shop", "rec-app");
    expect(a.get(`${SPO_GROUP}/v1`, "SeccompProfile", "rec-app", "ops")).toBeDefined();

    expect(calls(a.requests, "merger")).toEqual([
      "create security-profiles-operator.x-k8s.io seccompprofiles ns",
      "delete security-profiles-operator.x-k8s.io seccompprofiles ns",
      "get security-profiles-operator.x-k8s.io seccompprofiles ns",
      "list security-profiles-operator.x-k8s.io seccompprofiles cluster",
      "list security-profiles-operator.x-k8s.io seccompprofiles ns",
      "update security-profiles-operator.x-k8s.io seccompprofiles ns",
    ]);
  });

  it("discovers the scope from the API server when asked", async () => {
    for (const namespaced of [true, false]) {
      const a = await server(namespaced);
      const store = new KubeProfileStore({ kubeConfig: a.kubeConfig("merger"), scope: "Discover" });
      expect(await store.scopeOf("SeccompProfile")).toBe(namespaced ? "Namespaced" : "Cluster");
      expect(await store.scopeOf("AppArmorProfile")).toBe(namespaced ? "Namespaced" : "Cluster");
      const discovery = a.requests.filter((r) => r.user === "merger");
      expect(discovery.map((r) => r.nonResourceURL)).toEqual([`/apis/${SPO_GROUP}/v1`]);
      await a.close();
      api = undefined;
    }
  });
});
