import { fileURLToPath } from "node:url";
import { Lru } from "../attribution/lru.js";
import type { AttributionResolver } from "../attribution/resolver.js";
import type { ExecEvent } from "../sources/bpf/parse.js";

/** CLOCK_MONOTONIC in ns, the clock of bpftrace's `nsecs` (libuv's hrtime reads the same clock). */
const monotonicNs = () => Number(process.hrtime.bigint());

/** exec-tracker.bt: one probe on sched_process_exec, printed in syscalls.bt's line format. */
export const EXEC_TRACKER_PROGRAM = fileURLToPath(new URL("./exec-tracker.bt", import.meta.url));

/**
 * Exec events are stamped when read, a few ms after the exec. An event of the process is never
 * older than its exec, so an entry stamped more than this after the event belongs to a later
 * process with the same pid. Linux allocates pids cyclically (pid_max is 4 194 304 on 64-bit),
 * so a pid coming back within this window would need millions of forks in it.
 */
const REUSE_TOLERANCE_MS = 1000;

export interface ExecTrackerStats {
  execs: number;
  /** Execs whose namespace's container became known through the new process or its parent. */
  learned: number;
  /** pids remembered (gauge). */
  size: number;
}

/**
 * Remembers pid → mount namespace for every exec on the node, so that the audit records of a
 * process that exited before the recorder read its /proc entry can still be attributed (Logs mode).
 *
 * Why this design: a SECCOMP audit record carries nothing per container (ses/auid are per login,
 * not per container) and no parent pid, and a /proc poller misses exactly the < 10 ms commands
 * that matter. The exec tracepoint sees every exec in the kernel, with the namespace it runs in,
 * however briefly the process lives. The event usually reaches us before auditd has written the
 * process's records, but under load bpftrace prints it later: the resolver then holds the records
 * (SECPROF_EXEC_WAIT_MS) until `learnMntns` names the pid's namespace. The namespace → container step is learned from live
 * processes: at each exec the new process, or else its parent (the shell or supervisor running the
 * short commands, which lives on), is resolved from /proc, which teaches the resolver the
 * namespace's container (`AttributionResolver.learnMntns`). The resolver then answers for the exited pid through its mntns fallback
 * (`via: "mntns"`); what is still unattributed counts as `exited` misses.
 */
export class ExecTracker {
  readonly #pids: Lru<number, { mntns: number; at: number }>;
  readonly #resolver: Pick<AttributionResolver<unknown>, "learnMntns">;
  readonly #now: () => number;
  readonly #monoNow: () => number;
  readonly #s = { execs: 0, learned: 0 };
  #watermark: number | undefined;

  constructor(opts: {
    resolver: Pick<AttributionResolver<unknown>, "learnMntns">;
    capacity?: number;
    now?: () => number;
    /** CLOCK_MONOTONIC, ns (tests). */
    monotonicNs?: () => number;
  }) {
    this.#resolver = opts.resolver;
    // Entries are needed only until auditd has written the process's records (seconds).
    this.#pids = new Lru(opts.capacity ?? 16_384);
    this.#now = opts.now ?? Date.now;
    this.#monoNow = opts.monotonicNs ?? monotonicNs;
  }

  /** Returns whether the exec's namespace is known (now) to be a container's. */
  onExec(e: ExecEvent): boolean {
    this.#s.execs++;
    this.#pids.set(e.pid, { mntns: e.mntns, at: this.#now() });
    const learned = this.#resolver.learnMntns(e.pid, e.mntns, e.ppid);
    if (learned) this.#s.learned++;
    return learned;
  }

  /**
   * The program reported that every exec up to monotonic time `monoNs` has been printed (a tick
   * line). Kept as wall-clock ms, the audit records' clock: now minus how long ago that was.
   */
  onTick(monoNs: number): void {
    const wall = this.#now() - (this.#monoNow() - monoNs) / 1e6;
    if (this.#watermark === undefined || wall > this.#watermark) this.#watermark = wall;
  }

  /**
   * Wall-clock ms up to which every exec on the node has reached us (undefined before the first
   * tick). A process whose audit record is older than this and whose exec we never saw did not
   * exec while we watched: its records need not wait for the tracker any longer.
   */
  watermark(): number | undefined {
    return this.#watermark;
  }

  /** The mount namespace `pid` exec'd into, if that exec preceded the event. */
  mntnsOf(pid: number, eventTimeMs: number | null): number | undefined {
    const e = this.#pids.peek(pid);
    if (e === undefined) return undefined;
    if (eventTimeMs !== null && e.at > eventTimeMs + REUSE_TOLERANCE_MS) return undefined;
    return e.mntns;
  }

  stats(): ExecTrackerStats {
    return { ...this.#s, size: this.#pids.size };
  }
}
