import {
  type BundleFormat,
  bundleFileName,
  COVERAGE_ANNOTATION,
  canonicalJson,
  LABELS,
  type LossCounters,
  ociSeccomp,
  type ProfileObject,
  type ProfileRecording,
  type ProfileState,
  type ProfileStore,
  type RecordingSummary,
  renderProfile,
  SyscallCoverage,
} from "@secprof/core";
import { stringify } from "yaml";
import type { RecordingSource } from "../bundle/http-api.js";
import { type BundleEntry, type BundleInfo, writeBundle } from "../bundle/write-bundle.js";

export interface SourceDeps {
  state: ProfileState;
  store: ProfileStore;
  recordings: () => ProfileRecording[];
  recording: (namespace: string, name: string) => ProfileRecording | undefined;
  /** A stored profile whose host rendering failed (left out of the bundle; its CR is still in). */
  onUnrenderable?: (profile: ProfileObject, reason: string) => void;
}

/** The bundle format of each non-seccomp kind's host rendering. */
const HOST_FORMAT: Readonly<Record<"SelinuxProfile" | "AppArmorProfile", BundleFormat>> = {
  SelinuxProfile: "selinux-cil",
  AppArmorProfile: "apparmor-text",
};

/** The merger's view of recordings for the CI download API (`secprof pull`). */
export class MergerRecordingSource implements RecordingSource {
  constructor(private readonly deps: SourceDeps) {}

  async listRecordings(): Promise<RecordingSummary[]> {
    const out: RecordingSummary[] = [];
    for (const r of this.deps.recordings()) {
      const ns = r.metadata.namespace ?? "default";
      const profiles = await this.profilesOf(ns, r.metadata.name);
      out.push({
        namespace: ns,
        name: r.metadata.name,
        kind: r.spec.kind,
        status: profiles.length > 0 ? "Complete" : "Recording",
        profiles: profiles.map((p) => p.metadata.name).sort(),
        bundle: profiles.length > 0,
      });
    }
    return out;
  }

  async profiles(namespace: string, name: string): Promise<ProfileObject[] | undefined> {
    const profiles = await this.profilesOf(namespace, name);
    if (profiles.length === 0 && this.deps.recording(namespace, name) === undefined) return undefined;
    return profiles;
  }

  async bundle(namespace: string, name: string): Promise<Uint8Array | undefined> {
    const profiles = await this.profilesOf(namespace, name);
    if (profiles.length === 0) return undefined;
    const entries: BundleEntry[] = [];
    const coverage: NonNullable<BundleInfo["coverage"]> = {};
    for (const p of profiles) {
      const profile = p.metadata.name;
      entries.push({
        path: bundleFileName(p.kind, profile, "cr-yaml"),
        content: stringify(p, { lineWidth: 0 }),
        kind: p.kind,
        profile,
        format: "cr-yaml",
      });
      if (p.kind !== "SeccompProfile") {
        // The host rendering (CIL, AppArmor text); core's renderer validates first and throws on
        // anything unsafe, so a profile edited into something invalid is left out, not rendered.
        const format = HOST_FORMAT[p.kind];
        let content: string | undefined;
        try {
          content = renderProfile(p).files[0]?.content;
        } catch (err) {
          this.deps.onUnrenderable?.(p, (err as Error).message);
        }
        if (content !== undefined)
          entries.push({
            path: bundleFileName(p.kind, profile, format),
            content,
            kind: p.kind,
            profile,
            format,
          });
      } else {
        entries.push({
          path: bundleFileName(p.kind, profile, "oci-seccomp-json"),
          content: canonicalJson(ociSeccomp(p.spec)),
          kind: p.kind,
          profile,
          format: "oci-seccomp-json",
        });
        const cov = SyscallCoverage.safeParse(
          JSON.parse(p.metadata.annotations?.[COVERAGE_ANNOTATION] ?? "null"),
        );
        if (cov.success) coverage[profile] = cov.data;
      }
    }
    const states = await this.deps.state.list(`${namespace}/${name}`);
    const loss: Record<string, LossCounters> = {};
    const nodes = new Set<string>();
    const hosts: NonNullable<(typeof states)[number]["hosts"]> = {};
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const s of states) {
      Object.assign(loss, s.loss);
      for (const r of s.recorders) nodes.add(r);
      Object.assign(hosts, s.hosts);
      first = Math.min(first, s.firstAt);
      last = Math.max(last, s.lastAt);
    }
    const now = Date.now();
    const rec = this.deps.recording(namespace, name);
    const info: BundleInfo = {
      v: 1,
      recording: { namespace, name },
      recorder: rec?.spec.recorder ?? "unknown",
      // Recorders older than the `host` field report no kernel and arch.
      nodes: [...nodes].sort().map((n) => ({
        name: n,
        arch: hosts[n]?.arch ?? "unreported",
        kernel: hosts[n]?.kernel ?? "unreported",
      })),
      startedAt: new Date(Number.isFinite(first) ? first : now).toISOString(),
      endedAt: new Date(last > 0 ? last : now).toISOString(),
      loss,
      ...(Object.keys(coverage).length > 0 ? { coverage } : {}),
    };
    return writeBundle(info, entries);
  }

  private async profilesOf(namespace: string, name: string): Promise<ProfileObject[]> {
    const labels = { [LABELS.recordingId]: name };
    const out: ProfileObject[] = [];
    for (const kind of ["SeccompProfile", "SelinuxProfile", "AppArmorProfile"] as const) {
      out.push(...(await this.deps.store.list(kind, namespace, labels)));
    }
    return out.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  }
}
