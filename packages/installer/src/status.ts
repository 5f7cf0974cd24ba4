import { z } from "zod";

/**
 * Per-node profile status, with SPO's states (spo.md §5.3) and a reason code that says *why*,
 * so "Pending" can tell "awaits approval" from "not reconciled yet".
 *
 * States:
 * - Pending: not installed (yet): new, or awaiting approval of its current content;
 * - InProgress: being written / loaded right now;
 * - Installed: the approved content is on the host (and loaded, where the kernel supports it:
 *   `kernel` says so when it could not be loaded);
 * - Terminating: deletion requested; the file stays while a pod on this node still uses it;
 * - Error: invalid, could not be written or loaded. The previous file, if any, stays in place;
 * - Partial: a per-replica partial profile (label `spo.x-k8s.io/partial`); never installed;
 * - Disabled: `spec.state: Disabled`; not installed (a file already there is left in place).
 */

export const ProfileState = z.enum([
  "Pending",
  "InProgress",
  "Installed",
  "Terminating",
  "Error",
  "Partial",
  "Disabled",
]);
export type ProfileState = z.infer<typeof ProfileState>;

export const StatusReason = z.enum([
  "Reconciling",
  "AwaitingApproval",
  "Invalid",
  "WriteFailed",
  "LoadFailed",
  "Installed",
  "InUse",
  "Removing",
  "RemoveFailed",
  "Partial",
  "Disabled",
]);
export type StatusReason = z.infer<typeof StatusReason>;

export const KernelLoad = z.object({
  loaded: z.boolean(),
  /** Why not: e.g. "no AppArmor in this kernel". */
  reason: z.string().max(1024).optional(),
});

export const NodeProfileStatus = z.object({
  kind: z.enum(["SeccompProfile", "SelinuxProfile", "AppArmorProfile"]),
  namespace: z.string().max(63).optional(),
  name: z.string().max(253),
  node: z.string().max(253),
  state: ProfileState,
  reason: StatusReason,
  message: z.string().max(16_384),
  /** Digest of the desired profile's content (what an approval must name). */
  digest: z.string().optional(),
  /** Digest of the approved content now on the host, if any. */
  installedDigest: z.string().optional(),
  /** Host path of the file. */
  path: z.string().optional(),
  /** Seccomp: the value pods put in `localhostProfile`. */
  localhostProfile: z.string().optional(),
  /** AppArmor/SELinux: whether the kernel has the policy. */
  kernel: KernelLoad.optional(),
  /** `namespace/pod` entries that use the profile on this node. */
  activeWorkloads: z.array(z.string()).optional(),
  updatedAt: z.iso.datetime({ offset: true }),
});
export type NodeProfileStatus = z.infer<typeof NodeProfileStatus>;

/** SPO's aggregation order: a profile's overall state is the lowest of its nodes'. */
export const STATE_ORDER: readonly ProfileState[] = [
  "Error",
  "Terminating",
  "Partial",
  "Disabled",
  "Pending",
  "InProgress",
  "Installed",
];

export function aggregateState(states: readonly ProfileState[]): ProfileState | undefined {
  let best: ProfileState | undefined;
  for (const s of states)
    if (best === undefined || STATE_ORDER.indexOf(s) < STATE_ORDER.indexOf(best)) best = s;
  return best;
}

/** The `Ready` condition SPO derives from a state. */
export function readyCondition(state: ProfileState): {
  status: "True" | "False";
  reason: "Available" | "Creating" | "Deleting" | "Unavailable";
} {
  switch (state) {
    case "Installed":
      return { status: "True", reason: "Available" };
    case "Pending":
    case "InProgress":
      return { status: "False", reason: "Creating" };
    case "Terminating":
      return { status: "False", reason: "Deleting" };
    default:
      return { status: "False", reason: "Unavailable" };
  }
}

/**
 * Allowed transitions. Deletion is one-way: once Terminating, a profile only stays Terminating
 * until its status is dropped with the file (a re-created object starts again with no status).
 */
const NEXT: Readonly<Record<ProfileState, readonly ProfileState[]>> = {
  Pending: ["Pending", "InProgress", "Installed", "Error", "Partial", "Disabled", "Terminating"],
  InProgress: ["InProgress", "Installed", "Error", "Pending", "Terminating"],
  Installed: ["Installed", "InProgress", "Pending", "Error", "Partial", "Disabled", "Terminating"],
  Error: ["Error", "InProgress", "Pending", "Installed", "Partial", "Disabled", "Terminating"],
  Partial: ["Partial", "Pending", "InProgress", "Installed", "Error", "Disabled", "Terminating"],
  Disabled: ["Disabled", "Pending", "InProgress", "Installed", "Error", "Partial", "Terminating"],
  Terminating: ["Terminating"],
};

export function canTransition(from: ProfileState | undefined, to: ProfileState): boolean {
  return from === undefined || NEXT[from].includes(to);
}

/** The state a profile starts in (SPO: Disabled if disabled, Partial if partial, else Pending). */
export function initialState(p: { disabled: boolean; partial: boolean }): ProfileState {
  return p.disabled ? "Disabled" : p.partial ? "Partial" : "Pending";
}
