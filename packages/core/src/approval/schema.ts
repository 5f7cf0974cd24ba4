import { z } from "zod";
import { DNS_LABEL, ObjectName } from "../schemas/names.js";
import { ProfileKind } from "../schemas/target.js";

/**
 * Approval records: who approved which content (by digest) of which profile, and when. The
 * record names the sha256 of the profile's canonical rendering (see digest.ts), so an approval
 * can never cover a different content than the one that was reviewed.
 *
 * Stored in the Kubernetes API in cluster mode and in a local JSON file in single-host mode;
 * both hold an append-only list, newest last. The *latest* record of a profile is its effective
 * approval: approving a new digest supersedes the older ones, so going back to an older content
 * needs a new approval too.
 */

export const APPROVAL_DIGEST = /^sha256:[0-9a-f]{64}$/;
export const ApprovalDigest = z.string().regex(APPROVAL_DIGEST, "must be sha256:<64 lowercase hex>");
export type ApprovalDigest = `sha256:${string}`;

/** A person or system, as printed in audit trails: no control characters, no newlines. */
export const Approver = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\u0000-\u001f\u007f]+$/, "must not contain control characters");

const Timestamp = z.iso.datetime({ offset: true });

export const ProfileRef = z.object({
  kind: ProfileKind,
  /** Absent for cluster-scoped profiles (SPO's layout) and for local profiles without one. */
  namespace: z.string().max(63).regex(DNS_LABEL, "must be a DNS-1123 label").optional(),
  name: ObjectName,
});
export type ProfileRef = z.infer<typeof ProfileRef>;

export const ApprovalRecord = z.object({
  ...ProfileRef.shape,
  digest: ApprovalDigest,
  approvedBy: Approver,
  approvedAt: Timestamp,
  /** Set by `secprof approve --revoke`: the approval no longer counts. */
  revoked: z.object({ by: Approver, at: Timestamp }).optional(),
});
export type ApprovalRecord = z.infer<typeof ApprovalRecord>;

/** `Kind/namespace/name`, the key approvals and statuses are matched by. */
export function profileRefKey(ref: ProfileRef): string {
  return `${ref.kind}/${ref.namespace ?? ""}/${ref.name}`;
}

export function sameProfile(a: ProfileRef, b: ProfileRef): boolean {
  return a.kind === b.kind && (a.namespace ?? "") === (b.namespace ?? "") && a.name === b.name;
}

const KIND_ALIASES: Readonly<Record<string, ProfileKind>> = {
  seccompprofile: "SeccompProfile",
  seccomp: "SeccompProfile",
  sp: "SeccompProfile",
  selinuxprofile: "SelinuxProfile",
  selinux: "SelinuxProfile",
  apparmorprofile: "AppArmorProfile",
  apparmor: "AppArmorProfile",
  aa: "AppArmorProfile",
};

/**
 * Parses the CLI form `KIND/NAME` or `KIND/NAMESPACE/NAME` (KIND case-insensitive; also
 * `seccomp`, `selinux`, `apparmor`, `sp`, `aa`). Returns an error message for anything else.
 */
export function parseProfileRef(text: string): ProfileRef | string {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3)
    return `expected KIND/NAME or KIND/NAMESPACE/NAME, got ${JSON.stringify(text)}`;
  const kind = KIND_ALIASES[(parts[0] ?? "").toLowerCase()];
  if (kind === undefined)
    return `unknown kind ${JSON.stringify(parts[0])}: use SeccompProfile, SelinuxProfile or AppArmorProfile`;
  const raw = parts.length === 3 ? { kind, namespace: parts[1], name: parts[2] } : { kind, name: parts[1] };
  const parsed = ProfileRef.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `invalid ${String(issue?.path[0] ?? "reference")} in ${JSON.stringify(text)}: ${issue?.message ?? "invalid"}`;
  }
  return parsed.data;
}
