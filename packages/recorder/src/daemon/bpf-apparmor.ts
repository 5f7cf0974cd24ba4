import type { AppArmorFactsInput, AppArmorLoss, PodContainerRef } from "@secprof/core";
import type { AttributionResolver } from "../attribution/resolver.js";
import type { AppArmorExecLine } from "../sources/bpf/apparmor-parse.js";
import type { ExecTracker } from "./exec-tracker.js";

/** What the attributor needs of `AppArmorBpfSource` (a fake in unit tests). */
export interface AppArmorFactsView {
  namespaces(): number[];
  facts(nsId: number): AppArmorFactsInput;
  loss(nsId: number): AppArmorLoss;
  forget(nsId: number): void;
}

export interface BpfAppArmorStats {
  /** Namespaces whose facts went to a pod container. */
  attributed: number;
  /** Namespaces of host services (not a container), forgotten at once. */
  notContainer: number;
  /** Namespaces with facts but no exec seen yet, or whose pod the index has not reported (gauge). */
  waiting: number;
  /** Namespaces forgotten because their pod ended. */
  forgotten: number;
}

export interface BpfAppArmorOptions {
  resolver: Pick<AttributionResolver<unknown>, "lookupMntns" | "lookupPid">;
  /** Learns mount namespace → container from the same exec events (shared with the syscall recorder). */
  tracker: Pick<ExecTracker, "onExec">;
  /**
   * A namespace's cumulative facts, and how many more facts it lost since the last call (the
   * batcher sends only what is new, so handing over everything again is cheap and idempotent).
   */
  deliver: (pod: PodContainerRef, facts: AppArmorFactsInput, newlyLost: number) => void;
  /**
   * Whether any recording wants the container's facts now (default: all). Others are not copied
   * out of the table on each collect; they stay there (bounded per namespace) in case a recording
   * selects the container later, and are freed when its pod ends.
   */
  wants?: (pod: PodContainerRef) => boolean;
}

/**
 * AppArmor facts (per mount namespace, keyed by the kernel's never-reused ns_id) → pod containers
 * (recorder: Bpf, kind AppArmorProfile).
 *
 * The source's exec events name each ns_id's inode; the inode's container comes from the
 * resolver (learned from the exec'ing process or its parent, as for the syscall recorder). A
 * namespace is bound to the first pod container it resolves to and keeps it: inodes are reused
 * once a namespace is gone, ns_ids are not, so a later container on the same inode never
 * inherits an earlier one's facts. Namespaces of host services are forgotten at their first exec,
 * and a namespace is forgotten when its pod ends (`podEnded`), so the fact table only holds
 * running containers.
 */
export class BpfAppArmorAttributor {
  readonly #o: BpfAppArmorOptions;
  #source: AppArmorFactsView;
  /** ns_id → mount namespace inode (from exec events). */
  readonly #inode = new Map<number, number>();
  /** ns_id → its pod container, once resolved. */
  readonly #pod = new Map<number, PodContainerRef>();
  /** ns_id → facts lost already reported. */
  readonly #lost = new Map<number, number>();
  /** ns_ids whose facts are never wanted: host services, and namespaces of ended pods. */
  readonly #ignored = new Set<number>();
  readonly #s = { attributed: 0, notContainer: 0, forgotten: 0 };

  constructor(source: AppArmorFactsView, opts: BpfAppArmorOptions) {
    this.#source = source;
    this.#o = opts;
  }

  /** The AppArmorBpfSource exec listener. */
  onExec = (e: AppArmorExecLine): void => {
    if (this.#ignored.has(e.nsId)) return;
    this.#inode.set(e.nsId, e.mntns);
    const learned = this.#o.tracker.onExec({
      type: "exec",
      pid: e.pid,
      ppid: e.ppid,
      mntns: e.mntns,
      comm: e.comm,
      filename: e.filename,
    });
    if (learned || this.#pod.has(e.nsId) || this.#o.resolver.lookupMntns(e.mntns) !== undefined) return;
    if (this.#o.resolver.lookupPid(e.pid).kind === "not-container") {
      // A host service's private namespace (systemd PrivateTmp, …): never a container's.
      this.#ignored.add(e.nsId);
      this.#inode.delete(e.nsId);
      this.#source.forget(e.nsId);
      this.#s.notContainer++;
    }
  };

  /** Hands every attributed namespace's facts to `deliver` (call once per flush). */
  collect(): void {
    for (const nsId of this.#source.namespaces()) {
      const pod = this.#podOf(nsId);
      if (pod === undefined || this.#o.wants?.(pod) === false) continue;
      const l = this.#source.loss(nsId);
      const lost = l.truncated + l.droppedNamespaceEvents;
      const before = this.#lost.get(nsId) ?? 0;
      this.#lost.set(nsId, lost);
      this.#o.deliver(pod, this.#source.facts(nsId), Math.max(0, lost - before));
    }
  }

  /**
   * A new source replaced the old one (restarted to free full kernel maps): ns_ids and their pods
   * stay valid; the namespaces already ignored are forgotten in the new source's table too.
   */
  rebind(source: AppArmorFactsView): void {
    this.#source = source;
    this.#lost.clear();
    for (const nsId of this.#ignored) source.forget(nsId);
  }

  /** The pod ended: its namespaces' facts were collected; free them (their keys stay ignored). */
  podEnded(pod: { namespace: string; name: string; uid: string }): void {
    for (const [nsId, p] of this.#pod) {
      if (p.namespace !== pod.namespace || p.pod !== pod.name || p.podUid !== pod.uid) continue;
      this.#source.forget(nsId);
      this.#pod.delete(nsId);
      this.#inode.delete(nsId);
      this.#lost.delete(nsId);
      this.#ignored.add(nsId);
      this.#s.forgotten++;
    }
  }

  stats(): BpfAppArmorStats {
    let waiting = 0;
    for (const nsId of this.#source.namespaces())
      if (!this.#pod.has(nsId) && !this.#ignored.has(nsId)) waiting++;
    return { ...this.#s, waiting };
  }

  #podOf(nsId: number): PodContainerRef | undefined {
    const known = this.#pod.get(nsId);
    if (known !== undefined) return known;
    const inode = this.#inode.get(nsId);
    if (inode === undefined) return undefined;
    const pod = this.#o.resolver.lookupMntns(inode)?.pod;
    if (pod === undefined) return undefined;
    this.#pod.set(nsId, pod);
    this.#s.attributed++;
    return pod;
  }
}

/** What the daemon needs of `AppArmorBpfSource`. */
export interface AppArmorSourceLike extends AppArmorFactsView {
  start(): Promise<{ ok: true; ms: number } | { ok: false; problem: string; stderr: string }>;
  stop(): Promise<unknown>;
  onExec(listener: (e: AppArmorExecLine) => void): () => void;
  readonly stats: { snapshots: number; mapFullSnapshots: number; kernelLost: number; linesRead: number };
}

export interface NodeAppArmorOptions extends BpfAppArmorOptions {
  /**
   * Makes a source; `restarted` is true for the replacement of a source whose kernel maps filled
   * up (its facts count from the start, not from each process's exec: the running processes' execs
   * were before it, and they are what must keep being recorded).
   */
  create: (restarted: boolean) => AppArmorSourceLike;
  onWarning: (message: string) => void;
}

/**
 * The AppArmor eBPF recorder of the node daemon: one `AppArmorBpfSource` and its attributor.
 * The kernel maps are never cleared, so when a snapshot reports a full map the source is replaced
 * by a fresh one after its facts were collected (facts the full map refused are counted by the
 * source as loss and mark the profiles incomplete).
 */
export class NodeAppArmorRecorder {
  readonly #o: NodeAppArmorOptions;
  #source: AppArmorSourceLike;
  readonly attributor: BpfAppArmorAttributor;
  #restarting: Promise<void> | undefined;
  #restarts = 0;
  #stopped = false;

  constructor(opts: NodeAppArmorOptions) {
    this.#o = opts;
    this.#source = opts.create(false);
    this.attributor = new BpfAppArmorAttributor(this.#source, opts);
    this.#source.onExec(this.attributor.onExec);
  }

  start(): ReturnType<AppArmorSourceLike["start"]> {
    return this.#source.start();
  }

  /** Collects every attributed namespace's facts; replaces the source if a kernel map is full. */
  collect(): void {
    this.attributor.collect();
    if (this.#stopped) return;
    if (this.#source.stats.mapFullSnapshots > 0 && this.#restarting === undefined)
      this.#restarting = this.#restart().finally(() => {
        this.#restarting = undefined;
      });
  }

  /**
   * A pod ended: waits (bounded) for two more snapshots so that what its containers did last is
   * read, collects, then frees the pod's namespaces (their facts are then in the batcher).
   */
  async podEnded(pod: { namespace: string; name: string; uid: string }, timeoutMs: number): Promise<void> {
    const want = this.#source.stats.snapshots + 2;
    const deadline = Date.now() + timeoutMs;
    while (this.#source.stats.snapshots < want && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    this.attributor.collect();
    this.attributor.podEnded(pod);
  }

  stats(): Record<string, number> {
    const s = this.#source.stats;
    return {
      ...this.attributor.stats(),
      snapshots: s.snapshots,
      map_full_snapshots: s.mapFullSnapshots,
      kernel_lost: s.kernelLost,
      lines: s.linesRead,
      restarts: this.#restarts,
    };
  }

  /** Stops the source (after a restart in progress); a `collect` after this reads its final facts. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#restarting;
    await this.#source.stop();
  }

  async #restart(): Promise<void> {
    const next = this.#o.create(true);
    next.onExec(this.attributor.onExec);
    const started = await next.start();
    if (this.#stopped) {
      await next.stop();
      return;
    }
    if (!started.ok) {
      this.#o.onWarning(`AppArmor source restart failed (the full one keeps running): ${started.problem}`);
      await next.stop();
      return;
    }
    // What the old source read while the new one attached (seconds), then switch.
    this.attributor.collect();
    const old = this.#source;
    this.#source = next;
    this.attributor.rebind(next);
    this.#restarts++;
    await old.stop();
    this.#o.onWarning("AppArmor source restarted: a kernel map was full");
  }
}
