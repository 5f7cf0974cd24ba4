import { z } from "zod";
import { type JsonLineDrop, readJsonLine } from "./bpftrace-json.js";

/** Syscall ABI of one recorded call. `x86` is the 32-bit compat ABI (i386 numbers). */
export type BpfArch = "x86_64" | "x86" | "x32";

/** The kernel ORs this into x32 syscall numbers (__X32_SYSCALL_BIT). */
export const X32_BIT = 0x40000000;

/**
 * Syscall numbers at or above this (after removing the x32 bit) are not syscalls on any x86 ABI;
 * the kernel answers ENOSYS. They are counted as `bad_nr` drops instead of being emitted.
 */
export const MAX_NR = 1024;

/**
 * A (mount namespace, ABI, syscall) key that was newly seen, or whose count grew, since the last
 * snapshot. `nr` is the number as the kernel reports it: for x32 it keeps the 0x40000000 bit,
 * matching `@secprof/core`'s syscall tables. In "seen" mode `count` is 1 on first sight; in
 * "count" mode it is the number of calls since the previous snapshot.
 */
export interface SyscallsEvent {
  type: "syscalls";
  mntns: number;
  arch: BpfArch;
  nr: number;
  count: number;
}

/** One execve that completed. `pid` is the thread-group id; `mntns` the namespace it runs in. */
export interface ExecEvent {
  type: "exec";
  pid: number;
  ppid: number;
  mntns: number;
  comm: string;
  filename: string;
}

/** Follows the `syscalls` events of one snapshot. `final` is the snapshot bpftrace printed at END. */
export interface SnapshotEvent {
  type: "snapshot";
  seq: number;
  final: boolean;
  /** Keys in the kernel map (cumulative). */
  keys: number;
  /** `syscalls` events this snapshot produced. */
  changed: number;
  /** The kernel map was at its key limit: keys seen after that point were not stored. */
  full: boolean;
}

/**
 * The program's clock at a moment after which every exec line up to it has been printed (the
 * interval probe's `nsecs` under bpftrace, the loader's after draining its ring buffer): how far
 * the exec stream has provably got, so that audit records waiting for an exec need not wait longer.
 */
export interface TickEvent {
  type: "tick";
  /** CLOCK_MONOTONIC, ns (bpftrace's `nsecs`). */
  monoNs: number;
}

export type BpfEvent = SyscallsEvent | ExecEvent | SnapshotEvent | TickEvent;

export type DropReason =
  | JsonLineDrop
  /** A map key that is not `<mntns>,<0|1>,<id>`. */
  | "bad_key"
  /** A syscall id that is not a syscall on the ABI it was made with (e.g. -1, 0x7fffffff). */
  | "bad_nr";

export const DROP_REASONS: readonly DropReason[] = Object.freeze([
  "invalid_json",
  "schema",
  "unexpected",
  "bad_key",
  "bad_nr",
] as const);

const count = z.number().int().nonnegative();
const u32 = count.max(0xffff_ffff);

const ExecTuple = z.tuple([z.literal("exec"), u32, u32, u32, z.string(), z.string(), count]);
const MarkerTuple = z.tuple([z.enum(["ready", "final", "end"]), z.number()]);
const TickTuple = z.tuple([z.literal("tick"), count]);

const LineSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("attached_probes"), data: z.object({ probes: count }) }),
  z.object({ type: z.literal("lost_events"), data: z.object({ events: count }) }),
  z.object({ type: z.literal("map"), data: z.strictObject({ "@sc": z.record(z.string(), count) }) }),
  z.object({ type: z.literal("value"), data: z.union([ExecTuple, TickTuple, MarkerTuple]) }),
]);

/** One stdout line of syscalls.bt, classified. Never throws. */
export type ParsedLine =
  | { kind: "blank" }
  | { kind: "attached"; probes: number }
  | { kind: "ready" }
  | { kind: "final" }
  | { kind: "end" }
  | { kind: "lost"; events: number }
  /** `attached`: the exec's own execve was already in the syscall map (the sys_enter probe is live). */
  | { kind: "exec"; event: ExecEvent; attached: boolean }
  | { kind: "tick"; monoNs: number }
  | { kind: "map"; entries: Record<string, number> }
  | { kind: "drop"; reason: DropReason; detail: string };

export function parseLine(line: string): ParsedLine {
  const r = readJsonLine(line, LineSchema);
  if (r.kind !== "line") return r;
  const v = r.value;
  switch (v.type) {
    case "attached_probes":
      return { kind: "attached", probes: v.data.probes };
    case "lost_events":
      return { kind: "lost", events: v.data.events };
    case "map":
      return { kind: "map", entries: v.data["@sc"] };
    case "value": {
      const d = v.data;
      if (d[0] === "exec") {
        const [, pid, ppid, mntns, comm, filename, execveSeen] = d;
        return {
          kind: "exec",
          event: { type: "exec", pid, ppid, mntns, comm, filename },
          attached: execveSeen > 0,
        };
      }
      if (d[0] === "tick") return { kind: "tick", monoNs: d[1] };
      return { kind: d[0] };
    }
  }
}

/** A decoded map key, or the reason it is not usable. */
export type DecodedKey =
  | { ok: true; mntns: number; arch: BpfArch; nr: number }
  | { ok: false; reason: "bad_key" | "bad_nr" };

const KEY = /^(\d{1,10}),([01]),(-?\d{1,20})$/;

/** Decodes `<mntns>,<compat>,<id>` as syscalls.bt prints it. */
export function decodeKey(key: string): DecodedKey {
  const m = KEY.exec(key);
  if (m === null) return { ok: false, reason: "bad_key" };
  const mntns = Number(m[1]);
  const compat = m[2] === "1";
  const id = Number(m[3]);
  if (mntns > 0xffff_ffff) return { ok: false, reason: "bad_key" };
  if (!Number.isSafeInteger(id) || id < 0) return { ok: false, reason: "bad_nr" };
  if (compat) return id < MAX_NR ? { ok: true, mntns, arch: "x86", nr: id } : { ok: false, reason: "bad_nr" };
  if (id < MAX_NR) return { ok: true, mntns, arch: "x86_64", nr: id };
  if (id >= X32_BIT && id - X32_BIT < MAX_NR) return { ok: true, mntns, arch: "x32", nr: id };
  return { ok: false, reason: "bad_nr" };
}

export interface SnapshotResult {
  events: SyscallsEvent[];
  drops: { reason: "bad_key" | "bad_nr"; key: string }[];
  keys: number;
}

/**
 * Turns successive cumulative snapshots of @sc into deltas. A key is reported when it first
 * appears or when its value grows; a value that shrank (map recreated) counts from zero again.
 * Each bad key is dropped once per change, not once per snapshot. Memory is bounded by the
 * kernel map's key limit.
 */
export class SnapshotDiffer {
  readonly #last = new Map<string, number>();

  apply(entries: Record<string, number>): SnapshotResult {
    const events: SyscallsEvent[] = [];
    const drops: SnapshotResult["drops"] = [];
    let keys = 0;
    for (const key in entries) {
      const value = entries[key];
      if (value === undefined) continue;
      keys++;
      const prev = this.#last.get(key);
      if (prev === value) continue;
      this.#last.set(key, value);
      const delta = prev === undefined || value < prev ? value : value - prev;
      if (delta <= 0 && prev !== undefined) continue;
      const k = decodeKey(key);
      if (!k.ok) {
        drops.push({ reason: k.reason, key });
        continue;
      }
      events.push({ type: "syscalls", mntns: k.mntns, arch: k.arch, nr: k.nr, count: Math.max(delta, 1) });
    }
    return { events, drops, keys };
  }

  /** Keys remembered so far. */
  get size(): number {
    return this.#last.size;
  }
}
