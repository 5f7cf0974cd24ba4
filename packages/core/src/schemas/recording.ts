import { z } from "zod";
import { API_GROUP, LabelSelector, ObjectMeta } from "./kube.js";
import { ProfileKind } from "./target.js";

/** v1alpha1 used lowercase enums; they are accepted and normalised to v1's spelling. */
const caseFolded = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess(
    (v) => (typeof v === "string" ? (values.find((x) => x.toLowerCase() === v.toLowerCase()) ?? v) : v),
    z.enum(values),
  );

export const RecorderKind = caseFolded(["Logs", "Bpf"] as const);
export type RecorderKind = z.infer<typeof RecorderKind>;
export const MergeStrategy = caseFolded(["None", "Containers"] as const);

export const ProfileRecordingSpec = z.object({
  kind: ProfileKind,
  recorder: RecorderKind,
  mergeStrategy: MergeStrategy.default("None"),
  podSelector: LabelSelector,
  containers: z.array(z.string().max(63)).max(256).optional(),
  disableProfileAfterRecording: z.boolean().default(false),
});

export const ProfileRecording = z.object({
  apiVersion: z.enum([`${API_GROUP}/v1`, `${API_GROUP}/v1alpha1`]),
  kind: z.literal("ProfileRecording"),
  metadata: ObjectMeta,
  spec: ProfileRecordingSpec,
  status: z.looseObject({ activeWorkloads: z.array(z.string()).optional() }).optional(),
});
export type ProfileRecording = z.infer<typeof ProfileRecording>;

/** SPO's allowed kind × recorder pairs (§1.1). Returns why a pair is invalid, or undefined. */
export function invalidCombination(spec: z.infer<typeof ProfileRecordingSpec>): string | undefined {
  if (spec.kind === "SelinuxProfile" && spec.recorder !== "Logs")
    return "SelinuxProfile can only be recorded with the Logs recorder (AVCs come from the audit log)";
  // SPO: "AppArmorProfile with Bpf only" (Warning event AppArmorNotSupported); the node recorder
  // reads no AppArmor audit records (a Logs recording would silently produce an empty profile).
  if (spec.kind === "AppArmorProfile" && spec.recorder !== "Bpf")
    return "AppArmorProfile can only be recorded with the Bpf recorder in the cluster (facts come from eBPF)";
  return undefined;
}
