import { type FakeApiServer, type KObject, type RequestRecord, startFakeApiServer } from "@secprof/testkit";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { KubePodIndex, type PodPhaseChange } from "./pod-index.js";

const hex = (c: string) => c.repeat(64);
const ID = { init: hex("1"), app: hex("2"), side: hex("3"), dbg: hex("4"), other: hex("5"), old: hex("6") };

interface Status {
  name: string;
  containerID?: string;
  lastState?: { terminated?: { containerID?: string } };
}
function pod(
  name: string,
  node: string,
  opts: {
    namespace?: string;
    uid?: string;
    phase?: string;
    labels?: Record<string, string>;
    generateName?: string;
    init?: Status[];
    regular?: Status[];
    ephemeral?: Status[];
  } = {},
): KObject {
  const names = (s: Status[] | undefined) => (s ?? []).map((x) => ({ name: x.name, image: "busybox" }));
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: opts.namespace ?? "shop",
      ...(opts.uid === undefined ? {} : { uid: opts.uid }),
      ...(opts.labels === undefined ? {} : { labels: opts.labels }),
      ...(opts.generateName === undefined ? {} : { generateName: opts.generateName }),
    },
    spec: {
      nodeName: node,
      initContainers: names(opts.init),
      containers: names(opts.regular ?? [{ name: "app" }]),
      ...(opts.ephemeral === undefined ? {} : { ephemeralContainers: names(opts.ephemeral) }),
    },
    status: {
      phase: opts.phase ?? "Running",
      initContainerStatuses: opts.init ?? [],
      containerStatuses: opts.regular ?? [],
      ...(opts.ephemeral === undefined ? {} : { ephemeralContainerStatuses: opts.ephemeral }),
    },
  };
}

/** (verb, group, resource, subresource, namespaced) as an RBAC rule generator will read them. */
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

let api: FakeApiServer;
let index: KubePodIndex;
const errors: unknown[] = [];

async function startIndex(graceMs = 60_000): Promise<KubePodIndex> {
  index = new KubePodIndex({
    kubeConfig: api.kubeConfig("recorder"),
    nodeName: "node-a",
    deletedGraceMs: graceMs,
    retry: { initialMs: 20, maxMs: 100 },
    onError: (e) => errors.push(e),
  });
  await index.start();
  return index;
}

beforeEach(async () => {
  api = await startFakeApiServer({ namespaces: ["default", "shop", "other"] });
  errors.length = 0;
});
afterEach(async () => {
  await index?.stop();
  await api.close();
});

describe("KubePodIndex", () => {
  it("indexes only this node's pods, by bare container id, with kind, runtime, labels and namespace labels", async () => {
    api.put({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "shop", labels: { "spo.x-k8s.io/enable-recording": "" } },
    });
    api.put(
      pod("web-7d9f-gmbrj", "node-a", {
        uid: "uid-web",
        labels: { app: "web" },
        generateName: "web-7d9f-",
        init: [{ name: "setup", containerID: `containerd://${ID.init}` }],
        regular: [
          { name: "app", containerID: `cri-o://${ID.app}` },
          { name: "side", containerID: "" },
        ],
        ephemeral: [{ name: "debugger", containerID: `docker://${ID.dbg}` }],
      }),
    );
    api.put(
      pod("elsewhere", "node-b", { regular: [{ name: "app", containerID: `containerd://${ID.other}` }] }),
    );

    await startIndex();
    expect(index.synced).toBe(true);
    expect(index.namespacesSynced).toBe(true);
    expect(index.lookup(ID.other)).toBeUndefined();
    expect(index.lookup(ID.init)).toMatchObject({
      containerId: ID.init,
      runtime: "containerd",
      namespace: "shop",
      pod: "web-7d9f-gmbrj",
      podUid: "uid-web",
      container: "setup",
      kind: "init",
      node: "node-a",
      labels: { app: "web" },
      generateName: "web-7d9f-",
      phase: "Running",
    });
    expect(index.lookup(ID.app)).toMatchObject({ container: "app", kind: "regular", runtime: "cri-o" });
    expect(index.lookup(ID.dbg)).toMatchObject({
      container: "debugger",
      kind: "ephemeral",
      runtime: "docker",
    });
    expect(index.lookup(ID.app)?.deleted).toBeUndefined();
    expect(index.stats).toMatchObject({ pods: 1, containers: 3, foreignPods: 0, invalidPods: 0 });
    expect(index.pods().map((p) => p.name)).toEqual(["web-7d9f-gmbrj"]);
    expect(index.podFacts("shop", "web-7d9f-gmbrj")).toEqual({
      namespaceLabels: { "spo.x-k8s.io/enable-recording": "" },
      labels: { app: "web" },
      containers: ["setup", "app", "side"],
    });
    expect(index.namespaceLabels("other")).toEqual({});

    // RBAC: list+watch of pods cluster-wide (field-selected to this node) and of namespaces; nothing else.
    expect(calls(api.requests, "recorder")).toEqual([
      "list core namespaces cluster",
      "list core pods cluster",
      "watch core namespaces cluster",
      "watch core pods cluster",
    ]);
    for (const r of api.requests.filter((x) => x.user === "recorder" && x.resource === "pods"))
      expect(decodeURIComponent(r.path)).toContain("fieldSelector=spec.nodeName=node-a");
  });

  it("reports ids appearing later to subscribers and waitFor, and ignores other nodes' changes", async () => {
    await startIndex();
    const changes: { added: readonly string[]; removed: readonly string[] }[] = [];
    index.subscribe((c) => changes.push(c));
    const waiting = index.waitFor(ID.app, { timeoutMs: 5000 });
    const timedOut = index.waitFor(ID.other, { timeoutMs: 50 });

    api.put(pod("p", "node-a", { uid: "u1", phase: "Pending", regular: [{ name: "app", containerID: "" }] }));
    await vi.waitFor(() => expect(index.pod("shop", "p")).toBeDefined());
    expect(changes).toEqual([]);
    api.put(pod("q", "node-b", { regular: [{ name: "app", containerID: `containerd://${ID.other}` }] }));
    api.put(
      pod("p", "node-a", { uid: "u1", regular: [{ name: "app", containerID: `containerd://${ID.app}` }] }),
    );

    expect((await waiting)?.pod).toBe("p");
    expect(await timedOut).toBeUndefined();
    expect(changes).toEqual([{ added: [ID.app], removed: [] }]);
    expect(index.lookup(ID.other)).toBeUndefined();
  });

  it("notifies phase changes and 'ended' once per pod: Succeeded, Failed, or Deleted", async () => {
    api.put(pod("done-before-start", "node-a", { uid: "u0", phase: "Succeeded" }));
    await startIndex();
    const seen: PodPhaseChange[] = [];
    const ended: string[] = [];
    index.subscribePhases((c) => seen.push(c));
    index.onPodEnded((p, end) => ended.push(`${p.name}:${end}`));

    api.put(pod("job", "node-a", { uid: "u1", phase: "Pending" }));
    await vi.waitFor(() => expect(index.pod("shop", "job")).toBeDefined());
    api.put(pod("job", "node-a", { uid: "u1", phase: "Running" }));
    api.put(pod("job", "node-a", { uid: "u1", phase: "Succeeded" }));
    api.put(pod("crash", "node-a", { uid: "u2", phase: "Failed" }));
    api.put(pod("svc", "node-a", { uid: "u3", phase: "Running" }));
    await vi.waitFor(() => expect(ended).toEqual(["job:Succeeded", "crash:Failed"]));
    api.remove("v1", "Pod", "job", "shop");
    api.remove("v1", "Pod", "svc", "shop");
    await vi.waitFor(() => expect(ended).toEqual(["job:Succeeded", "crash:Failed", "svc:Deleted"]));

    const job = seen
      .filter((c) => c.pod.name === "job")
      .map((c) => `${c.from ?? "-"}>${c.to}${c.ended ? "!" : ""}`);
    expect(job).toEqual(["->Pending", "Pending>Running", "Running>Succeeded!", "Succeeded>Deleted"]);
    // The pod that had already ended when the index started is reported as ended on first sight.
    const listed = new KubePodIndex({
      kubeConfig: api.kubeConfig("recorder"),
      nodeName: "node-a",
      watchNamespaces: false,
    });
    const early: string[] = [];
    listed.onPodEnded((p, end) => early.push(`${p.name}:${end}`));
    await listed.start();
    await listed.stop();
    expect(early).toContain("done-before-start:Succeeded");
  });

  it("keeps a deleted pod's ids answering (deleted: true) for the grace period, then removes them", async () => {
    await startIndex(300);
    api.put(
      pod("p", "node-a", {
        uid: "u1",
        regular: [{ name: "app", containerID: `containerd://${ID.app}` }],
      }),
    );
    await vi.waitFor(() => expect(index.lookup(ID.app)).toBeDefined());
    const changes: { added: readonly string[]; removed: readonly string[] }[] = [];
    index.subscribe((c) => changes.push(c));

    api.remove("v1", "Pod", "p", "shop");
    await vi.waitFor(() => expect(index.lookup(ID.app)?.deleted).toBe(true));
    expect(index.lookup(ID.app)).toMatchObject({ pod: "p", container: "app" });
    expect(index.pod("shop", "p")?.deleted).toBe(true);
    expect(index.stats).toMatchObject({ pods: 0, deletedPods: 1 });
    expect(changes).toEqual([]);

    await vi.waitFor(() => expect(index.lookup(ID.app)).toBeUndefined(), { timeout: 2000 });
    expect(changes).toEqual([{ added: [], removed: [ID.app] }]);
    expect(index.pod("shop", "p")).toBeUndefined();
    expect(index.stats).toMatchObject({ pods: 0, deletedPods: 0, containers: 0 });
  });

  it("keeps a restarted container's previous id (lastState) and retires ids that leave the status", async () => {
    await startIndex(300);
    api.put(
      pod("p", "node-a", { uid: "u1", regular: [{ name: "app", containerID: `containerd://${ID.old}` }] }),
    );
    await vi.waitFor(() => expect(index.lookup(ID.old)).toBeDefined());
    api.put(
      pod("p", "node-a", {
        uid: "u1",
        regular: [
          {
            name: "app",
            containerID: `containerd://${ID.app}`,
            lastState: { terminated: { containerID: `containerd://${ID.old}` } },
          },
        ],
      }),
    );
    await vi.waitFor(() => expect(index.lookup(ID.app)).toBeDefined());
    expect(index.lookup(ID.old)).toMatchObject({ container: "app", previous: true });
    expect(index.lookup(ID.app)?.previous).toBeUndefined();

    // A second restart drops the first id from the status: it answers for the grace period only.
    api.put(
      pod("p", "node-a", {
        uid: "u1",
        regular: [
          {
            name: "app",
            containerID: `containerd://${ID.side}`,
            lastState: { terminated: { containerID: `containerd://${ID.app}` } },
          },
        ],
      }),
    );
    await vi.waitFor(() => expect(index.lookup(ID.side)).toBeDefined());
    expect(index.lookup(ID.old)).toMatchObject({ previous: true });
    await vi.waitFor(() => expect(index.lookup(ID.old)).toBeUndefined(), { timeout: 2000 });
    expect(index.lookup(ID.app)).toMatchObject({ previous: true });
  });

  it("treats a same-name pod with a new uid as a new pod and the old one as deleted", async () => {
    await startIndex();
    const ended: string[] = [];
    index.onPodEnded((p, end) => ended.push(`${p.uid}:${end}`));
    api.put(
      pod("p", "node-a", { uid: "u1", regular: [{ name: "app", containerID: `containerd://${ID.old}` }] }),
    );
    await vi.waitFor(() => expect(index.lookup(ID.old)).toBeDefined());
    // Deleted and recreated while the watch was down: the relist only shows the new pod.
    api.closeWatches();
    api.remove("v1", "Pod", "p", "shop");
    api.put(
      pod("p", "node-a", { uid: "u2", regular: [{ name: "app", containerID: `containerd://${ID.app}` }] }),
    );
    await vi.waitFor(() => expect(index.lookup(ID.app)?.podUid).toBe("u2"));
    expect(index.lookup(ID.old)).toMatchObject({ podUid: "u1", deleted: true });
    expect(ended).toEqual(["u1:Deleted"]);
    expect(index.pod("shop", "p")?.uid).toBe("u2");
  });

  it("survives watch loss and compaction (410 → relist), and counts invalid pods instead of failing", async () => {
    await startIndex();
    api.put(
      pod("a", "node-a", { uid: "ua", regular: [{ name: "app", containerID: `containerd://${ID.app}` }] }),
    );
    await vi.waitFor(() => expect(index.lookup(ID.app)).toBeDefined());

    api.closeWatches();
    api.put(
      pod("b", "node-a", { uid: "ub", regular: [{ name: "app", containerID: `containerd://${ID.side}` }] }),
    );
    await vi.waitFor(() => expect(index.lookup(ID.side)).toBeDefined());

    // Missed events beyond the history window: the resumed watch gets 410 and the index relists.
    api.closeWatches();
    api.compact();
    api.remove("v1", "Pod", "a", "shop");
    api.compact();
    await vi.waitFor(() => expect(index.lookup(ID.app)?.deleted).toBe(true), { timeout: 5000 });
    const podCalls = api.requests.filter((r) => r.user === "recorder" && r.resource === "pods");
    expect(podCalls.filter((r) => r.verb === "list")).toHaveLength(2);
    expect(podCalls.filter((r) => r.verb === "watch").length).toBeGreaterThanOrEqual(3);
    expect(errors).toEqual([]);

    api.put({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "broken", namespace: "shop" },
      spec: { nodeName: "node-a" },
    });
    await vi.waitFor(() => expect(index.stats.invalidPods).toBe(1));
    expect(index.stats.lastInvalid).toContain("shop/broken");
    expect(index.lookup(ID.side)).toBeDefined();
  });
});
