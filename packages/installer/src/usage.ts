import { z } from "zod";
import type { HostFile, HostRef } from "./host-writer.js";

/**
 * Which workloads on this node use a profile (deletion protection, spo.md §5.4): a profile
 * still referenced by a pod that is not finished is not removed; it stays Terminating.
 *
 * `podUsesProfile` is the pure matcher for cluster mode (fed from the node's pod watch);
 * single-host mode has no pods and passes a fixed answer.
 */

export interface WorkloadUsage {
  /** `namespace/pod` (or other labels) of the workloads using the profile on this node. */
  usersOf(ref: HostRef, file: HostFile): Promise<string[]>;
}

export const noUsage: WorkloadUsage = { usersOf: async () => [] };

const Seccomp = z.looseObject({ type: z.string().optional(), localhostProfile: z.string().optional() });
const SecurityContext = z
  .looseObject({
    seccompProfile: Seccomp.optional(),
    appArmorProfile: Seccomp.optional(),
    seLinuxOptions: z.looseObject({ type: z.string().optional() }).optional(),
  })
  .optional();
const Container = z.looseObject({ name: z.string().optional(), securityContext: SecurityContext });

export const PodLike = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string().optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z
    .looseObject({
      securityContext: SecurityContext,
      containers: z.array(Container).optional(),
      initContainers: z.array(Container).optional(),
      ephemeralContainers: z.array(Container).optional(),
    })
    .optional(),
  status: z.looseObject({ phase: z.string().optional() }).optional(),
});
export type PodLike = z.infer<typeof PodLike>;

/** True if the (running or pending) pod references the profile installed as `file`. */
export function podUsesProfile(pod: PodLike, ref: HostRef, file: HostFile): boolean {
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") return false;
  const spec = pod.spec;
  const contexts = [
    spec?.securityContext,
    ...[
      ...(spec?.containers ?? []),
      ...(spec?.initContainers ?? []),
      ...(spec?.ephemeralContainers ?? []),
    ].map((c) => c.securityContext),
  ];
  const annotations = Object.entries(pod.metadata.annotations ?? {});
  switch (ref.kind) {
    case "SeccompProfile": {
      const lp = file.localhostProfile;
      if (lp === undefined) return false;
      if (
        contexts.some(
          (c) => c?.seccompProfile?.type === "Localhost" && c.seccompProfile.localhostProfile === lp,
        )
      )
        return true;
      return annotations.some(
        ([k, v]) =>
          (k === "seccomp.security.alpha.kubernetes.io/pod" ||
            k.startsWith("container.seccomp.security.alpha.kubernetes.io/")) &&
          v === `localhost/${lp}`,
      );
    }
    case "AppArmorProfile":
      if (
        contexts.some(
          (c) => c?.appArmorProfile?.type === "Localhost" && c.appArmorProfile.localhostProfile === ref.name,
        )
      )
        return true;
      return annotations.some(
        ([k, v]) =>
          k.startsWith("container.apparmor.security.beta.kubernetes.io/") && v === `localhost/${ref.name}`,
      );
    case "SelinuxProfile":
      return contexts.some((c) => c?.seLinuxOptions?.type === `${ref.name}.process`);
  }
}

/** Usage from a list of pods (already filtered to this node). */
export function podListUsage(pods: () => Promise<readonly unknown[]>): WorkloadUsage {
  return {
    async usersOf(ref, file) {
      const out: string[] = [];
      for (const raw of await pods()) {
        const pod = PodLike.safeParse(raw);
        if (pod.success && podUsesProfile(pod.data, ref, file))
          out.push(`${pod.data.metadata.namespace ?? ""}/${pod.data.metadata.name}`);
      }
      return out.sort();
    },
  };
}
