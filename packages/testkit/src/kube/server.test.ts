import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { SPO_GROUP } from "./kinds.js";
import { type FakeApiServer, startFakeApiServer } from "./server.js";

// Everything below goes through @kubernetes/client-node only: the fake is right when the real client is happy.

interface FailureStatus {
  kind: string;
  reason: string;
  code: number;
  message: string;
}

async function failure(p: Promise<unknown>): Promise<FailureStatus> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApiException)) throw new Error(`expected an ApiException, got ${String(err)}`);
  const body =
    typeof err.body === "string" ? (JSON.parse(err.body) as FailureStatus) : (err.body as FailureStatus);
  expect(body.code).toBe(err.code);
  return body;
}

const pr = { group: SPO_GROUP, version: "v1alpha1", namespace: "default", plural: "profilerecordings" };
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

function pod(name: string, nodeName: string, labels: Record<string, string> = {}): V1Pod {
  return { metadata: { name, labels }, spec: { nodeName, containers: [{ name: "c", image: "busybox" }] } };
}

let api: FakeApiServer;
let core: CoreV1Api;
let custom: CustomObjectsApi;

beforeAll(async () => {
  api = await startFakeApiServer();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
});
afterAll(() => api.close());

describe("core resources", () => {
  it("creates pods, lists them by spec.nodeName and label, and updates status only via /status", async () => {
    await core.createNamespace({ body: { metadata: { name: "pods-ns" } } });
    const ns = "pods-ns";
    const created = await core.createNamespacedPod({ namespace: ns, body: pod("a", "node-1", { app: "x" }) });
    expect(created.metadata?.uid).toBeTruthy();
    expect(created.status?.phase).toBe("Pending");
    await core.createNamespacedPod({ namespace: ns, body: pod("b", "node-2", { app: "y" }) });
    await core.createNamespacedPod({ namespace: ns, body: pod("c", "node-1") });

    const onNode1 = await core.listNamespacedPod({ namespace: ns, fieldSelector: "spec.nodeName=node-1" });
    expect(onNode1.items.map((p) => p.metadata?.name)).toEqual(["a", "c"]);
    expect(Number(onNode1.metadata?.resourceVersion)).toBeGreaterThan(0);
    const labelled = await core.listNamespacedPod({ namespace: ns, labelSelector: "app in (x,y),app!=y" });
    expect(labelled.items.map((p) => p.metadata?.name)).toEqual(["a"]);
    const noApp = await core.listNamespacedPod({ namespace: ns, labelSelector: "!app" });
    expect(noApp.items.map((p) => p.metadata?.name)).toEqual(["c"]);

    const running = await core.replaceNamespacedPodStatus({
      name: "a",
      namespace: ns,
      body: {
        ...created,
        spec: { ...created.spec, nodeName: "elsewhere", containers: [] },
        status: { phase: "Running" },
      },
    });
    expect(running.status?.phase).toBe("Running");
    expect(running.spec?.nodeName).toBe("node-1"); // status writes ignore everything but .status
    const byPhase = await core.listPodForAllNamespaces({ fieldSelector: "status.phase=Running" });
    expect(byPhase.items.map((p) => p.metadata?.name)).toEqual(["a"]);

    // ...and the main resource ignores .status.
    const relabelled = await core.replaceNamespacedPod({
      name: "a",
      namespace: ns,
      body: {
        ...running,
        metadata: { ...running.metadata, labels: { app: "z" } },
        status: { phase: "Failed" },
      },
    });
    expect(relabelled.metadata?.labels).toEqual({ app: "z" });
    expect(relabelled.status?.phase).toBe("Running");
  });

  it("rejects unsupported field selectors and creates in missing namespaces like the real server", async () => {
    expect(
      (await failure(core.listNamespacedPod({ namespace: "default", fieldSelector: "spec.foo=1" }))).code,
    ).toBe(400);
    const s = await failure(
      core.createNamespacedConfigMap({ namespace: "nope", body: { metadata: { name: "x" } } }),
    );
    expect(s).toMatchObject({
      kind: "Status",
      reason: "NotFound",
      code: 404,
      message: 'namespaces "nope" not found',
    });
  });

  it("supports generateName, AlreadyExists and NotFound", async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { generateName: "cfg-" }, data: { a: "1" } },
    });
    expect(cm.metadata?.name).toMatch(/^cfg-[a-z0-9]{5}$/);
    const dup = await failure(
      core.createNamespacedConfigMap({
        namespace: "default",
        body: { metadata: { name: cm.metadata?.name ?? "" } },
      }),
    );
    expect(dup).toMatchObject({ reason: "AlreadyExists", code: 409 });
    const missing = await failure(core.readNamespacedSecret({ namespace: "default", name: "absent" }));
    expect(missing).toMatchObject({ reason: "NotFound", code: 404, message: 'secrets "absent" not found' });
  });

  it("deletes a collection by label; a no-op update keeps the resourceVersion; events select by field", async () => {
    for (const [name, team] of [
      ["x1", "a"],
      ["x2", "a"],
      ["x3", "b"],
    ] as const)
      await core.createNamespacedConfigMap({
        namespace: "default",
        body: { metadata: { name, labels: { team } } },
      });
    await core.deleteCollectionNamespacedConfigMap({ namespace: "default", labelSelector: "team=a" });
    const left = await core.listNamespacedConfigMap({ namespace: "default", labelSelector: "team" });
    expect(left.items.map((c) => c.metadata?.name)).toEqual(["x3"]);
    const x3 = left.items[0] ?? {};
    const same = await core.replaceNamespacedConfigMap({ name: "x3", namespace: "default", body: x3 });
    expect(same.metadata?.resourceVersion).toBe(x3.metadata?.resourceVersion);

    await core.createNamespacedEvent({
      namespace: "default",
      body: {
        metadata: { generateName: "x3." },
        involvedObject: { kind: "ConfigMap", name: "x3", namespace: "default" },
        reason: "Recorded",
        type: "Normal",
      },
    });
    const events = await core.listNamespacedEvent({
      namespace: "default",
      fieldSelector: "involvedObject.name=x3,reason=Recorded",
    });
    expect(events.items).toHaveLength(1);
  });

  it("deletes namespaces with their contents", async () => {
    await core.createNamespace({ body: { metadata: { name: "doomed" } } });
    await core.createNamespacedConfigMap({ namespace: "doomed", body: { metadata: { name: "cm" } } });
    await core.deleteNamespace({ name: "doomed" });
    expect((await failure(core.readNamespace({ name: "doomed" }))).code).toBe(404);
    expect(api.get("v1", "ConfigMap", "cm", "doomed")).toBeUndefined();
  });
});

describe("custom resources", () => {
  const body = (name: string) => ({
    apiVersion: `${SPO_GROUP}/v1alpha1`,
    kind: "ProfileRecording",
    metadata: { name },
    spec: { kind: "SeccompProfile", recorder: "logs", podSelector: { matchLabels: { app: "demo" } } },
  });
  type PR = z.infer<typeof PRSchema>;
  const PRSchema = z.looseObject({
    metadata: z.looseObject({
      name: z.string(),
      resourceVersion: z.string(),
      generation: z.number(),
      finalizers: z.array(z.string()).optional(),
      deletionTimestamp: z.string().optional(),
    }),
    spec: z.looseObject({ recorder: z.string() }),
    status: z.looseObject({ phase: z.string().optional() }).optional(),
  });
  const asPR = (o: unknown): PR => PRSchema.parse(o);

  it("create/get/replace/patch/status/delete a ProfileRecording", async () => {
    const created = asPR(await custom.createNamespacedCustomObject({ ...pr, body: body("rec") }));
    expect(created.metadata.generation).toBe(1);
    const got = asPR(await custom.getNamespacedCustomObject({ ...pr, name: "rec" }));
    expect(got).toEqual(created);

    // Served at v1 too, from the same storage.
    const v1 = (await custom.getNamespacedCustomObject({
      ...pr,
      version: "v1",
      name: "rec",
    })) as KubernetesObject;
    expect(v1.apiVersion).toBe(`${SPO_GROUP}/v1`);

    const replaced = asPR(
      await custom.replaceNamespacedCustomObject({
        ...pr,
        name: "rec",
        body: { ...got, spec: { ...got.spec, recorder: "bpf" }, status: { phase: "ignored" } },
      }),
    );
    expect(replaced.spec.recorder).toBe("bpf");
    expect(replaced.status).toBeUndefined();
    expect(replaced.metadata.generation).toBe(2);
    expect(Number(replaced.metadata.resourceVersion)).toBeGreaterThan(Number(got.metadata.resourceVersion));

    // client-node's default patch content type is JSON patch.
    const jsonPatched = asPR(
      await custom.patchNamespacedCustomObject({
        ...pr,
        name: "rec",
        body: [{ op: "replace", path: "/spec/recorder", value: "logs" }],
      }),
    );
    expect(jsonPatched.spec.recorder).toBe("logs");
    const merged = asPR(
      await custom.patchNamespacedCustomObject(
        { ...pr, name: "rec", body: { metadata: { labels: { a: "b" } } } },
        mergePatch,
      ),
    );
    expect(merged.metadata.generation).toBe(3); // metadata-only change: no generation bump
    const strategic = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
    const smp = await failure(
      custom.patchNamespacedCustomObject({ ...pr, name: "rec", body: {} }, strategic),
    );
    expect(smp.code).toBe(415); // as on a real server: no strategic merge for custom resources

    const withStatus = asPR(
      await custom.patchNamespacedCustomObjectStatus(
        { ...pr, name: "rec", body: { status: { phase: "Recording" }, spec: { recorder: "ignored" } } },
        mergePatch,
      ),
    );
    expect(withStatus.status?.phase).toBe("Recording");
    expect(withStatus.spec.recorder).toBe("logs");

    await custom.deleteNamespacedCustomObject({ ...pr, name: "rec" });
    expect((await failure(custom.getNamespacedCustomObject({ ...pr, name: "rec" }))).reason).toBe("NotFound");
  });

  it("answers a stale update with 409 Conflict", async () => {
    const first = asPR(await custom.createNamespacedCustomObject({ ...pr, body: body("stale") }));
    await custom.patchNamespacedCustomObject(
      { ...pr, name: "stale", body: { spec: { recorder: "bpf" } } },
      mergePatch,
    );
    const s = await failure(
      custom.replaceNamespacedCustomObject({
        ...pr,
        name: "stale",
        body: { ...first, spec: { recorder: "x" } },
      }),
    );
    expect(s).toMatchObject({ kind: "Status", reason: "Conflict", code: 409 });
    expect(s.message).toContain("the object has been modified");
    const missing = await failure(
      custom.replaceNamespacedCustomObject({ ...pr, name: "none", body: body("none") }),
    );
    expect(missing.code).toBe(404);
  });

  it("keeps a deleted object with finalizers until they are removed", async () => {
    await custom.createNamespacedCustomObject({
      ...pr,
      body: { ...body("fin"), metadata: { name: "fin", finalizers: ["secprof.io/merge"] } },
    });
    const deleting = asPR(await custom.deleteNamespacedCustomObject({ ...pr, name: "fin" }));
    expect(deleting.metadata.deletionTimestamp).toBeTruthy();
    const still = asPR(await custom.getNamespacedCustomObject({ ...pr, name: "fin" }));
    expect(still.metadata.deletionTimestamp).toBe(deleting.metadata.deletionTimestamp);

    const addMore = await failure(
      custom.patchNamespacedCustomObject(
        { ...pr, name: "fin", body: { metadata: { finalizers: ["secprof.io/merge", "other"] } } },
        mergePatch,
      ),
    );
    expect(addMore.reason).toBe("Invalid");

    await custom.replaceNamespacedCustomObject({
      ...pr,
      name: "fin",
      body: { ...still, metadata: { ...still.metadata, finalizers: [] } },
    });
    expect((await failure(custom.getNamespacedCustomObject({ ...pr, name: "fin" }))).code).toBe(404);
  });

  it("runs a registered kind's validation hook and reports 422 Invalid", async () => {
    const Spec = z.object({ nodeName: z.string().min(1) });
    api.registerKind({
      group: SPO_GROUP,
      version: "v1alpha1",
      kind: "ProfileRecordingNodeStatus",
      plural: "profilerecordingnodestatuses",
      namespaced: true,
      statusSubresource: true,
      validate: (o) => {
        const r = Spec.safeParse(o.spec);
        return r.success
          ? undefined
          : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
      },
    });
    const nodeStatus = { ...pr, plural: "profilerecordingnodestatuses" };
    const bad = await failure(
      custom.createNamespacedCustomObject({
        ...nodeStatus,
        body: { metadata: { name: "n1" }, spec: { nodeName: "" } },
      }),
    );
    expect(bad).toMatchObject({ reason: "Invalid", code: 422 });
    await custom.createNamespacedCustomObject({
      ...nodeStatus,
      body: { metadata: { name: "n1" }, spec: { nodeName: "a" } },
    });

    // KubernetesObjectApi finds the new kind through discovery.
    const objects = KubernetesObjectApi.makeApiClient(api.kubeConfig());
    const read = await objects.read({
      apiVersion: `${SPO_GROUP}/v1alpha1`,
      kind: "ProfileRecordingNodeStatus",
      metadata: { name: "n1", namespace: "default" },
    });
    expect(read.metadata?.name).toBe("n1");
    const list = await objects.list(`${SPO_GROUP}/v1alpha1`, "ProfileRecordingNodeStatus", "default");
    expect(list.items).toHaveLength(1);
  });

  it("serves cluster-scoped profiles when registered that way", async () => {
    const other = await startFakeApiServer({ kinds: [] });
    try {
      other.registerKind({
        group: SPO_GROUP,
        version: "v1",
        kind: "SeccompProfile",
        plural: "seccompprofiles",
        namespaced: false,
        statusSubresource: true,
      });
      const cluster = other.kubeConfig().makeApiClient(CustomObjectsApi);
      const gv = { group: SPO_GROUP, version: "v1", plural: "seccompprofiles" };
      const created = (await cluster.createClusterCustomObject({
        ...gv,
        body: {
          metadata: { name: "global", namespace: "ignored" },
          spec: { defaultAction: "SCMP_ACT_ERRNO" },
        },
      })) as KubernetesObject;
      expect(created.metadata?.namespace).toBeUndefined();
      expect(other.requests.at(-1)?.path).toBe(`/apis/${SPO_GROUP}/v1/seccompprofiles`);

      // Pitfall worth knowing (a client-node quirk, not the fake's): KubernetesObjectApi serialises
      // bodies with the model named <Version><Kind>, and V1SeccompProfile / V1AppArmorProfile are
      // the pod securityContext types, so a v1 SeccompProfile loses everything but `type`.
      const objects = KubernetesObjectApi.makeApiClient(other.kubeConfig());
      const mangled = await failure(
        objects.create({ apiVersion: `${SPO_GROUP}/v1`, kind: "SeccompProfile", metadata: { name: "x" } }),
      );
      expect(mangled.message).toContain("name or generateName is required");
    } finally {
      await other.close();
    }
  });
});

describe("request log and users", () => {
  it("records verb/resource/namespace/subresource and the user behind each token", async () => {
    api.clearRequests();
    const agent = api.kubeConfig("system:serviceaccount:secprof:agent").makeApiClient(CoreV1Api);
    await agent.listNamespacedPod({ namespace: "default", fieldSelector: "spec.nodeName=n" });
    await agent.readNamespacedPodStatus({ namespace: "default", name: "absent" }).catch(() => undefined);
    await custom.createNamespacedCustomObject({ ...pr, body: { metadata: { name: "logged" }, spec: {} } });
    const log = api.requests.map(({ verb, group, resource, subresource, namespace, name, user, code }) => ({
      verb,
      group,
      resource,
      subresource,
      namespace,
      name,
      user,
      code,
    }));
    expect(log).toEqual([
      {
        verb: "list",
        group: "",
        resource: "pods",
        subresource: "",
        namespace: "default",
        name: "",
        user: "system:serviceaccount:secprof:agent",
        code: 200,
      },
      {
        verb: "get",
        group: "",
        resource: "pods",
        subresource: "status",
        namespace: "default",
        name: "absent",
        user: "system:serviceaccount:secprof:agent",
        code: 404,
      },
      {
        verb: "create",
        group: SPO_GROUP,
        resource: "profilerecordings",
        subresource: "",
        namespace: "default",
        name: "",
        user: "admin",
        code: 201,
      },
    ]);
  });

  it("rejects unknown bearer tokens with 401", async () => {
    const kc = api.kubeConfig("someone");
    kc.loadFromOptions({
      clusters: kc.clusters,
      contexts: kc.contexts,
      users: [{ name: "someone", token: "forged" }],
      currentContext: kc.currentContext,
    });
    const err = await kc
      .makeApiClient(CoreV1Api)
      .listNamespace()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(401);
  });
});

describe("https", () => {
  it("serves TLS with a generated cert that kubeConfig() trusts", async () => {
    const secure = await startFakeApiServer({ tls: true });
    try {
      expect(secure.url).toMatch(/^https:/);
      const list = await secure.kubeConfig().makeApiClient(CoreV1Api).listNamespace();
      expect(list.items.map((n) => n.metadata?.name)).toEqual(["default", "kube-system"]);
    } finally {
      await secure.close();
    }
  });
});
