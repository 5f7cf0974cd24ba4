import type { ProfileObject } from "../ports/profile-store.js";
import type {
  AppArmorProfile,
  SeccompAction,
  SeccompProfile,
  SeccompRule,
  SelinuxProfile,
} from "../schemas/profiles.js";
import type { ProfileKind } from "../schemas/target.js";
import {
  compareVerdicts,
  type NormalizedSeccomp,
  normalizeSeccomp,
  type SeccompConditions,
  type SeccompNameRule,
  type SeccompVerdict,
  seccompActionRank,
} from "./merge-seccomp.js";

/**
 * Semantic differences between two sets of profiles, and whether NEW allows anything OLD did
 * not ("widening"). Pure: rendering is the caller's. Per kind:
 * - seccomp: per syscall the effective verdict (its rule, else the default action) and argument
 *   conditions; defaultAction (less restrictive widens), architectures (a new one widens), flags
 *   (SPEC_ALLOW widens), baseProfileName and listener (a new or different one widens: its
 *   content is not visible here);
 * - SELinux: type → class → permission additions (widen) and removals, inherits, Permissive mode;
 * - AppArmor: per path pattern the access letters (r, w, m for libraries, x for executables); an
 *   added letter widens unless an OLD pattern with that letter covers the NEW pattern (so a new
 *   literal under an old glob does not widen, a broader glob does); capabilities, network, Complain.
 * A profile only in NEW is all-added (and widens); one only in OLD is all-removed.
 */

export type ChangeOp = "added" | "removed" | "changed";
export type ChangeAspect =
  | "profile"
  | "default-action"
  | "architecture"
  | "flag"
  | "base-profile"
  | "listener"
  | "state"
  | "syscall"
  | "mode"
  | "inherit"
  | "permission"
  | "path"
  | "capability"
  | "network";

export interface ProfileChange {
  kind: ProfileKind;
  profile: string;
  aspect: ChangeAspect;
  /** What changed: a syscall, `type class`, a path pattern, a capability… */
  subject: string;
  op: ChangeOp;
  before?: string;
  after?: string;
  /** NEW allows something OLD did not. */
  widening: boolean;
  note?: string;
}

export interface ProfileDiff {
  widened: boolean;
  changes: ProfileChange[];
}

type Change = Omit<ProfileChange, "kind" | "profile">;

function change(
  aspect: ChangeAspect,
  subject: string,
  op: ChangeOp,
  widening: boolean,
  before: string | undefined,
  after: string | undefined,
  note?: string,
): Change {
  const c: Change = { aspect, subject, op, widening };
  if (before !== undefined) c.before = before;
  if (after !== undefined) c.after = after;
  if (note !== undefined) c.note = note;
  return c;
}

function opOf(before: unknown, after: unknown): ChangeOp {
  return before === undefined ? "added" : after === undefined ? "removed" : "changed";
}

function setDiff<T>(a: Iterable<T>, b: ReadonlySet<T>): T[] {
  return [...new Set(a)].filter((x) => !b.has(x));
}

const sortStrings = (xs: Iterable<string>): string[] => [...xs].sort();

// ─── seccomp ────────────────────────────────────────────────────────────────────────────────

const short = (a: SeccompAction) => a.replace(/^SCMP_ACT_/, "");

function verdictText(v: SeccompVerdict): string {
  return v.errnoRet === undefined ? short(v.action) : `${short(v.action)}(${v.errnoRet})`;
}

type Arg = NonNullable<SeccompRule["args"]>[number];
const OPS: Readonly<Record<Arg["op"], string>> = {
  SCMP_CMP_NE: "!=",
  SCMP_CMP_LT: "<",
  SCMP_CMP_LE: "<=",
  SCMP_CMP_EQ: "==",
  SCMP_CMP_GE: ">=",
  SCMP_CMP_GT: ">",
  SCMP_CMP_MASKED_EQ: "&",
};

function argText(a: Arg): string {
  if (a.op === "SCMP_CMP_MASKED_EQ") return `arg${a.index} & ${a.value ?? 0} == ${a.valueTwo ?? 0}`;
  return `arg${a.index} ${OPS[a.op]} ${a.value ?? 0}`;
}

function ruleText(r: SeccompNameRule, implicit: boolean): string {
  const v = `${implicit ? "default " : ""}${verdictText(r.verdict)}`;
  if (r.when === "always") return v;
  const alts = [...r.when.values()].map((args) => args.map(argText).join(" && "));
  return `${v} if ${alts.length === 1 ? alts[0] : alts.map((a) => `(${a})`).join(" || ")}`;
}

function sameConditions(a: SeccompConditions, b: SeccompConditions): boolean {
  if (a === "always" || b === "always") return a === b;
  return a.size === b.size && [...a.keys()].every((k) => b.has(k));
}

/** Every call `b` matches, `a` matches too: some alternative of `a` has a subset of the conditions. */
function conditionsCover(a: SeccompConditions, b: SeccompConditions): boolean {
  if (a === "always") return true;
  if (b === "always") return false;
  return [...b.values()].every((bArgs) => {
    const bKeys = new Set(bArgs.map((x) => JSON.stringify(x)));
    return [...a.values()].some((aArgs) => aArgs.every((x) => bKeys.has(JSON.stringify(x))));
  });
}

/**
 * Is there a call NEW treats less restrictively than OLD? Conservative where argument conditions
 * overlap partly: calls NEW's rule matches get its verdict, the others NEW's default; OLD's side
 * is its rule where it surely matches, else the lower of its rule and its default.
 */
function seccompWidens(
  oe: SeccompNameRule,
  ne: SeccompNameRule,
  oDefault: SeccompAction,
  nDefault: SeccompAction,
): boolean {
  const r = seccompActionRank;
  const oldEither = Math.min(r(oe.verdict.action), r(oDefault));
  const oldOnMatched = conditionsCover(oe.when, ne.when) ? r(oe.verdict.action) : oldEither;
  if (r(ne.verdict.action) > oldOnMatched) return true;
  if (ne.when === "always") return false;
  // Calls NEW's rule does not match: OLD's rule cannot match them either if NEW's conditions cover OLD's.
  const oldOnRest =
    oe.when === "always" ? r(oe.verdict.action) : conditionsCover(ne.when, oe.when) ? r(oDefault) : oldEither;
  return r(nDefault) > oldOnRest;
}

/** A profile that does not exist lets nothing through: compare a new profile against "deny". */
const ABSENT_SECCOMP: NormalizedSeccomp = { defaultAction: "SCMP_ACT_ERRNO", names: new Map() };

function diffSeccompSyscalls(o: NormalizedSeccomp, n: NormalizedSeccomp, out: Change[]): void {
  const names = sortStrings(new Set([...o.names.keys(), ...n.names.keys()]));
  for (const name of names) {
    const or = o.names.get(name);
    const nr = n.names.get(name);
    const oe: SeccompNameRule = or ?? { verdict: { action: o.defaultAction }, when: "always" };
    const ne: SeccompNameRule = nr ?? { verdict: { action: n.defaultAction }, when: "always" };
    if (compareVerdicts(oe.verdict, ne.verdict) === 0 && sameConditions(oe.when, ne.when)) continue;
    const widening = seccompWidens(oe, ne, o.defaultAction, n.defaultAction);
    const op: ChangeOp =
      or === undefined && nr !== undefined ? "added" : nr === undefined ? "removed" : "changed";
    out.push(
      change("syscall", name, op, widening, ruleText(oe, or === undefined), ruleText(ne, nr === undefined)),
    );
  }
}

function diffSeccomp(old: SeccompProfile | undefined, neu: SeccompProfile | undefined): Change[] {
  const out: Change[] = [];
  const o = old?.spec;
  const n = neu?.spec;
  const before = o === undefined ? undefined : short(o.defaultAction);
  const after = n === undefined ? undefined : short(n.defaultAction);
  if (before !== after) {
    const widening =
      n !== undefined &&
      seccompActionRank(n.defaultAction) >
        seccompActionRank(o?.defaultAction ?? ABSENT_SECCOMP.defaultAction);
    out.push(change("default-action", "defaultAction", opOf(before, after), widening, before, after));
  }
  const oArch = new Set(o?.architectures ?? []);
  const nArch = new Set(n?.architectures ?? []);
  for (const a of sortStrings(setDiff(nArch, oArch)))
    out.push(change("architecture", a, "added", true, undefined, a));
  for (const a of sortStrings(setDiff(oArch, nArch)))
    out.push(change("architecture", a, "removed", false, a, undefined));
  const oFlags = new Set<string>(o?.flags ?? []);
  const nFlags = new Set<string>(n?.flags ?? []);
  for (const f of sortStrings(setDiff(nFlags, oFlags)))
    out.push(
      change(
        "flag",
        f,
        "added",
        f === "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        undefined,
        f,
        f === "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
          ? "disables the speculative store bypass mitigation"
          : undefined,
      ),
    );
  for (const f of sortStrings(setDiff(oFlags, nFlags)))
    out.push(change("flag", f, "removed", false, f, undefined));
  for (const [aspect, key] of [
    ["base-profile", "baseProfileName"],
    ["listener", "listenerPath"],
    ["listener", "listenerMetadata"],
  ] as const) {
    const b = o?.[key];
    const a = n?.[key];
    if (a === b) continue;
    const note =
      key === "baseProfileName" && a !== undefined
        ? "the base's syscalls are added at install time"
        : undefined;
    out.push(change(aspect, key, opOf(b, a), a !== undefined && key !== "listenerMetadata", b, a, note));
  }
  if (o !== undefined && n !== undefined && (o.state ?? "Enabled") !== (n.state ?? "Enabled"))
    out.push(change("state", "state", "changed", false, o.state ?? "Enabled", n.state ?? "Enabled"));
  diffSeccompSyscalls(
    o === undefined ? ABSENT_SECCOMP : normalizeSeccomp(o),
    n === undefined ? ABSENT_SECCOMP : normalizeSeccomp(n),
    out,
  );
  return out;
}

// ─── SELinux ────────────────────────────────────────────────────────────────────────────────

function diffSelinux(old: SelinuxProfile | undefined, neu: SelinuxProfile | undefined): Change[] {
  const out: Change[] = [];
  const o = old?.spec;
  const n = neu?.spec;
  const oMode = o?.mode;
  const nMode = n?.mode;
  if (
    oMode !== nMode &&
    !(o === undefined && nMode === "Enforcing") &&
    !(n === undefined && oMode === "Enforcing")
  )
    out.push(change("mode", "mode", opOf(oMode, nMode), nMode === "Permissive", oMode, nMode));
  const inh = (s: typeof o) => new Set((s?.inherit ?? []).map((i) => `${i.kind}/${i.name}`));
  const oInh = inh(o);
  const nInh = inh(n);
  for (const i of sortStrings(setDiff(nInh, oInh)))
    out.push(change("inherit", i, "added", true, undefined, i));
  for (const i of sortStrings(setDiff(oInh, nInh)))
    out.push(change("inherit", i, "removed", false, i, undefined));
  const types = sortStrings(new Set([...Object.keys(o?.allow ?? {}), ...Object.keys(n?.allow ?? {})]));
  for (const type of types) {
    const oc = o?.allow[type] ?? {};
    const nc = n?.allow[type] ?? {};
    for (const cls of sortStrings(new Set([...Object.keys(oc), ...Object.keys(nc)]))) {
      const op = new Set(oc[cls] ?? []);
      const np = new Set(nc[cls] ?? []);
      const added = sortStrings(setDiff(np, op));
      const removed = sortStrings(setDiff(op, np));
      const subject = `${type} ${cls}`;
      if (added.length > 0)
        out.push(change("permission", subject, "added", true, undefined, added.join(" ")));
      if (removed.length > 0)
        out.push(change("permission", subject, "removed", false, removed.join(" "), undefined));
    }
  }
  return out;
}

// ─── AppArmor ───────────────────────────────────────────────────────────────────────────────

type Letter = "r" | "w" | "m" | "x";
const LETTERS: readonly Letter[] = ["r", "w", "m", "x"];

function accessMap(p: AppArmorProfile | undefined): Map<string, Set<Letter>> {
  const m = new Map<string, Set<Letter>>();
  const add = (paths: readonly string[] | undefined, letters: readonly Letter[]) => {
    for (const path of paths ?? []) {
      let s = m.get(path);
      if (s === undefined) {
        s = new Set();
        m.set(path, s);
      }
      for (const l of letters) s.add(l);
    }
  };
  const a = p?.spec.abstract;
  // As SPO renders them: executables `ixr`, libraries `mr`, read-only `r`, write-only `wlk`, read-write `rwlk`.
  add(a?.executable?.allowedExecutables, ["x", "r"]);
  add(a?.executable?.allowedLibraries, ["m", "r"]);
  add(a?.filesystem?.readOnlyPaths, ["r"]);
  add(a?.filesystem?.writeOnlyPaths, ["w"]);
  add(a?.filesystem?.readWritePaths, ["r", "w"]);
  return m;
}

const lettersText = (s: ReadonlySet<Letter> | undefined) =>
  s === undefined || s.size === 0 ? undefined : LETTERS.filter((l) => s.has(l)).join("");

type Tok = { t: "**" } | { t: "*" } | { t: "?" } | { t: "lit"; v: string; slash: boolean };

const MAX_EXPANSIONS = 64;

/** `{a,b}` alternatives (nested), or undefined if there are too many to compare. */
function expandBraces(glob: string): string[] | undefined {
  let depth = 0;
  let open = -1;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "\\") i++;
    else if (c === "@" && glob[i + 1] === "{") {
      // @{VARIABLE}: not an alternative list.
      const end = glob.indexOf("}", i);
      if (end < 0) break;
      i = end;
    } else if (c === "{") {
      if (depth === 0) open = i;
      depth++;
    } else if (c === "}" && depth > 0) {
      depth--;
      if (depth === 0) {
        const inner = glob.slice(open + 1, i);
        const parts: string[] = [];
        let d = 0;
        let start = 0;
        for (let j = 0; j < inner.length; j++) {
          const ch = inner[j];
          if (ch === "\\") j++;
          else if (ch === "{") d++;
          else if (ch === "}") d--;
          else if (ch === "," && d === 0) {
            parts.push(inner.slice(start, j));
            start = j + 1;
          }
        }
        parts.push(inner.slice(start));
        const out: string[] = [];
        for (const part of parts) {
          const rest = expandBraces(glob.slice(0, open) + part + glob.slice(i + 1));
          if (rest === undefined) return undefined;
          out.push(...rest);
          if (out.length > MAX_EXPANSIONS) return undefined;
        }
        return out;
      }
    }
  }
  return [glob];
}

function tokenize(glob: string): Tok[] {
  const out: Tok[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? "";
    if (c === "*") {
      if (glob[i + 1] === "*") {
        while (glob[i + 1] === "*") i++;
        out.push({ t: "**" });
      } else out.push({ t: "*" });
    } else if (c === "?") out.push({ t: "?" });
    else if (c === "\\" && i + 1 < glob.length) {
      i++;
      out.push({ t: "lit", v: glob[i] ?? "", slash: glob[i] === "/" });
    } else if (c === "[" || (c === "@" && glob[i + 1] === "{")) {
      // Character classes and @{VARIABLES} are opaque units; a variable may expand to anything.
      const end = glob.indexOf(c === "[" ? "]" : "}", i + 1);
      if (end < 0) out.push({ t: "lit", v: c, slash: false });
      else {
        const v = glob.slice(i, end + 1);
        out.push({ t: "lit", v, slash: c === "@" || v.includes("/") });
        i = end;
      }
    } else out.push({ t: "lit", v: c, slash: c === "/" });
  }
  return out;
}

/** Sound (never says yes wrongly) check that glob `q` matches every path glob `p` matches. */
function tokensCover(q: readonly Tok[], p: readonly Tok[]): boolean {
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (p.length + 1) + j;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let r: boolean;
    const qt = q[i];
    const pt = p[j];
    if (qt === undefined) r = pt === undefined;
    else if (qt.t === "**") r = go(i + 1, j) || (pt !== undefined && go(i, j + 1));
    else if (qt.t === "*")
      r =
        go(i + 1, j) || (pt !== undefined && pt.t !== "**" && !(pt.t === "lit" && pt.slash) && go(i, j + 1));
    else if (qt.t === "?")
      r =
        pt !== undefined &&
        (pt.t === "?" || (pt.t === "lit" && !pt.slash && pt.v.length >= 1)) &&
        go(i + 1, j + 1);
    else r = pt !== undefined && pt.t === "lit" && pt.v === qt.v && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

const isGlob = (s: string) => /[*?[{]/.test(s);

/** True if AppArmor glob `q` matches every path that `p` matches (conservative: false when unsure). */
export function globCovers(q: string, p: string): boolean {
  if (q === p) return true;
  if (!isGlob(q)) return false;
  const ps = expandBraces(p);
  const qs = expandBraces(q) ?? [q];
  if (ps === undefined) return false;
  const qt = qs.map(tokenize);
  return ps.every((alt) => {
    const pt = tokenize(alt);
    return qt.some((t) => tokensCover(t, pt));
  });
}

function diffAppArmor(old: AppArmorProfile | undefined, neu: AppArmorProfile | undefined): Change[] {
  const out: Change[] = [];
  const oMode = old?.spec.mode;
  const nMode = neu?.spec.mode;
  if (
    oMode !== nMode &&
    !(old === undefined && nMode === "Enforce") &&
    !(neu === undefined && oMode === "Enforce")
  )
    out.push(change("mode", "mode", opOf(oMode, nMode), nMode === "Complain", oMode, nMode));

  const o = accessMap(old);
  const n = accessMap(neu);
  const oldGlobs = [...o.entries()].filter(([p]) => isGlob(p));
  for (const path of sortStrings(new Set([...o.keys(), ...n.keys()]))) {
    const ol = o.get(path);
    const nl = n.get(path);
    const added = LETTERS.filter((l) => nl?.has(l) === true && ol?.has(l) !== true);
    const removed = LETTERS.filter((l) => ol?.has(l) === true && nl?.has(l) !== true);
    if (added.length === 0 && removed.length === 0) continue;
    const covers: string[] = [];
    const uncovered = added.filter((l) => {
      const by = oldGlobs.find(([q, letters]) => letters.has(l) && globCovers(q, path));
      if (by !== undefined) covers.push(`${l} by ${by[0]}`);
      return by === undefined;
    });
    const note = covers.length > 0 ? `already allowed in OLD: ${covers.join(", ")}` : undefined;
    out.push(
      change("path", path, opOf(ol, nl), uncovered.length > 0, lettersText(ol), lettersText(nl), note),
    );
  }

  const caps = (p: AppArmorProfile | undefined) =>
    new Set(
      (p?.spec.abstract.capability?.allowedCapabilities ?? []).map((c) =>
        c.toLowerCase().replace(/^cap_/, ""),
      ),
    );
  const oCaps = caps(old);
  const nCaps = caps(neu);
  for (const c of sortStrings(setDiff(nCaps, oCaps)))
    out.push(change("capability", c, "added", true, undefined, c));
  for (const c of sortStrings(setDiff(oCaps, nCaps)))
    out.push(change("capability", c, "removed", false, c, undefined));

  const net = (p: AppArmorProfile | undefined) => {
    const nw = p?.spec.abstract.network;
    const s = new Set<string>();
    if (nw?.allowRaw === true) s.add("raw");
    if (nw?.allowedProtocols?.allowTcp === true) s.add("tcp");
    if (nw?.allowedProtocols?.allowUdp === true) s.add("udp");
    return s;
  };
  const oNet = net(old);
  const nNet = net(neu);
  for (const x of sortStrings(setDiff(nNet, oNet)))
    out.push(change("network", x, "added", true, undefined, x));
  for (const x of sortStrings(setDiff(oNet, nNet)))
    out.push(change("network", x, "removed", false, x, undefined));
  return out;
}

// ─── dispatch ───────────────────────────────────────────────────────────────────────────────

type Differ = (old: ProfileObject | undefined, neu: ProfileObject | undefined) => Change[];
type ProfileOf<K extends ProfileKind> = Extract<ProfileObject, { kind: K }>;

/** One differ per kind; adding a kind means adding a row. */
const DIFFERS: {
  [K in ProfileKind]: (old: ProfileOf<K> | undefined, neu: ProfileOf<K> | undefined) => Change[];
} = {
  SeccompProfile: diffSeccomp,
  SelinuxProfile: diffSelinux,
  AppArmorProfile: diffAppArmor,
};

const KIND_ORDER: readonly ProfileKind[] = ["SeccompProfile", "SelinuxProfile", "AppArmorProfile"];

/**
 * The changes from `old` to `neu`, which must be of the same kind (names are not compared, so
 * two differently named files can be compared). `profile` labels the changes; default: NEW's name.
 */
export function diffProfilePair(
  old: ProfileObject | undefined,
  neu: ProfileObject | undefined,
  profile?: string,
): ProfileChange[] {
  const either = neu ?? old;
  if (either === undefined) return [];
  if (old !== undefined && neu !== undefined && old.kind !== neu.kind)
    throw new TypeError(`cannot compare a ${old.kind} with a ${neu.kind}`);
  const kind = either.kind;
  const label = profile ?? either.metadata.name;
  const differ = DIFFERS[kind] as Differ;
  const changes: Change[] = [];
  if (old === undefined) changes.push(change("profile", label, "added", true, undefined, label));
  if (neu === undefined)
    changes.push(
      change("profile", label, "removed", false, label, undefined, "workloads that use it will not start"),
    );
  changes.push(...differ(old, neu));
  return changes.map((c) => ({ kind, profile: label, ...c }));
}

const keyOf = (p: ProfileObject) => `${p.kind}/${p.metadata.name}`;

function byKey(list: readonly ProfileObject[], side: string): Map<string, ProfileObject> {
  const m = new Map<string, ProfileObject>();
  for (const p of list) {
    const k = keyOf(p);
    if (m.has(k)) throw new RangeError(`${side} holds ${k} more than once`);
    m.set(k, p);
  }
  return m;
}

/** Pairs profiles by kind and name, then compares each pair; sorted by kind, then name. */
export function diffProfiles(old: readonly ProfileObject[], neu: readonly ProfileObject[]): ProfileDiff {
  const o = byKey(old, "OLD");
  const n = byKey(neu, "NEW");
  const keys = [...new Set([...o.keys(), ...n.keys()])].sort((a, b) => {
    const ka = KIND_ORDER.indexOf(a.slice(0, a.indexOf("/")) as ProfileKind);
    const kb = KIND_ORDER.indexOf(b.slice(0, b.indexOf("/")) as ProfileKind);
    return ka - kb || (a < b ? -1 : a > b ? 1 : 0);
  });
  const changes = keys.flatMap((k) => diffProfilePair(o.get(k), n.get(k)));
  return summarize(changes);
}

export function summarize(changes: ProfileChange[]): ProfileDiff {
  return { widened: changes.some((c) => c.widening), changes };
}
