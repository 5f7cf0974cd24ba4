import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import {
  type FakeApiServer,
  type KObject,
  type RequestRecord,
  SPO_GROUP,
  spoKinds,
  startFakeApiServer,
} from "@secprof/testkit";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type ProfileRecordingChange, RecordingWatcher } from "./recordings.js";

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

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const spec = (kind: string, recorder: string, extra: Record<string, unknown> = {}) => ({
  kind,
  recorder,
  podSelector: { matchLabels: { app: "web" } },
  ...extra,
});

let api: FakeApiServer;
let custom: CustomObjectsApi;
const watchers: RecordingWatcher[] = [];

function watcher(user = "recorder", extra: { instance?: string } = {}): RecordingWatcher {
  const w = new RecordingWatcher({
    kubeConfig: api.kubeConfig(user),
    retry: { initialMs: 20, maxMs: 100 },
    component: "secprof-recorder",
    ...extra,
  });
  watchers.push(w);
  return w;
}

async function create(name: string, body: Record<string, unknown>, version = "v1", namespace = "shop") {
  await custom.createNamespacedCustomObject({
    group: SPO_GROUP,
    version,
    namespace,
    plural: "profilerecordings",
    body: { apiVersion: `${SPO_GROUP}/${version}`, kind: "ProfileRecording", metadata: { name }, spec: body },
  });
}
const stored = (name: string, namespace = "shop"): KObject | undefined =>
  api.get(`${SPO_GROUP}/v1`, "ProfileRecording", name, namespace);
const conditionsOf = (name: string) =>
  (stored(name)?.status as { conditions?: unknown[] } | undefined)?.conditions;
const events = (namespace = "shop") => api.list("v1", "Event", namespace);

/** Events are ordered: once a later object is seen, everything before it has been handled. */
async function barrier(w: RecordingWatcher, n: number): Promise<void> {
  const name = `barrier-${n}`;
  await create(name, spec("SeccompProfile", "Logs"));
  await vi.waitFor(() => expect(w.get("shop", name)).toBeDefined());
  await w.idle();
}

beforeEach(async () => {
  api = await startFakeApiServer({ namespaces: ["default", "shop", "ops"] });
  custom = api.kubeConfig("admin").makeApiClient(CustomObjectsApi);
});
afterEach(async () => {
  for (const w of watchers.splice(0)) await w.stop();
  await api.close();
});

describe("RecordingWatcher", () => {
  it("keeps the valid recordings of all namespaces, folding v1alpha1's lowercase enums", async () => {
    await create("web", spec("SeccompProfile", "Logs"));
    await create("legacy", spec("SeccompProfile", "bpf", { mergeStrategy: "containers" }), "v1alpha1");
    const w = watcher();
    const changes: ProfileRecordingChange[] = [];
    w.subscribe((c) => changes.push(c));
    await w.start();
    expect(w.synced).toBe(true);
    expect(w.list().map((r) => r.metadata.name)).toEqual(["legacy", "web"]);
    expect(w.get("shop", "legacy")?.spec).toMatchObject({
      recorder: "Bpf",
      mergeStrategy: "Containers",
      disableProfileAfterRecording: false,
    });

    await create("ops-rec", spec("AppArmorProfile", "Bpf"), "v1", "ops");
    await vi.waitFor(() => expect(w.list("ops").map((r) => r.metadata.name)).toEqual(["ops-rec"]));
    await custom.deleteNamespacedCustomObject({
      group: SPO_GROUP,
      version: "v1",
      namespace: "shop",
      plural: "profilerecordings",
      name: "web",
    });
    await vi.waitFor(() => expect(w.get("shop", "web")).toBeUndefined());
    expect(changes.map((c) => `${c.type} ${c.recording.metadata.name}`)).toEqual([
      "upsert legacy",
      "upsert web",
      "upsert ops-rec",
      "delete web",
    ]);
    expect(w.stats).toMatchObject({ valid: 2, invalid: 0, conditionsWritten: 0, eventsEmitted: 0 });
    expect(calls(api.requests, "recorder")).toEqual([
      "list security-profiles-operator.x-k8s.io profilerecordings cluster",
      "watch security-profiles-operator.x-k8s.io profilerecordings cluster",
    ]);
  });

  it("marks an invalid kind×recorder once per generation: one condition, one Warning event", async () => {
    await create("selinux-bpf", spec("SelinuxProfile", "Bpf"));
    const w = watcher("recorder", { instance: "node-a" });
    await w.start();
    await vi.waitFor(() => expect(w.stats.eventsEmitted).toBe(1));
    await barrier(w, 1);

    expect(w.get("shop", "selinux-bpf")).toBeUndefined();
    expect(w.invalid()).toEqual([
      expect.objectContaining({
        namespace: "shop",
        name: "selinux-bpf",
        problem: "combination",
        generation: 1,
      }),
    ]);
    expect(conditionsOf("selinux-bpf")).toEqual([
      expect.objectContaining({
        type: "Ready",
        status: "False",
        reason: "InvalidRecording",
        observedGeneration: 1,
        message: expect.stringContaining("SelinuxProfile can only be recorded with the Logs recorder"),
        lastTransitionTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      }),
    ]);
    const evs = events();
    expect(evs).toHaveLength(1);
    expect(evs[0]).toMatchObject({
      reason: "InvalidRecording",
      type: "Warning",
      involvedObject: {
        kind: "ProfileRecording",
        name: "selinux-bpf",
        namespace: "shop",
        uid: stored("selinux-bpf")?.metadata.uid,
      },
      source: { component: "secprof-recorder", host: "node-a" },
      reportingComponent: "secprof-recorder",
      count: 1,
    });

    // Metadata-only changes (no new generation) and our own status write do not re-report.
    await custom.patchNamespacedCustomObject(
      {
        group: SPO_GROUP,
        version: "v1",
        namespace: "shop",
        plural: "profilerecordings",
        name: "selinux-bpf",
        body: { metadata: { labels: { touched: "yes" } } },
      },
      mergePatch,
    );
    await barrier(w, 2);
    expect(events()).toHaveLength(1);
    expect(w.stats).toMatchObject({ conditionsWritten: 1, eventsEmitted: 1, invalid: 1 });

    // A restarted watcher finds the condition for this generation and stays quiet.
    const again = watcher("recorder-restarted");
    await again.start();
    await again.idle();
    expect(events()).toHaveLength(1);
    expect(calls(api.requests, "recorder-restarted")).toEqual([
      "list security-profiles-operator.x-k8s.io profilerecordings cluster",
      "watch security-profiles-operator.x-k8s.io profilerecordings cluster",
    ]);

    // Fixing the spec (generation 2) makes it valid; the condition flips, with no event.
    await custom.patchNamespacedCustomObject(
      {
        group: SPO_GROUP,
        version: "v1",
        namespace: "shop",
        plural: "profilerecordings",
        name: "selinux-bpf",
        body: { spec: { recorder: "Logs" } },
      },
      mergePatch,
    );
    await vi.waitFor(() => expect(w.get("shop", "selinux-bpf")?.spec.recorder).toBe("Logs"));
    await w.idle();
    await again.idle();
    expect(conditionsOf("selinux-bpf")).toEqual([
      expect.objectContaining({
        type: "Ready",
        status: "True",
        reason: "RecordingValid",
        observedGeneration: 2,
      }),
    ]);
    expect(events()).toHaveLength(1);
    expect(w.invalid()).toEqual([]);

    expect(calls(api.requests, "recorder")).toEqual([
      "create core events ns",
      "list security-profiles-operator.x-k8s.io profilerecordings cluster",
      "update security-profiles-operator.x-k8s.io profilerecordings/status ns",
      "watch security-profiles-operator.x-k8s.io profilerecordings cluster",
    ]);
  });

  it("reports a name that is not a DNS-1123 label, once even with several replicas racing", async () => {
    const replicas = [watcher("recorder"), watcher("recorder-2"), watcher("recorder-3")];
    await Promise.all(replicas.map((w) => w.start()));
    await create("my.rec", spec("SeccompProfile", "Logs"));
    await vi.waitFor(() => expect(replicas.every((w) => w.invalid().length === 1)).toBe(true));
    await Promise.all(replicas.map((w) => w.idle()));

    expect(replicas[0]?.invalid()[0]).toMatchObject({ name: "my.rec", problem: "name" });
    expect(events()).toHaveLength(1);
    expect(events()[0]?.message).toContain("not a DNS-1123 label");
    expect(conditionsOf("my.rec")).toHaveLength(1);
    expect(replicas.reduce((n, w) => n + w.stats.eventsEmitted, 0)).toBe(1);
    // The losers of the status race re-read the object (get) and found the condition.
    const all = ["recorder", "recorder-2", "recorder-3"].flatMap((u) => calls(api.requests, u));
    expect(new Set(all)).toEqual(
      new Set([
        "create core events ns",
        "get security-profiles-operator.x-k8s.io profilerecordings ns",
        "list security-profiles-operator.x-k8s.io profilerecordings cluster",
        "update security-profiles-operator.x-k8s.io profilerecordings/status ns",
        "watch security-profiles-operator.x-k8s.io profilerecordings cluster",
      ]),
    );
    expect(api.requests.filter((r) => r.subresource === "status" && r.code === 409).length).toBeGreaterThan(
      0,
    );
  });

  it("counts objects failing the schema, with the reason, and never writes to them", async () => {
    api.put({
      apiVersion: `${SPO_GROUP}/v1`,
      kind: "ProfileRecording",
      metadata: { name: "bogus", namespace: "shop" },
      spec: { kind: "TomoyoProfile", recorder: "Logs", podSelector: {} },
    });
    const w = watcher();
    await w.start();
    await w.idle();
    expect(w.invalid()).toEqual([
      expect.objectContaining({
        namespace: "shop",
        name: "bogus",
        problem: "schema",
        message: expect.stringContaining("spec.kind"),
      }),
    ]);
    expect(w.stats).toMatchObject({ valid: 0, invalid: 1, invalidObserved: 1, conditionsWritten: 0 });
    expect(events()).toEqual([]);
    expect(calls(api.requests, "recorder")).toEqual([
      "list security-profiles-operator.x-k8s.io profilerecordings cluster",
      "watch security-profiles-operator.x-k8s.io profilerecordings cluster",
    ]);
  });

  it("keeps retrying while the CRD is not served, and syncs once it is", async () => {
    await api.close();
    api = await startFakeApiServer({ kinds: [], namespaces: ["default", "shop"] });
    const errors: unknown[] = [];
    const w = new RecordingWatcher({
      kubeConfig: api.kubeConfig("recorder"),
      retry: { initialMs: 10, maxMs: 40 },
      onError: (e) => errors.push(e),
    });
    watchers.push(w);
    const started = w.start();
    await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(2));
    expect(w.synced).toBe(false);
    for (const k of spoKinds()) api.registerKind(k);
    await started;
    expect(w.synced).toBe(true);
  });
});
