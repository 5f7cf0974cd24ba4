import { RecordingList } from "@secprof/core";
import { z } from "zod";
import type { HostFiles } from "../host-writer.js";
import { type DesiredProfile, type ReconcileDeps, type ReconcileResult, reconcile } from "../install.js";
import type { LocalApprovalStore } from "../local-approvals.js";
import type { LocalInstallState } from "../local-state.js";

/**
 * Single-host mode (no Kubernetes): one pass = desired profiles from a directory or the merger's
 * API + approvals from the local store → reconcile under the state lock. `secprof install DIR`
 * runs one pass; the daemon runs one every SECPROF_RESYNC_MS.
 *
 * A source that cannot be read fails the pass *before* reconcile: an empty answer is never taken
 * for "nothing desired", which would remove everything installed.
 */

export interface SingleHostPassOptions {
  desired: DesiredProfile[];
  store: LocalApprovalStore;
  state: LocalInstallState;
  /** The host root's key in the state file (its realpath). */
  rootKey: string;
  writer: HostFiles & { cleanStaleTemps(): Promise<string[]> };
  deps: Omit<ReconcileDeps, "writer">;
}

export interface SingleHostPassResult extends ReconcileResult {
  staleTemps: string[];
}

export async function singleHostPass(opts: SingleHostPassOptions): Promise<SingleHostPassResult> {
  const approvals = await opts.store.records();
  return opts.state.update(opts.rootKey, async (s) => {
    // Under the state lock, so a concurrent pass on the same state never loses its temp file.
    const staleTemps = await opts.writer.cleanStaleTemps();
    const r = await reconcile(
      { desired: opts.desired, approvals, installed: s.installed },
      { ...opts.deps, writer: opts.writer },
    );
    return { state: { installed: r.installed, statuses: r.statuses }, result: { ...r, staleTemps } };
  });
}

/** The merger's profiles answer: a Kubernetes List; items are validated by reconcile. */
const ProfileList = z.object({ items: z.array(z.unknown()).max(10_000) });

export type Fetch = (url: string, init: { headers: Record<string, string> }) => Promise<Response>;

/**
 * Every profile of every recording the merger serves (`GET /v1/recordings`, then
 * `GET /v1/recordings/<ns>/<name>/profiles`). Any failed or malformed answer throws.
 */
export async function mergerProfiles(base: string, token: string, fetchFn: Fetch): Promise<DesiredProfile[]> {
  const get = async (path: string): Promise<unknown> => {
    const url = new URL(path, base).toString();
    const res = await fetchFn(url, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json" },
    });
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
    return res.json();
  };
  const list = RecordingList.parse(await get("/v1/recordings"));
  const out: DesiredProfile[] = [];
  for (const r of list.items) {
    const profiles = ProfileList.parse(await get(`/v1/recordings/${r.namespace}/${r.name}/profiles`));
    for (const object of profiles.items) out.push({ object, source: `merger:${r.namespace}/${r.name}` });
  }
  return out;
}
