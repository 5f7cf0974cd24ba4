import {
  AppArmorFacts,
  type AppArmorFactsInput,
  type ArchName,
  avcTupleFromEvent,
  type HostFacts,
  type Observation,
  type ObservationQueue,
  type PodContainerRef,
  type PodFacts,
  type ProfileRecording,
  type RawEvent,
  type RecorderKind,
  type SendResult,
  type Target,
} from "@secprof/core";
import type { Attribution } from "../attribution/resolver.js";
import type { AppArmorFactKind, DeltaBatcher } from "../queue/delta-batcher.js";
import { type ContainerFacts, targetsFor } from "./targets.js";

/**
 * The fact an audit event carries, for holding events while attribution waits: two events that
 * differ only in when and by which pid they happened (a process's 100th `read`) add nothing new.
 */
export function auditFactKey(e: RawEvent): string {
  const { ts: _ts, auditId: _id, pid: _pid, ...fact } = e;
  return JSON.stringify(fact);
}

/** What the recorder needs from the cluster (the pod index and the recordings watcher). */
export interface ClusterView {
  recordings(namespace: string): ProfileRecording[];
  podFacts(namespace: string, pod: string): PodFacts | undefined;
  generateName(namespace: string, pod: string): string | undefined;
}

/** The queue, with batches: one flush's observations go out in as few jobs as possible. */
export interface RecorderQueue extends ObservationQueue {
  sendMany(obs: readonly Observation[]): Promise<SendResult[]>;
}

export interface RecorderCounters {
  /** Attributed events that no recording selected (the normal case for most containers). */
  unselected: number;
  /** Events whose container's pod facts were missing at selection time. */
  noPodFacts: number;
  facts: number;
}

/**
 * The recorder's pure-ish middle: attributed events → targets → set-deltas, and a flush that
 * sends at most one observation per target. Sources, attribution and the queue are injected, so
 * tests drive it with fakes and the daemon with the real adapters.
 */
export class RecorderCore {
  readonly counters: RecorderCounters = { unselected: 0, noPodFacts: 0, facts: 0 };

  constructor(
    private readonly node: string,
    private readonly cluster: ClusterView,
    private readonly batcher: DeltaBatcher,
    private readonly queue: RecorderQueue,
    private readonly host?: HostFacts,
  ) {}

  /** The sink the attribution resolver calls for audit-log events (recorder: Logs). */
  onAuditEvent = (event: RawEvent, a: Attribution): void => {
    for (const t of this.targets(a.pod, "Logs")) this.addFact(t, event);
  };

  /** eBPF syscalls aggregated per mount namespace (recorder: Bpf). */
  onBpfSyscall(pod: PodContainerRef, arch: ArchName, name: string): void {
    for (const t of this.targets(pod, "Bpf")) {
      if (t.kind !== "SeccompProfile") continue;
      this.batcher.addSyscall(t, arch, name);
      this.counters.facts++;
    }
  }

  /**
   * A container's cumulative AppArmor facts from eBPF (recorder: Bpf, kind AppArmorProfile); the
   * batcher sends only the new ones. `newlyLost`: facts the source could not keep since the last
   * call, counted as the target's truncation (its profile is marked incomplete).
   */
  /** Whether a Bpf recording of kind AppArmorProfile selects the container (not counted as a fact lookup). */
  wantsBpfAppArmor(pod: PodContainerRef): boolean {
    return this.targets(pod, "Bpf", false).some((t) => t.kind === "AppArmorProfile");
  }

  onBpfAppArmor(pod: PodContainerRef, facts: AppArmorFactsInput, newlyLost = 0): void {
    for (const t of this.targets(pod, "Bpf")) {
      if (t.kind !== "AppArmorProfile") continue;
      for (const kind of APPARMOR_KINDS)
        for (const v of facts[kind] ?? []) {
          this.batcher.addAppArmor(t, kind, v);
          this.counters.facts++;
        }
      if (newlyLost > 0) this.batcher.countTruncated(t, newlyLost);
    }
  }

  /**
   * A pod ended: each of its targets gets an `ended` observation so the merger writes the profile.
   * Facts still pending ride in that observation: in a job of their own they could be merged after
   * it (workers run jobs concurrently) and miss the profile. Targets with nothing pending get an
   * empty one; its job id (seq = now) is fixed once created, so redelivery is harmless, and differs
   * from any earlier pod of the same name.
   */
  async podEnded(pod: {
    namespace: string;
    name: string;
    uid: string;
    containers: readonly { name: string }[];
  }): Promise<void> {
    const ofPod = (t: Target) => t.namespace === pod.namespace && t.pod === pod.name && t.podUid === pod.uid;
    const others: Observation[] = [];
    const last: Observation[] = [];
    for (const obs of this.batcher.flush()) {
      if (ofPod(obs.target)) last.push({ ...obs, ended: true });
      else others.push(obs);
    }
    await this.sendAll(others);
    const done = new Set(
      (await this.sendAll(last)).map((obs) => `${obs.target.recording}/${obs.target.profileName}`),
    );
    const empty: Observation[] = [];
    const at = Date.now();
    for (const recorder of ["Logs", "Bpf"] as const) {
      for (const c of pod.containers) {
        const ref = {
          namespace: pod.namespace,
          pod: pod.name,
          podUid: pod.uid,
          container: c.name,
          containerId: "",
          kind: "regular" as const,
        };
        for (const target of this.targets(ref, recorder)) {
          if (done.has(`${target.recording}/${target.profileName}`)) continue;
          const obs: Observation = {
            v: 1,
            target,
            recorder: this.node,
            seq: at,
            at,
            delta: { syscalls: {}, avc: [] },
            loss: { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 },
            ended: true,
          };
          if (this.host !== undefined) obs.host = this.host;
          empty.push(obs);
        }
      }
    }
    if (empty.length > 0) await this.queue.sendMany(empty);
  }

  /** Sends what is new since the last flush; deltas that cannot be sent are kept for the next. */
  async flush(): Promise<number> {
    return (await this.sendAll(this.batcher.flush())).length;
  }

  /** Sends (or spools) in batch jobs; what cannot be sent goes back to the batcher. Returns what went. */
  private async sendAll(list: readonly Observation[]): Promise<Observation[]> {
    if (list.length === 0) return [];
    const results = await this.queue.sendMany(list);
    const sent: Observation[] = [];
    for (const [i, obs] of list.entries()) {
      const r = results[i];
      if (r !== undefined && (r.ok || r.reason === "spooled")) sent.push(obs);
      else this.batcher.requeue(obs);
    }
    return sent;
  }

  private targets(pod: PodContainerRef, recorder: RecorderKind, count = true): Target[] {
    const facts = this.cluster.podFacts(pod.namespace, pod.pod);
    if (facts === undefined) {
      if (count) this.counters.noPodFacts++;
      return [];
    }
    const c: ContainerFacts = {
      namespace: pod.namespace,
      pod: pod.pod,
      podUid: pod.podUid,
      container: pod.container,
      containerId: pod.containerId,
      facts,
    };
    const gen = this.cluster.generateName(pod.namespace, pod.pod);
    if (gen !== undefined) c.generateName = gen;
    const targets = targetsFor(c, this.cluster.recordings(pod.namespace), recorder, this.node);
    if (targets.length === 0 && count) this.counters.unselected++;
    return targets;
  }

  private addFact(t: Target, e: RawEvent): void {
    switch (e.kind) {
      case "syscall":
        if (t.kind !== "SeccompProfile") return;
        this.batcher.addSyscall(t, e.arch, e.name);
        break;
      case "avc": {
        if (t.kind !== "SelinuxProfile") return;
        // core's rule: USER_AVC and granted records are no evidence; a context without a type is dropped.
        let tuple: ReturnType<typeof avcTupleFromEvent>;
        try {
          tuple = avcTupleFromEvent(e);
        } catch {
          return;
        }
        if (tuple === undefined) return;
        this.batcher.addAvc(t, tuple);
        break;
      }
      default:
        return;
    }
    this.counters.facts++;
  }
}

/** Every AppArmor fact field, as the Observation schema lists them. */
const APPARMOR_KINDS: readonly AppArmorFactKind[] = AppArmorFacts.keyof().options;
