import { readdirSync } from "node:fs";
import { type ArchName, type PodContainerRef, syscallName } from "@secprof/core";
import { Lru } from "../attribution/lru.js";
import type { AttributionResolver } from "../attribution/resolver.js";
import type { BpfEvent } from "../sources/bpf/parse.js";
import type { ExecTracker } from "./exec-tracker.js";

export interface BpfSyscallStats {
  /** (namespace, syscall) facts handed to the recorder core. */
  delivered: number;
  /** Syscall numbers this build does not know for their ABI. */
  unknownSyscall: number;
  /** /proc scans for namespaces no exec taught us (containers started before the recorder). */
  scans: number;
  misses: {
    /** Namespaces of host services (not a container): their facts are dropped. */
    notContainer: number;
    /** Facts of namespaces whose container or pod stayed unknown for the whole TTL. */
    expired: number;
    /** Facts refused because too many namespaces were waiting. */
    overflow: number;
  };
  /** Gauges. */
  pendingNamespaces: number;
}

export interface BpfSyscallOptions {
  resolver: Pick<AttributionResolver<unknown>, "lookupMntns" | "lookupPid" | "learnMntns" | "reader">;
  tracker: ExecTracker;
  deliver: (pod: PodContainerRef, arch: ArchName, name: string) => void;
  /** Least time between two /proc scans (default 5000 ms). */
  scanIntervalMs?: number;
  /** Namespaces whose facts may wait for attribution (default 1024). */
  pendingNamespaces?: number;
  /** How long facts wait (default 120 s, as the resolver's backlog). */
  pendingTtlMs?: number;
  now?: () => number;
}

interface Pending {
  since: number;
  facts: Map<string, [ArchName, string]>;
}

/**
 * eBPF syscall aggregates (per mount namespace) → pod containers (recorder: Bpf).
 *
 * The kernel program reports a namespace, never a pid. Namespaces are learned from exec events
 * (the new process or its parent, resolved from /proc while alive) and, for containers that were
 * already running when the recorder started (no exec to see), by scanning /proc for a process in
 * the namespace. Facts of a namespace that is not known yet, or whose pod the index has not
 * reported, wait (bounded in namespaces and time) and are delivered once it is.
 */
export class BpfSyscallAttributor {
  readonly #o: Required<Omit<BpfSyscallOptions, "now">> & { now: () => number };
  readonly #pending = new Map<number, Pending>();
  /** Namespaces seen on host processes: their facts are dropped at once. */
  readonly #host = new Lru<number, true>(1024);
  readonly #waiters = new Set<() => void>();
  #lastScan = Number.NEGATIVE_INFINITY;
  readonly #s: Omit<BpfSyscallStats, "pendingNamespaces"> = {
    delivered: 0,
    unknownSyscall: 0,
    scans: 0,
    misses: { notContainer: 0, expired: 0, overflow: 0 },
  };

  constructor(opts: BpfSyscallOptions) {
    this.#o = {
      scanIntervalMs: 5000,
      pendingNamespaces: 1024,
      pendingTtlMs: 120_000,
      now: Date.now,
      ...opts,
    };
  }

  /** The BpftraceSource listener. */
  onEvent = (e: BpfEvent): void => {
    switch (e.type) {
      case "exec":
        // A namespace inode once seen on a host service may have been reused by a container.
        if (this.#o.tracker.onExec(e)) this.#host.delete(e.mntns);
        this.#retry(e.mntns);
        return;
      case "syscalls": {
        const name = syscallName(e.arch, e.nr);
        if (name === undefined) {
          this.#s.unknownSyscall++;
          return;
        }
        this.#take(e.mntns, e.arch, name);
        return;
      }
      case "snapshot":
        this.#afterSnapshot();
        return;
      case "tick":
        this.#o.tracker.onTick(e.monoNs);
        return;
    }
  };

  /**
   * Resolves after the next snapshot has been delivered (or after `timeoutMs`): everything the
   * kernel counted before this call is then handed over. A pod's end waits for it, so its last
   * syscalls are sent before the pod's `ended` observation.
   */
  nextSnapshot(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.#waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
    });
  }

  stats(): BpfSyscallStats {
    return { ...this.#s, misses: { ...this.#s.misses }, pendingNamespaces: this.#pending.size };
  }

  #take(mntns: number, arch: ArchName, name: string): void {
    if (this.#host.peek(mntns) !== undefined) {
      this.#s.misses.notContainer++;
      return;
    }
    const pod = this.#o.resolver.lookupMntns(mntns)?.pod;
    if (pod !== undefined) {
      this.#retry(mntns);
      this.#deliver(pod, arch, name);
      return;
    }
    let p = this.#pending.get(mntns);
    if (p === undefined) {
      if (this.#pending.size >= this.#o.pendingNamespaces) {
        this.#s.misses.overflow++;
        return;
      }
      p = { since: this.#o.now(), facts: new Map() };
      this.#pending.set(mntns, p);
    }
    p.facts.set(`${arch}/${name}`, [arch, name]);
  }

  #deliver(pod: PodContainerRef, arch: ArchName, name: string): void {
    this.#s.delivered++;
    this.#o.deliver(pod, arch, name);
  }

  /** Delivers a namespace's waiting facts if its pod is known now; true when none wait any more. */
  #retry(mntns: number): boolean {
    const p = this.#pending.get(mntns);
    if (p === undefined) return true;
    const pod = this.#o.resolver.lookupMntns(mntns)?.pod;
    if (pod === undefined) return false;
    this.#pending.delete(mntns);
    for (const [arch, name] of p.facts.values()) this.#deliver(pod, arch, name);
    return true;
  }

  #afterSnapshot(): void {
    let unknown = false;
    for (const mntns of [...this.#pending.keys()]) if (!this.#retry(mntns)) unknown = true;
    const now = this.#o.now();
    if (unknown && now - this.#lastScan >= this.#o.scanIntervalMs) {
      this.#lastScan = now;
      this.#scan();
      for (const mntns of [...this.#pending.keys()]) this.#retry(mntns);
    }
    for (const [mntns, p] of this.#pending) {
      if (now - p.since < this.#o.pendingTtlMs) continue;
      this.#s.misses.expired += p.facts.size;
      this.#pending.delete(mntns);
    }
    for (const w of [...this.#waiters]) w();
  }

  /** Resolves one live process of every waiting namespace the resolver has not learned. */
  #scan(): void {
    this.#s.scans++;
    const reader = this.#o.resolver.reader;
    let pids: string[];
    try {
      pids = readdirSync(reader.root);
    } catch {
      return;
    }
    const wanted = new Set<number>();
    for (const mntns of this.#pending.keys())
      if (this.#o.resolver.lookupMntns(mntns) === undefined) wanted.add(mntns);
    for (const name of pids) {
      if (wanted.size === 0) return;
      const pid = Number(name);
      if (!Number.isSafeInteger(pid) || pid <= 0) continue;
      const ns = reader.mntns(pid);
      if (!ns.ok || !wanted.has(ns.value)) continue;
      if (this.#o.resolver.learnMntns(pid, ns.value)) wanted.delete(ns.value);
      else if (this.#o.resolver.lookupPid(pid).kind === "not-container") {
        // A host service's private namespace (systemd PrivateTmp, …): not a container.
        wanted.delete(ns.value);
        this.#host.set(ns.value, true);
        const p = this.#pending.get(ns.value);
        this.#s.misses.notContainer += p?.facts.size ?? 0;
        this.#pending.delete(ns.value);
      }
    }
  }
}
