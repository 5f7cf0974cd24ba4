import { z } from "zod";
import { dropDetail, type JsonLineDrop, readJsonLine } from "./bpftrace-json.js";

/**
 * apparmor.bt's stdout, validated and decoded (see the program's header for the line forms).
 * Pure: no I/O. Bad lines and keys are classified as drops, never thrown.
 */

/**
 * A path fact as the kernel recorded it. `mntns` here and in the other keys is the namespace's
 * ns_id (see apparmor.bt). `pid`/`base*` are set only for relative paths.
 */
export interface PathKey {
  mntns: number;
  op: "open" | "exec" | "change";
  read: boolean;
  write: boolean;
  directory: boolean;
  /** Relative paths: the recording pid and the (dev, ino) of the directory they are relative to. */
  pid: number;
  baseDev: number;
  baseIno: number;
  /** The opened inode (opens only; 0 otherwise), in the kernel's dev_t encoding. */
  dev: number;
  ino: number;
  path: string;
}

export interface InodeKey {
  mntns: number;
  dev: number;
  ino: number;
}

export interface SocketKey {
  mntns: number;
  family: number;
  type: number;
  protocol: number;
}

export interface CapKey {
  mntns: number;
  cap: number;
}

export type AppArmorMapName = "@p" | "@mx" | "@sk" | "@cap" | "@capsa" | "@trunc";

export type AppArmorDropReason = JsonLineDrop | "bad_key";

const count = z.number().int().nonnegative();
const u32 = count.max(0xffff_ffff);

const ExecTuple = z.tuple([z.literal("exec"), u32, u32, u32, z.string(), z.string(), count]);
const MarkerTuple = z.tuple([z.enum(["ready", "final", "end"]), z.number()]);
const MapData = z.strictObject({
  "@p": z.record(z.string(), count).optional(),
  "@mx": z.record(z.string(), count).optional(),
  "@sk": z.record(z.string(), count).optional(),
  "@cap": z.record(z.string(), count).optional(),
  "@capsa": z.record(z.string(), count).optional(),
  "@trunc": z.record(z.string(), count).optional(),
});

const LineSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("attached_probes"), data: z.object({ probes: count }) }),
  z.object({ type: z.literal("lost_events"), data: z.object({ events: count }) }),
  z.object({ type: z.literal("map"), data: MapData }),
  z.object({ type: z.literal("value"), data: z.union([ExecTuple, MarkerTuple]) }),
]);

export interface AppArmorExecLine {
  pid: number;
  ppid: number;
  /** Mount namespace inode (as /proc/PID/ns/mnt names it; reused once the namespace is gone). */
  mntns: number;
  comm: string;
  filename: string;
  /** The namespace's ns_id: the key of its facts (never reused). */
  nsId: number;
}

export type AppArmorLine =
  | { kind: "blank" }
  | { kind: "attached"; probes: number }
  | { kind: "ready" | "final" | "end" }
  | { kind: "lost"; events: number }
  | { kind: "exec"; event: AppArmorExecLine }
  | { kind: "map"; name: AppArmorMapName; entries: Record<string, number> }
  | { kind: "drop"; reason: AppArmorDropReason; detail: string };

/** One stdout line of apparmor.bt, classified. Never throws. */
export function parseAppArmorLine(line: string): AppArmorLine {
  const r = readJsonLine(line, LineSchema);
  if (r.kind !== "line") return r;
  const v = r.value;
  switch (v.type) {
    case "attached_probes":
      return { kind: "attached", probes: v.data.probes };
    case "lost_events":
      return { kind: "lost", events: v.data.events };
    case "map": {
      const [name, entries] = Object.entries(v.data)[0] ?? [];
      if (name === undefined || entries === undefined)
        return { kind: "drop", reason: "schema", detail: dropDetail(line.trim()) };
      return { kind: "map", name: name as AppArmorMapName, entries };
    }
    case "value": {
      const d = v.data;
      if (d[0] === "exec") {
        const [, pid, ppid, mntns, comm, filename, nsId] = d;
        return { kind: "exec", event: { pid, ppid, mntns, comm, filename, nsId } };
      }
      return { kind: d[0] };
    }
  }
}

const NUM = "(\\d{1,20})";
// The path is the last key field and may itself contain commas.
const PATH_KEY = new RegExp(`^${Array(8).fill(NUM).join(",")},(.*)$`, "s");
const OPS: Readonly<Record<string, PathKey["op"]>> = { "1": "open", "2": "exec", "3": "change" };

function nums(m: RegExpExecArray, n: number): number[] | undefined {
  const out: number[] = [];
  for (let i = 1; i <= n; i++) {
    const x = Number(m[i]);
    if (!Number.isSafeInteger(x)) return undefined;
    out.push(x);
  }
  return out;
}

/** `<mntns>,<op>,<acc>,<pid>,<base_dev>,<base_ino>,<dev>,<ino>,<path>` as apparmor.bt prints it. */
export function decodePathKey(key: string): PathKey | undefined {
  const m = PATH_KEY.exec(key);
  if (m === null) return undefined;
  const n = nums(m, 8);
  const path = m[9];
  if (n === undefined || path === undefined || path === "") return undefined;
  const [mntns = 0, op = 0, acc = 0, pid = 0, baseDev = 0, baseIno = 0, dev = 0, ino = 0] = n;
  const kind = OPS[String(op)];
  if (kind === undefined || acc > 7) return undefined;
  return {
    mntns,
    op: kind,
    read: (acc & 1) !== 0,
    write: (acc & 2) !== 0,
    directory: (acc & 4) !== 0,
    pid,
    baseDev,
    baseIno,
    dev,
    ino,
    path,
  };
}

function intKey(key: string, n: number): number[] | undefined {
  const parts = key.split(",");
  if (parts.length !== n) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,20}$/.test(p)) return undefined;
    const x = Number(p);
    if (!Number.isSafeInteger(x)) return undefined;
    out.push(x);
  }
  return out;
}

export function decodeInodeKey(key: string): InodeKey | undefined {
  const k = intKey(key, 3);
  return k === undefined ? undefined : { mntns: k[0] ?? 0, dev: k[1] ?? 0, ino: k[2] ?? 0 };
}

export function decodeSocketKey(key: string): SocketKey | undefined {
  const k = intKey(key, 4);
  return k === undefined
    ? undefined
    : { mntns: k[0] ?? 0, family: k[1] ?? 0, type: k[2] ?? 0, protocol: k[3] ?? 0 };
}

export function decodeCapKey(key: string): CapKey | undefined {
  const k = intKey(key, 2);
  return k === undefined ? undefined : { mntns: k[0] ?? 0, cap: k[1] ?? 0 };
}

/** The frame that probes CAP_SYS_ADMIN silently for every memory mapping (not a need). */
const VM_RESERVE_PROBE = "security_vm_enough_memory_mm";

/**
 * `@capsa` keys: `<mntns>,\n    cap_capable+N\n    <caller>+M\n` (bpftrace's kstack(2)).
 * `need` is false for the memory-reserve probe.
 */
export function decodeSysAdminKey(key: string): { mntns: number; need: boolean } | undefined {
  const m = /^(\d{1,20}),\n\s*(\S+)\n\s*(\S+)?/.exec(key);
  const mntns = Number(m?.[1]);
  if (m === null || !Number.isSafeInteger(mntns)) return undefined;
  const caller = m[3] ?? "";
  return { mntns, need: !caller.startsWith(`${VM_RESERVE_PROBE}+`) };
}

/** `@trunc` keys are just the mount namespace. */
export function decodeNsKey(key: string): number | undefined {
  return intKey(key, 1)?.[0];
}

/** AF_* numbers the profile cares about. */
const FAMILIES: Readonly<Record<number, string>> = { 1: "unix", 2: "inet", 10: "inet6" };
/** SOCK_* numbers → the protocol word AppArmor's abstract uses (stream = tcp, dgram = udp). */
const TYPES: Readonly<Record<number, string>> = { 1: "tcp", 2: "udp", 3: "raw" };

/** (family, type) as the core's `netFact` takes it; undefined for families a profile ignores. */
export function socketFamilyProtocol(k: SocketKey): { family: string; protocol: string } | undefined {
  const family = FAMILIES[k.family];
  if (family === undefined) return undefined;
  return { family, protocol: TYPES[k.type] ?? "" };
}
