import { API_VERSION } from "../schemas/kube.js";
import type { SeccompArchitecture, SeccompProfile, SeccompSpec } from "../schemas/profiles.js";
import { scmpArchOf } from "../syscalls/index.js";
import { SyscallSet } from "./syscall-set.js";

export const ANNOTATION_PREFIX = "secprof.x-k8s.io";

export interface SeccompSources {
  /** What the workload itself did. */
  workload: SyscallSet;
  /** What the OCI runtime does after installing the filter, measured by recording the runtime. */
  runtime?: SyscallSet;
}

/**
 * The least-privilege seccomp spec for what was recorded: deny by default (ERRNO), exactly the
 * recorded arches (a compat arch only if compat syscalls were seen), one sorted ALLOW rule.
 */
export function seccompSpec(src: SeccompSources): SeccompSpec {
  const all = unionOf(src);
  const names = all.names();
  const spec: SeccompSpec = {
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: all.arches().map((a) => scmpArchOf(a) as SeccompArchitecture),
  };
  if (names.length > 0) spec.syscalls = [{ names, action: "SCMP_ACT_ALLOW" }];
  return spec;
}

function unionOf(src: SeccompSources): SyscallSet {
  return src.runtime === undefined ? src.workload : SyscallSet.union(src.workload, src.runtime);
}

/** Which syscalls came from where, for the profile's annotation and the summary. */
export function seccompProvenance(src: SeccompSources): { workload: string[]; runtimeOnly: string[] } {
  const workload = src.workload.names();
  const w = new Set(workload);
  const runtimeOnly = (src.runtime?.names() ?? []).filter((n) => !w.has(n));
  return { workload, runtimeOnly };
}

export interface ProfileMeta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function seccompProfileCR(meta: ProfileMeta, spec: SeccompSpec): SeccompProfile {
  const metadata: SeccompProfile["metadata"] = { name: meta.name };
  if (meta.labels !== undefined) metadata.labels = meta.labels;
  if (meta.annotations !== undefined) metadata.annotations = meta.annotations;
  return { apiVersion: API_VERSION, kind: "SeccompProfile", metadata, spec };
}

/** The OCI runtime seccomp object (what runc/crun/containerd read), in canonical key order. */
export function ociSeccomp(spec: SeccompSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { defaultAction: spec.defaultAction };
  if (spec.architectures !== undefined) out.architectures = spec.architectures;
  if (spec.flags !== undefined) out.flags = spec.flags;
  if (spec.syscalls !== undefined) out.syscalls = spec.syscalls;
  return out;
}
