import { z } from "zod";
import { LabelName, ObjectName } from "./names.js";

export const ProfileKind = z.enum(["SeccompProfile", "SelinuxProfile", "AppArmorProfile"]);
export type ProfileKind = z.infer<typeof ProfileKind>;

/** One recorded container instance (or, in local mode, one recorded command). */
export const Target = z.object({
  recording: LabelName,
  namespace: z.string().max(63),
  pod: z.string().max(253),
  podUid: z.string().max(64),
  container: z.string().max(63),
  containerId: z.string().max(128),
  node: z.string().max(253),
  kind: ProfileKind,
  /** Replica suffix (from generateName) or empty for fixed-name pods. */
  replica: z.string().max(63),
  /** The profile object name this target produces. */
  profileName: ObjectName,
});
export type Target = z.infer<typeof Target>;
