import type { ProfileRecording } from "../schemas/recording.js";
import { type PodFacts, select } from "./selection.js";

/** The trace profile installed on every node for Logs recordings: defaultAction SCMP_ACT_LOG. */
export const TRACE_SECCOMP_PROFILE = "operator/secprof-trace.json";
/**
 * Its content: log every syscall, of every x86 ABI a container may use (x86-64, i386, x32), so
 * that compat syscalls are recorded too instead of failing as a foreign arch.
 */
export const TRACE_SECCOMP = {
  defaultAction: "SCMP_ACT_LOG",
  architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
} as const;
/** The permissive SELinux type Logs recordings of SelinuxProfile run as. */
export const SELINUX_RECORDING_TYPE = "selinuxrecording.process";
/** Pod annotation (per container) naming the recording that selected it. */
export const RECORDING_ANNOTATION_PREFIX = "secprof.x-k8s.io/recording.";

interface ContainerSpec {
  name: string;
  securityContext?: {
    privileged?: boolean;
    seccompProfile?: { type?: string; localhostProfile?: string };
    seLinuxOptions?: { type?: string };
  };
}

export interface PodSpecLike {
  metadata: {
    name?: string;
    generateName?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: { containers: ContainerSpec[]; initContainers?: ContainerSpec[] };
}

/** `add` on an existing member replaces it (RFC 6902), so one op covers both cases. */
export type JsonPatchOp = { op: "add"; path: string; value: unknown };

export interface Mutation {
  patch: JsonPatchOp[];
  /** Warnings for the admission response (shown by kubectl) and events on the recording. */
  warnings: string[];
  /** Recordings that selected the pod. */
  recordings: string[];
}

/**
 * What the mutating webhook does to a pod (pure). Logs recordings need the pod to run under the
 * trace seccomp profile (or the permissive SELinux type) so the kernel logs what it does; Bpf
 * recordings need no change. Pods no recording selects get an empty patch: the webhook never
 * blocks them.
 */
export function mutatePod(
  recordings: readonly ProfileRecording[],
  namespaceLabels: Record<string, string>,
  pod: PodSpecLike,
): Mutation {
  const init = pod.spec.initContainers ?? [];
  const all: { c: ContainerSpec; path: string }[] = [
    ...init.map((c, i) => ({ c, path: `/spec/initContainers/${i}` })),
    ...pod.spec.containers.map((c, i) => ({ c, path: `/spec/containers/${i}` })),
  ];
  const facts: PodFacts = {
    namespaceLabels,
    labels: pod.metadata.labels ?? {},
    containers: all.map((x) => x.c.name),
  };
  const out: Mutation = { patch: [], warnings: [], recordings: [] };
  const annotations: Record<string, string> = {};
  for (const rec of recordings) {
    const sel = select(rec, facts);
    if (!sel.selected) continue;
    out.recordings.push(rec.metadata.name);
    for (const { c, path } of all) {
      if (!sel.containers.includes(c.name)) continue;
      if (c.securityContext?.privileged === true)
        out.warnings.push(
          `container ${c.name} is privileged: it runs without seccomp or SELinux confinement, so the recording may not reflect a confined run`,
        );
      // Bpf recordings observe pods as they are: nothing to change.
      if (rec.spec.recorder !== "Logs") continue;
      annotations[`${RECORDING_ANNOTATION_PREFIX}${c.name}`] = rec.metadata.name;
      const sc = c.securityContext ?? {};
      if (rec.spec.kind === "SeccompProfile") {
        if (sc.seccompProfile !== undefined)
          out.warnings.push(
            `container ${c.name}: its seccompProfile is replaced by the trace profile while recording`,
          );
        out.patch.push({
          op: "add",
          path: `${path}/securityContext`,
          value: { ...sc, seccompProfile: { type: "Localhost", localhostProfile: TRACE_SECCOMP_PROFILE } },
        });
      } else if (rec.spec.kind === "SelinuxProfile") {
        if (sc.seLinuxOptions !== undefined)
          out.warnings.push(
            `container ${c.name}: its seLinuxOptions are replaced by ${SELINUX_RECORDING_TYPE} while recording`,
          );
        out.patch.push({
          op: "add",
          path: `${path}/securityContext`,
          value: { ...sc, seLinuxOptions: { ...(sc.seLinuxOptions ?? {}), type: SELINUX_RECORDING_TYPE } },
        });
      }
    }
  }
  if (Object.keys(annotations).length > 0) {
    // Annotations set here cannot be spoofed by the pod author: the webhook overwrites them.
    const merged = { ...(pod.metadata.annotations ?? {}), ...annotations };
    out.patch.unshift({ op: "add", path: "/metadata/annotations", value: merged });
  }
  return out;
}
