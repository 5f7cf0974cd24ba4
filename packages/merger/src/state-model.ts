/**
 * What both ProfileState adapters agree on: how facts are encoded as set members, which target
 * metadata wins when observations of one profile disagree (a container restart changes its id), and
 * how a TargetState is laid out (every list sorted) so that equal states compare equal.
 */
import { createHash } from "node:crypto";
import type { AvcTuple, HostFacts, LossCounters, Observation, Target, TargetState } from "@secprof/core";
import { ARCH_NAMES, type ArchName } from "@secprof/core";
import type { z } from "zod";

type Avc = z.infer<typeof AvcTuple>;

export const LOSS_FIELDS = ["kernelLost", "parserDropped", "attributionMisses", "truncated"] as const;
export type LossField = (typeof LOSS_FIELDS)[number];

export const APPARMOR_FIELDS = [
  "executables",
  "libraries",
  "readPaths",
  "writePaths",
  "capabilities",
  "network",
] as const;
export type AppArmorField = (typeof APPARMOR_FIELDS)[number];

/** One-letter codes of AppArmor facts in the `aa` set: `<code>:<value>`. */
export const APPARMOR_CODE: Readonly<Record<AppArmorField, string>> = {
  executables: "x",
  libraries: "l",
  readPaths: "r",
  writePaths: "w",
  capabilities: "c",
  network: "n",
};
const APPARMOR_BY_CODE: Readonly<Record<string, AppArmorField>> = Object.fromEntries(
  APPARMOR_FIELDS.map((f) => [APPARMOR_CODE[f], f]),
);

/** Canonical JSON of an AVC tuple: fixed key order, permissions sorted and deduplicated, compact. */
export function avcMember(t: Avc): string {
  return JSON.stringify({
    scontextType: t.scontextType,
    tcontextType: t.tcontextType,
    tclass: t.tclass,
    perms: [...new Set(t.perms)].sort(),
  });
}

/** `<arch>/<name>`: arch names contain no `/`, so the first `/` splits it back. */
export const syscallMember = (arch: string, name: string): string => `${arch}/${name}`;

export function splitSyscallMember(m: string): [string, string] | undefined {
  const i = m.indexOf("/");
  return i <= 0 ? undefined : [m.slice(0, i), m.slice(i + 1)];
}

export const apparmorMember = (field: AppArmorField, value: string): string =>
  `${APPARMOR_CODE[field]}:${value}`;

export function splitApparmorMember(m: string): [AppArmorField, string] | undefined {
  const field = APPARMOR_BY_CODE[m.slice(0, 1)];
  return field === undefined || m[1] !== ":" ? undefined : [field, m.slice(2)];
}

/** Target as JSON with keys in schema order, so equal targets give equal strings. */
export function targetJson(t: Target): string {
  return JSON.stringify({
    recording: t.recording,
    namespace: t.namespace,
    pod: t.pod,
    podUid: t.podUid,
    container: t.container,
    containerId: t.containerId,
    node: t.node,
    kind: t.kind,
    replica: t.replica,
    profileName: t.profileName,
  });
}

/** sha1 hex, memoized: the same few recorders and targets come back in every job. */
const sha1Cache = new Map<string, string>();
function sha1(s: string): string {
  let h = sha1Cache.get(s);
  if (h === undefined) {
    h = createHash("sha1").update(s).digest("hex");
    if (sha1Cache.size >= 4096) sha1Cache.clear();
    sha1Cache.set(s, h);
  }
  return h;
}

/**
 * Which observation's target metadata a profile keeps: the greatest key wins. Fixed width and only
 * `[0-9a-f]`, so string order is the same in JavaScript and in Redis Lua (whatever its locale):
 * `at` (16 digits), `seq` (16 digits), sha1(recorder), sha1(target JSON). The last two only break
 * ties, so the choice never depends on arrival order.
 */
export function targetOrderKey(obs: Observation, json = targetJson(obs.target)): string {
  return `${pad16(obs.at)}${pad16(obs.seq)}${sha1(obs.recorder)}${sha1(json)}`;
}

/**
 * A recorder's host facts as stored: `<at, 16 digits><JSON>`. The greatest string wins, so the
 * facts of the latest observation are kept whatever the order of arrival (a node may reboot into
 * another kernel mid-recording), and ties break on the JSON.
 */
export function hostValue(obs: Observation): string | undefined {
  const h = obs.host;
  return h === undefined
    ? undefined
    : `${pad16(obs.at)}${JSON.stringify({ kernel: h.kernel, arch: h.arch })}`;
}

export function parseHostValue(v: string): HostFacts | undefined {
  try {
    const h = JSON.parse(v.slice(16)) as Partial<HostFacts>;
    return typeof h.kernel === "string" && typeof h.arch === "string"
      ? { kernel: h.kernel, arch: h.arch }
      : undefined;
  } catch {
    return undefined;
  }
}

const pad16 = (n: number): string =>
  String(Math.min(Math.max(0, Math.trunc(n)), Number.MAX_SAFE_INTEGER)).padStart(16, "0");

/** Every fact of an observation as set members. */
export function membersOf(obs: Observation): { syscalls: string[]; avc: string[]; apparmor: string[] } {
  const syscalls: string[] = [];
  for (const [arch, names] of Object.entries(obs.delta.syscalls))
    for (const n of names ?? []) syscalls.push(syscallMember(arch, n));
  const avc = obs.delta.avc.map(avcMember);
  const apparmor: string[] = [];
  const aa = obs.delta.apparmor;
  if (aa !== undefined)
    for (const f of APPARMOR_FIELDS) for (const v of aa[f] ?? []) apparmor.push(apparmorMember(f, v));
  return { syscalls, avc, apparmor };
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
export const sortStrings = (xs: Iterable<string>): string[] => [...xs].sort(cmp);

export interface RawTargetState {
  target: Target;
  syscallMembers: Iterable<string>;
  avcMembers: Iterable<string>;
  apparmorMembers: Iterable<string>;
  /** recorder → counters */
  loss: Map<string, LossCounters>;
  /** recorder → its node's facts, as `hostValue` encodes them */
  hosts?: Map<string, string>;
  recorders: Iterable<string>;
  firstAt: number;
  lastAt: number;
}

/** The one layout of a TargetState: arches in canonical order, every list sorted. */
export function buildTargetState(raw: RawTargetState): TargetState {
  const byArch = new Map<string, string[]>();
  for (const m of raw.syscallMembers) {
    const parts = splitSyscallMember(m);
    if (parts === undefined) continue;
    const list = byArch.get(parts[0]);
    if (list === undefined) byArch.set(parts[0], [parts[1]]);
    else list.push(parts[1]);
  }
  const syscalls: Partial<Record<ArchName, string[]>> = {};
  for (const a of ARCH_NAMES) {
    const list = byArch.get(a);
    if (list !== undefined) syscalls[a] = list.sort(cmp);
  }
  const apparmor: Required<TargetState["apparmor"]> = {
    executables: [],
    libraries: [],
    readPaths: [],
    writePaths: [],
    capabilities: [],
    network: [],
  };
  for (const m of raw.apparmorMembers) {
    const parts = splitApparmorMember(m);
    if (parts !== undefined) apparmor[parts[0]].push(parts[1]);
  }
  for (const f of APPARMOR_FIELDS) apparmor[f].sort(cmp);
  const loss: Record<string, LossCounters> = {};
  for (const r of sortStrings(raw.loss.keys())) {
    const c = raw.loss.get(r);
    if (c !== undefined) loss[r] = { ...c };
  }
  const state: TargetState = {
    target: raw.target,
    syscalls,
    avc: sortStrings(raw.avcMembers),
    apparmor,
    loss,
    recorders: sortStrings(raw.recorders),
    firstAt: raw.firstAt,
    lastAt: raw.lastAt,
  };
  if (raw.hosts !== undefined && raw.hosts.size > 0) {
    state.hosts = {};
    for (const r of sortStrings(raw.hosts.keys())) {
      const h = parseHostValue(raw.hosts.get(r) ?? "");
      if (h !== undefined) state.hosts[r] = h;
    }
  }
  return state;
}
