import type { ProfileObject } from "../ports/profile-store.js";
import { AppArmorProfile, SeccompProfile, SelinuxProfile } from "../schemas/profiles.js";
import type { ProfileRef } from "./schema.js";

/**
 * What an approval's digest is taken over: the canonical rendering of the parts of a profile
 * that decide what gets installed, and nothing else.
 *
 * - The profile is parsed with its kind's schema first, so defaults are explicit and unknown
 *   spec fields (which no renderer reads) are dropped: a YAML round trip, key reordering or a
 *   defaulted field does not change the digest; a changed rule, mode or state does.
 * - Covered: `apiVersion`, `kind`, `metadata.name`, `metadata.namespace` (if set), `spec`.
 *   Not covered: labels, annotations, status, resourceVersion and other bookkeeping the
 *   operator and tools rewrite; none of them reaches a host file.
 * - Rendering: JSON with object keys sorted (UTF-16 code unit order) at every depth, arrays in
 *   their given order (order can matter to a loader, so reordering needs a new approval), no
 *   whitespace, a `secprof-approval/v1\n` prefix so the digest cannot be confused with that of
 *   any other document.
 *
 * Pure: sha256 is computed at the edges (node:crypto) as `sha256:<hex>` of this string's UTF-8.
 */
export const APPROVAL_DIGEST_DOMAIN = "secprof-approval/v1\n";

export function approvalDigestInput(profile: ProfileObject): string {
  const parsed = parseProfile(profile);
  const metadata: Record<string, string> = { name: parsed.metadata.name };
  if (parsed.metadata.namespace !== undefined) metadata.namespace = parsed.metadata.namespace;
  return (
    APPROVAL_DIGEST_DOMAIN +
    sortedJson({ apiVersion: parsed.apiVersion, kind: parsed.kind, metadata, spec: parsed.spec })
  );
}

function parseProfile(p: ProfileObject): ProfileObject {
  switch (p.kind) {
    case "SeccompProfile":
      return SeccompProfile.parse(p);
    case "SelinuxProfile":
      return SelinuxProfile.parse(p);
    case "AppArmorProfile":
      return AppArmorProfile.parse(p);
  }
}

/** JSON with sorted keys and no whitespace; `undefined` members are dropped as JSON does. */
export function sortedJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** The reference of a profile object (its own namespace, if any). */
export function profileRefOf(p: ProfileObject): ProfileRef {
  const ref: ProfileRef = { kind: p.kind, name: p.metadata.name };
  if (p.metadata.namespace !== undefined) ref.namespace = p.metadata.namespace;
  return ref;
}
