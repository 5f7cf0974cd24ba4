import type { z } from "zod";
import type { ProfileObject } from "../ports/profile-store.js";
import { AppArmorProfile, SeccompProfile, SelinuxProfile } from "../schemas/profiles.js";
import type { ProfileKind } from "../schemas/target.js";
import { appArmorProfileProblems, mergeAppArmorSpecs, renderAppArmorProfile } from "./apparmor.js";
import { canonicalJson } from "./canonical.js";
import { mergeSeccompProfiles } from "./merge-seccomp.js";
import { compareStrings } from "./paths.js";
import { ociSeccomp } from "./seccomp.js";
import { mergeSelinuxSpecs, renderSelinuxCil, selinuxProfileProblems } from "./selinux.js";

/**
 * The per-kind table (ARCHITECTURE.md: "shared code never switches on the kind"). Each row:
 * - `schema`: the zod schema of the SPO v1 object;
 * - `merge(a, b)`: SPO's union for that kind (spo.md §1.8): seccomp is merge-seccomp.ts (least
 *   restrictive action per syscall; its spec merge is a join, tested there; the object keeps
 *   `a`'s name and gets SPO's coverage annotation, which counts partials, so merging a profile
 *   with itself counts it twice); SELinux type → class → permission union; AppArmor the
 *   glob-aware join of apparmor.ts. SELinux and AppArmor merges are associative, commutative
 *   and idempotent on whole objects: the name is the smaller of the two (callers name merged
 *   profiles themselves), labels and annotations are those both sides share;
 * - `render(cr)`: the host files (`suffix` is appended to the profile name): seccomp the OCI JSON
 *   (`.seccomp.json`), SELinux the CIL module (`.cil`), AppArmor the profile text (`.apparmor`).
 *   Renderers validate first and throw rather than emit anything unsafe;
 * - `validate(cr)`: every problem that would stop rendering, as messages; empty when fine.
 */

export interface RenderedFile {
  suffix: string;
  content: string;
}

export interface KindModule<P extends ProfileObject> {
  readonly kind: P["kind"];
  readonly schema: z.ZodType<P>;
  merge(a: P, b: P): P;
  render(cr: P): { files: RenderedFile[] };
  validate(cr: P): string[];
}

type ProfileOf<K extends ProfileKind> = Extract<ProfileObject, { kind: K }>;

function common(
  a: Readonly<Record<string, string>> | undefined,
  b: Readonly<Record<string, string>> | undefined,
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a ?? {}).sort(([x], [y]) => compareStrings(x, y)))
    if (b?.[k] === v) out[k] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Metadata of a merge: the smaller name, shared labels and annotations (order-independent). */
export function mergedMetadata<M extends ProfileObject["metadata"]>(a: M, b: M): ProfileObject["metadata"] {
  const out: ProfileObject["metadata"] = { name: compareStrings(a.name, b.name) <= 0 ? a.name : b.name };
  const labels = common(a.labels, b.labels);
  const annotations = common(a.annotations, b.annotations);
  if (labels !== undefined) out.labels = labels;
  if (annotations !== undefined) out.annotations = annotations;
  return out;
}

const schemaProblems = (schema: z.ZodType, cr: unknown): string[] => {
  const r = schema.safeParse(cr);
  return r.success ? [] : r.error.issues.map((i) => `schema: ${i.path.join(".") || "object"}: ${i.message}`);
};

const seccomp: KindModule<SeccompProfile> = {
  kind: "SeccompProfile",
  schema: SeccompProfile,
  merge: (a, b) => mergeSeccompProfiles([a, b], a.metadata.name),
  render: (cr) => {
    const problems = schemaProblems(SeccompProfile, cr);
    if (problems.length > 0)
      throw new RangeError(`SeccompProfile ${JSON.stringify(cr.metadata?.name)}: ${problems.join("; ")}`);
    return { files: [{ suffix: ".seccomp.json", content: canonicalJson(ociSeccomp(cr.spec)) }] };
  },
  validate: (cr) => schemaProblems(SeccompProfile, cr),
};

const selinux: KindModule<SelinuxProfile> = {
  kind: "SelinuxProfile",
  schema: SelinuxProfile,
  merge: (a, b) => ({
    apiVersion: a.apiVersion,
    kind: "SelinuxProfile",
    metadata: mergedMetadata(a.metadata, b.metadata),
    spec: mergeSelinuxSpecs([a.spec, b.spec]),
  }),
  render: (cr) => ({ files: [{ suffix: ".cil", content: renderSelinuxCil(cr) }] }),
  validate: (cr) => selinuxProfileProblems(cr),
};

const apparmor: KindModule<AppArmorProfile> = {
  kind: "AppArmorProfile",
  schema: AppArmorProfile,
  merge: (a, b) => ({
    apiVersion: a.apiVersion,
    kind: "AppArmorProfile",
    metadata: mergedMetadata(a.metadata, b.metadata),
    spec: mergeAppArmorSpecs([a.spec, b.spec]),
  }),
  render: (cr) => ({ files: [{ suffix: ".apparmor", content: renderAppArmorProfile(cr) }] }),
  validate: (cr) => appArmorProfileProblems(cr),
};

export const KINDS: { readonly [K in ProfileKind]: KindModule<ProfileOf<K>> } = {
  SeccompProfile: seccomp,
  SelinuxProfile: selinux,
  AppArmorProfile: apparmor,
};

/** The row for a profile of any kind (the one place that narrows `ProfileObject` to its row). */
function rowOf(p: ProfileObject): KindModule<ProfileObject> {
  return KINDS[p.kind] as unknown as KindModule<ProfileObject>;
}

/** `KINDS[kind].merge` for two profiles of the same kind; TypeError for different kinds. */
export function mergeProfiles<P extends ProfileObject>(a: P, b: P): P {
  if (a.kind !== b.kind) throw new TypeError(`cannot merge a ${a.kind} with a ${b.kind}`);
  return rowOf(a).merge(a, b) as P;
}

export function renderProfile(p: ProfileObject): { files: RenderedFile[] } {
  return rowOf(p).render(p);
}

export function validateProfile(p: ProfileObject): string[] {
  return rowOf(p).validate(p);
}
