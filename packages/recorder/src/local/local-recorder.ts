import type { AppArmorFactsInput, AppArmorLoss, LossCounters, SyscallSet } from "@secprof/core";

/** How to start CMD so that the recorder attributes it (and only it). */
export interface Launch {
  file: string;
  args: string[];
  /** The launcher reports its attribution key on fd 3. */
  statusFd: boolean;
}

/** AppArmor facts of CMD's mount namespace, or why the recorder could not record them. */
export type AppArmorResult =
  | { facts: AppArmorFactsInput; loss: AppArmorLoss; incomplete: string[] }
  | { unavailable: string };

export interface LocalResult {
  /** What the workload did. */
  syscalls: SyscallSet;
  /** What the OCI runtime did under the container's filter, when CMD ran in a container. */
  runtime?: SyscallSet;
  loss: LossCounters;
  /** Why the profile may be incomplete, in words (empty when nothing was lost). */
  incomplete: string[];
  /** Only when AppArmor facts were asked for. */
  apparmor?: AppArmorResult;
}

export interface Progress {
  syscalls: number;
  events: number;
}

/**
 * One recorder in local mode (`secprof record`): bpf (mount namespace of CMD, eBPF in-kernel
 * aggregation) or logs (audit session of CMD, SECCOMP records from the audit log).
 */
export interface LocalRecorder {
  readonly name: "bpf" | "logs";
  /** Attaches before CMD exists; a string is an actionable error. */
  start(): Promise<string | undefined>;
  launch(argv: readonly string[]): Launch;
  /** Called once CMD's launcher is spawned, with its pid and status text (if statusFd). */
  spawned(pid: number, status: string): void;
  progress(): Progress;
  /** After CMD exited: collects everything still in flight and detaches. */
  stop(): Promise<LocalResult>;
}
