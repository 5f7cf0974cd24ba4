import { type SyscallEvent, syscallName } from "@secprof/core";
import type { SyscallsEvent } from "./parse.js";

/**
 * Turns an in-kernel aggregate into the pipeline's raw event. The eBPF source knows the mount
 * namespace but not which process made the call (that is the point of aggregating), so pid,
 * comm and exe are null; attribution goes through `exec` events (pid → mntns). Returns
 * undefined for a number that is not a syscall of `arch` (the caller counts it).
 */
export function toRawSyscallEvent(e: SyscallsEvent, ts: number): SyscallEvent | undefined {
  const name = syscallName(e.arch, e.nr);
  if (name === undefined) return undefined;
  return {
    source: "bpf",
    ts,
    auditId: null,
    pid: null,
    comm: null,
    exe: null,
    ses: null,
    mntns: e.mntns,
    kind: "syscall",
    arch: e.arch,
    nr: e.nr,
    name,
    action: null,
  };
}
