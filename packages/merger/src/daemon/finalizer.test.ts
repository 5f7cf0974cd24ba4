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
});
