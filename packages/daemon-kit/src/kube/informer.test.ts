import { CoreV1Api } from "@kubernetes/client-node";
import { type FakeApiServer, type KObject, startFakeApiServer } from "@secprof/testkit";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type ListPage, ResilientInformer } from "./informer.js";

/** A pod with the bulk a real one carries and a consumer does not read. */
const bulkyPod = (name: string, image: string): KObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name,
    namespace: "shop",
    labels: { app: "web" },
    managedFields: [{ manager: "kubelet", operation: "Update", fieldsV1: { "f:status": {} } }],
  },
  spec: { nodeName: "node-a", containers: [{ name: "app", image, env: [{ name: "A", value: "1" }] }] },
});

/** Keeps name, namespace, resourceVersion and labels; drops the rest. */
const keepLabels = (raw: unknown): unknown => {
  const m = (raw as { metadata: Record<string, unknown> }).metadata;
  return {
    metadata: { name: m.name, namespace: m.namespace, resourceVersion: m.resourceVersion, labels: m.labels },
  };
};

let api: FakeApiServer;
let informer: ResilientInformer | undefined;

beforeEach(async () => {
  api = await startFakeApiServer({ namespaces: ["shop"] });
});
afterEach(async () => {
  await informer?.stop();
  await api.close();
});

describe("ResilientInformer", () => {
  it("hands the handlers (and caches) the projection of listed and watched objects, and still tells updates from repeats", async () => {
    api.put(bulkyPod("a", "v1"));
    const upserts: unknown[] = [];
    const removes: unknown[] = [];
    const core = api.kubeConfig("admin").makeApiClient(CoreV1Api);
    informer = new ResilientInformer({
      kubeConfig: api.kubeConfig("admin"),
      path: "/api/v1/pods",
      list: () => core.listPodForAllNamespaces(),
      project: keepLabels,
      retry: { initialMs: 20, maxMs: 100 },
      handlers: { upsert: (o) => upserts.push(o), remove: (o) => removes.push(o) },
    });
    await informer.start();
    const rvA = api.get("v1", "Pod", "a", "shop")?.metadata.resourceVersion;
    expect(upserts).toEqual([
      { metadata: { name: "a", namespace: "shop", resourceVersion: rvA, labels: { app: "web" } } },
    ]);

    // Watched: added, modified, deleted. Each arrives projected.
    api.put(bulkyPod("b", "v1"));
    api.put(bulkyPod("a", "v2"));
    await vi.waitFor(() => expect(upserts).toHaveLength(3), { timeout: 5000 });
    api.remove("v1", "Pod", "b", "shop");
    await vi.waitFor(() => expect(removes).toHaveLength(1), { timeout: 5000 });
    for (const o of [...upserts, ...removes]) expect(Object.keys(o as object)).toEqual(["metadata"]);
    expect(upserts.map((o) => (o as { metadata: { name: string } }).metadata.name)).toEqual(["a", "b", "a"]);

    // A relist after the watch history is gone: the cached projections keep their resourceVersion,
    // so an unchanged pod is not reported again.
    api.compact();
    api.closeWatches();
    api.put(bulkyPod("c", "v1"));
    await vi.waitFor(() => expect(upserts).toHaveLength(4), { timeout: 5000 });
    await new Promise((r) => setTimeout(r, 200));
    expect(upserts.map((o) => (o as { metadata: { name: string } }).metadata.name)).toEqual([
      "a",
      "b",
      "a",
      "c",
    ]);
  });

  it("lists in pages of pageSize, then watches from the list's resourceVersion", async () => {
    for (const n of ["a", "b", "c"]) api.put(bulkyPod(n, "v1"));
    const pages: ListPage[] = [];
    const upserts: string[] = [];
    const core = api.kubeConfig("admin").makeApiClient(CoreV1Api);
    informer = new ResilientInformer({
      kubeConfig: api.kubeConfig("admin"),
      path: "/api/v1/pods",
      list: (page) => {
        pages.push(page);
        return core.listPodForAllNamespaces(page);
      },
      pageSize: 2,
      project: keepLabels,
      handlers: {
        upsert: (o) => upserts.push((o as { metadata: { name: string } }).metadata.name),
        remove: () => undefined,
      },
    });
    await informer.start();
    expect(pages).toEqual([{ limit: 2 }, { limit: 2, _continue: expect.any(String) }]);
    expect(upserts.sort()).toEqual(["a", "b", "c"]);
    api.put(bulkyPod("d", "v1"));
    await vi.waitFor(() => expect(upserts).toContain("d"), { timeout: 5000 });
    expect(upserts).toHaveLength(4);
  });
});
