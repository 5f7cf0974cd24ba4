import { createHash } from "node:crypto";
import {
  AppArmorProfile,
  type ApprovalDigest,
  approvalDigestInput,
  canonicalJson,
  ObjectName,
  ociSeccomp,
  type ProfileKind,
  type ProfileObject,
  type ProfileRef,
  SeccompProfile,
  SelinuxProfile,
} from "@secprof/core";
import { z } from "zod";
import type { ReplaceGuard } from "./host-writer.js";
import type { Validator } from "./kernel.js";
import { APPARMOR_GENERATED_MARK, renderAppArmor } from "./render-apparmor.js";
import { renderSelinux, SELINUX_GENERATED_MARK, type SelinuxRenderOptions } from "./render-selinux.js";
import { type SeccompCheckOptions, validateSeccomp } from "./validate-seccomp.js";

/**
 * From a profile object to the exact bytes installed on the host, with every check that must
 * pass before the host is touched: schema, then per kind semantics (seccomp: validate-seccomp;
 * AppArmor/SELinux: the renderers' injection checks, then the real compiler via `Validator`).
 */

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The digest an approval must name: sha256 of core's canonical rendering of the profile. */
export function profileDigest(profile: ProfileObject): ApprovalDigest {
  return `sha256:${sha256Hex(approvalDigestInput(profile))}`;
}

const Head = z.object({
  kind: z.enum(["SeccompProfile", "SelinuxProfile", "AppArmorProfile"]),
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
});

export type ParsedProfile =
  | { ok: true; profile: ProfileObject; ref: ProfileRef }
  | { ok: false; ref: { kind: ProfileKind; name: string; namespace?: string } | undefined; errors: string[] };

const SCHEMAS = {
  SeccompProfile,
  SelinuxProfile,
  AppArmorProfile,
} as const;

/** Schema-checks an object read from the API or a file. `ref` is set when kind and name could be read. */
export function parseProfile(raw: unknown): ParsedProfile {
  const head = Head.safeParse(raw);
  if (!head.success)
    return {
      ok: false,
      ref: undefined,
      errors: head.error.issues.map((i) => `schema: ${i.path.join(".") || "object"}: ${i.message}`),
    };
  const { kind } = head.data;
  const ref: { kind: ProfileKind; name: string; namespace?: string } = {
    kind,
    name: head.data.metadata.name,
  };
  if (head.data.metadata.namespace !== undefined) ref.namespace = head.data.metadata.namespace;
  const parsed = SCHEMAS[kind].safeParse(raw);
  if (!parsed.success)
    return {
      ok: false,
      ref,
      errors: parsed.error.issues.map((i) => `schema: ${i.path.join(".") || "object"}: ${i.message}`),
    };
  const profile = parsed.data as ProfileObject;
  return { ok: true, profile, ref };
}

/** True for SPO's per-replica partial profiles, which are never installed. */
export function isPartial(p: ProfileObject): boolean {
  return p.metadata.labels?.["spo.x-k8s.io/partial"] === "true";
}

export function isDisabled(p: ProfileObject): boolean {
  return p.spec.state === "Disabled";
}

export interface PrepareOptions {
  seccomp?: SeccompCheckOptions;
  selinux?: SelinuxRenderOptions;
  /** The real AppArmor/SELinux compilers; without one those kinds fail closed. */
  validator?: Validator | undefined;
}

export type Prepared = { ok: true; text: string; warnings: string[] } | { ok: false; errors: string[] };

export async function prepareHostFile(profile: ProfileObject, opts: PrepareOptions = {}): Promise<Prepared> {
  if (!ObjectName.safeParse(profile.metadata.name).success)
    return {
      ok: false,
      errors: [`name ${JSON.stringify(profile.metadata.name)} is not a DNS-1123 subdomain`],
    };
  switch (profile.kind) {
    case "SeccompProfile": {
      const v = validateSeccomp(profile.spec, opts.seccomp);
      if (!v.ok) return v;
      return { ok: true, text: canonicalJson(ociSeccomp(v.spec)), warnings: v.warnings };
    }
    case "AppArmorProfile":
    case "SelinuxProfile": {
      const r =
        profile.kind === "AppArmorProfile" ? renderAppArmor(profile) : renderSelinux(profile, opts.selinux);
      if (!r.ok) return r;
      if (opts.validator === undefined)
        return {
          ok: false,
          errors: [
            `no ${profile.kind === "AppArmorProfile" ? "apparmor_parser" : "secilc"} validator configured`,
          ],
        };
      const c = await opts.validator.validate(profile.kind, profile.metadata.name, r.text);
      if (!c.ok) return { ok: false, errors: [`compiler: ${c.message}`] };
      return { ok: true, text: r.text, warnings: c.warnings ?? [] };
    }
  }
}

/**
 * AppArmor and SELinux files live in shared system directories: only files carrying secprof's
 * mark may be replaced or removed there (a profile named like a distribution profile must not
 * overwrite it). Seccomp files live in the operator's own directory.
 */
export function guardFor(kind: ProfileKind): ReplaceGuard | undefined {
  const mark =
    kind === "AppArmorProfile"
      ? APPARMOR_GENERATED_MARK
      : kind === "SelinuxProfile"
        ? SELINUX_GENERATED_MARK
        : undefined;
  if (mark === undefined) return undefined;
  return (existing) =>
    existing.subarray(0, mark.length).toString("utf8") === mark
      ? undefined
      : "the file there was not written by secprof";
}
