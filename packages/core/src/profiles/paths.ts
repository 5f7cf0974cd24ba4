/**
 * Paths in AppArmor profiles: how recorded paths become profile patterns (spo.md §3.6), the
 * checks that make a pattern safe to render (§4.3), and an exact model of AppArmor's glob
 * language so that merging can decide "covers" and "overlaps" without guessing.
 *
 * Recorded paths → patterns (`recordedPathPattern`):
 * - characters that mean something to the AppArmor parser, or that could end a rule, never reach
 *   a profile: an ASCII character outside `A-Za-z0-9_./+ -` becomes `?` (one byte) and a run of
 *   non-ASCII characters becomes `*`, so the recorded file is still matched but nothing is
 *   injected (SPO rejects such profiles at render time instead; a file name with a comma is legal);
 * - then SPO's normalisation, in SPO's order: `/<pid>/…` and `/proc/<pid>/…` → `@{pid}`, their
 *   `task/<tid>` → `@{tid}`, container-storage overlay ids → `*`, UUIDs, hex runs of 32 or more and
 *   digit runs of 6 or more → `*`, anything under `/sys/devices/` → `/sys/devices/**`. Replacement
 *   stars never merge into `**` (which would cross `/`).
 *
 * The glob model: `*` = any run without `/`, `**` = any run, `?` = one character but `/`, a `*`
 * or `**` right after `/` matches at least one character (as apparmor_parser compiles them, so
 * `/d/*` does not match `/d/` itself), `{a,b}` alternatives, repeated `/` collapse, and the
 * variables `@{pid}`, `@{pids}`, `@{tid}` (1–7 digits, no leading zero, below 5000000),
 * `@{uid}`, `@{uids}`, `@{PROC}` and `@{sys}` with their definitions from tunables/kernelvars,
 * proc and sys. Patterns are compiled to NFAs; inclusion and intersection are decided exactly
 * by a joint subset construction, so `patternCovers` is transitive and merges built on it are
 * associative. Anything else (`[...]`, unknown variables) is a literal character here and is
 * refused by `appArmorPathProblem` before any rendering, so the model never has to agree with
 * AppArmor on syntax it does not know.
 */

// ─── recorded paths → patterns ──────────────────────────────────────────────────────────────

/** Paths that belong to the container runtime, never to the workload (spo.md §3.6). */
export const EXCLUDED_PATH_PREFIXES: readonly string[] = [
  "/run/containerd/io.containerd.runtime.v2.task/k8s.io",
  "/usr/bin/runc",
];

/** Library locations `abstractions/base` already maps (spo.md §3.6). */
export const KNOWN_LIBRARY_PREFIXES: readonly string[] = [
  "/usr/lib32/locale/",
  "/usr/lib64/locale/",
  "/usr/lib32/gconv/",
  "/usr/lib64/gconv/",
  "/usr/lib/x86_64-linux-gnu/",
  "/lib/x86_64-linux-gnu/",
  "/lib64/",
  "/lib/tls/",
  "/usr/lib/tls/",
];

/** Files `abstractions/base` already lets every profile read (spo.md §3.6). */
export const KNOWN_READ_PREFIXES: readonly string[] = [
  "/dev/random",
  "/dev/urandom",
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d/",
  "/etc/locale/",
  "/etc/locale.alias/",
  "/etc/localtime",
  "/usr/share/locale/",
  "/usr/lib/locale/",
  "/etc/locale.alias",
];

/** Files `abstractions/base` already lets every profile write (spo.md §3.6). */
export const KNOWN_WRITE_PREFIXES: readonly string[] = ["/dev/log"];

/**
 * Devices `abstractions/base` grants read-write (`/dev/null rw,` …). Not in SPO's lists: listing
 * one as read-only would render `deny /dev/null wlk,`, which takes away the write base grants.
 */
export const BASE_READ_WRITE_PATHS: readonly string[] = ["/dev/null", "/dev/zero", "/dev/full"];

const SAFE_ASCII = /[A-Za-z0-9_./+ -]/;

/** Replaces what cannot appear in a rendered path by wildcards that still match it (see module comment). */
export function sanitizeRecordedPath(raw: string): string {
  let out = "";
  let inNonAscii = false;
  for (const ch of raw) {
    const code = ch.codePointAt(0) ?? 0;
    if (code > 0x7f) {
      if (!inNonAscii) out += "*";
      inNonAscii = true;
      continue;
    }
    inNonAscii = false;
    out += SAFE_ASCII.test(ch) ? ch : "?";
  }
  return out;
}

/**
 * Only numbers `@{pid}` matches (no leading zero, below 5000000: tunables/kernelvars) become
 * `@{pid}`, so the pattern always matches the path it came from; longer runs fall to rule 8.
 */
const PID = "(?:[1-9][0-9]{0,5}|[1-4][0-9]{6})";
const PID_ROOT = new RegExp(`^/${PID}(?=/|$)`);
const PID_ROOT_TASK = new RegExp(`^/@\\{pid\\}/task/${PID}(?=/|$)`);
const PROC_PID = new RegExp(`^/proc/${PID}(?=/|$)`);
const PROC_PID_TASK = new RegExp(`^/proc/@\\{pid\\}/task/${PID}(?=/|$)`);
const UUID_RUN = /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/g;
const HEX_RUN = /[0-9a-fA-F]{32,}/g;
const DIGIT_RUN = /[0-9]{6,}/g;

/** SPO's normalisation steps 1–9 (spo.md §3.6) on an already sanitised path. */
export function normalizeRecordedPath(path: string): string {
  let p = path;
  p = p.replace(PID_ROOT, "/@{pid}");
  p = p.replace(PID_ROOT_TASK, "/@{pid}/task/@{tid}");
  p = p.replace(PROC_PID, "/proc/@{pid}");
  p = p.replace(PROC_PID_TASK, "/proc/@{pid}/task/@{tid}");
  p = p.replace(
    /^\/var\/lib\/containers\/storage\/overlay\/[^/]+(?=\/|$)/,
    "/var/lib/containers/storage/overlay/*",
  );
  // Adjacent replacements must stay one `*`: `**` would also match across `/`.
  p = p
    .replace(UUID_RUN, "*")
    .replace(HEX_RUN, "*")
    .replace(DIGIT_RUN, "*")
    .replace(/\*{2,}/g, "*");
  if (p.startsWith("/sys/devices/") && p.length > "/sys/devices/".length) p = "/sys/devices/**";
  return p;
}

/**
 * A recorded path as a profile pattern: sanitised, then normalised. Undefined for paths that are
 * not absolute, contain a `..` or `.` component (the kernel reports resolved paths; such a path
 * is not evidence of anything) or are longer than 4096 characters.
 */
export function recordedPathPattern(raw: string): string | undefined {
  if (raw.length === 0 || raw.length > 4096 || !raw.startsWith("/")) return undefined;
  const segs = raw.split("/");
  if (segs.includes("..") || segs.includes(".")) return undefined;
  return normalizeRecordedPath(sanitizeRecordedPath(raw));
}

export const hasPrefix = (path: string, prefixes: readonly string[]): boolean =>
  prefixes.some((p) => path.startsWith(p));

/** Directories whose entries are never generalised to `<dir>/*` (see `collapseReadWrite`). */
const NO_COLLAPSE_DIRS = new Set([
  "",
  "/bin",
  "/boot",
  "/dev",
  "/etc",
  "/home",
  "/lib",
  "/lib32",
  "/lib64",
  "/proc",
  "/root",
  "/run",
  "/sbin",
  "/sys",
  "/usr",
  "/usr/bin",
  "/usr/lib",
  "/usr/lib64",
  "/usr/sbin",
  "/var",
  "/var/lib",
  "/var/run",
]);
const NO_COLLAPSE_UNDER = ["/proc/", "/sys/", "/etc/", "/boot/", "/root/", "/usr/bin/", "/usr/sbin/"];

/**
 * SPO's read-write collapsing: two or more read-write entries of one directory become `<dir>/*`.
 * Unlike SPO, never in `/`, `/dev`, `/etc`, `/proc`, `/sys` and the other system directories
 * above (nor anywhere under /proc, /sys, /etc, /boot, /root): `/dev/null` + `/dev/tty` must not
 * become `/dev/* rwlk` (that includes /dev/mem), nor `/proc/@{pid}/a` + `b` become `…/*`
 * (that includes `/proc/@{pid}/mem`).
 */
export function collapseReadWrite(paths: readonly string[]): string[] {
  const byDir = new Map<string, string[]>();
  const out = new Set<string>();
  for (const p of paths) {
    const slash = p.lastIndexOf("/");
    const dir = p.slice(0, slash);
    if (p.endsWith("/") || NO_COLLAPSE_DIRS.has(dir) || hasPrefix(`${dir}/`, NO_COLLAPSE_UNDER)) {
      out.add(p);
      continue;
    }
    const list = byDir.get(dir);
    if (list === undefined) byDir.set(dir, [p]);
    else list.push(p);
  }
  for (const [dir, list] of byDir) {
    if (new Set(list).size >= 2) out.add(`${dir}/*`);
    else for (const p of list) out.add(p);
  }
  return [...out].sort(compareStrings);
}

/** Byte order for ASCII (Go's sort.Strings), which every list in a profile uses. */
export const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// ─── validation before rendering ────────────────────────────────────────────────────────────

/** The variables a rendered path may use: the ones the glob model knows exactly. */
export const APPARMOR_PATH_VARIABLES: readonly string[] = [
  "pid",
  "pids",
  "tid",
  "uid",
  "uids",
  "PROC",
  "sys",
];

const PATH_CHARS = /^[A-Za-z0-9_./*?+@{} -]+$/;
const KNOWN_VARIABLE = new RegExp(`@\\{(?:${APPARMOR_PATH_VARIABLES.join("|")})\\}`, "g");

const show = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/**
 * Why `path` cannot be rendered into an AppArmor rule, or undefined if it can. A renderable
 * path is absolute, at most 4096 characters, uses only letters, digits, space and `_./*?+@{}-`
 * (so no newline, comma, quote, backslash, `#`, `(`, `[`, `^` or `,` can end the rule or open a
 * new one), has no `..` component, and uses braces only in the variables of
 * `APPARMOR_PATH_VARIABLES` (so no alternative list can widen it).
 */
export function appArmorPathProblem(path: string): string | undefined {
  if (path.length === 0) return "is empty";
  if (path.length > 4096) return "is longer than 4096 characters";
  if (!path.startsWith("/")) return `${show(path)} is not absolute`;
  if (!PATH_CHARS.test(path)) {
    const bad = [...path].find((c) => !PATH_CHARS.test(c)) ?? "";
    return `${show(path)} contains ${JSON.stringify(bad)}: only letters, digits, space and _./*?+@{}- are allowed`;
  }
  if (path.split("/").includes("..")) return `${show(path)} has a ".." component`;
  const rest = path.replace(KNOWN_VARIABLE, "");
  if (/[@{}]/.test(rest))
    return `${show(path)} uses "@", "{" or "}" outside the variables @{${APPARMOR_PATH_VARIABLES.join("}, @{")}}`;
  return undefined;
}

/** How a validated path is written in a rule: quoted when it contains a space (as SPO does). */
export function renderAppArmorPath(path: string): string {
  return path.includes(" ") ? `"${path}"` : path;
}

// ─── the glob model ─────────────────────────────────────────────────────────────────────────

const NOSLASH = 0;
const ANY = 1;
/** A predicate on one character: not-`/`, anything, one literal character, or an inclusive range. */
type Pred = typeof NOSLASH | typeof ANY | string | readonly [string, string];

type Node =
  | { k: "lit"; c: string }
  | { k: "pred"; p: Pred }
  | { k: "star"; any: boolean; nonEmpty: boolean }
  | { k: "alt"; alts: Node[][] };

const DIGIT: Pred = ["0", "9"];
const UP_TO_4: Pred = ["1", "4"];
const FIVE_UP: Pred = ["5", "9"];

/** `n` more digits, each optional once the one before it was read: 0 to n digits. */
function optionalDigits(n: number): Node[] {
  return n === 0 ? [] : [{ k: "alt", alts: [[], [{ k: "pred", p: DIGIT }, ...optionalDigits(n - 1)]] }];
}

/**
 * A decimal number without a leading zero, at most `maxLen` digits and, at `maxLen` digits,
 * starting 1–4; `zeroAlone` also admits `0`. Built as a deterministic digit counter (the lead
 * digit picks the branch, every later digit only advances it) rather than one branch per length,
 * so a subset state never has to remember which length was guessed: `@{pid}@{pid}@{pid}`
 * determinises to a few hundred states, not tens of thousands.
 */
function numberAlts(maxLen: number, zeroAlone: boolean): Node[][] {
  const alts: Node[][] = [
    [{ k: "pred", p: UP_TO_4 }, ...optionalDigits(maxLen - 1)],
    [{ k: "pred", p: FIVE_UP }, ...optionalDigits(maxLen - 2)],
  ];
  if (zeroAlone) alts.push([{ k: "lit", c: "0" }]);
  return alts;
}

/** tunables/kernelvars: @{pid} is 1–6 digits without a leading zero, or 7 digits starting 1–4. */
const PID_ALTS = numberAlts(7, false);
/** @{uid}: 0–9, or 2–9 digits without a leading zero, or 10 digits starting 1–4. */
const UID_ALTS = numberAlts(10, true);
const VARIABLES: Readonly<Record<string, Node[][] | string>> = {
  pid: PID_ALTS,
  pids: PID_ALTS,
  tid: PID_ALTS,
  uid: UID_ALTS,
  uids: UID_ALTS,
  PROC: "/proc/",
  sys: "/sys/",
};

function matchingBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") i++;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i;
  }
  return -1;
}

function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") i++;
    else if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === "," && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

interface ParseState {
  nodes: Node[];
  /** The last thing emitted was a literal `/` (so `/` collapses and stars must be non-empty). */
  afterSlash: boolean;
}

function pushLit(st: ParseState, c: string): void {
  if (c === "/" && st.afterSlash) return;
  st.nodes.push({ k: "lit", c });
  st.afterSlash = c === "/";
}

function parseInto(src: string, st: ParseState): void {
  for (let i = 0; i < src.length; i++) {
    const c = src[i] ?? "";
    if (c === "\\" && i + 1 < src.length) {
      pushLit(st, src[++i] ?? "");
    } else if (c === "*") {
      let n = 1;
      while (src[i + 1] === "*") {
        i++;
        n++;
      }
      st.nodes.push({ k: "star", any: n >= 2, nonEmpty: st.afterSlash });
      st.afterSlash = false;
    } else if (c === "?") {
      st.nodes.push({ k: "pred", p: NOSLASH });
      st.afterSlash = false;
    } else if (c === "@" && src[i + 1] === "{") {
      const end = src.indexOf("}", i + 2);
      const v = end < 0 ? undefined : VARIABLES[src.slice(i + 2, end)];
      if (v === undefined) pushLit(st, c);
      else {
        if (typeof v === "string") for (const ch of v) pushLit(st, ch);
        else {
          st.nodes.push({ k: "alt", alts: v });
          st.afterSlash = false;
        }
        i = end;
      }
    } else if (c === "{") {
      const end = matchingBrace(src, i);
      if (end < 0) {
        pushLit(st, c);
        continue;
      }
      const alts = splitTopLevel(src.slice(i + 1, end)).map((part) => {
        const sub: ParseState = { nodes: [], afterSlash: st.afterSlash };
        parseInto(part, sub);
        return sub.nodes;
      });
      if (alts.length === 1) {
        // A single alternative is just its content.
        const only = alts[0] ?? [];
        st.nodes.push(...only);
        const last = only[only.length - 1];
        if (last !== undefined) st.afterSlash = last.k === "lit" && last.c === "/";
      } else {
        st.nodes.push({ k: "alt", alts });
        st.afterSlash = false;
      }
      i = end;
    } else pushLit(st, c);
  }
}

interface Edge {
  p: Pred;
  to: number;
}

class Nfa {
  readonly edges: Edge[][] = [];
  readonly eps: number[][] = [];
  private readonly closures = new Map<number, readonly number[]>();
  private readonly moveMemo = new Map<string, readonly number[]>();
  start = 0;
  accept = 0;
  /** Every literal character the automaton tests for (for the joint alphabet). */
  readonly chars = new Set<string>();

  add(): number {
    this.edges.push([]);
    this.eps.push([]);
    return this.edges.length - 1;
  }

  edge(from: number, p: Pred, to: number): void {
    this.edges[from]?.push({ p, to });
    if (typeof p === "string") this.chars.add(p);
  }

  epsilon(from: number, to: number): void {
    this.eps[from]?.push(to);
  }

  closure(s: number): readonly number[] {
    const hit = this.closures.get(s);
    if (hit !== undefined) return hit;
    const seen = new Set<number>([s]);
    const stack = [s];
    for (let x = stack.pop(); x !== undefined; x = stack.pop())
      for (const y of this.eps[x] ?? [])
        if (!seen.has(y)) {
          seen.add(y);
          stack.push(y);
        }
    const out = [...seen].sort((a, b) => a - b);
    this.closures.set(s, out);
    return out;
  }

  startSet(): number[] {
    return [...this.closure(this.start)];
  }

  /** Does the state (with its ε-closure) accept? */
  accepts(s: number): boolean {
    return this.closure(s).includes(this.accept);
  }

  /** The states one `c` leads to from `s` (their ε-closures not taken). */
  moves(s: number, c: string): readonly number[] {
    const key = `${s}:${c}`;
    const hit = this.moveMemo.get(key);
    if (hit !== undefined) return hit;
    const out: number[] = [];
    for (const t of this.closure(s))
      for (const e of this.edges[t] ?? []) if (predMatches(e.p, c) && !out.includes(e.to)) out.push(e.to);
    this.moveMemo.set(key, out);
    return out;
  }

  step(set: readonly number[], c: string): number[] {
    const out = new Set<number>();
    for (const s of set)
      for (const e of this.edges[s] ?? [])
        if (predMatches(e.p, c)) for (const t of this.closure(e.to)) out.add(t);
    return [...out].sort((a, b) => a - b);
  }
}

function predMatches(p: Pred, c: string): boolean {
  if (p === NOSLASH) return c !== "/";
  if (p === ANY) return true;
  if (typeof p === "string") return p === c;
  return c >= p[0] && c <= p[1];
}

function build(nfa: Nfa, nodes: readonly Node[], from: number): number {
  let cur = from;
  for (const n of nodes) {
    if (n.k === "lit" || n.k === "pred") {
      const s = nfa.add();
      nfa.edge(cur, n.k === "lit" ? n.c : n.p, s);
      cur = s;
    } else if (n.k === "star") {
      if (n.nonEmpty) {
        const s = nfa.add();
        nfa.edge(cur, NOSLASH, s);
        cur = s;
      }
      const loop = nfa.add();
      nfa.epsilon(cur, loop);
      nfa.edge(loop, n.any ? ANY : NOSLASH, loop);
      cur = loop;
    } else {
      const end = nfa.add();
      for (const alt of n.alts) {
        const s = nfa.add();
        nfa.epsilon(cur, s);
        nfa.epsilon(build(nfa, alt, s), end);
      }
      cur = end;
    }
  }
  return cur;
}

const OTHER = "\u0001";
const DEAD = -1;
/** About a second of determinising; profile paths use tens of states, a hostile one is refused. */
const MAX_DFA_STATES = 10_000;

/** A pattern whose automaton would exceed the comparison budget (see `Dfa`). */
export class PatternTooComplex extends RangeError {
  constructor(readonly pattern: string) {
    super(
      `path pattern ${JSON.stringify(pattern)} is too complex to compare (over ${MAX_DFA_STATES} automaton states)`,
    );
  }
}

/**
 * The NFA determinised lazily: a DFA state is a set of NFA states, built the first time it is
 * reached and its transitions memoised per character class (a character the NFA never tests
 * for behaves like any other such character). A pattern whose DFA would exceed MAX_DFA_STATES
 * (number variables side by side, such as `@{pid}@{pid}@{pid}@{pid}`, must remember the digit
 * classes of the last digits read) is refused with PatternTooComplex rather than allowed to take
 * unbounded time and memory; paths AppArmor profiles use are nowhere near it.
 */
class Dfa {
  private readonly sets: number[][] = [];
  private readonly ids = new Map<string, number>();
  private readonly accepting: boolean[] = [];
  private readonly trans: Map<string, number>[] = [];
  private readonly startId: number;

  constructor(
    private readonly nfa: Nfa,
    private readonly source: string,
  ) {
    this.startId = this.intern(this.nfa.startSet());
  }

  private intern(set: number[]): number {
    const key = set.join(",");
    const hit = this.ids.get(key);
    if (hit !== undefined) return hit;
    const id = this.sets.length;
    this.sets.push(set);
    this.ids.set(key, id);
    this.accepting.push(set.includes(this.nfa.accept));
    this.trans.push(new Map());
    return id;
  }

  get start(): number {
    return this.startId;
  }

  accepts(state: number): boolean {
    return state !== DEAD && this.accepting[state] === true;
  }

  /** The character class `c` belongs to for this automaton. */
  classOf(c: string): string {
    return c === "/" || (c >= "0" && c <= "9") || this.nfa.chars.has(c) ? c : OTHER;
  }

  next(state: number, c: string): number {
    if (state === DEAD) return DEAD;
    const cls = this.classOf(c);
    const memo = this.trans[state];
    const hit = memo?.get(cls);
    if (hit !== undefined) return hit;
    const set = this.nfa.step(this.sets[state] ?? [], cls);
    if (this.sets.length >= MAX_DFA_STATES) throw new PatternTooComplex(this.source);
    const to = set.length === 0 ? DEAD : this.intern(set);
    memo?.set(cls, to);
    return to;
  }
}

function literalOf(nodes: readonly Node[]): string | undefined {
  let s = "";
  for (const n of nodes) {
    if (n.k !== "lit") return undefined;
    s += n.c;
  }
  return s;
}

function finite(nodes: readonly Node[]): boolean {
  return nodes.every((n) => n.k === "lit" || (n.k === "alt" && n.alts.every(finite)));
}

/** A compiled AppArmor path pattern (see the module comment for the language). */
export class PathPattern {
  /** The one path this pattern matches, when it is a plain path (after `/` collapsing). */
  readonly literal: string | undefined;
  /** Characters every match starts with. */
  readonly prefix: string;
  /** The pattern matches finitely many paths (no wildcard). */
  readonly finite: boolean;
  private readonly nfa: Nfa;
  private readonly dfa: Dfa;

  private constructor(readonly source: string) {
    const st: ParseState = { nodes: [], afterSlash: false };
    parseInto(source, st);
    this.literal = literalOf(st.nodes);
    let prefix = "";
    for (const n of st.nodes) {
      if (n.k !== "lit") break;
      prefix += n.c;
    }
    this.prefix = prefix;
    this.finite = finite(st.nodes);
    this.nfa = new Nfa();
    this.nfa.start = this.nfa.add();
    this.nfa.accept = build(this.nfa, st.nodes, this.nfa.start);
    this.dfa = new Dfa(this.nfa, source);
  }

  private static readonly cache = new Map<string, PathPattern>();

  static of(source: string): PathPattern {
    const hit = PathPattern.cache.get(source);
    if (hit !== undefined) return hit;
    if (PathPattern.cache.size >= 50_000) PathPattern.cache.clear();
    const p = new PathPattern(source);
    PathPattern.cache.set(source, p);
    return p;
  }

  /** Does this pattern match the concrete path? */
  matches(path: string): boolean {
    if (this.literal !== undefined) return this.literal === path;
    if (!path.startsWith(this.prefix)) return false;
    try {
      let state = this.dfa.start;
      for (const c of path) {
        state = this.dfa.next(state, c);
        if (state === DEAD) return false;
      }
      return this.dfa.accepts(state);
    } catch (err) {
      if (!(err instanceof PatternTooComplex)) throw err;
      // The DFA is full: simulate the NFA on this one path (linear in the path, nothing kept).
      let set = this.nfa.startSet();
      for (const c of path) {
        set = this.nfa.step(set, c);
        if (set.length === 0) return false;
      }
      return set.includes(this.nfa.accept);
    }
  }

  /**
   * Walks pairs of states of two automata over every character class either one distinguishes,
   * breadth first; `visit` gets each reachable pair's accept flags and may stop the walk by
   * returning true. Each side is this pattern's NFA (a pair ends where a side has no move) or,
   * for the side whose complement matters, its DFA (which goes on through the dead state).
   * Keeping a side an NFA keeps the walk polynomial in it: only a covering pattern is ever
   * determinised.
   */
  static explore(a: Side, b: Side, visit: (aAccepts: boolean, bAccepts: boolean) => boolean): void {
    const alphabet = [...new Set<string>(["/", OTHER, ..."0123456789", ...a.chars, ...b.chars])];
    // Pair keys: b's states (the dead state -1 included) are below its size + 1.
    const width = b.size + 1;
    const seen = new Set<number>([a.start * width + b.start + 1]);
    const queue: number[] = [a.start, b.start];
    for (let head = 0; head < queue.length; head += 2) {
      const sa = queue[head] ?? DEAD;
      const sb = queue[head + 1] ?? DEAD;
      if (visit(a.accepts(sa), b.accepts(sb))) return;
      for (const c of alphabet)
        for (const na of a.next(sa, c))
          for (const nb of b.next(sb, c)) {
            const k = na * width + nb + 1;
            if (seen.has(k)) continue;
            seen.add(k);
            queue.push(na, nb);
          }
    }
  }

  /** This pattern as a nondeterministic side of `explore`. */
  get asNfa(): Side {
    const nfa = this.nfa;
    return {
      start: nfa.start,
      size: nfa.edges.length,
      chars: nfa.chars,
      accepts: (s) => nfa.accepts(s),
      next: (s, c) => nfa.moves(s, c),
    };
  }

  /** This pattern as a deterministic side of `explore` (the dead state included). */
  get asDfa(): Side {
    const dfa = this.dfa;
    return {
      start: dfa.start,
      size: MAX_DFA_STATES,
      chars: this.nfa.chars,
      accepts: (s) => dfa.accepts(s),
      next: (s, c) => [dfa.next(s, c)],
    };
  }
}

/** One automaton as `PathPattern.explore` walks it. */
interface Side {
  readonly start: number;
  /** Every state is below it. */
  readonly size: number;
  readonly chars: ReadonlySet<string>;
  accepts(state: number): boolean;
  next(state: number, c: string): readonly number[];
}

/**
 * True if pattern `q` matches every path pattern `p` matches (exact; reflexive and transitive).
 * Throws PatternTooComplex when `q` cannot be determinised within the budget; `p` never needs to be.
 */
export function patternCovers(q: string, p: string): boolean {
  if (q === p) return true;
  const qp = PathPattern.of(q);
  const pp = PathPattern.of(p);
  if (pp.literal !== undefined) return qp.matches(pp.literal);
  if (qp.literal !== undefined && !pp.finite) return false;
  let covers = true;
  PathPattern.explore(pp.asNfa, qp.asDfa, (pAccepts, qAccepts) => {
    if (pAccepts && !qAccepts) covers = false;
    return !covers;
  });
  return covers;
}

/** True if some path matches both patterns (exact). */
export function patternsOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  const ap = PathPattern.of(a);
  const bp = PathPattern.of(b);
  if (ap.literal !== undefined) return bp.matches(ap.literal);
  if (bp.literal !== undefined) return ap.matches(bp.literal);
  let overlap = false;
  PathPattern.explore(ap.asNfa, bp.asNfa, (x, y) => {
    overlap = x && y;
    return overlap;
  });
  return overlap;
}

export function patternMatches(pattern: string, path: string): boolean {
  return PathPattern.of(pattern).matches(path);
}

/** Plain paths indexed for "which of them does this glob match?" queries. */
class LiteralIndex {
  private readonly sorted: { text: string; sources: string[] }[];

  constructor(sources: Iterable<string>) {
    const byText = new Map<string, string[]>();
    for (const s of sources) {
      const text = PathPattern.of(s).literal;
      if (text === undefined) continue;
      const list = byText.get(text);
      if (list === undefined) byText.set(text, [s]);
      else list.push(s);
    }
    this.sorted = [...byText.entries()]
      .map(([text, sources]) => ({ text, sources }))
      .sort((a, b) => compareStrings(a.text, b.text));
  }

  /** Entries whose text starts with `prefix`. */
  *withPrefix(prefix: string): Generator<{ text: string; sources: string[] }> {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.sorted[mid]?.text ?? "") < prefix) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.sorted.length; i++) {
      const e = this.sorted[i];
      if (e === undefined || !e.text.startsWith(prefix)) return;
      yield e;
    }
  }

  get(text: string): string[] | undefined {
    for (const e of this.withPrefix(text)) if (e.text === text) return e.sources;
    return undefined;
  }
}

/**
 * For each pattern, the other patterns of the list that strictly cover it: a strictly larger
 * language, or the same language and a smaller string (so among equivalent spellings the
 * smallest string is the representative). A strict partial order, so "keep what nothing strictly
 * covers" is well defined. Plain paths are matched through a prefix index, so a long list of
 * paths with a few globs costs about one match per (glob, path with the glob's prefix).
 */
export function strictCoverers(patterns: readonly string[]): Map<string, string[]> {
  const unique = [...new Set(patterns)];
  const out = new Map<string, string[]>(unique.map((p) => [p, []]));
  const add = (q: string, p: string) => out.get(p)?.push(q);
  const literals = new LiteralIndex(unique);
  const globs = unique.filter((p) => PathPattern.of(p).literal === undefined);
  // Equivalent spellings of one plain path.
  for (const p of unique) {
    const text = PathPattern.of(p).literal;
    if (text === undefined) continue;
    for (const q of literals.get(text) ?? []) if (q < p) add(q, p);
  }
  for (const g of globs) {
    const gp = PathPattern.of(g);
    for (const e of literals.withPrefix(gp.prefix)) {
      if (!gp.matches(e.text)) continue;
      const equivalent = gp.finite && patternCovers(e.sources[0] ?? e.text, g);
      for (const s of e.sources) {
        if (!equivalent || g < s) add(g, s);
        if (equivalent && s < g) add(s, g);
      }
    }
    for (const h of globs) {
      if (h === g || !coversWithinBudget(h, g)) continue;
      if (!coversWithinBudget(g, h) || h < g) add(h, g);
    }
  }
  return out;
}

/**
 * `patternCovers`, or false when `q` is too complex to decide: the caller then keeps both rules,
 * which grants nothing more than they do together (only a redundant line stays).
 */
function coversWithinBudget(q: string, p: string): boolean {
  try {
    return patternCovers(q, p);
  } catch (err) {
    if (err instanceof PatternTooComplex) return false;
    throw err;
  }
}

/** The patterns of `subjects` that share at least one path with some pattern of `others`. */
export function overlappingAny(subjects: readonly string[], others: readonly string[]): Set<string> {
  const out = new Set<string>();
  if (others.length === 0) return out;
  const literalTexts = new Set<string>();
  const globs: string[] = [];
  for (const o of others) {
    const text = PathPattern.of(o).literal;
    if (text === undefined) globs.push(o);
    else literalTexts.add(text);
  }
  const index = new LiteralIndex(others);
  for (const s of subjects) {
    const sp = PathPattern.of(s);
    if (sp.literal !== undefined) {
      if (literalTexts.has(sp.literal) || globs.some((g) => PathPattern.of(g).matches(sp.literal ?? "")))
        out.add(s);
      continue;
    }
    let hit = false;
    for (const e of index.withPrefix(sp.prefix))
      if (sp.matches(e.text)) {
        hit = true;
        break;
      }
    if (hit || globs.some((g) => patternsOverlap(s, g))) out.add(s);
  }
  return out;
}
