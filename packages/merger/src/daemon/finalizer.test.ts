import type { ProfileObject, ProfileRecording, ProfileStore, SeccompProfile } from "@secprof/core";
import { describe, expect, it } from "vitest";
import { MemoryProfileState } from "../memory-state.js";
import { contractObservation, contractTarget } from "../profile-state.contract.js";
import { Finalizer } from "./finalizer.js";

/** Profiles by name, as the API server would hold them. */
class Store implements ProfileStore {
  readonly objects = new Map<string, ProfileObject>();
  async put(_ns: string, p: ProfileObject): Promise<ProfileObject> {
    this.objects.set(p.metadata.name, structuredClone(p));
    return p;
  }
  async get(_k: ProfileObject["kind"], _ns: string, name: string): Promise<ProfileObject | undefined> {
    return this.objects.get(name);
  }
  async list(): Promise<ProfileObject[]> {
    return [...this.objects.values()];
  }
  async delete(_k: ProfileObject["kind"], _ns: string, name: string): Promise<void> {
    this.objects.delete(name);
  }
}

const recording: ProfileRecording = {
  apiVersion: "security-profiles-operator.x-k8s.io/v1",
  kind: "ProfileRecording",
  metadata: { name: "rec", namespace: "shop" },
  spec: { kind: "SeccompProfile", recorder: "Logs", podSelector: {} },
} as ProfileRecording;

const names = (store: Store, name: string) =>
  (store.objects.get(name) as SeccompProfile | undefined)?.spec.syscalls?.flatMap((s) => s.names) ?? [];

describe("Finalizer.finalizing", () => {
  it("writes the profile on `ended`, and again for a delta merged after it (out of order)", async () => {
    const store = new Store();
    const base = new MemoryProfileState();
    const f = new Finalizer({ state: base, store, recording: () => recording });
    const state = f.finalizing(base);
    const t = contractTarget("nginx");
    await state.apply(contractObservation(t, { syscalls: { x86_64: ["read"] } }, { seq: 1 }));
    expect(store.objects.size).toBe(0);
    await state.apply(contractObservation(t, { syscalls: { x86_64: ["write"] } }, { seq: 3, ended: true }));
    expect(names(store, t.profileName)).toEqual(["read", "write"]);
    // The pod's previous delta, still queued when `ended` was merged.
    await state.apply(contractObservation(t, { syscalls: { x86_64: ["openat"] } }, { seq: 2 }));
    expect(names(store, t.profileName)).toEqual(["openat", "read", "write"]);
  });

  it("drops a delta of a deleted recording whose state is gone instead of rewriting its final profile", async () => {
    const store = new Store();
    const base = new MemoryProfileState();
    let live: ProfileRecording | undefined = recording;
    const late: string[] = [];
    const f = new Finalizer({
      state: base,
      store,
      recording: () => live,
      onLate: (t) => late.push(t.profileName),
    });
    const state = f.finalizing(base);
    const t = contractTarget("nginx");
    await state.apply(contractObservation(t, { syscalls: { x86_64: ["read"] } }, { seq: 1, ended: true }));
    const final = structuredClone(store.objects.get(t.profileName));
    live = undefined;
    await f.forget(t.namespace, t.recording);
    // The recorder's last flush (a loss report only), redelivered after the deletion.
    await state.apply(contractObservation(t, {}, { seq: 2 }));
    expect(store.objects.get(t.profileName)).toEqual(final);
    expect(await base.list(`${t.namespace}/${t.recording}`)).toEqual([]);
    expect(late).toEqual([t.profileName]);
    // Created again under the same name: it records anew.
    live = recording;
    await state.apply(contractObservation(t, { syscalls: { x86_64: ["write"] } }, { seq: 1, ended: true }));
    expect(names(store, t.profileName)).toEqual(["write"]);
  });
});

describe("Finalizer, SELinux and AppArmor recordings", () => {
  const aaRecording = {
    ...recording,
    spec: { kind: "AppArmorProfile", recorder: "Bpf", podSelector: {}, mergeStrategy: "Containers" },
  } as ProfileRecording;

  it("writes AppArmorProfile partials per replica and merges them per container on deletion", async () => {
    const store = new Store();
    const base = new MemoryProfileState();
    let live: ProfileRecording | undefined = aaRecording;
    const f = new Finalizer({ state: base, store, recording: () => live });
    const state = f.finalizing(base);
    const facts = (readPaths: string[]) => ({
      executables: ["/usr/bin/python3.11"],
      libraries: ["/opt/app/native.so"],
      readPaths,
      writePaths: [],
      capabilities: [],
      network: ["tcp" as const],
    });
    for (const [replica, path] of [
      ["aaaaa", "/srv/a"],
      ["bbbbb", "/srv/b"],
    ] as const) {
      const t = contractTarget("web", {
        kind: "AppArmorProfile",
        replica,
        profileName: `rec-web-${replica}`,
      });
      await state.apply(contractObservation(t, { apparmor: facts([path]) }, { ended: true }));
    }
    expect([...store.objects.keys()].sort()).toEqual(["rec-web-aaaaa", "rec-web-bbbbb"]);
    const partial = store.objects.get("rec-web-aaaaa");
    expect(partial?.kind).toBe("AppArmorProfile");
    expect(partial?.metadata.labels?.["spo.x-k8s.io/partial"]).toBe("true");

    live = undefined;
    const merged = await f.mergeRecording("shop", "rec");
    expect(merged.map((p) => [p.kind, p.metadata.name])).toEqual([["AppArmorProfile", "rec-web"]]);
    expect([...store.objects.keys()]).toEqual(["rec-web"]);
    const m = store.objects.get("rec-web");
    if (m?.kind !== "AppArmorProfile") throw new Error("not an AppArmorProfile");
    expect(m.spec.abstract.filesystem?.readOnlyPaths).toEqual(["/srv/a", "/srv/b"]);
    expect(m.spec.abstract.executable?.allowedLibraries).toEqual(["/opt/app/native.so"]);
    expect(await base.list("shop/rec")).toEqual([]);
  });

  it("reports an SELinux allow map on SPO's deny lists and writes nothing for it", async () => {
    const store = new Store();
    const base = new MemoryProfileState();
    const reasons: string[] = [];
    const f = new Finalizer({
      state: base,
      store,
      recording: () =>
        ({ ...recording, spec: { ...recording.spec, kind: "SelinuxProfile" } }) as ProfileRecording,
      onUnbuildable: (_t, reason) => reasons.push(reason),
    });
    const t = contractTarget("web", { kind: "SelinuxProfile" });
    const avc = { scontextType: "selinuxrecording.process", tclass: "file", perms: ["read"] };
    await f
      .finalizing(base)
      .apply(contractObservation(t, { avc: [{ ...avc, tcontextType: "shadow_t" }] }, { ended: true }));
    expect(store.objects.size).toBe(0);
    expect(reasons.join()).toMatch(/shadow_t is on the deny list/);
    // A state without the denied type is written.
    await base.remove("shop/rec", t.profileName);
    await base.apply(contractObservation(t, { avc: [{ ...avc, tcontextType: "etc_t" }] }));
    const p = await f.target(t);
    expect(p?.kind).toBe("SelinuxProfile");
    expect(store.objects.get(t.profileName)?.kind).toBe("SelinuxProfile");
  });
});
