import type { z } from "zod";
import type { AppArmorEvent, CapEvent, ExecEvent, FileEvent, NetEvent } from "../schemas/events.js";
import { API_VERSION } from "../schemas/kube.js";
import type { AppArmorFacts } from "../schemas/observation.js";
import { type AppArmorAbstract, AppArmorProfile } from "../schemas/profiles.js";
import {
  appArmorPathProblem,
  BASE_READ_WRITE_PATHS,
  collapseReadWrite,
  compareStrings,
  EXCLUDED_PATH_PREFIXES,
  hasPrefix,
  KNOWN_LIBRARY_PREFIXES,
  KNOWN_READ_PREFIXES,
  KNOWN_WRITE_PREFIXES,
  normalizeRecordedPath,
  overlappingAny,
  recordedPathPattern,
  renderAppArmorPath,
  strictCoverers,
} from "./paths.js";
import type { ProfileMeta } from "./seccomp.js";

/**
 * AppArmor: recorded facts → SPO's abstract AppArmorProfile → AppArmor text.
 *
 * Facts (`AppArmorRecorder`, `factsFromApparmorEvents`) are kept per mount namespace as
 * `pattern → {read, write, exec (mapped executable: a library), spawn (executed)}`, plus socket
 * kinds and capabilities, with SPO's bounds: at most 10 000 paths per namespace and 1000
 * namespaces; what does not fit is counted (`truncated`), never silently lost. Paths are stored
 * as patterns: sanitised and normalised on the way in (paths.ts), so the bound applies to what
 * ends up in the profile and no recorded byte can reach a rendered rule unescaped.
 *
 * The abstract (`appArmorAbstract`) classifies the facts like SPO's daemon (spo.md §3.6): executed
 * files → allowedExecutables, mapped-executable files → allowedLibraries (except what
 * abstractions/base maps), read+write → readWritePaths, read → readOnlyPaths, write →
 * writeOnlyPaths (except what base grants), read-write collapsing, sorted lists, empty sections
 * omitted, `allowUdp` from UDP (SPO's in-cluster path sets it from TCP, §10.8).
 *
 * Merging (`mergeAppArmorSpecs`) is SPO's glob-aware union (§1.8) made an exact join: a profile
 * allows, per path, the union of the letters of every allow rule that matches it, and the
 * normal form keeps a pattern only if patterns that strictly cover it do not already give all
 * its letters, writing each kept pattern with every letter that reaches it. So a literal under a
 * glob with the same access disappears, read-only + write-only of one path is read-write, a
 * read-write glob absorbs the read-only and write-only literals it covers; covering is decided
 * exactly (paths.ts), which makes the merge associative, commutative and idempotent.
 *
 * Rendering (`renderAppArmorProfile`) is crd2armor's text (§4.3) after validation (name, every
 * path, capabilities; any failure throws before a single line is produced), with two deliberate
 * differences: (1) SPO's `deny <read-only> wlk` / `deny <write-only> r` hardening is emitted only
 * for patterns that share no path with a pattern the profile allows that access on. AppArmor
 * `deny` beats every `allow`, so SPO's text for read-only `/data/*` plus write-only `/data/log`
 * denies writing the log it lists; here every listed access is really allowed (only SPO's fixed
 * hardening denies of /proc and efivars still apply). (2) No `mount,` and fsck rules when
 * `sys_rawio` is listed (SPO's "AllowMount" hack widens an unrelated capability into arbitrary
 * mounts). Recorded paths also differ from SPO on purpose: odd characters become wildcards
 * instead of failing the render, and read-write collapsing never applies in system directories
 * (paths.ts).
 */

export type AppArmorFactSet = z.infer<typeof AppArmorFacts>;
/** The facts a profile is built from (the observation form; `libraries` optional for older observations). */
export type AppArmorFactsInput = AppArmorFactSet;

/** Linux capabilities by number (0–40), as AppArmor names them. */
export const LINUX_CAPABILITIES: readonly string[] = [
  "chown",
  "dac_override",
  "dac_read_search",
  "fowner",
  "fsetid",
  "kill",
  "setgid",
  "setuid",
  "setpcap",
  "linux_immutable",
  "net_bind_service",
  "net_broadcast",
  "net_admin",
  "net_raw",
  "ipc_lock",
  "ipc_owner",
  "sys_module",
  "sys_rawio",
  "sys_chroot",
  "sys_ptrace",
  "sys_pacct",
  "sys_admin",
  "sys_boot",
  "sys_nice",
  "sys_resource",
  "sys_time",
  "sys_tty_config",
  "mknod",
  "lease",
  "audit_write",
  "audit_control",
  "setfcap",
  "mac_override",
  "mac_admin",
  "syslog",
  "wake_alarm",
  "block_suspend",
  "audit_read",
  "perfmon",
  "bpf",
  "checkpoint_restore",
];
const CAPABILITY_SET = new Set(LINUX_CAPABILITIES);

/**
 * A capability as AppArmor names it: a number (0–40) by the table, a name lower-cased with an
 * optional `CAP_` prefix removed. Undefined for anything not in the 41-entry list.
 */
export function capabilityName(cap: string | number): string | undefined {
  if (typeof cap === "number" || /^[0-9]+$/.test(cap)) return LINUX_CAPABILITIES[Number(cap)];
  const name = cap.toLowerCase().replace(/^cap_/, "");
  return CAPABILITY_SET.has(name) ? name : undefined;
}

export type NetFact = AppArmorFactSet["network"][number];

// ─── facts ──────────────────────────────────────────────────────────────────────────────────

export interface PathAccess {
  read: boolean;
  write: boolean;
  /** Mapped executable (mmap PROT_EXEC): a library. */
  exec: boolean;
  /** Executed (execve). */
  spawn: boolean;
}

export interface AppArmorRecorderOptions {
  /** Patterns kept per mount namespace (SPO: 10 000). */
  maxPathsPerNamespace?: number;
  /** Mount namespaces kept (SPO: 1000). */
  maxNamespaces?: number;
}

/** What a namespace's recording could not keep. Non-zero `truncated` makes the profile incomplete. */
export interface AppArmorLoss {
  /** New patterns refused because the namespace was full. */
  truncated: number;
  /** Events of namespaces refused because too many namespaces were tracked. */
  droppedNamespaceEvents: number;
  /** Paths that cannot be evidence: relative, `..`, too long, `(deleted)` files. */
  unusablePaths: number;
  /** Capabilities outside the 41-entry list. */
  unknownCapabilities: number;
}

interface NamespaceFacts {
  paths: Map<string, PathAccess>;
  network: Set<NetFact>;
  capabilities: Set<string>;
  loss: AppArmorLoss;
}

const NET_ORDER: readonly NetFact[] = ["raw", "tcp", "udp", "unix"];
const noLoss = (): AppArmorLoss => ({
  truncated: 0,
  droppedNamespaceEvents: 0,
  unusablePaths: 0,
  unknownCapabilities: 0,
});

type FileEv = z.infer<typeof FileEvent>;
type ExecEv = z.infer<typeof ExecEvent>;
type NetEv = z.infer<typeof NetEvent>;
type CapEv = z.infer<typeof CapEvent>;

/** The socket kind a (family, type) pair is recorded as; undefined for families SPO ignores. */
export function netFact(family: string, protocol: string): NetFact | undefined {
  if (family === "unix") return "unix";
  if (family !== "inet" && family !== "inet6") return undefined;
  return protocol === "tcp" || protocol === "udp" || protocol === "raw" ? protocol : undefined;
}

/** Bounded per-mount-namespace AppArmor facts (see the module comment). */
export class AppArmorRecorder {
  private readonly byNs = new Map<number, NamespaceFacts>();
  private readonly maxPaths: number;
  private readonly maxNamespaces: number;
  private refusedNamespaceEvents = 0;

  constructor(opts: AppArmorRecorderOptions = {}) {
    this.maxPaths = opts.maxPathsPerNamespace ?? 10_000;
    this.maxNamespaces = opts.maxNamespaces ?? 1000;
  }

  private ns(mntns: number): NamespaceFacts | undefined {
    let f = this.byNs.get(mntns);
    if (f === undefined) {
      if (this.byNs.size >= this.maxNamespaces) {
        this.refusedNamespaceEvents++;
        return undefined;
      }
      f = { paths: new Map(), network: new Set(), capabilities: new Set(), loss: noLoss() };
      this.byNs.set(mntns, f);
    }
    return f;
  }

  /** One eBPF fact. Events without a mount namespace go to namespace 0. */
  add(event: FileEv | ExecEv | NetEv | CapEv, mntns: number = event.mntns ?? 0): void {
    switch (event.kind) {
      case "file":
        this.file(mntns, event.path, { read: event.read, write: event.write });
        return;
      case "exec":
        this.file(mntns, event.path, { spawn: true });
        return;
      case "net":
        this.network(mntns, event.family, event.protocol);
        return;
      case "cap":
        this.capability(mntns, event.capability);
        return;
    }
  }

  /** Records access to a path; false if it was not kept (unusable, excluded, or the namespace is full). */
  file(mntns: number, rawPath: string, access: Partial<PathAccess>): boolean {
    const f = this.ns(mntns);
    if (f === undefined) return false;
    let pattern: string | undefined;
    let acc = access;
    if (rawPath === "/anon_hugepage (deleted)") {
      // SPO's HugeTLB workaround (spo.md §3.6): the mapping needs `/` read-write.
      pattern = "/";
      acc = { read: true, write: true };
    } else if (rawPath.endsWith(" (deleted)")) {
      f.loss.unusablePaths++;
      return false;
    } else pattern = recordedPathPattern(rawPath);
    if (pattern === undefined) {
      f.loss.unusablePaths++;
      return false;
    }
    if (hasPrefix(pattern, EXCLUDED_PATH_PREFIXES)) return false;
    let cur = f.paths.get(pattern);
    if (cur === undefined) {
      if (f.paths.size >= this.maxPaths) {
        f.loss.truncated++;
        return false;
      }
      cur = { read: false, write: false, exec: false, spawn: false };
      f.paths.set(pattern, cur);
    }
    cur.read ||= acc.read === true;
    cur.write ||= acc.write === true;
    cur.exec ||= acc.exec === true;
    cur.spawn ||= acc.spawn === true;
    return true;
  }

  network(mntns: number, family: string, protocol: string): void {
    const fact = netFact(family, protocol);
    if (fact === undefined) return;
    this.ns(mntns)?.network.add(fact);
  }

  capability(mntns: number, cap: string | number): void {
    const f = this.ns(mntns);
    if (f === undefined) return;
    const name = capabilityName(cap);
    if (name === undefined) f.loss.unknownCapabilities++;
    else f.capabilities.add(name);
  }

  namespaces(): number[] {
    return [...this.byNs.keys()].sort((a, b) => a - b);
  }

  /** The namespace's facts, sorted (the observation form plus `libraries`). */
  facts(mntns: number): AppArmorFactsInput {
    const f = this.byNs.get(mntns);
    const out: { [K in keyof AppArmorFactsInput]-?: NonNullable<AppArmorFactsInput[K]> } = {
      executables: [],
      libraries: [],
      readPaths: [],
      writePaths: [],
      capabilities: [...(f?.capabilities ?? [])].sort(compareStrings),
      network: NET_ORDER.filter((n) => f?.network.has(n) === true),
    };
    for (const [p, a] of f?.paths ?? []) {
      if (a.spawn) out.executables.push(p);
      if (a.exec) out.libraries.push(p);
      if (a.read) out.readPaths.push(p);
      if (a.write) out.writePaths.push(p);
    }
    for (const list of [out.executables, out.libraries, out.readPaths, out.writePaths])
      list.sort(compareStrings);
    return out;
  }

  loss(mntns: number): AppArmorLoss {
    const l = { ...(this.byNs.get(mntns)?.loss ?? noLoss()) };
    l.droppedNamespaceEvents = this.refusedNamespaceEvents;
    return l;
  }

  /** Frees a namespace once its profile is built. */
  forget(mntns: number): void {
    this.byNs.delete(mntns);
  }
}

// ─── facts from AppArmor audit records (complain mode) ──────────────────────────────────────

export interface ApparmorLogOptions {
  /** Only records of this profile (or its children `profile//…`). */
  profile?: string;
  /** Which `apparmor=` verdicts are evidence; default only `ALLOWED` (complain mode). */
  verdicts?: readonly string[];
  maxPaths?: number;
}

export interface ApparmorLogFacts {
  facts: AppArmorFactsInput;
  /** Records that contributed a fact. */
  used: number;
  /** Records ignored: other verdict or profile, or an operation that is not a file/exec/net/cap fact. */
  skipped: number;
  loss: AppArmorLoss;
}

/** AppArmor ops that are not file, exec, socket or capability facts. */
const NON_FACT_OPS =
  /^(?:change_|profile_|dbus_|ptrace|signal|mount|umount|pivotroot|remount|userns_|io_uring)/;
const SOCK_TYPE: Readonly<Record<string, string>> = { stream: "tcp", dgram: "udp", raw: "raw" };
const IP_PROTOCOL: Readonly<Record<number, string>> = { 6: "tcp", 17: "udp" };

/**
 * Facts from `apparmor="ALLOWED"` records of a profile in complain mode, fed through the same
 * bounded recorder (one namespace): `exec` → executed file; `capable` → capability (`capname`);
 * records with a socket `family` → socket kind (`sock_type`, else `protocol` 6/17); any other
 * record with a `name` → file access from the requested mask (`r` read; `w a c d l k` write; `m`
 * mapped executable; `x` executed). `DENIED` records are what the profile already refused: not
 * evidence of what the workload needs unless asked for with `verdicts`.
 */
export function factsFromApparmorEvents(
  events: Iterable<AppArmorEvent>,
  opts: ApparmorLogOptions = {},
): ApparmorLogFacts {
  const verdicts = new Set(opts.verdicts ?? ["ALLOWED"]);
  const rec = new AppArmorRecorder({ maxPathsPerNamespace: opts.maxPaths ?? 10_000 });
  let used = 0;
  let skipped = 0;
  for (const e of events) {
    const profileOk =
      opts.profile === undefined ||
      e.profile === opts.profile ||
      e.profile?.startsWith(`${opts.profile}//`) === true;
    if (!verdicts.has(e.apparmor) || !profileOk || NON_FACT_OPS.test(e.operation)) {
      skipped++;
      continue;
    }
    const mask = (e.requestedMask ?? e.deniedMask ?? "").replace(/[^a-zA-Z]/g, "");
    if (e.operation === "capable") {
      if (e.capname === null) skipped++;
      else {
        rec.capability(0, e.capname);
        used++;
      }
    } else if (e.family !== null) {
      const proto =
        (e.sockType === null ? undefined : SOCK_TYPE[e.sockType]) ?? IP_PROTOCOL[e.protocol ?? -1] ?? "";
      if (netFact(e.family, proto) === undefined) skipped++;
      else {
        rec.network(0, e.family, proto);
        used++;
      }
    } else if (e.name !== null) {
      const access: Partial<PathAccess> = {
        read: mask.includes("r"),
        write:
          /[wacdlk]/.test(mask) ||
          /^(?:mkdir|rmdir|unlink|mknod|link|symlink|rename_|truncate)/.test(e.operation),
        exec: mask.includes("m"),
        spawn: e.operation === "exec" || mask.includes("x"),
      };
      if (!access.read && !access.write && !access.exec && !access.spawn) skipped++;
      else {
        rec.file(0, e.name, access);
        used++;
      }
    } else skipped++;
  }
  return { facts: rec.facts(0), used, skipped, loss: rec.loss(0) };
}

// ─── facts → abstract ───────────────────────────────────────────────────────────────────────

export interface AppArmorAbstractOptions {
  /** The recording program itself (SPO: spoc), never listed as a library. */
  programName?: string;
  /** SPO's read-write collapsing to `<dir>/*` (default true; see paths.ts for where it never applies). */
  collapseReadWrite?: boolean;
}

export interface AppArmorBuild {
  abstract: AppArmorAbstract;
  /** Facts that cannot be expressed and were left out, with the reason. */
  skipped: string[];
}

type Letters = { r: boolean; w: boolean };

/** The rule-bearing content of an abstract, as sets (the form merges work on). */
interface AbstractSets {
  exec: Set<string>;
  lib: Set<string>;
  fs: Map<string, Letters>;
  caps: Set<string>;
  raw: boolean | undefined;
  tcp: boolean | undefined;
  udp: boolean | undefined;
  protocols: boolean;
}

function emptySets(): AbstractSets {
  return {
    exec: new Set(),
    lib: new Set(),
    fs: new Map(),
    caps: new Set(),
    raw: undefined,
    tcp: undefined,
    udp: undefined,
    protocols: false,
  };
}

function addFs(s: AbstractSets, p: string, r: boolean, w: boolean): void {
  const cur = s.fs.get(p);
  if (cur === undefined) s.fs.set(p, { r, w });
  else {
    cur.r ||= r;
    cur.w ||= w;
  }
}

/** `undefined < false < true`: "unspecified" defers to the other side (SPO's nil), true wins. */
const joinFlag = (a: boolean | undefined, b: boolean | undefined): boolean | undefined =>
  a === true || b === true ? true : a === false || b === false ? false : undefined;

function setsOf(a: AppArmorAbstract, into: AbstractSets = emptySets()): AbstractSets {
  for (const p of a.executable?.allowedExecutables ?? []) into.exec.add(p);
  for (const p of a.executable?.allowedLibraries ?? []) into.lib.add(p);
  for (const p of a.filesystem?.readOnlyPaths ?? []) addFs(into, p, true, false);
  for (const p of a.filesystem?.writeOnlyPaths ?? []) addFs(into, p, false, true);
  for (const p of a.filesystem?.readWritePaths ?? []) addFs(into, p, true, true);
  for (const c of a.capability?.allowedCapabilities ?? []) into.caps.add(c.toLowerCase());
  into.raw = joinFlag(into.raw, a.network?.allowRaw);
  const prot = a.network?.allowedProtocols;
  if (prot !== undefined) {
    into.protocols = true;
    into.tcp = joinFlag(into.tcp, prot.allowTcp);
    into.udp = joinFlag(into.udp, prot.allowUdp);
  }
  return into;
}

/** Patterns no other pattern of the set strictly covers. */
function uncovered(patterns: Set<string>): string[] {
  const cov = strictCoverers([...patterns]);
  return [...patterns].filter((p) => (cov.get(p)?.length ?? 0) === 0).sort(compareStrings);
}

/** The normal form of the rule-bearing sets, as an abstract (see the module comment). */
function abstractOf(s: AbstractSets): AppArmorAbstract {
  const out: AppArmorAbstract = {};
  const exes = uncovered(s.exec);
  const libs = uncovered(s.lib);
  if (exes.length > 0 || libs.length > 0) {
    out.executable = {};
    if (exes.length > 0) out.executable.allowedExecutables = exes;
    if (libs.length > 0) out.executable.allowedLibraries = libs;
  }
  const cov = strictCoverers([...s.fs.keys()]);
  const ro: string[] = [];
  const wo: string[] = [];
  const rw: string[] = [];
  for (const [p, own] of s.fs) {
    const above = { r: false, w: false };
    for (const q of cov.get(p) ?? []) {
      const l = s.fs.get(q);
      above.r ||= l?.r === true;
      above.w ||= l?.w === true;
    }
    if ((!own.r || above.r) && (!own.w || above.w)) continue;
    const r = own.r || above.r;
    const w = own.w || above.w;
    (r && w ? rw : r ? ro : wo).push(p);
  }
  if (ro.length + wo.length + rw.length > 0) {
    out.filesystem = {};
    if (ro.length > 0) out.filesystem.readOnlyPaths = ro.sort(compareStrings);
    if (wo.length > 0) out.filesystem.writeOnlyPaths = wo.sort(compareStrings);
    if (rw.length > 0) out.filesystem.readWritePaths = rw.sort(compareStrings);
  }
  if (s.raw !== undefined || s.protocols) {
    const network: NonNullable<AppArmorAbstract["network"]> = {};
    if (s.raw !== undefined) network.allowRaw = s.raw;
    if (s.protocols) {
      const p: NonNullable<NonNullable<AppArmorAbstract["network"]>["allowedProtocols"]> = {};
      if (s.tcp !== undefined) p.allowTcp = s.tcp;
      if (s.udp !== undefined) p.allowUdp = s.udp;
      network.allowedProtocols = p;
    }
    out.network = network;
  }
  if (s.caps.size > 0) out.capability = { allowedCapabilities: [...s.caps].sort(compareStrings) };
  return out;
}

/** The merge normal form of one abstract: `mergeAppArmorAbstracts([a])`. */
export function normalizeAppArmorAbstract(a: AppArmorAbstract): AppArmorAbstract {
  return abstractOf(setsOf(a));
}

/** SPO's glob-aware union of abstracts, as an exact join (see the module comment). */
export function mergeAppArmorAbstracts(abstracts: readonly AppArmorAbstract[]): AppArmorAbstract {
  const s = emptySets();
  for (const a of abstracts) setsOf(a, s);
  return abstractOf(s);
}

type AppArmorSpecT = AppArmorProfile["spec"];

/**
 * Union of specs: the abstracts' join; `Complain` if any input is (it allows everything the
 * others do); `Disabled` if any input is (a merge never re-enables what someone disabled).
 */
export function mergeAppArmorSpecs(specs: readonly AppArmorSpecT[]): AppArmorSpecT {
  if (specs.length === 0) throw new RangeError("nothing to merge");
  const out: AppArmorSpecT = {
    mode: specs.some((s) => s.mode === "Complain") ? "Complain" : "Enforce",
    abstract: mergeAppArmorAbstracts(specs.map((s) => s.abstract)),
  };
  const states = new Set(specs.map((s) => s.state));
  if (states.has("Disabled")) out.state = "Disabled";
  else if (states.has("Enabled")) out.state = "Enabled";
  return out;
}

/**
 * The abstract for recorded facts (see the module comment). Facts are patterns as the recorder
 * stores them; any that fail `appArmorPathProblem` (a foreign or hostile fact source) or name an
 * unknown capability are left out and listed in `skipped`.
 */
export function appArmorAbstract(
  facts: AppArmorFactsInput,
  opts: AppArmorAbstractOptions = {},
): AppArmorBuild {
  const skipped: string[] = [];
  const access = new Map<string, PathAccess>();
  const note = (list: readonly string[], field: keyof PathAccess) => {
    for (const raw of list) {
      const p = normalizeRecordedPath(raw);
      const problem = appArmorPathProblem(p);
      if (problem !== undefined) {
        skipped.push(`path ${problem}`);
        continue;
      }
      if (hasPrefix(p, EXCLUDED_PATH_PREFIXES)) continue;
      let a = access.get(p);
      if (a === undefined) {
        a = { read: false, write: false, exec: false, spawn: false };
        access.set(p, a);
      }
      a[field] = true;
    }
  };
  note(facts.executables, "spawn");
  note(facts.libraries ?? [], "exec");
  note(facts.readPaths, "read");
  note(facts.writePaths, "write");

  const s = emptySets();
  const rwCandidates: string[] = [];
  const baseRw = (p: string) => BASE_READ_WRITE_PATHS.includes(p);
  for (const [p, a] of access) {
    if (a.spawn) s.exec.add(p);
    if (a.exec && !hasPrefix(p, KNOWN_LIBRARY_PREFIXES) && p !== opts.programName) s.lib.add(p);
    if (baseRw(p)) continue;
    if (a.read && a.write) {
      if (
        !hasPrefix(p, KNOWN_READ_PREFIXES) &&
        !hasPrefix(p, KNOWN_WRITE_PREFIXES) &&
        !hasPrefix(p, KNOWN_LIBRARY_PREFIXES)
      )
        rwCandidates.push(p);
    } else if (a.read) {
      if (!hasPrefix(p, KNOWN_READ_PREFIXES)) addFs(s, p, true, false);
    } else if (a.write) {
      if (!hasPrefix(p, KNOWN_WRITE_PREFIXES)) addFs(s, p, false, true);
    }
  }
  for (const p of opts.collapseReadWrite === false ? rwCandidates : collapseReadWrite(rwCandidates))
    addFs(s, p, true, true);

  for (const c of facts.capabilities) {
    const name = capabilityName(c);
    if (name === undefined) skipped.push(`capability ${JSON.stringify(c)} is not a Linux capability`);
    else s.caps.add(name);
  }
  const net = new Set(facts.network);
  if (net.has("raw")) s.raw = true;
  if (net.has("tcp") || net.has("udp")) {
    s.protocols = true;
    if (net.has("tcp")) s.tcp = true;
    if (net.has("udp")) s.udp = true;
  }
  return { abstract: abstractOf(s), skipped };
}

export function appArmorProfileCR(
  meta: ProfileMeta,
  abstract: AppArmorAbstract,
  mode: "Enforce" | "Complain" = "Enforce",
): AppArmorProfile {
  const metadata: AppArmorProfile["metadata"] = { name: meta.name };
  if (meta.labels !== undefined) metadata.labels = meta.labels;
  if (meta.annotations !== undefined) metadata.annotations = meta.annotations;
  return { apiVersion: API_VERSION, kind: "AppArmorProfile", metadata, spec: { mode, abstract } };
}

// ─── validation and rendering ───────────────────────────────────────────────────────────────

export class AppArmorRenderError extends RangeError {
  override readonly name = "AppArmorRenderError";
  constructor(
    readonly profile: string,
    readonly problems: readonly string[],
  ) {
    super(`AppArmorProfile ${JSON.stringify(profile)} cannot be rendered: ${problems.join("; ")}`);
  }
}

/** Kernel profile names: the object name, without anything AppArmor's grammar gives meaning to. */
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;

/** Everything that keeps a profile from being rendered; empty when it is safe to render. */
export function appArmorProfileProblems(cr: unknown): string[] {
  const parsed = AppArmorProfile.safeParse(cr);
  if (!parsed.success)
    return parsed.error.issues.map((i) => `schema: ${i.path.join(".") || "object"}: ${i.message}`);
  const p = parsed.data;
  const problems: string[] = [];
  if (!PROFILE_NAME.test(p.metadata.name))
    problems.push(`metadata.name ${JSON.stringify(p.metadata.name)} may use only letters, digits and _.-`);
  const a = p.spec.abstract;
  const lists: [string, readonly string[] | undefined][] = [
    ["executable.allowedExecutables", a.executable?.allowedExecutables],
    ["executable.allowedLibraries", a.executable?.allowedLibraries],
    ["filesystem.readOnlyPaths", a.filesystem?.readOnlyPaths],
    ["filesystem.writeOnlyPaths", a.filesystem?.writeOnlyPaths],
    ["filesystem.readWritePaths", a.filesystem?.readWritePaths],
  ];
  for (const [field, list] of lists)
    (list ?? []).forEach((path, i) => {
      const why = appArmorPathProblem(path);
      if (why !== undefined) problems.push(`spec.abstract.${field}[${i}]: path ${why}`);
    });
  (a.capability?.allowedCapabilities ?? []).forEach((c, i) => {
    const lower = c.toLowerCase();
    if (!CAPABILITY_SET.has(lower))
      problems.push(
        `spec.abstract.capability.allowedCapabilities[${i}]: ${JSON.stringify(c)} is not a Linux capability` +
          (lower.startsWith("cap_") ? " (write it without the CAP_ prefix)" : ""),
      );
  });
  return problems;
}

/** SPO's fixed hardening denies (crd2armor), emitted unless the mode is Complain. */
export const APPARMOR_HARDENING_DENIES: readonly string[] = [
  "deny @{PROC}/* w,   # deny write for all files directly in /proc (not in a subdir)",
  "deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9]*}/** w,",
  "deny @{PROC}/sys/[^k]** w,  # deny /proc/sys except /proc/sys/k* (effectively /proc/sys/kernel)",
  "deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,  # deny everything except shm* in /proc/sys/kernel/",
  "deny @{PROC}/sysrq-trigger rwklx,",
  "deny @{PROC}/mem rwklx,",
  "deny @{PROC}/kmem rwklx,",
  "deny @{PROC}/kcore rwklx,",
  "deny /sys/firmware/efi/efivars/** rwklx,",
];

/** First line of every rendered profile (the installer only replaces files that carry it). */
export const APPARMOR_HEADER_MARK = "# Generated by secprof";

const sortedUnique = (xs: readonly string[] | undefined): string[] =>
  [...new Set(xs ?? [])].sort(compareStrings);

/**
 * The AppArmor text of a profile (see the module comment). Validates first and throws
 * `AppArmorRenderError` listing every problem; lists are written sorted and de-duplicated, so
 * equal profiles give byte-identical text.
 */
export function renderAppArmorProfile(cr: AppArmorProfile): string {
  const problems = appArmorProfileProblems(cr);
  if (problems.length > 0) throw new AppArmorRenderError(String(cr.metadata?.name ?? ""), problems);
  const name = cr.metadata.name;
  const complain = cr.spec.mode === "Complain";
  const a = cr.spec.abstract;
  const exes = sortedUnique(a.executable?.allowedExecutables);
  const libs = sortedUnique(a.executable?.allowedLibraries);
  const ro = sortedUnique(a.filesystem?.readOnlyPaths);
  const wo = sortedUnique(a.filesystem?.writeOnlyPaths);
  const rw = sortedUnique(a.filesystem?.readWritePaths);
  const caps = sortedUnique((a.capability?.allowedCapabilities ?? []).map((c) => c.toLowerCase()));
  // A deny would take away access another listed pattern grants on a shared path: skip it.
  const roShared = complain ? new Set<string>() : overlappingAny(ro, [...wo, ...rw]);
  const woShared = complain ? new Set<string>() : overlappingAny(wo, [...ro, ...rw, ...exes, ...libs]);
  const q = renderAppArmorPath;

  const body: string[] = ["#include <abstractions/base>"];
  for (const p of exes) body.push(`${q(p)} ixr,`);
  for (const p of libs) body.push(`${q(p)} mr,`);
  for (const p of ro) body.push(`${q(p)} r,`);
  if (!complain) for (const p of ro) if (!roShared.has(p)) body.push(`deny ${q(p)} wlk,`);
  for (const p of wo) body.push(`${q(p)} wlk,`);
  if (!complain) for (const p of wo) if (!woShared.has(p)) body.push(`deny ${q(p)} r,`);
  for (const p of rw) body.push(`${q(p)} rwlk,`);
  const net = a.network;
  if (net?.allowRaw === true) body.push("network raw,");
  else if (net?.allowRaw === false && !complain) body.push("deny network raw,");
  if (net?.allowedProtocols?.allowTcp === true) body.push("network tcp,");
  if (net?.allowedProtocols?.allowUdp === true) body.push("network udp,");
  for (const c of caps) body.push(`capability ${c},`);
  if (!complain) body.push(...APPARMOR_HARDENING_DENIES);

  return [
    `${APPARMOR_HEADER_MARK} from AppArmorProfile ${name}, SPO-compatible; do not edit by hand.`,
    "#include <tunables/global>",
    `profile ${name} flags=(${complain ? "complain" : "enforce"},attach_disconnected,mediate_deleted) {`,
    ...body.map((l) => `  ${l}`),
    "}",
    "",
  ].join("\n");
}
