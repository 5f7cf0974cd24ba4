import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { type ApprovalRecord, type ProfileObject, profileRefKey } from "@secprof/core";
import {
  eventually,
  type FakeApiServer,
  installerKinds,
  type KObject,
  missing,
  spoKinds,
  startFakeApiServer,
} from "@secprof/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
// The RBAC table is core's (not exported from the package index: it is deploy data).
import { API_CALLS } from "../../../core/src/rbac/table.js";
import { HostWriter } from "../host-writer.js";
import { AppArmorKernel, SelinuxKernel } from "../kernel.js";
import { profileDigest } from "../render.js";
import { PolicyCompilers } from "../validate/validator.js";
import { ClusterInstaller } from "./cluster.js";
import { approvalObject, nodeFinalizer, nodeStatusName } from "./kube-objects.js";
import { memoryManifest } from "./manifest-store.js";

const GROUP = "security-profiles-operator.x-k8s.io";
const API = `${GROUP}/v1`;
const NODE = "node-a";
const SA = "system:serviceaccount:secprof:secprof-installer";
let api: FakeApiServer;
let base: string;
let writer: HostWriter;
let installer: ClusterInstaller;

function seccomp(name: string, names = ["read", "write", "exit_group"]): KObject {
  return {
    apiVersion: API,
    kind: "SeccompProfile",
    metadata: { name },
    spec: {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names, action: "SCMP_ACT_ALLOW" }],
    },
  };
}

function approve(p: KObject, extra: Partial<ApprovalRecord> = {}): void {
  const record: ApprovalRecord = {
    kind: "SeccompProfile",
    name: p.metadata.name ?? "",
    digest: profileDigest(p as ProfileObject),
    approvedBy: "alice",
    approvedAt: new Date().toISOString(),
    ...extra,
  };
  const old = api.get(API, "ProfileApproval", approvalObject(record).metadata.name);
  api.put({ ...approvalObject(record), ...(old ? { metadata: { ...old.metadata } } : {}) } as KObject);
}

const file = (name: string) => path.join(base, "var/lib/kubelet/seccomp/operator", `${name}.json`);
const nodeStatus = (name: string) =>
  api.get(API, "ProfileNodeStatus", nodeStatusName(NODE, { kind: "SeccompProfile", name })) as
    | { status: { state: string; message: string; digest?: string } }
    | undefined;
const profile = (name: string) => api.get(API, "SeccompProfile", name);

const until = (check: () => unknown) => eventually(check, 10_000);

/** A deletion through the API (as a person would), so deletionTimestamp and finalizers apply. */
const deleteAsAdmin = (plural: string, name: string) =>
  api
    .kubeConfig("admin")
    .makeApiClient(CustomObjectsApi)
    .deleteClusterCustomObject({ group: GROUP, version: "v1", plural, name });

beforeEach(async () => {
  api = await startFakeApiServer({ kinds: spoKinds({ profilesNamespaced: false, versions: ["v1"] }) });
  for (const k of installerKinds()) api.registerKind(k);
  base = await mkdtemp(path.join(tmpdir(), "secprof-cluster-inst-"));
  writer = await HostWriter.open({ root: base, seccompLayout: "cluster" });
  installer = new ClusterInstaller({
    kubeConfig: api.kubeConfig(SA),
    node: NODE,
    writer,
    manifest: memoryManifest(),
    reconcileDeps: { kernel: { AppArmorProfile: new AppArmorKernel(), SelinuxProfile: new SelinuxKernel() } },
    debounceMs: 10,
    retry: { initialMs: 20, maxMs: 200 },
  });
  await installer.start();
});

afterEach(async () => {
  await installer.stop();
  // Every call the installer made is in the RBAC table (deploy/rbac is generated from it).
  const allowed = new Set(
    API_CALLS.filter((c) => c.component === "installer").flatMap((c) =>
      c.verbs.map((v) => `${v} ${c.resource}${c.subresource ? `/${c.subresource}` : ""}`),
    ),
  );
  const made = api.requests
    .filter((r) => r.user === SA && r.nonResourceURL === "")
    .map((r) => `${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ""}`);
  expect(made.filter((m) => !allowed.has(m))).toEqual([]);
  await writer.close();
  await api.close();
  await rm(base, { recursive: true, force: true });
});

describe("cluster installer (fake API server, real files)", () => {
  it("installs an approved profile: file, finalizer, Installed node status and aggregated status", async () => {
    const p = seccomp("web");
    api.put(p);
    approve(p);
    await until(async () =>
      expect(JSON.parse(await readFile(file("web"), "utf8")).defaultAction).toBe("SCMP_ACT_ERRNO"),
    );
    await until(() => expect(nodeStatus("web")?.status.state).toBe("Installed"));
    expect(nodeStatus("web")?.status.digest).toBe(profileDigest(p as ProfileObject));
    await until(() =>
      expect(profile("web")?.status).toMatchObject({
        status: "Installed",
        localhostProfile: "operator/web.json",
      }),
    );
    expect(profile("web")?.metadata.finalizers).toContain(nodeFinalizer(NODE));
    // Never a write to approvals (afterEach checks every call against the RBAC table).
    const calls = new Set(
      api.requests.map((r) => `${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ""}`),
    );
    expect([...calls].filter((c) => /^(create|update|patch|delete) profileapprovals/.test(c))).toEqual([]);
    for (const c of ["patch seccompprofiles/status", "patch seccompprofiles", "create profilenodestatuses"])
      expect(calls).toContain(c);
    // InProgress is created before the file is written, then replaced by the outcome.
    const statusWrites = api.requests.filter(
      (r) => r.resource === "profilenodestatuses" && (r.verb === "create" || r.verb === "update"),
    );
    expect(statusWrites.map((r) => r.verb)).toEqual(["create", "update"]);
  });

  it("an unapproved profile awaits approval and nothing is written", async () => {
    api.put(seccomp("new"));
    await until(() => expect(nodeStatus("new")?.status).toMatchObject({ state: "Pending" }));
    expect(nodeStatus("new")?.status.message).toMatch(/^AwaitingApproval: awaits approval .*never approved/);
    expect(await readdir(base, { recursive: true })).toEqual([]);
    await until(() => expect(profile("new")?.status).toMatchObject({ status: "Pending" }));
  });

  it("a profile changed after approval is not installed: the old file stays, status awaits approval", async () => {
    const v1 = seccomp("web");
    api.put(v1);
    approve(v1);
    await until(() => expect(nodeStatus("web")?.status.state).toBe("Installed"));
    const before = await readFile(file("web"), "utf8");
    const cur = profile("web") as KObject;
    api.put({ ...cur, spec: seccomp("web", ["read", "write", "exit_group", "execve"]).spec });
    await until(() => expect(nodeStatus("web")?.status.state).toBe("Pending"));
    expect(nodeStatus("web")?.status.message).toMatch(/awaits approval .*changed since alice approved/);
    expect(nodeStatus("web")?.status.message).toMatch(/installed version .* stays in place/);
    expect(await readFile(file("web"), "utf8")).toBe(before);
    expect(before).not.toContain("execve");
    await until(() =>
      expect(
        (profile("web")?.status as { conditions: { message: string }[] }).conditions[0]?.message,
      ).toMatch(/awaits approval/),
    );
  });

  it("an invalid profile leaves the old file in place and reports Error with the reason", async () => {
    const v1 = seccomp("web");
    api.put(v1);
    approve(v1);
    await until(() => expect(nodeStatus("web")?.status.state).toBe("Installed"));
    const before = await readFile(file("web"), "utf8");
    const bad = seccomp("web", ["read", "no_such_syscall"]);
    api.put({ ...(profile("web") as KObject), spec: bad.spec });
    approve(bad); // even approved: invalid content is never installed
    await until(() => expect(nodeStatus("web")?.status.state).toBe("Error"));
    expect(nodeStatus("web")?.status.message).toMatch(/^Invalid: invalid: .*no_such_syscall/);
    expect(await readFile(file("web"), "utf8")).toBe(before);
    await until(() => expect(profile("web")?.status).toMatchObject({ status: "Error" }));
  });

  it("deleting a profile used by a pod on this node stays Terminating until the pod is gone", async () => {
    const p = seccomp("web");
    api.put(p);
    approve(p);
    await until(() => expect(nodeStatus("web")?.status.state).toBe("Installed"));
    const pod = (name: string, node: string): KObject => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: "default" },
      spec: {
        nodeName: node,
        containers: [
          {
            name: "c",
            securityContext: { seccompProfile: { type: "Localhost", localhostProfile: "operator/web.json" } },
          },
        ],
      },
      status: { phase: "Running" },
    });
    api.put(pod("user", NODE));
    api.put(pod("elsewhere", "node-b")); // another node's pod does not hold this node's file
    const kc = api.kubeConfig("admin");
    await deleteAsAdmin("seccompprofiles", "web");
    await until(() => expect(nodeStatus("web")?.status.state).toBe("Terminating"));
    expect(nodeStatus("web")?.status.message).toMatch(/^InUse: deletion waits: still used by default\/user/);
    expect(profile("web")?.metadata.deletionTimestamp).toBeDefined();
    expect(profile("web")?.metadata.finalizers).toContain(nodeFinalizer(NODE));
    await installer.settle();
    expect((await readFile(file("web"), "utf8")).length).toBeGreaterThan(0);
    await kc.makeApiClient(CoreV1Api).deleteNamespacedPod({ namespace: "default", name: "user" });
    await until(() => expect(profile("web")).toBeUndefined());
    await expect(readFile(file("web"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(await readdir(path.dirname(file("web")))).toEqual([]); // no temp file left either
  });

  it("a revoked approval stops updates; the installed file stays until the profile is deleted", async () => {
    const p = seccomp("web");
    api.put(p);
    approve(p);
    await until(() => expect(nodeStatus("web")?.status.state).toBe("Installed"));
    const before = await readFile(file("web"), "utf8");
    approve(p, { revoked: { by: "bob", at: new Date().toISOString() } });
    await until(() => expect(nodeStatus("web")?.status.state).toBe("Pending"));
    expect(nodeStatus("web")?.status.message).toMatch(/approval revoked by bob/);
    expect(await readFile(file("web"), "utf8")).toBe(before);
    expect(profileRefKey({ kind: "SeccompProfile", name: "web" })).toBe("SeccompProfile//web");
  });

  it("aggregates all nodes' statuses on the profile: the lowest state wins", async () => {
    const p = seccomp("web");
    api.put(p);
    approve(p);
    await until(() => expect(profile("web")?.status).toMatchObject({ status: "Installed" }));
    api.put({
      apiVersion: API,
      kind: "ProfileNodeStatus",
      metadata: { name: nodeStatusName("node-b", { kind: "SeccompProfile", name: "web" }) },
      spec: { node: "node-b", kind: "SeccompProfile", name: "web" },
      status: { state: "Error", message: "WriteFailed: no space left on device" },
    });
    await until(() => expect(profile("web")?.status).toMatchObject({ status: "Error" }));
    const ready = (profile("web")?.status as { conditions: { status: string; message: string }[] })
      .conditions[0];
    expect(ready).toMatchObject({ status: "False" });
    expect(ready?.message).toMatch(/Error on 2 node\(s\); node-b: WriteFailed: no space left on device/);
  });

  it("a deleted profile that was never installed just loses the finalizer", async () => {
    api.put(seccomp("never"));
    await until(() => expect(profile("never")?.metadata.finalizers).toContain(nodeFinalizer(NODE)));
    await deleteAsAdmin("seccompprofiles", "never");
    await until(() => expect(profile("never")).toBeUndefined());
    expect(await readdir(base, { recursive: true })).toEqual([]);
  });

  it("hostile names from the API never reach the host; other profiles still install", async () => {
    for (const name of ["..", "a/../../etc", ".hidden", "x".repeat(300), "UPPER"]) {
      const p = seccomp(name);
      api.put(p);
    }
    const ok = seccomp("fine");
    api.put(ok);
    approve(ok);
    await until(() => expect(nodeStatus("fine")?.status.state).toBe("Installed"));
    const names = (await readdir(base, { recursive: true })).sort();
    expect(names).toEqual([
      "var",
      "var/lib",
      "var/lib/kubelet",
      "var/lib/kubelet/seccomp",
      "var/lib/kubelet/seccomp/operator",
      "var/lib/kubelet/seccomp/operator/fine.json",
    ]);
  });

  it("survives watch drops and a compacted history, and a restart keeps files and statuses", async () => {
    const p = seccomp("web");
    api.put(p);
    approve(p);
    await until(() => expect(nodeStatus("web")?.status.state).toBe("Installed"));
    api.compact();
    api.closeWatches();
    const v2 = seccomp("web", ["read", "write", "exit_group", "openat"]);
    api.put({ ...(profile("web") as KObject), spec: v2.spec });
    approve(v2);
    await until(async () => expect(await readFile(file("web"), "utf8")).toContain("openat"));
    // Restart with an empty (in-memory) manifest; delete while it is down: the finalizer holds.
    await installer.stop();
    await deleteAsAdmin("seccompprofiles", "web");
    expect(profile("web")?.metadata.deletionTimestamp).toBeDefined();
    expect(await readFile(file("web"), "utf8")).toContain("openat");
    installer = new ClusterInstaller({
      kubeConfig: api.kubeConfig(SA),
      node: NODE,
      writer,
      manifest: memoryManifest(),
      reconcileDeps: {
        kernel: { AppArmorProfile: new AppArmorKernel(), SelinuxProfile: new SelinuxKernel() },
      },
      debounceMs: 10,
    });
    await installer.start();
    await until(() => expect(profile("web")).toBeUndefined());
    await expect(readFile(file("web"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it.skipIf(missing("apparmor_parser") !== undefined)(
    "AppArmor through the real compiler: installed, honestly not loaded, protected while a pod uses it",
    async () => {
      await installer.stop();
      const compilers = new PolicyCompilers();
      installer = new ClusterInstaller({
        kubeConfig: api.kubeConfig(SA),
        node: NODE,
        writer,
        manifest: memoryManifest(),
        reconcileDeps: {
          kernel: {
            AppArmorProfile: new AppArmorKernel({ sysfs: path.join(base, "no-sysfs") }),
            SelinuxProfile: new SelinuxKernel(),
          },
          validator: compilers,
        },
        debounceMs: 10,
      });
      try {
        await installer.start();
        const aa: KObject = {
          apiVersion: API,
          kind: "AppArmorProfile",
          metadata: { name: "web-aa" },
          spec: { mode: "Enforce", abstract: { filesystem: { readOnlyPaths: ["/etc/hostname"] } } },
        };
        api.put(aa);
        api.put(
          approvalObject({
            kind: "AppArmorProfile",
            name: "web-aa",
            digest: profileDigest(aa as ProfileObject),
            approvedBy: "alice",
            approvedAt: new Date().toISOString(),
          }) as KObject,
        );
        const status = () =>
          (
            api.get(
              API,
              "ProfileNodeStatus",
              nodeStatusName(NODE, { kind: "AppArmorProfile", name: "web-aa" }),
            ) as { status: { state: string; message: string } } | undefined
          )?.status;
        await until(() => expect(status()?.state).toBe("Installed"));
        expect(status()?.message).toMatch(/not loaded: no AppArmor in this kernel/);
        const aaFile = path.join(base, "etc/apparmor.d/web-aa");
        expect(await readFile(aaFile, "utf8")).toContain("profile web-aa");
        api.put({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "aa-user", namespace: "default" },
          spec: {
            nodeName: NODE,
            containers: [
              {
                name: "c",
                securityContext: { appArmorProfile: { type: "Localhost", localhostProfile: "web-aa" } },
              },
            ],
          },
          status: { phase: "Running" },
        });
        await deleteAsAdmin("apparmorprofiles", "web-aa");
        await until(() => expect(status()?.message).toMatch(/^InUse: .*default\/aa-user/));
        expect(await readFile(aaFile, "utf8")).toContain("profile web-aa");
        api.remove("v1", "Pod", "aa-user", "default");
        await until(() => expect(api.get(API, "AppArmorProfile", "web-aa")).toBeUndefined());
        await expect(readFile(aaFile)).rejects.toMatchObject({ code: "ENOENT" });
      } finally {
        await compilers.dispose();
      }
    },
  );
});
