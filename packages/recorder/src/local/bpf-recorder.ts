import { SyscallSet, syscallName } from "@secprof/core";
import { AppArmorBpfSource } from "../sources/bpf/apparmor-source.js";
import { BpftraceSource, ownMntns } from "../sources/bpf/bpftrace-source.js";
import type { BpfEvent } from "../sources/bpf/parse.js";
import type { AppArmorResult, Launch, LocalRecorder, LocalResult, Progress } from "./local-recorder.js";

/**
 * Records CMD with eBPF: bpftrace aggregates syscalls per mount namespace in the kernel, CMD runs
 * in a mount namespace of its own (`unshare --mount`, which makes no syscall between unshare()
 * and execve), and the exec event of the launched pid names that namespace — even when CMD lives
 * for a millisecond. With `container`, CMD is an OCI runtime and the namespace is the one its
 * child (the container's init) execs in. With `apparmor`, a second bpftrace (apparmor.bt) records
 * the AppArmor facts of the same namespace.
 */
const MAX_EXECS = 100_000;

export class BpfRecorder implements LocalRecorder {
  readonly name = "bpf";
  private readonly source: BpftraceSource;
  private readonly host = ownMntns();
  private readonly perNs = new Map<number, SyscallSet>();
  private readonly execs: { pid: number; ppid: number; mntns: number }[] = [];
  private launcher: number | undefined;
  private unknown = 0;
  private events = 0;
  private readonly apparmor: AppArmorBpfSource | undefined;
  private apparmorProblem: string | undefined;
  /** pid → ns_id of execs outside the host namespace, from the AppArmor program. */
  private readonly nsIds = new Map<number, number>();

  constructor(
    private readonly container = false,
    bpftrace?: string,
    kinds: { apparmor?: boolean } = {},
  ) {
    const common = {
      ...(this.host === undefined ? {} : { excludeMntns: this.host }),
      ...(bpftrace === undefined ? {} : { bpftrace }),
    };
    this.source = new BpftraceSource({ intervalMs: 250, ...common });
    if (kinds.apparmor === true) this.apparmor = new AppArmorBpfSource({ intervalMs: 1000, ...common });
  }

  /** Both programs compile and attach in parallel; AppArmor failing only costs the AppArmor kind. */
  async start(): Promise<string | undefined> {
    this.source.onEvent((e) => this.take(e));
    this.apparmor?.onExec((e) => {
      if (e.mntns !== this.host && this.nsIds.size < MAX_EXECS) this.nsIds.set(e.pid, e.nsId);
    });
    const [r, aa] = await Promise.all([this.source.start(), this.apparmor?.start()]);
    if (aa !== undefined && !aa.ok) this.apparmorProblem = aa.problem;
    if (!r.ok) {
      if (aa?.ok === true) await this.apparmor?.stop();
      return r.problem;
    }
    return undefined;
  }

  launch(argv: readonly string[]): Launch {
    if (this.container) return { file: argv[0] ?? "runc", args: argv.slice(1), statusFd: false };
    return {
      file: "unshare",
      args: ["--mount", "--propagation", "unchanged", "--", ...argv],
      statusFd: false,
    };
  }

  spawned(pid: number): void {
    this.launcher = pid;
  }

  progress(): Progress {
    const ns = this.namespace();
    return { syscalls: ns === undefined ? 0 : (this.perNs.get(ns)?.size ?? 0), events: this.events };
  }

  async stop(): Promise<LocalResult> {
    const [stats, apparmor] = await Promise.all([this.source.stop(), this.apparmorResult()]);
    const incomplete: string[] = [];
    if (!stats.finalSnapshot) incomplete.push("bpftrace ended without its final snapshot");
    if (stats.mapFullSnapshots > 0) incomplete.push("the kernel map was full: new syscalls were not stored");
    if (stats.kernelLost > 0) incomplete.push(`bpftrace lost ${stats.kernelLost} events`);
    if (this.unknown > 0) incomplete.push(`${this.unknown} syscall numbers this build does not know`);
    const ns = this.namespace();
    if (ns === undefined) incomplete.push("the command's mount namespace was never seen (did it start?)");
    const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
    return {
      syscalls: (ns === undefined ? undefined : this.perNs.get(ns)) ?? new SyscallSet(),
      loss: {
        kernelLost: stats.kernelLost,
        parserDropped: dropped,
        attributionMisses: 0,
        truncated: stats.mapFullSnapshots,
      },
      incomplete,
      ...(apparmor === undefined ? {} : { apparmor }),
    };
  }

  private async apparmorResult(): Promise<AppArmorResult | undefined> {
    if (this.apparmor === undefined) return undefined;
    if (this.apparmorProblem !== undefined) return { unavailable: this.apparmorProblem };
    const stats = await this.apparmor.stop();
    const incomplete: string[] = [];
    if (!stats.finalSnapshot) incomplete.push("the AppArmor bpftrace ended without its final snapshot");
    if (stats.mapFullSnapshots > 0)
      incomplete.push("an AppArmor kernel map was full: new facts were not stored");
    const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
    if (dropped > 0) incomplete.push(`${dropped} AppArmor lines or keys could not be read`);
    // The AppArmor program keys facts by ns_id: the launched pid's exec names it.
    const pid = this.launcher;
    const launched = this.container
      ? this.execs.find((e) => e.ppid === pid && e.mntns !== this.host)?.pid
      : pid;
    const ns = launched === undefined ? undefined : this.nsIds.get(launched);
    if (ns === undefined) return { unavailable: "the command's mount namespace was never seen" };
    return { facts: this.apparmor.facts(ns), loss: this.apparmor.loss(ns), incomplete };
  }

  /** The launched command's namespace: the launcher's own exec after unshare, or the runtime child's. */
  private namespace(): number | undefined {
    const pid = this.launcher;
    if (pid === undefined) return undefined;
    const mine = this.execs.find(
      (e) => (this.container ? e.ppid === pid : e.pid === pid) && e.mntns !== this.host,
    );
    return mine?.mntns;
  }

  private take(e: BpfEvent): void {
    if (e.type === "exec") {
      // Only execs into other namespaces can name ours; bounded in case CMD execs without end.
      if (e.mntns !== this.host && this.execs.length < MAX_EXECS)
        this.execs.push({ pid: e.pid, ppid: e.ppid, mntns: e.mntns });
      return;
    }
    if (e.type !== "syscalls") return;
    const name = syscallName(e.arch, e.nr);
    if (name === undefined) {
      this.unknown++;
      return;
    }
    let set = this.perNs.get(e.mntns);
    if (set === undefined) {
      set = new SyscallSet();
      this.perNs.set(e.mntns, set);
    }
    set.add(e.arch, name);
    this.events++;
  }
}
