import {
  LABELS,
  type Observation,
  type ProfileObject,
  type ProfileRecording,
  type ProfileState,
  type ProfileStore,
  recordingKey,
  SelinuxPolicyError,
  type Target,
} from "@secprof/core";
import { mergePartials, profileFor } from "../finalize.js";

const KINDS = ["SeccompProfile", "SelinuxProfile", "AppArmorProfile"] as const;

/** Ended targets (and forgotten recordings) remembered per merger process (a few hundred bytes each). */
const ENDED_REMEMBERED = 10_000;

export interface FinalizerDeps {
  state: ProfileState;
  store: ProfileStore;
  /** The recording as the API has it now (undefined once deleted). */
  recording: (namespace: string, name: string) => ProfileRecording | undefined;
  /**
   * A target's profile cannot be built (an SELinux allow map on SPO's deny lists): nothing is
   * written for it, and rebuilding it would fail the same way, so it is reported, not retried.
   */
  onUnbuildable?: (target: Target, reason: string) => void;
  /** An observation of a deleted recording whose state was already dropped: counted, not applied. */
  onLate?: (target: Target) => void;
}

/**
 * Turns recording state into profile objects: when a target's pod ends, on a snapshot request,
 * and when a Containers recording is deleted (partials merged per container). Every step is
 * idempotent — rerunning after a crash or a late observation converges to the same objects.
 */
export class Finalizer {
  /** Targets whose pod ended, most recent last (bounded): a later delta rewrites their profile. */
  readonly #ended = new Set<string>();
  /**
   * Deleted recordings whose state was dropped, most recent last (bounded). A delta that arrives
   * later (a recorder's last flush, a redelivery) would otherwise bring back a state holding only
   * that delta and rewrite the final profile from it.
   */
  readonly #forgotten = new Set<string>();

  constructor(private readonly deps: FinalizerDeps) {}

  /**
   * Wraps a ProfileState so that applying an `ended` observation writes the target's profile, and
   * so does a delta of an ended target merged after it (workers run jobs concurrently; a backlog
   * can hold a pod's last delta while its `ended` is merged).
   */
  finalizing(state: ProfileState): ProfileState {
    return {
      apply: async (obs: Observation) => {
        const rk = recordingKey(obs.target);
        if (this.#forgotten.has(rk)) {
          // A recording created again under the same name records anew.
          if (this.deps.recording(obs.target.namespace, obs.target.recording) === undefined) {
            this.deps.onLate?.(obs.target);
            return;
          }
          this.#forgotten.delete(rk);
        }
        await state.apply(obs);
        const key = `${recordingKey(obs.target)}/${obs.target.profileName}`;
        if (obs.ended === true) remember(this.#ended, key);
        else if (!this.#ended.has(key)) return;
        await this.target(obs.target);
      },
      get: (k, n) => state.get(k, n),
      list: (k) => state.list(k),
      remove: (k, n) => state.remove(k, n),
    };
  }

  async target(t: Target): Promise<ProfileObject | undefined> {
    const st = await this.deps.state.get(recordingKey(t), t.profileName);
    if (st === undefined) return undefined;
    const rec = this.deps.recording(t.namespace, t.recording);
    // SPO: a profile whose recording is gone is a partial.
    const partial = rec === undefined || rec.spec.mergeStrategy === "Containers";
    let profile: ProfileObject;
    try {
      profile = profileFor(st, { partial });
    } catch (err) {
      if (!(err instanceof SelinuxPolicyError)) throw err;
      this.deps.onUnbuildable?.(t, err.message);
      return undefined;
    }
    if (rec?.spec.disableProfileAfterRecording === true) profile.spec.state = "Disabled";
    await this.deps.store.put(t.namespace, profile);
    return profile;
  }

  /** Writes every target's current profile without waiting for its pod to end. */
  async snapshot(namespace: string, recording: string): Promise<ProfileObject[]> {
    const out: ProfileObject[] = [];
    for (const st of await this.deps.state.list(`${namespace}/${recording}`)) {
      const p = await this.target(st.target);
      if (p !== undefined) out.push(p);
    }
    return out;
  }

  /** A Containers recording was deleted: merge its partials per container, then drop them. */
  async mergeRecording(namespace: string, recording: string): Promise<ProfileObject[]> {
    const labels = { [LABELS.recordingId]: recording, [LABELS.partial]: "true" };
    const partials: ProfileObject[] = [];
    for (const kind of KINDS)
      partials.push(...(await this.deps.store.list(kind, namespace, labels)).filter((p) => p.kind === kind));
    if (partials.length === 0) return [];
    const merged = mergePartials(partials);
    for (const m of merged) await this.deps.store.put(namespace, m);
    for (const p of partials) await this.deps.store.delete(p.kind, namespace, p.metadata.name);
    await this.forget(namespace, recording);
    return merged;
  }

  /**
   * Partials of recordings that no longer exist: a merger that died mid-merge left them, and the
   * deletion event does not come again after a restart. Each such recording's partials are first
   * rewritten from its state (dropped only at the end of a merge, so still complete even when some
   * partials were already deleted), then merged as on deletion. Run once the recordings are synced.
   */
  async mergeOrphans(): Promise<ProfileObject[]> {
    const gone = new Map<string, [string, string]>();
    for (const kind of KINDS)
      for (const p of await this.deps.store.list(kind, "", { [LABELS.partial]: "true" })) {
        const rec = p.metadata.labels?.[LABELS.recordingId];
        const ns = p.metadata.labels?.[LABELS.recordingNamespace] ?? p.metadata.namespace;
        if (rec === undefined || ns === undefined || this.deps.recording(ns, rec) !== undefined) continue;
        gone.set(`${ns}/${rec}`, [ns, rec]);
      }
    const merged: ProfileObject[] = [];
    for (const [ns, rec] of gone.values()) {
      await this.snapshot(ns, rec);
      merged.push(...(await this.mergeRecording(ns, rec)));
    }
    return merged;
  }

  /** A recording was deleted: its state in Redis is no longer needed (its profiles stay). */
  async forget(namespace: string, recording: string): Promise<void> {
    remember(this.#forgotten, `${namespace}/${recording}`);
    for (const st of await this.deps.state.list(`${namespace}/${recording}`)) {
      await this.deps.state.remove(`${namespace}/${recording}`, st.target.profileName);
    }
  }
}

/** Adds `key` as the most recent member of a bounded insertion-ordered set. */
function remember(set: Set<string>, key: string): void {
  set.delete(key);
  set.add(key);
  if (set.size > ENDED_REMEMBERED) set.delete(set.values().next().value ?? "");
}
