import type { z } from "zod";
import { SELINUX_RECORDING_TYPE } from "../recording/admission.js";
import type { AvcEvent } from "../schemas/events.js";
import { API_VERSION } from "../schemas/kube.js";
import type { AvcTuple } from "../schemas/observation.js";
import { SelinuxProfile, type SelinuxSpec } from "../schemas/profiles.js";
import { compareStrings } from "./paths.js";
import type { ProfileMeta } from "./seccomp.js";

/**
 * SELinux: AVC records → SPO's SelinuxProfile → CIL (spo.md §4.2).
 *
 * - Allow map (`selinuxAllowFromAvcs`): per AVC the key is the class and the *type* of the
 *   target context (its third `:` field; a context with fewer than three fields is an error).
 *   A target type equal to the recording's process type (`selinuxrecording.process`) becomes
 *   `@self`, which the CIL writes as this profile's own `<name>.process`. Unlike SPO (§10.11),
 *   only AVCs whose *source* is that recording type count (an AVC of the container runtime
 *   attributed to the container is not the workload's), and user-space (USER_AVC) and granted
 *   records are not evidence.
 * - SPO's deny lists (types `kernel_t kmem_t security_t shadow_t`, classes `capability
 *   capability2 security system`, permissions `load_policy mac_admin mounton relabelto
 *   relabelfrom setbool setenforce setsecparam`) are enforced when a profile is built from AVCs
 *   and when one is rendered: `SelinuxPolicyError` names each offending entry. Capabilities the
 *   container runtime grants by default come from the `container` template
 *   (packages/installer/policy/container.cil), so recorded profiles rarely need the class.
 * - CIL (`renderSelinuxCil`): SPO's obj2cil text exactly: `(block NAME`, `(blockinherit
 *   container)` unless a SelinuxProfile is inherited, the other inherits, `(typepermissive
 *   process)` when Permissive, then `(allow process TYPE ( CLASS ( PERMS )))` for each type and
 *   class in byte order (after `@self` is written out), permissions sorted and unique, `)`.
 *   Every identifier is checked first, so nothing recorded can close the block or add a
 *   statement: the block name is a CIL declaration name (letter, then letters, digits, `_`, `-`;
 *   no `.`), types are names or dotted paths of them, classes and permissions are
 *   `[A-Za-z][A-Za-z0-9_]*`.
 * - Merge (`mergeSelinuxSpecs`): type → class → permission union; inherits are the union; the
 *   mode is Permissive if any input is, the state Disabled if any is (SPO takes both from the
 *   first partial; a union that does not depend on order is associative and commutative).
 */

export const SELINUX_SELF = "@self";

export type SelinuxAllow = SelinuxSpec["allow"];
export type AvcTupleT = z.infer<typeof AvcTuple>;

export interface SelinuxDenyLists {
  types: readonly string[];
  classes: readonly string[];
  permissions: readonly string[];
}

/** SPO's built-in deny lists (`spod.spec.selinux.options`). */
export const SELINUX_DENY_LISTS: SelinuxDenyLists = {
  types: ["kernel_t", "kmem_t", "security_t", "shadow_t"],
  classes: ["capability", "capability2", "security", "system"],
  permissions: [
    "load_policy",
    "mac_admin",
    "mounton",
    "relabelto",
    "relabelfrom",
    "setbool",
    "setenforce",
    "setsecparam",
  ],
};

export interface SelinuxPolicyOptions {
  /** Replace SPO's deny lists (`denied{Types,Classes,Permissions}`). */
  denied?: Partial<SelinuxDenyLists>;
  /** Take entries off the deny lists (`allowed{Types,Classes,Permissions}`). */
  allowed?: Partial<SelinuxDenyLists>;
  /** System blocks a profile may inherit (SPO: `allowedSystemProfiles`, default `container`). */
  allowedSystemProfiles?: readonly string[];
}

export class SelinuxPolicyError extends RangeError {
  override readonly name = "SelinuxPolicyError";
  constructor(
    readonly profile: string,
    readonly problems: readonly string[],
  ) {
    super(`SelinuxProfile ${JSON.stringify(profile)}: ${problems.join("; ")}`);
  }
}

const show = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/** The type (third field) of an SELinux context `user:role:type[:level]`. */
export function contextType(context: string): string {
  const parts = context.split(":");
  const type = parts[2];
  if (parts.length < 3 || type === undefined || type === "")
    throw new SelinuxPolicyError("", [`context ${show(context)} has fewer than 3 colon-separated fields`]);
  return type;
}

export interface AvcOptions {
  /** The recording's process type: targets of this type become `@self`. */
  processType?: string;
  /**
   * Source types whose AVCs count; default only `processType`. `null` counts every AVC of the
   * container, as SPO does.
   */
  sourceTypes?: readonly string[] | null;
}

/**
 * The AVC tuple of a kernel AVC record, or undefined for records that are not evidence of what
 * the workload needs: USER_AVC (reported by a user-space object manager) and `granted` records.
 * Throws SelinuxPolicyError for a context with fewer than three fields.
 */
export function avcTupleFromEvent(
  e: Pick<AvcEvent, "denied" | "userSpace" | "perms" | "tclass" | "scontext" | "tcontext">,
): AvcTupleT | undefined {
  if (e.userSpace || !e.denied) return undefined;
  return {
    scontextType: contextType(e.scontext),
    tcontextType: contextType(e.tcontext),
    tclass: e.tclass,
    perms: [...new Set(e.perms)].sort(compareStrings),
  };
}

export interface SelinuxAllowBuild {
  allow: SelinuxAllow;
  /** AVCs left out because their source type is not the recording's. */
  ignored: number;
}

/**
 * The allow map of a recording: `allow[type][class]` = sorted permissions, with `@self` for the
 * process type (see the module comment). Deterministic: keys in byte order.
 */
export function selinuxAllowFromAvcs(tuples: Iterable<AvcTupleT>, opts: AvcOptions = {}): SelinuxAllowBuild {
  const processType = opts.processType ?? SELINUX_RECORDING_TYPE;
  const sources = opts.sourceTypes === null ? undefined : new Set(opts.sourceTypes ?? [processType]);
  const acc = new Map<string, Map<string, Set<string>>>();
  let ignored = 0;
  for (const t of tuples) {
    // Tuples may carry whole contexts (`u:r:t:s0`); only the type counts.
    const source = t.scontextType.includes(":") ? contextType(t.scontextType) : t.scontextType;
    if (sources !== undefined && !sources.has(source)) {
      ignored++;
      continue;
    }
    const target = t.tcontextType.includes(":") ? contextType(t.tcontextType) : t.tcontextType;
    const type = target === processType ? SELINUX_SELF : target;
    let classes = acc.get(type);
    if (classes === undefined) {
      classes = new Map();
      acc.set(type, classes);
    }
    let perms = classes.get(t.tclass);
    if (perms === undefined) {
      perms = new Set();
      classes.set(t.tclass, perms);
    }
    for (const p of t.perms) perms.add(p);
  }
  const allow: SelinuxAllow = {};
  for (const type of [...acc.keys()].sort(compareStrings)) {
    const classes = acc.get(type) ?? new Map<string, Set<string>>();
    const out: Record<string, string[]> = {};
    for (const cls of [...classes.keys()].sort(compareStrings)) {
      const perms = [...(classes.get(cls) ?? [])].sort(compareStrings);
      if (perms.length > 0) out[cls] = perms;
    }
    if (Object.keys(out).length > 0) allow[type] = out;
  }
  return { allow, ignored };
}

function denyLists(opts: SelinuxPolicyOptions): {
  types: Set<string>;
  classes: Set<string>;
  permissions: Set<string>;
} {
  const pick = (k: keyof SelinuxDenyLists) => {
    const s = new Set(opts.denied?.[k] ?? SELINUX_DENY_LISTS[k]);
    for (const x of opts.allowed?.[k] ?? []) s.delete(x);
    return s;
  };
  return { types: pick("types"), classes: pick("classes"), permissions: pick("permissions") };
}

/** Every deny-list hit of an allow map, each naming the rule it is in. */
export function selinuxDenyListViolations(allow: SelinuxAllow, opts: SelinuxPolicyOptions = {}): string[] {
  const deny = denyLists(opts);
  const out: string[] = [];
  for (const type of Object.keys(allow).sort(compareStrings)) {
    const classes = allow[type] ?? {};
    if (deny.types.has(type)) out.push(`type ${type} is on the deny list (allow[${type}])`);
    for (const cls of Object.keys(classes).sort(compareStrings)) {
      if (deny.classes.has(cls)) out.push(`class ${cls} is on the deny list (allow[${type}][${cls}])`);
      for (const perm of [...new Set(classes[cls] ?? [])].sort(compareStrings))
        if (deny.permissions.has(perm))
          out.push(`permission ${perm} is on the deny list (allow[${type}][${cls}] ${perm})`);
    }
  }
  return out;
}

/**
 * The SelinuxProfile CR for a recorded allow map: inherits `container`, Enforcing. Throws
 * SelinuxPolicyError when the map hits a deny list (such a profile could never be installed).
 */
export function selinuxProfileCR(
  meta: ProfileMeta,
  allow: SelinuxAllow,
  opts: SelinuxPolicyOptions & { mode?: "Enforcing" | "Permissive" } = {},
): SelinuxProfile {
  const hits = selinuxDenyListViolations(allow, opts);
  if (hits.length > 0) throw new SelinuxPolicyError(meta.name, hits);
  const metadata: SelinuxProfile["metadata"] = { name: meta.name };
  if (meta.labels !== undefined) metadata.labels = meta.labels;
  if (meta.annotations !== undefined) metadata.annotations = meta.annotations;
  return {
    apiVersion: API_VERSION,
    kind: "SelinuxProfile",
    metadata,
    spec: { inherit: [{ kind: "System", name: "container" }], mode: opts.mode ?? "Enforcing", allow },
  };
}

type Inherit = SelinuxSpec["inherit"][number];
const inheritOrder = (a: Inherit, b: Inherit) =>
  (a.kind === b.kind ? 0 : a.kind === "System" ? -1 : 1) || compareStrings(a.name, b.name);

/** Union of allow maps: every type, class and permission of any input; sorted. */
export function mergeSelinuxAllow(maps: readonly SelinuxAllow[]): SelinuxAllow {
  const acc = new Map<string, Map<string, Set<string>>>();
  for (const m of maps)
    for (const [type, classes] of Object.entries(m)) {
      let c = acc.get(type);
      if (c === undefined) {
        c = new Map();
        acc.set(type, c);
      }
      for (const [cls, perms] of Object.entries(classes)) {
        let p = c.get(cls);
        if (p === undefined) {
          p = new Set();
          c.set(cls, p);
        }
        for (const x of perms) p.add(x);
      }
    }
  const out: SelinuxAllow = {};
  for (const type of [...acc.keys()].sort(compareStrings)) {
    const classes: Record<string, string[]> = {};
    const c = acc.get(type) ?? new Map<string, Set<string>>();
    for (const cls of [...c.keys()].sort(compareStrings))
      classes[cls] = [...(c.get(cls) ?? [])].sort(compareStrings);
    out[type] = classes;
  }
  return out;
}

/** Union of specs (see the module comment). */
export function mergeSelinuxSpecs(specs: readonly SelinuxSpec[]): SelinuxSpec {
  if (specs.length === 0) throw new RangeError("nothing to merge");
  const inherits = new Map<string, Inherit>();
  for (const s of specs)
    for (const i of s.inherit) inherits.set(`${i.kind}/${i.name}`, { kind: i.kind, name: i.name });
  const out: SelinuxSpec = {
    inherit: [...inherits.values()].sort(inheritOrder),
    mode: specs.some((s) => s.mode === "Permissive") ? "Permissive" : "Enforcing",
    allow: mergeSelinuxAllow(specs.map((s) => s.allow)),
  };
  const states = new Set(specs.map((s) => s.state));
  if (states.has("Disabled")) out.state = "Disabled";
  else if (states.has("Enabled")) out.state = "Enabled";
  return out;
}

// ─── validation and CIL ─────────────────────────────────────────────────────────────────────

/** A CIL declaration name: what `(block NAME` and inherited block names must be. */
export const CIL_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
/** A type reference: a name, or a dotted path of names (`other-profile.process`). */
const CIL_TYPE_REF = /^[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z][A-Za-z0-9_-]*)*$/;
/** Classes and permissions. */
const CIL_WORD = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Everything that keeps a SelinuxProfile from being rendered; empty when it is safe to render. */
export function selinuxProfileProblems(cr: unknown, opts: SelinuxPolicyOptions = {}): string[] {
  const parsed = SelinuxProfile.safeParse(cr);
  if (!parsed.success)
    return parsed.error.issues.map((i) => `schema: ${i.path.join(".") || "object"}: ${i.message}`);
  const p = parsed.data;
  const name = p.metadata.name;
  const problems: string[] = [];
  if (!CIL_NAME.test(name))
    problems.push(
      `metadata.name ${show(name)} cannot name a CIL block: a letter, then letters, digits, _ and - (no "." — it separates CIL namespaces)`,
    );
  const allowedSystem = new Set(opts.allowedSystemProfiles ?? ["container"]);
  for (const [i, inh] of p.spec.inherit.entries()) {
    if (!CIL_NAME.test(inh.name))
      problems.push(`spec.inherit[${i}]: ${show(inh.name)} is not a CIL block name`);
    else if (inh.kind === "System" && !allowedSystem.has(inh.name))
      problems.push(
        `spec.inherit[${i}]: System profile ${inh.name} is not allowed (allowed: ${[...allowedSystem].join(", ")})`,
      );
    else if (inh.kind === "SelinuxProfile" && inh.name === name)
      problems.push(`spec.inherit[${i}]: a profile cannot inherit itself`);
  }
  for (const [type, classes] of Object.entries(p.spec.allow)) {
    if (type !== SELINUX_SELF && !CIL_TYPE_REF.test(type)) {
      problems.push(`spec.allow: type ${show(type)} is not a CIL type name`);
      continue;
    }
    for (const [cls, perms] of Object.entries(classes)) {
      if (!CIL_WORD.test(cls)) {
        problems.push(`spec.allow[${type}]: class ${show(cls)} is not a CIL identifier`);
        continue;
      }
      for (const perm of perms)
        if (!CIL_WORD.test(perm))
          problems.push(`spec.allow[${type}][${cls}]: permission ${show(perm)} is not a CIL identifier`);
    }
  }
  if (problems.length === 0) problems.push(...selinuxDenyListViolations(p.spec.allow, opts));
  return problems;
}

/**
 * SPO's CIL for a SelinuxProfile (see the module comment). Validates first and throws
 * SelinuxPolicyError naming every problem (deny-list hits included) before producing any text.
 */
export function renderSelinuxCil(cr: SelinuxProfile, opts: SelinuxPolicyOptions = {}): string {
  const problems = selinuxProfileProblems(cr, opts);
  const name = String(cr.metadata?.name ?? "");
  if (problems.length > 0) throw new SelinuxPolicyError(name, problems);
  const spec = SelinuxProfile.parse(cr).spec;
  const lines = [`(block ${name}`];
  const profileInherits = spec.inherit.filter((i) => i.kind === "SelinuxProfile");
  if (profileInherits.length === 0) lines.push("(blockinherit container)");
  const others = new Set<string>();
  for (const i of spec.inherit) if (!(i.kind === "System" && i.name === "container")) others.add(i.name);
  for (const b of [...others].sort(compareStrings)) lines.push(`(blockinherit ${b})`);
  if (spec.mode === "Permissive") lines.push("(typepermissive process)");
  // `@self` is written out before sorting, and merges with an explicit `<name>.process` key.
  const self = `${name}.process`;
  const allow = mergeSelinuxAllow(
    Object.entries(spec.allow).map(([type, classes]) => ({ [type === SELINUX_SELF ? self : type]: classes })),
  );
  for (const [type, classes] of Object.entries(allow))
    for (const [cls, perms] of Object.entries(classes))
      if (perms.length > 0) lines.push(`(allow process ${type} ( ${cls} ( ${perms.join(" ")} )))`);
  lines.push(")", "");
  return lines.join("\n");
}
