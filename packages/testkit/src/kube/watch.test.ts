import {
  CoreV1Api,
  CustomObjectsApi,
  type KubernetesObject,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
  Watch,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { SPO_GROUP } from "./kinds.js";
import { type FakeApiServer, startFakeApiServer } from "./server.js";

interface Seen {
  type: string;
  name: string;
  rv: string;
  obj: KubernetesObject & { code?: number; reason?: string };
}

/** Starts a client-node Watch and collects its events and its done() outcome. */
async function collect(
  api: FakeApiServer,
  path: string,
  query: Record<string, string | number | boolean> = {},
) {
  const events: Seen[] = [];
  const state: { done: boolean; err: unknown } = { done: false, err: undefined };
  const ctrl = await new Watch(api.kubeConfig()).watch(
    path,
    query,
    (type, obj: Seen["obj"]) =>
      events.push({ type, name: obj.metadata?.name ?? "", rv: obj.metadata?.resourceVersion ?? "", obj }),
    (err: unknown) => {
      state.done = true;
      state.err = err;
    },
  );
  const seen = (n: number) =>
    vi.waitFor(() => expect(events.length).toBeGreaterThanOrEqual(n), { timeout: 3000 });
  return { events, state, ctrl, seen, summary: () => events.map((e) => `${e.type} ${e.name}`) };
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const pr = { group: SPO_GROUP, version: "v1alpha1", plural: "profilerecordings" };
const prPath = (ns: string) => `/apis/${SPO_GROUP}/v1alpha1/namespaces/${ns}/profilerecordings`;

let api: FakeApiServer;
let core: CoreV1Api;
let custom: CustomObjectsApi;

beforeAll(async () => {
  api = await startFakeApiServer({
    namespaces: ["default", "w1", "w2", "w3", "w4", "inf", "gone"],
    bookmarkIntervalMs: 50,
  });
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
});
afterAll(() => api.close());

describe("watch", () => {
  it("streams ADDED/MODIFIED/DELETED for a custom resource", async () => {
    const w = await collect(api, prPath("w1"));
    await custom.createNamespacedCustomObject({
      ...pr,
      namespace: "w1",
      body: { metadata: { name: "r" }, spec: {} },
    });
    await custom.patchNamespacedCustomObject(
      { ...pr, namespace: "w1", name: "r", body: { spec: { a: 1 } } },
      mergePatch,
    );
    await custom.createNamespacedCustomObject({
      ...pr,
      namespace: "w2",
      body: { metadata: { name: "other" }, spec: {} },
    });
    await custom.deleteNamespacedCustomObject({ ...pr, namespace: "w1", name: "r" });
    await w.seen(3);
    expect(w.summary()).toEqual(["ADDED r", "MODIFIED r", "DELETED r"]);
    const rvs = w.events.map((e) => Number(e.rv));
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b));
    expect(w.events[0]?.obj.apiVersion).toBe(`${SPO_GROUP}/v1alpha1`);
    w.ctrl.abort();
  });

  it("starts with synthetic ADDED events without a resourceVersion, replays history from one", async () => {
    await custom.createNamespacedCustomObject({
      ...pr,
      namespace: "w2",
      body: { metadata: { name: "b" }, spec: {} },
    });
    const list = (await custom.listNamespacedCustomObject({ ...pr, namespace: "w2" })) as {
      metadata: { resourceVersion: string };
    };
    await custom.createNamespacedCustomObject({
      ...pr,
      namespace: "w2",
      body: { metadata: { name: "c" }, spec: {} },
    });

    const fromScratch = await collect(api, prPath("w2"));
    await fromScratch.seen(3);
    expect(fromScratch.summary()).toEqual(["ADDED b", "ADDED c", "ADDED other"]);
    const fromList = await collect(api, prPath("w2"), { resourceVersion: list.metadata.resourceVersion });
    await fromList.seen(1);
    expect(fromList.summary()).toEqual(["ADDED c"]);
    fromScratch.ctrl.abort();
    fromList.ctrl.abort();
  });

  it("filters by label and field selector, turning selector exits into DELETED", async () => {
    const w = await collect(api, "/api/v1/pods", {
      labelSelector: "tier=web",
      fieldSelector: "spec.nodeName=n1",
    });
    const mk = (name: string, node: string, tier: string): V1Pod => ({
      metadata: { name, labels: { tier } },
      spec: { nodeName: node, containers: [{ name: "c", image: "i" }] },
    });
    await core.createNamespacedPod({ namespace: "w3", body: mk("match", "n1", "web") });
    await core.createNamespacedPod({ namespace: "w3", body: mk("wrong-node", "n2", "web") });
    await core.createNamespacedPod({ namespace: "w4", body: mk("wrong-tier", "n1", "db") });
    await core.patchNamespacedPod(
      { namespace: "w4", name: "wrong-tier", body: { metadata: { labels: { tier: "web" } } } },
      mergePatch,
    );
    await core.patchNamespacedPod(
      { namespace: "w3", name: "match", body: { metadata: { labels: { tier: "db" } } } },
      mergePatch,
    );
    await w.seen(3);
    expect(w.summary()).toEqual(["ADDED match", "ADDED wrong-tier", "DELETED match"]);
    w.ctrl.abort();
  });

  it("sends BOOKMARKs and ends the stream at timeoutSeconds", async () => {
    const w = await collect(api, "/api/v1/namespaces/w1/configmaps", {
      allowWatchBookmarks: true,
      timeoutSeconds: 1,
    });
    await w.seen(1);
    expect(w.events[0]?.type).toBe("BOOKMARK");
    expect(Number(w.events[0]?.rv)).toBe(api.resourceVersion);
    await vi.waitFor(() => expect(w.state.done).toBe(true), { timeout: 3000 });
    expect(w.state.err).toBeNull();
  });

  it("answers a compacted resourceVersion with an ERROR 410 Expired event, then closes", async () => {
    const old = api.resourceVersion;
    await core.createNamespacedConfigMap({ namespace: "w1", body: { metadata: { name: "bump" } } });
    api.compact();
    const w = await collect(api, "/api/v1/namespaces/w1/configmaps", { resourceVersion: old });
    await w.seen(1);
    expect(w.events[0]?.type).toBe("ERROR");
    expect(w.events[0]?.obj).toMatchObject({ kind: "Status", code: 410, reason: "Expired" });
    await vi.waitFor(() => expect(w.state.done).toBe(true));
  });
});

describe("informer", () => {
  it("sees adds/updates/deletes across a forced reconnect and relists after 410", async () => {
    const ns = "inf";
    const informer = makeInformer<V1Pod>(api.kubeConfig(), `/api/v1/namespaces/${ns}/pods`, () =>
      core.listNamespacedPod({ namespace: ns }),
    );
    const log: string[] = [];
    informer.on("add", (p) => log.push(`add ${p.metadata?.name}`));
    informer.on("update", (p) => log.push(`update ${p.metadata?.name} ${p.status?.phase}`));
    informer.on("delete", (p) => log.push(`delete ${p.metadata?.name}`));
    informer.on("error", (e) => log.push(`error ${String(e)}`));
    const until = (entry: string) => vi.waitFor(() => expect(log).toContain(entry), { timeout: 3000 });
    const podBody = (name: string): V1Pod => ({
      metadata: { name },
      spec: { containers: [{ name: "c", image: "i" }] },
    });
    const watches = () => api.requests.filter((r) => r.verb === "watch" && r.namespace === ns);
    const lists = () => api.requests.filter((r) => r.verb === "list" && r.namespace === ns);

    await core.createNamespacedPod({ namespace: ns, body: podBody("before") });
    await informer.start();
    await until("add before");
    await vi.waitFor(() => expect(watches()).toHaveLength(1));

    const created = await core.createNamespacedPod({ namespace: ns, body: podBody("live") });
    await until("add live");
    await core.replaceNamespacedPodStatus({
      namespace: ns,
      name: "live",
      body: { ...created, status: { phase: "Running" } },
    });
    await until("update live Running");

    // Forced reconnect: writes made while no watch is open must come back through the replay.
    api.closeWatches();
    api.put({ apiVersion: "v1", kind: "Pod", metadata: { name: "in-gap", namespace: ns }, spec: {} });
    api.remove("v1", "Pod", "before", ns);
    await until("add in-gap");
    await until("delete before");
    expect(watches()).toHaveLength(2);
    expect(watches()[1]?.path).toMatch(/resourceVersion=\d+/);
    expect(lists()).toHaveLength(1);

    // Expired resourceVersion: the informer gets ERROR 410, relists, and catches up.
    api.closeWatches();
    api.put({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "after-compaction", namespace: ns },
      spec: {},
    });
    api.compact();
    await until("add after-compaction");
    expect(lists()).toHaveLength(2);

    await core.deleteNamespacedPod({ namespace: ns, name: "live" });
    await until("delete live");
    expect(log.filter((l) => l.startsWith("error"))).toEqual([]);
    // Checked before stop(): client-node reports its own abort on stop() as an AbortError "error".
    await informer.stop();
  });
});
