import { COVERAGE_ANNOTATION, LABELS } from "../recording/naming.js";
import {
  type SeccompAction,
  SeccompArchitecture,
  type SeccompProfile,
  type SeccompRule,
  type SeccompSpec,
} from "../schemas/profiles.js";
import { ARCH_NAMES, scmpArchOf } from "../syscalls/index.js";
import { ANNOTATION_PREFIX, seccompProfileCR } from "./seccomp.js";

/**
 * Seccomp union with SPO's semantics (spo.md §1.8), made a true join so the merge is
 * associative, commutative and idempotent, and never loses a call any input allows:
 *
 * - Per syscall name the **least restrictive** action wins, in SPO's order
 *   KILL_PROCESS < KILL = KILL_THREAD < TRAP < ERRNO < NOTIFY < TRACE < LOG < ALLOW; `errnoRet`
 *   follows the chosen side. Ties SPO leaves to "left wins" (KILL vs KILL_THREAD, two errnoRet
 *   values) are broken by the action name, then the larger errnoRet, so order never matters.
 * - Args, for rules less restrictive than the default (all recorded rules): if either side is
 *   unconditional the result is; otherwise the union of the sides' conditions. Unlike SPO,
 *   which concatenates both sides' args into one rule (OCI ANDs the args of one rule, so that
 *   allows *less* than either side), each side's conjunction stays a rule of its own (OR).
 * - Rules more restrictive than the default (a KILL in an ERRNO profile, an ERRNO in an ALLOW
 *   profile) restrict only calls *every* side restricts: their conditions intersect, and a
 *   side without the rule lets the call through to the default, so the rule goes (SPO would
 *   copy it and deny what the other side allowed).
 * - All profiles must share `defaultAction` (SPO partials do): a union of an allowlist and a
 *   denylist is not one profile, so that, like different `baseProfileName`s or listeners, is
 *   refused (SeccompMergeConflict). `architectures` and `flags` are set unions (SPO takes the
 *   first profile's, which drops the other arches); `state` comes from the first profile.
 *
 * Output layout: rules that share action, errnoRet and args are grouped into one rule with
 * sorted names (smaller, and equivalent to SPO's one-name-per-entry form); `layout: "per-name"`
 * gives SPO's form. Either way rules come in a fixed order, so equal input is byte-identical.
 */

type Arg = NonNullable<SeccompRule["args"]>[number];

export class SeccompMergeConflict extends Error {
  override readonly name = "SeccompMergeConflict";
}

/** SPO's ordering, most to least restrictive; KILL and KILL_THREAD share a rank. */
const ACTION_RANK: Readonly<Record<SeccompAction, number>> = {
  SCMP_ACT_KILL_PROCESS: 0,
  SCMP_ACT_KILL: 1,
  SCMP_ACT_KILL_THREAD: 1,
  SCMP_ACT_TRAP: 2,
  SCMP_ACT_ERRNO: 3,
  SCMP_ACT_NOTIFY: 4,
  SCMP_ACT_TRACE: 5,
  SCMP_ACT_LOG: 6,
  SCMP_ACT_ALLOW: 7,
};

/** Higher is less restrictive. */
export function seccompActionRank(action: SeccompAction): number {
  return ACTION_RANK[action];
}

/** What a profile does with a call (before looking at args). */
export interface SeccompVerdict {
  action: SeccompAction;
  errnoRet?: number;
}

/** Total order on verdicts: rank, then action name, then errnoRet (absent lowest). Positive if a is less restrictive. */
export function compareVerdicts(a: SeccompVerdict, b: SeccompVerdict): number {
  return (
    ACTION_RANK[a.action] - ACTION_RANK[b.action] ||
    (a.action < b.action ? -1 : a.action > b.action ? 1 : 0) ||
    (a.errnoRet ?? -1) - (b.errnoRet ?? -1)
  );
}

/**
 * Which calls a rule matches: all of them, or any of several argument conjunctions, keyed
 * canonically and kept minimal (no alternative whose conditions include another's).
 */
export type SeccompConditions = "always" | ReadonlyMap<string, readonly Arg[]>;

/** A name's rule. In a normalized spec the verdict never equals the default (such a rule is a no-op). */
export interface SeccompNameRule {
  verdict: SeccompVerdict;
  when: SeccompConditions;
}

/** A seccomp spec as a function of the syscall name: what every listed name gets, and the default. */
export interface NormalizedSeccomp {
  defaultAction: SeccompAction;
  names: ReadonlyMap<string, SeccompNameRule>;
}

/** OCI allows at most 6 argument conditions per rule. */
const MAX_ARGS = 6;

function canonicalArg(a: Arg): Arg {
  return {
    index: a.index,
    ...(a.value === undefined ? {} : { value: a.value }),
    ...(a.valueTwo === undefined ? {} : { valueTwo: a.valueTwo }),
    op: a.op,
  };
}

const argKey = (a: Arg) => JSON.stringify([a.index, a.op, a.value ?? null, a.valueTwo ?? null]);

/** One rule's args as a canonical conjunction: sorted, de-duplicated. */
function conjunction(args: readonly Arg[]): { key: string; args: Arg[] } {
  const byKey = new Map<string, Arg>();
  for (const a of args) byKey.set(argKey(a), canonicalArg(a));
  const keys = [...byKey.keys()].sort();
  return { key: `[${keys.join(",")}]`, args: keys.map((k) => byKey.get(k) as Arg) };
}

/** Drops alternatives implied by a broader one (whose conditions are a subset), in key order. */
function minimal(alts: Map<string, readonly Arg[]>): ReadonlyMap<string, readonly Arg[]> {
  const sets = [...alts].map(([k, args]) => ({ k, args, keys: new Set(args.map(argKey)) }));
  const keep = sets.filter(
    (x) =>
      !sets.some((y) => y.k !== x.k && y.keys.size <= x.keys.size && [...y.keys].every((k) => x.keys.has(k))),
  );
  keep.sort((a, b) => (a.k < b.k ? -1 : 1));
  return new Map(keep.map((x) => [x.k, x.args]));
}

/** Calls either matches. */
function unionConditions(a: SeccompConditions, b: SeccompConditions): SeccompConditions {
  if (a === "always" || b === "always") return "always";
  return minimal(new Map([...a, ...b]));
}

/** Calls both match; conjunctions over OCI's 6-arg limit are dropped (those calls fall to the default). */
function intersectConditions(a: SeccompConditions, b: SeccompConditions): SeccompConditions {
  if (a === "always") return b;
  if (b === "always") return a;
  const out = new Map<string, readonly Arg[]>();
  for (const x of a.values())
    for (const y of b.values()) {
      const c = conjunction([...x, ...y]);
      if (c.args.length <= MAX_ARGS) out.set(c.key, c.args);
    }
  return minimal(out);
}

const isEmpty = (c: SeccompConditions) => c !== "always" && c.size === 0;

function maxVerdict(a: SeccompVerdict, b: SeccompVerdict): SeccompVerdict {
  return compareVerdicts(a, b) >= 0 ? a : b;
}

/**
 * The join of two rules for one name under the same default `d` (undefined: no rule, the call
 * gets `d`). Rules above `d` (permissive) join to the higher verdict on the calls either matches;
 * rules below `d` (restrictive) to the higher verdict on the calls both match, and a restrictive
 * rule vanishes against no rule. A permissive rule wins over no rule and any restrictive one.
 * Exact except that two permissive rules' calls all get the higher verdict (an over-approximation:
 * it may allow more, never less).
 */
function joinRules(
  a: SeccompNameRule | undefined,
  b: SeccompNameRule | undefined,
  d: SeccompVerdict,
): SeccompNameRule | undefined {
  if (a === undefined || b === undefined) {
    const r = a ?? b;
    return r !== undefined && compareVerdicts(r.verdict, d) > 0 ? r : undefined;
  }
  const aUp = compareVerdicts(a.verdict, d) > 0;
  const bUp = compareVerdicts(b.verdict, d) > 0;
  if (aUp !== bUp) return aUp ? a : b;
  const verdict = maxVerdict(a.verdict, b.verdict);
  if (aUp) return { verdict, when: unionConditions(a.when, b.when) };
  const when = intersectConditions(a.when, b.when);
  return isEmpty(when) ? undefined : { verdict, when };
}

function verdictOf(r: SeccompRule): SeccompVerdict {
  return r.errnoRet === undefined ? { action: r.action } : { action: r.action, errnoRet: r.errnoRet };
}

/**
 * The per-name view of one spec. Several rules for one name with the same verdict are
 * alternatives; with different verdicts they are joined like two profiles would be. A rule that
 * does what the default does is dropped.
 */
export function normalizeSeccomp(spec: SeccompSpec): NormalizedSeccomp {
  const d: SeccompVerdict = { action: spec.defaultAction };
  const seen = new Map<string, SeccompNameRule | undefined>();
  for (const rule of spec.syscalls ?? []) {
    const verdict = verdictOf(rule);
    let when: SeccompConditions = "always";
    if (rule.args !== undefined && rule.args.length > 0) {
      const c = conjunction(rule.args);
      when = new Map([[c.key, c.args]]);
    }
    const r = compareVerdicts(verdict, d) === 0 ? undefined : { verdict, when };
    for (const name of rule.names) {
      const prev = seen.get(name);
      // Rules with the same verdict are alternatives (libseccomp ORs them; that is also how a
      // rule with several argument alternatives is rendered). Different verdicts: the join.
      seen.set(
        name,
        !seen.has(name)
          ? r
          : prev !== undefined && r !== undefined && compareVerdicts(prev.verdict, r.verdict) === 0
            ? { verdict: r.verdict, when: unionConditions(prev.when, r.when) }
            : joinRules(prev, r, d),
      );
    }
  }
  const names = new Map<string, SeccompNameRule>();
  for (const [n, r] of seen) if (r !== undefined) names.set(n, r);
  return { defaultAction: spec.defaultAction, names };
}

/** The join of several normalized specs with the same default (see the module comment). */
export function joinSeccomp(specs: readonly NormalizedSeccomp[]): NormalizedSeccomp {
  const first = specs[0];
  if (first === undefined) throw new RangeError("nothing to merge");
  const defaults = new Set(specs.map((s) => s.defaultAction));
  if (defaults.size > 1)
    throw new SeccompMergeConflict(
      `the profiles have different defaultActions (${[...defaults].join(", ")}); their union is not one profile`,
    );
  const d: SeccompVerdict = { action: first.defaultAction };
  const all = new Set<string>();
  for (const s of specs) for (const n of s.names.keys()) all.add(n);
  const names = new Map<string, SeccompNameRule>();
  for (const n of all) {
    const [head, ...rest] = specs.map((s) => s.names.get(n));
    const joined = rest.reduce((acc, r) => joinRules(acc, r, d), head);
    if (joined !== undefined) names.set(n, joined);
  }
  return { defaultAction: first.defaultAction, names };
}

export type SeccompLayout = "grouped" | "per-name";

const MAX_NAMES_PER_RULE = 1024;

/** Renders the rules of a normalized spec in the canonical order: less restrictive first, unconditional first. */
export function seccompRules(n: NormalizedSeccomp, layout: SeccompLayout = "grouped"): SeccompRule[] {
  interface Group {
    verdict: SeccompVerdict;
    condKey: string;
    args: readonly Arg[] | undefined;
    names: string[];
  }
  const groups = new Map<string, Group>();
  const add = (name: string, verdict: SeccompVerdict, condKey: string, args: readonly Arg[] | undefined) => {
    const key = JSON.stringify([
      verdict.action,
      verdict.errnoRet ?? null,
      condKey,
      layout === "per-name" ? name : "",
    ]);
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { verdict, condKey, args, names: [name] });
    else g.names.push(name);
  };
  for (const [name, r] of n.names) {
    if (r.when === "always") add(name, r.verdict, "", undefined);
    else for (const [k, args] of r.when) add(name, r.verdict, k, args);
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const byRule = (a: Group, b: Group) => -compareVerdicts(a.verdict, b.verdict) || cmp(a.condKey, b.condKey);
  const byName = (a: Group, b: Group) => cmp(a.names[0] ?? "", b.names[0] ?? "");
  const sorted = [...groups.values()];
  for (const g of sorted) g.names.sort();
  // Grouped: one group per (verdict, conditions). Per-name: by name, then like grouped.
  sorted.sort(layout === "grouped" ? byRule : (a, b) => byName(a, b) || byRule(a, b));
  const rules: SeccompRule[] = [];
  for (const g of sorted) {
    for (let i = 0; i < g.names.length; i += MAX_NAMES_PER_RULE) {
      const rule: SeccompRule = { names: g.names.slice(i, i + MAX_NAMES_PER_RULE), action: g.verdict.action };
      if (g.verdict.errnoRet !== undefined) rule.errnoRet = g.verdict.errnoRet;
      if (g.args !== undefined) rule.args = g.args.map(canonicalArg);
      rules.push(rule);
    }
  }
  return rules;
}

/** NATIVE, then secprof's arch order (the order `secprof record` writes), then the rest of SPO's enum. */
const ARCH_ORDER: readonly SeccompArchitecture[] = [
  ...new Set<SeccompArchitecture>([
    "SCMP_ARCH_NATIVE",
    ...ARCH_NAMES.map((a) => SeccompArchitecture.parse(scmpArchOf(a))),
    ...SeccompArchitecture.options,
  ]),
];
const FLAG_ORDER = [
  "SECCOMP_FILTER_FLAG_TSYNC",
  "SECCOMP_FILTER_FLAG_LOG",
  "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
  "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
] as const;

function orderedUnion<T extends string>(
  order: readonly T[],
  lists: readonly (readonly T[] | undefined)[],
): T[] | undefined {
  if (lists.every((l) => l === undefined)) return undefined;
  const seen = new Set<T>();
  for (const l of lists) for (const x of l ?? []) seen.add(x);
  return order.filter((x) => seen.has(x));
}

function sameOrConflict<K extends "baseProfileName" | "listenerPath" | "listenerMetadata">(
  specs: readonly SeccompSpec[],
  key: K,
): SeccompSpec[K] {
  const values = new Set(specs.map((s) => s[key]));
  if (values.size > 1)
    throw new SeccompMergeConflict(
      `the profiles disagree on ${key} (${[...values].map((v) => (v === undefined ? "unset" : JSON.stringify(v))).join(", ")}); one profile cannot hold both`,
    );
  return specs[0]?.[key];
}

export interface SeccompMergeOptions {
  layout?: SeccompLayout;
}

/** The union of seccomp specs (see the module comment). Throws SeccompMergeConflict, RangeError for no input. */
export function mergeSeccompSpecs(
  specs: readonly SeccompSpec[],
  opts: SeccompMergeOptions = {},
): SeccompSpec {
  const first = specs[0];
  if (first === undefined) throw new RangeError("nothing to merge");
  const baseProfileName = sameOrConflict(specs, "baseProfileName");
  const listenerPath = sameOrConflict(specs, "listenerPath");
  const listenerMetadata = sameOrConflict(specs, "listenerMetadata");
  const joined = joinSeccomp(specs.map(normalizeSeccomp));
  const out: SeccompSpec = { defaultAction: joined.defaultAction };
  if (first.state !== undefined) out.state = first.state;
  if (baseProfileName !== undefined) out.baseProfileName = baseProfileName;
  const architectures = orderedUnion(
    ARCH_ORDER,
    specs.map((s) => s.architectures),
  );
  if (architectures !== undefined) out.architectures = architectures;
  if (listenerPath !== undefined) out.listenerPath = listenerPath;
  if (listenerMetadata !== undefined) out.listenerMetadata = listenerMetadata;
  const rules = seccompRules(joined, opts.layout);
  if (rules.length > 0) out.syscalls = rules;
  const flags = orderedUnion(
    FLAG_ORDER,
    specs.map((s) => s.flags),
  );
  if (flags !== undefined) out.flags = flags;
  return out;
}

/** Coverage of one profile: its own annotation if it has a valid one (it is a merge), else 1 for each listed name. */
function coverageOf(p: SeccompProfile): { total: number; syscalls: Map<string, number> } {
  const raw = p.metadata.annotations?.[COVERAGE_ANNOTATION];
  if (raw !== undefined) {
    try {
      const c = JSON.parse(raw) as { version?: unknown; total?: unknown; syscalls?: unknown };
      if (
        c.version === "v1" &&
        Number.isSafeInteger(c.total) &&
        typeof c.syscalls === "object" &&
        c.syscalls !== null &&
        Object.values(c.syscalls).every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
      )
        return {
          total: c.total as number,
          syscalls: new Map(Object.entries(c.syscalls as Record<string, number>)),
        };
    } catch {
      // An unreadable annotation counts as a single partial.
    }
  }
  const names = new Set<string>();
  for (const r of p.spec.syscalls ?? []) for (const n of r.names) names.add(n);
  return { total: 1, syscalls: new Map([...names].map((n) => [n, 1])) };
}

/**
 * SPO's coverage annotation value (spo.md §1.7): `total` partials, and per syscall in how many
 * it was listed. Already-merged inputs contribute their own counts, so merging in steps gives the
 * same numbers as merging at once.
 */
export function seccompCoverage(profiles: readonly SeccompProfile[]): string {
  let total = 0;
  const counts = new Map<string, number>();
  for (const p of profiles) {
    const c = coverageOf(p);
    total += c.total;
    for (const [n, k] of c.syscalls) counts.set(n, (counts.get(n) ?? 0) + k);
  }
  const syscalls: Record<string, number> = {};
  for (const n of [...counts.keys()].sort()) syscalls[n] = counts.get(n) ?? 0;
  return JSON.stringify({ version: "v1", total, syscalls });
}

const INCOMPLETE = `${ANNOTATION_PREFIX}/incomplete`;

function commonEntries(
  maps: readonly (Readonly<Record<string, string>> | undefined)[],
  skip: ReadonlySet<string>,
): Record<string, string> | undefined {
  const [first, ...rest] = maps;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(first ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)))
    if (!skip.has(k) && rest.every((m) => m?.[k] === v)) out[k] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The merged SeccompProfile CR: the union spec, labels and annotations every input shares (minus
 * `partial`), SPO's coverage annotation, and every input's `incomplete` reasons: a merge of an
 * incomplete recording is incomplete too.
 */
export function mergeSeccompProfiles(
  profiles: readonly SeccompProfile[],
  name: string,
  opts: SeccompMergeOptions = {},
): SeccompProfile {
  const spec = mergeSeccompSpecs(
    profiles.map((p) => p.spec),
    opts,
  );
  const labels = commonEntries(
    profiles.map((p) => p.metadata.labels),
    new Set([LABELS.partial]),
  );
  const annotations =
    commonEntries(
      profiles.map((p) => p.metadata.annotations),
      new Set([COVERAGE_ANNOTATION, INCOMPLETE]),
    ) ?? {};
  const reasons = new Set<string>();
  for (const p of profiles)
    for (const r of p.metadata.annotations?.[INCOMPLETE]?.split("; ") ?? []) if (r !== "") reasons.add(r);
  if (reasons.size > 0) annotations[INCOMPLETE] = [...reasons].sort().join("; ");
  annotations[COVERAGE_ANNOTATION] = seccompCoverage(profiles);
  return seccompProfileCR(labels === undefined ? { name, annotations } : { name, labels, annotations }, spec);
}
