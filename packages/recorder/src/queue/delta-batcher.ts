/**
 * Per-target delta batching between the event sources and the observation queue.
 *
 * Sources call `addSyscall` / `addAvc` / `addAppArmor` for every fact they see; most are repeats. The
 * batcher keeps, per target, the facts already sent (a dedup cache) and the new ones waiting
 * (`pending`). `flush()`, called once per flush interval, emits at most one Observation per target,
 * only for targets with new facts or changed loss counters, so a quiet target costs nothing.
 *
 * Memory is bounded three ways, and every bound is either harmless or counted:
 * - the dedup cache of a target is cleared when it reaches `maxKnownPerTarget` (facts may then be
 *   sent again, which the merger's set union absorbs);
 * - pending facts beyond `maxPendingPerTarget` are dropped and counted in that target's
 *   `loss.truncated`, so its profile is marked incomplete;
 * - beyond `maxTargets`, the least recently active target with nothing pending is forgotten (only its
 *   dedup cache is lost); if every target has pending facts, facts of new targets are dropped and
 *   counted in `truncated` of every observation the batcher emits from then on (we cannot mark a
 *   target we cannot track, so all of them are marked).
 *
 * Facts that an Observation could never carry (over-long names or paths) are dropped at the door and
 * counted the same way. Emitted observations always pass the `Observation` schema.
 */
import type { ArchName, AvcTuple, HostFacts, LossCounters, Observation, Target } from "@secprof/core";
import type { z } from "zod";

type Avc = z.infer<typeof AvcTuple>;
export type AppArmorFactKind =
  | "executables"
  | "libraries"
  | "readPaths"
  | "writePaths"
  | "capabilities"
  | "network";
export type NetworkFamily = "tcp" | "udp" | "raw" | "unix";

/** Per-observation caps of the Observation v1 schema. */
export const OBSERVATION_LIMITS = {
  syscallsPerArch: 1024,
  avc: 10_000,
  apparmorPaths: 10_000,
  capabilities: 64,
  network: 8,
  syscallNameLength: 64,
  pathLength: 4096,
  capabilityLength: 32,
  avcTypeLength: 256,
  avcClassLength: 64,
  avcPerms: 64,
} as const;

const NETWORK: ReadonlySet<string> = new Set<NetworkFamily>(["tcp", "udp", "raw", "unix"]);

export interface DeltaBatcherOptions {
  /** The recorder's name (its node), sent in every observation. */
  recorder: string;
  /** The node's kernel and arch, sent in every observation (bundle manifests show them). */
  host?: HostFacts;
  /** Targets tracked at once (default 1024). */
  maxTargets?: number;
  /** Facts already sent that a target remembers to avoid resending (default 20 000). */
  maxKnownPerTarget?: number;
  /** New facts a target may hold between flushes (default 20 000); more are dropped and counted. */
  maxPendingPerTarget?: number;
  /** Clock for `at` and `seq` (default `Date.now`). */
  now?: () => number;
}

export interface DeltaBatcherStats {
  targets: number;
  pendingFacts: number;
  knownFacts: number;
  /** Facts dropped because a target's pending set was full or the fact was too large to send. */
  droppedFacts: number;
  /** Facts of targets that could not be tracked (all `maxTargets` slots busy with pending facts). */
  untrackedFacts: number;
  /** Targets forgotten to make room (only their dedup cache was lost). */
  evictedTargets: number;
  /** Dedup caches cleared at `maxKnownPerTarget`. */
  knownResets: number;
  emitted: number;
}

interface Slot {
  target: Target;
  /** Encoded facts (see `encode*`) already handed to `flush()` callers. */
  known: Set<string>;
  /** Encoded new facts, in arrival order. */
  pending: Set<string>;
  /** Cumulative count of this target's own dropped facts. */
  truncated: number;
  lastSeq: number;
  /** The loss counters of the last emitted observation, to detect changes. */
  sentLoss: LossCounters | undefined;
}

const ZERO: LossCounters = { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 };

/*
 * Facts are encoded as one string each so that dedup is a Set lookup. The first character tells the
 * kind; the rest cannot be confused across kinds.
 *   s<arch>/<name>   syscall
 *   a<json>          AVC tuple (canonical JSON: fixed key order, perms sorted and deduplicated)
 *   x|l|r|w|c|n<value> AppArmor executable, library (mapped executable), read path, write path,
 *                    capability, network family
 */
const AA_CODE: Readonly<Record<AppArmorFactKind, string>> = {
  executables: "x",
  libraries: "l",
  readPaths: "r",
  writePaths: "w",
  capabilities: "c",
  network: "n",
};

/** The canonical form of an AVC tuple: fixed key order, permissions sorted and deduplicated. */
export function canonicalAvc(t: Avc): Avc {
  return {
    scontextType: t.scontextType,
    tcontextType: t.tcontextType,
    tclass: t.tclass,
    perms: [...new Set(t.perms)].sort(),
  };
}

export const targetKey = (t: Pick<Target, "namespace" | "recording" | "profileName">): string =>
  `${t.namespace}/${t.recording}/${t.profileName}`;

export class DeltaBatcher {
  private readonly slots = new Map<string, Slot>();
  private readonly recorder: string;
  private readonly host: HostFacts | undefined;
  private readonly maxTargets: number;
  private readonly maxKnown: number;
  private readonly maxPending: number;
  private readonly now: () => number;
  private globalLoss: LossCounters = { ...ZERO };
  /** Facts lost for targets we could not track; added to every target's `truncated`. */
  private untracked = 0;
  private droppedFacts = 0;
  private evictedTargets = 0;
  private knownResets = 0;
  private emitted = 0;

  constructor(opts: DeltaBatcherOptions) {
    this.recorder = opts.recorder;
    this.host = opts.host;
    this.maxTargets = opts.maxTargets ?? 1024;
    this.maxKnown = opts.maxKnownPerTarget ?? 20_000;
    this.maxPending = opts.maxPendingPerTarget ?? 20_000;
    this.now = opts.now ?? Date.now;
    if (this.maxTargets < 1 || this.maxKnown < 1 || this.maxPending < 1)
      throw new RangeError("limits must be ≥ 1");
  }

  addSyscall(target: Target, arch: ArchName, name: string): void {
    if (name.length === 0 || name.length > OBSERVATION_LIMITS.syscallNameLength)
      return this.dropAtDoor(target);
    this.add(target, `s${arch}/${name}`);
  }

  addAvc(target: Target, tuple: Avc): void {
    const L = OBSERVATION_LIMITS;
    const ok =
      tuple.scontextType.length > 0 &&
      tuple.scontextType.length <= L.avcTypeLength &&
      tuple.tcontextType.length > 0 &&
      tuple.tcontextType.length <= L.avcTypeLength &&
      tuple.tclass.length > 0 &&
      tuple.tclass.length <= L.avcClassLength &&
      tuple.perms.every((p) => p.length > 0 && p.length <= L.avcClassLength);
    const c = canonicalAvc(tuple);
    if (!ok || c.perms.length > L.avcPerms) return this.dropAtDoor(target);
    this.add(target, `a${JSON.stringify(c)}`);
  }

  addAppArmor(target: Target, kind: AppArmorFactKind, value: string): void {
    const L = OBSERVATION_LIMITS;
    const ok =
      kind === "network"
        ? NETWORK.has(value)
        : kind === "capabilities"
          ? value.length <= L.capabilityLength
          : value.length <= L.pathLength;
    if (!ok) return this.dropAtDoor(target);
    this.add(target, `${AA_CODE[kind]}${value}`);
  }

  /** `n` facts of the target were lost at its source: counted in its `truncated`. */
  countTruncated(target: Target, n: number): void {
    const slot = this.slotFor(target);
    if (slot === undefined) this.untracked += n;
    else slot.truncated += n;
  }

  /**
   * The recorder's cumulative loss counters (kernel `lost`, parser drops, attribution misses, …).
   * Values only ever grow; a smaller value than seen before is ignored. A change makes every target
   * emit on the next flush so that its profile is marked incomplete.
   */
  reportLoss(counters: Partial<LossCounters>): void {
    const g = this.globalLoss;
    this.globalLoss = {
      kernelLost: Math.max(g.kernelLost, counters.kernelLost ?? 0),
      parserDropped: Math.max(g.parserDropped, counters.parserDropped ?? 0),
      attributionMisses: Math.max(g.attributionMisses, counters.attributionMisses ?? 0),
      truncated: Math.max(g.truncated, counters.truncated ?? 0),
    };
  }

  /** At most one observation per target: its new facts (up to the schema's caps) and loss counters. */
  flush(): Observation[] {
    const out: Observation[] = [];
    const at = this.now();
    for (const slot of this.slots.values()) {
      const loss = this.lossOf(slot);
      if (slot.pending.size === 0 && slot.sentLoss !== undefined && sameLoss(slot.sentLoss, loss)) continue;
      const delta = this.take(slot);
      slot.lastSeq = Math.max(slot.lastSeq + 1, at);
      slot.sentLoss = loss;
      const obs: Observation = {
        v: 1,
        target: slot.target,
        recorder: this.recorder,
        seq: slot.lastSeq,
        at,
        delta,
        loss,
      };
      if (this.host !== undefined) obs.host = this.host;
      out.push(obs);
    }
    this.emitted += out.length;
    return out;
  }

  /**
   * Gives back the facts of an observation that could not be sent (e.g. `spool_full`): they become
   * pending again and go out with the next flush. Facts beyond the pending bound are counted.
   */
  requeue(obs: Observation): void {
    const slot = this.slots.get(targetKey(obs.target)) ?? this.slotFor(obs.target);
    if (slot === undefined) {
      this.untracked += countFacts(obs);
      return;
    }
    slot.sentLoss = undefined;
    const back = (fact: string) => {
      slot.known.delete(fact);
      if (slot.pending.has(fact)) return;
      if (slot.pending.size >= this.maxPending) {
        slot.truncated++;
        this.droppedFacts++;
        return;
      }
      slot.pending.add(fact);
    };
    for (const [arch, names] of Object.entries(obs.delta.syscalls))
      for (const n of names ?? []) back(`s${arch}/${n}`);
    for (const t of obs.delta.avc) back(`a${JSON.stringify(canonicalAvc(t))}`);
    const aa = obs.delta.apparmor;
    if (aa !== undefined)
      for (const kind of Object.keys(AA_CODE) as AppArmorFactKind[])
        for (const v of aa[kind] ?? []) back(`${AA_CODE[kind]}${v}`);
  }

  /** Forget a target (its container is gone and its last flush was sent). */
  forget(target: Pick<Target, "namespace" | "recording" | "profileName">): void {
    this.slots.delete(targetKey(target));
  }

  stats(): DeltaBatcherStats {
    let pendingFacts = 0;
    let knownFacts = 0;
    for (const s of this.slots.values()) {
      pendingFacts += s.pending.size;
      knownFacts += s.known.size;
    }
    return {
      targets: this.slots.size,
      pendingFacts,
      knownFacts,
      droppedFacts: this.droppedFacts,
      untrackedFacts: this.untracked,
      evictedTargets: this.evictedTargets,
      knownResets: this.knownResets,
      emitted: this.emitted,
    };
  }

  private lossOf(slot: Slot): LossCounters {
    const g = this.globalLoss;
    return { ...g, truncated: g.truncated + slot.truncated + this.untracked };
  }

  private add(target: Target, fact: string): void {
    const slot = this.slotFor(target);
    if (slot === undefined) {
      this.untracked++;
      return;
    }
    if (slot.known.has(fact) || slot.pending.has(fact)) return;
    if (slot.pending.size >= this.maxPending) {
      slot.truncated++;
      this.droppedFacts++;
      return;
    }
    slot.pending.add(fact);
  }

  private dropAtDoor(target: Target): void {
    const slot = this.slotFor(target);
    if (slot === undefined) this.untracked++;
    else slot.truncated++;
    this.droppedFacts++;
  }

  /** The target's slot, most recently used last; undefined when no slot can be made. */
  private slotFor(target: Target): Slot | undefined {
    const key = targetKey(target);
    const existing = this.slots.get(key);
    if (existing !== undefined) {
      existing.target = target;
      // Move to the end: the Map's order is the LRU order.
      this.slots.delete(key);
      this.slots.set(key, existing);
      return existing;
    }
    if (this.slots.size >= this.maxTargets && !this.evictOne()) return undefined;
    const slot: Slot = {
      target,
      known: new Set(),
      pending: new Set(),
      truncated: 0,
      lastSeq: -1,
      sentLoss: undefined,
    };
    this.slots.set(key, slot);
    return slot;
  }

  /** Forgets the least recently used target whose state is fully sent. */
  private evictOne(): boolean {
    for (const [key, s] of this.slots) {
      if (s.pending.size > 0 || s.sentLoss === undefined || !sameLoss(s.sentLoss, this.lossOf(s))) continue;
      if (s.truncated > 0) continue; // its own drop count would restart at 0; keep it
      this.slots.delete(key);
      this.evictedTargets++;
      return true;
    }
    return false;
  }

  /** Moves up to one observation's worth of pending facts to `known` and returns them as a delta. */
  private take(slot: Slot): Observation["delta"] {
    const L = OBSERVATION_LIMITS;
    const syscalls: Partial<Record<ArchName, string[]>> = {};
    const avc: Avc[] = [];
    const aa: { [K in AppArmorFactKind]: NonNullable<NonNullable<Observation["delta"]["apparmor"]>[K]> } = {
      executables: [],
      libraries: [],
      readPaths: [],
      writePaths: [],
      capabilities: [],
      network: [],
    };
    let hasAa = false;
    const taken: string[] = [];
    for (const fact of slot.pending) {
      const code = fact.charCodeAt(0);
      const rest = fact.slice(1);
      if (code === 0x73 /* s */) {
        const slash = rest.indexOf("/");
        const arch = rest.slice(0, slash) as ArchName;
        let list = syscalls[arch];
        if (list === undefined) {
          list = [];
          syscalls[arch] = list;
        }
        if (list.length >= L.syscallsPerArch) continue;
        list.push(rest.slice(slash + 1));
      } else if (code === 0x61 /* a */) {
        if (avc.length >= L.avc) continue;
        avc.push(JSON.parse(rest) as Avc);
      } else {
        const kind = AA_KIND[fact[0] ?? ""];
        if (kind === undefined) continue;
        const list: string[] = aa[kind];
        const cap =
          kind === "capabilities" ? L.capabilities : kind === "network" ? L.network : L.apparmorPaths;
        if (list.length >= cap) continue;
        if (kind === "network") aa.network.push(rest as NetworkFamily);
        else list.push(rest);
        hasAa = true;
      }
      taken.push(fact);
    }
    if (slot.known.size + taken.length > this.maxKnown) {
      slot.known.clear();
      this.knownResets++;
    }
    for (const fact of taken) {
      slot.pending.delete(fact);
      if (slot.known.size < this.maxKnown) slot.known.add(fact);
    }
    for (const list of Object.values(syscalls)) list?.sort();
    for (const list of Object.values(aa)) list?.sort();
    avc.sort((a, b) => cmp(JSON.stringify(a), JSON.stringify(b)));
    return hasAa ? { syscalls, avc, apparmor: aa } : { syscalls, avc };
  }
}

const AA_KIND: Readonly<Record<string, AppArmorFactKind>> = Object.fromEntries(
  Object.entries(AA_CODE).map(([k, v]) => [v, k as AppArmorFactKind]),
);

function sameLoss(a: LossCounters, b: LossCounters): boolean {
  return (
    a.kernelLost === b.kernelLost &&
    a.parserDropped === b.parserDropped &&
    a.attributionMisses === b.attributionMisses &&
    a.truncated === b.truncated
  );
}

function countFacts(obs: Observation): number {
  let n = obs.delta.avc.length;
  for (const names of Object.values(obs.delta.syscalls)) n += names?.length ?? 0;
  const aa = obs.delta.apparmor;
  if (aa !== undefined)
    for (const kind of Object.keys(AA_CODE) as AppArmorFactKind[]) n += aa[kind]?.length ?? 0;
  return n;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
