import {
  type CgroupContainer,
  type ContainerRuntime,
  classifyProcCgroup,
  type PodContainerRef,
  type PodIndex,
  type PodIndexChange,
} from "@secprof/core";
import { Lru } from "./lru.js";
import { ProcReader } from "./proc-reader.js";

/**
 * pid → container → pod (SPO §2.3–2.5, §3.4), for audit events (which carry a pid and a time)
 * and eBPF events (which carry a pid and a mount namespace).
 *
 * - pid → container from `/proc/<pid>/cgroup`, cached per pid and valid only for the start time
 *   (stat field 22) it was resolved at, so a reused pid is always re-resolved. The stat file is
 *   read again after the cgroup file: if the start time changed in between, the pid was reused
 *   mid-lookup and the lookup starts over.
 * - With the event's time, a pid whose current process started after the event is not blamed
 *   for it (pid reused since); and a process that has exited is still credited with events from
 *   before our last sighting of it alive (it provably held the pid then). Everything else about
 *   an exited process is a counted miss.
 * - mntns → container is learned from resolved pids and answers for eBPF events whose pid is gone.
 *   Mount namespaces seen on host processes are never learned (runc's first init process sits in
 *   the container cgroup while still in the host mount namespace).
 * - container → pod through the `PodIndex` port. Events of a container the index does not know
 *   yet wait in a bounded per-process backlog and are replayed, in order, when the index reports
 *   the container (or when a later event of the same process finds it).
 * - Events of a process that exited before lookup, whose namespace is not known yet, wait briefly
 *   (bounded, `exitedWaitMs`) in the same kind of backlog, keyed by pid: the exec tracker's event
 *   for a short-lived process often arrives after its audit records (bpftrace prints late under
 *   load). When `learnMntns` names the pid's namespace, or the namespace's container is learned,
 *   they are replayed in order (or move to the pod backlog); on expiry they are `exited` misses.
 *   They expire once the exec tracker's watermark (`execWatermark`) is past their time — the
 *   exec, if it happened while the tracker watched, would have arrived — or, when the tracker is
 *   behind or silent, after `exitedWaitMs`.
 * - Held events are kept once per fact (`factKey`): the sink needs each fact of a process once, and
 *   a process's 200th syscall (redis-cli's connect) must not be refused by the per-process bound
 *   because the 128 before it were the same few calls.
 */

export interface Attribution {
  containerId: string;
  runtime: ContainerRuntime;
  pod: PodContainerRef;
  /** Pod uid from the cgroup path, when the path had one (cross-checks the index). */
  cgroupPodUid?: string;
  mntns?: number;
  /** `pid`: live process; `pid-history`: exited, last sighting covers the event; `mntns`: eBPF fallback. */
  via: "pid" | "pid-history" | "mntns";
}

export type SubmitOutcome =
  | "attributed"
  | "backlogged"
  | "waiting"
  | "exited"
  | "not-container"
  | "backlog-full"
  | "unreadable";

export interface AttributionMisses {
  /** The process was gone (or its pid reused) before lookup and nothing else could attribute it. */
  exited: number;
  /** Host processes and container monitors (conmon). */
  notContainer: number;
  /** Backlogged events dropped because the pod index never reported their container in time. */
  podUnknown: number;
  /** Events refused by a full per-process backlog or evicted when the process table was full. */
  backlogFull: number;
  /** procfs said no (EACCES without CAP_SYS_PTRACE, malformed text, invalid pid). */
  unreadable: number;
}

/**
 * Monotonic counters (and a few gauges) for the recorder's metrics. Every submitted event ends
 * up in exactly one of: attributed, replayed, coalesced, a miss, or (still) the backlog.
 */
export interface AttributionStats {
  events: number;
  attributed: number;
  replayed: number;
  backlogged: number;
  misses: AttributionMisses;
  lookups: number;
  cacheHits: number;
  cacheMisses: number;
  /** Lookups that found a process which started after the event: its pid was reused. */
  pidReused: number;
  viaHistory: number;
  viaMntns: number;
  mntnsLearned: number;
  /** A namespace inode learned for one container was later seen in another (inode reuse). */
  mntnsRemapped: number;
  /** A namespace learned for a container was later seen on a host process, and dropped. */
  mntnsHostConflicts: number;
  sinkErrors: number;
  /** Events of exited processes held for the exec tracker (replayed later, or `exited` misses). */
  waited: number;
  /** Held events not kept because the same process already had one with the same fact held. */
  coalesced: number;
  /** Gauges. Backlog figures include the events waiting for the exec tracker (`waitingEvents`). */
  backlogKeys: number;
  backlogEvents: number;
  waitingEvents: number;
  cacheSize: number;
  mntnsSize: number;
}

export type PidLookup =
  | { kind: "container"; container: CgroupContainer; mntns?: number; key: string; via: "pid" | "pid-history" }
  | { kind: "not-container"; monitor: boolean }
  | { kind: "exited"; pidReused: boolean }
  | { kind: "unreadable"; detail: string };

export interface ResolverOptions<E> {
  podIndex: PodIndex;
  /** Receives every attributed event, immediately or on replay from the backlog (in order per process). */
  onAttributed: (event: E, attribution: Attribution) => void;
  /** Errors thrown by `onAttributed` for replayed events (for the event being submitted, `submit` throws). */
  onError?: (err: unknown) => void;
  /** procfs root (default `/proc`). Ignored when `reader` is given. */
  procRoot?: string;
  reader?: ProcReader;
  /** Processes kept in the pid cache (default 4096). */
  cacheSize?: number;
  /** How long a "not a container" answer is trusted (default 2000 ms; runc init joins the cgroup after start). */
  negativeTtlMs?: number;
  /** Mount namespaces remembered (default 8192, the BPF map size in SPO). */
  mntnsCapacity?: number;
  /** Events held per process while its pod is unknown (default 128, as SPO). */
  backlogPerPid?: number;
  /** Processes with held events (default 1000, as SPO). */
  backlogPids?: number;
  /** How long held events wait for the pod index (default 120 s). */
  backlogTtlMs?: number;
  /**
   * Longest wait of an exited process's events for `learnMntns` (the exec tracker) to name its
   * namespace, or for that namespace's container to be learned (default 3000 ms; 0 = no wait).
   */
  exitedWaitMs?: number;
  /**
   * Wall-clock ms up to which the exec tracker has delivered every exec (see ExecTracker). Events
   * still waiting for their exec when it is past their time (plus a margin) stop waiting at once.
   */
  execWatermark?: () => number | undefined;
  /** The fact an event carries: held events of one process are kept once per key. */
  factKey?: (event: E) => string;
  /** Exited processes with waiting events (default 256; the oldest is dropped, as `backlogFull`). */
  exitedWaitPids?: number;
  /** USER_HZ (default 100 on every mainstream architecture). */
  clockTicksPerSecond?: number;
  /**
   * Tolerance when comparing an event time with a process start time (default 50 ms: stat counts
   * in 10 ms ticks, /proc/uptime in 10 ms). Linux allocates pids cyclically, so a pid recurring
   * within this window would need pid_max forks in it.
   */
  timeToleranceMs?: number;
  now?: () => number;
}

interface Identity {
  pid: number;
  start: number;
  container: CgroupContainer | undefined;
  monitor: boolean;
  mntns: number | undefined;
  resolvedAt: number;
  /** Wall clock (ms) of the last read that found this process alive. */
  lastSeen: number;
}

interface MntnsEntry {
  container: CgroupContainer;
  key: string;
}

/** Events held for one process; `facts`: the keys of those events (with `factKey`). */
interface Held<E> {
  events: E[];
  facts: Set<string> | undefined;
  since: number;
}

interface BacklogEntry<E> extends Held<E> {
  key: string;
  container: CgroupContainer;
  mntns: number | undefined;
  via: Attribution["via"];
}

/** Events of an exited process waiting for its namespace (or that namespace's container). */
interface WaitEntry<E> extends Held<E> {
  pid: number;
  mntns: number | undefined;
  /** Wall-clock ms of the newest event held (its audit time, else when it was held). */
  latest: number;
}

const BOOT_CLOCK_REFRESH_MS = 10_000;
/**
 * How far the exec tracker's watermark must be past an event before its exec is given up: the
 * tracker's per-CPU buffers are read in turn, so an exec line can trail a later tick a little.
 */
const WATERMARK_MARGIN_MS = 500;
const HOST_MNTNS_CAPACITY = 256;

export class AttributionResolver<E> {
  readonly reader: ProcReader;
  readonly #index: PodIndex;
  readonly #sink: (event: E, a: Attribution) => void;
  readonly #onError: ((err: unknown) => void) | undefined;
  readonly #now: () => number;
  readonly #hz: number;
  readonly #tolerance: number;
  readonly #negativeTtl: number;
  readonly #perPid: number;
  readonly #maxPids: number;
  readonly #backlogTtl: number;
  readonly #waitTtl: number;
  readonly #maxWaitPids: number;
  readonly #watermark: (() => number | undefined) | undefined;
  readonly #factKey: ((event: E) => string) | undefined;

  readonly #cache: Lru<number, Identity>;
  readonly #mntns: Lru<number, MntnsEntry>;
  readonly #hostMntns: Lru<number, true>;
  /** pid 1's and this process's namespaces: the host's for sure, whatever runs in them later. */
  readonly #ownMntns = new Set<number>();
  readonly #backlog = new Map<string, BacklogEntry<E>>();
  readonly #backlogByContainer = new Map<string, Set<string>>();
  /** Insertion order = age order. */
  readonly #waiting = new Map<number, WaitEntry<E>>();
  readonly #waitingByMntns = new Map<number, Set<number>>();
  readonly #unsubscribe: () => void;
  #bootWall: { at: number; value: number | undefined } | undefined;
  #lastSweep = 0;
  #closed = false;

  readonly #s: Omit<
    AttributionStats,
    "backlogKeys" | "backlogEvents" | "waitingEvents" | "cacheSize" | "mntnsSize"
  > = {
    events: 0,
    attributed: 0,
    replayed: 0,
    backlogged: 0,
    misses: { exited: 0, notContainer: 0, podUnknown: 0, backlogFull: 0, unreadable: 0 },
    lookups: 0,
    cacheHits: 0,
    cacheMisses: 0,
    pidReused: 0,
    viaHistory: 0,
    viaMntns: 0,
    mntnsLearned: 0,
    mntnsRemapped: 0,
    mntnsHostConflicts: 0,
    sinkErrors: 0,
    waited: 0,
    coalesced: 0,
  };

  constructor(opts: ResolverOptions<E>) {
    this.reader = opts.reader ?? new ProcReader(opts.procRoot ?? "/proc");
    this.#index = opts.podIndex;
    this.#sink = opts.onAttributed;
    this.#onError = opts.onError;
    this.#now = opts.now ?? Date.now;
    this.#hz = opts.clockTicksPerSecond ?? 100;
    this.#tolerance = opts.timeToleranceMs ?? 50;
    this.#negativeTtl = opts.negativeTtlMs ?? 2000;
    this.#perPid = opts.backlogPerPid ?? 128;
    this.#maxPids = opts.backlogPids ?? 1000;
    this.#backlogTtl = opts.backlogTtlMs ?? 120_000;
    this.#waitTtl = opts.exitedWaitMs ?? 3000;
    this.#maxWaitPids = opts.exitedWaitPids ?? 256;
    this.#watermark = opts.execWatermark;
    this.#factKey = opts.factKey;
    this.#cache = new Lru(opts.cacheSize ?? 4096);
    this.#mntns = new Lru(opts.mntnsCapacity ?? 8192);
    this.#hostMntns = new Lru(HOST_MNTNS_CAPACITY);
    // The host's mount namespace (pid 1) and ours are never a container's. Either may be
    // unreadable (no CAP_SYS_PTRACE over pid 1, a fake proc root): host processes teach the rest.
    for (const who of [1, "self"] as const) {
      const r = this.reader.mntns(who);
      if (!r.ok) continue;
      this.#hostMntns.set(r.value, true);
      this.#ownMntns.add(r.value);
    }
    this.#unsubscribe = this.#index.subscribe((change) => this.#onIndexChange(change));
  }

  /**
   * Attributes one event of `pid`. `eventTimeMs` (wall clock, e.g. the audit timestamp) guards
   * against pid reuse and lets exited processes be credited; `mntns` (eBPF) is the fallback when
   * the pid is gone.
   */
  submit(pid: number, event: E, opts: { eventTimeMs?: number; mntns?: number } = {}): SubmitOutcome {
    this.#s.events++;
    this.#maybeSweep();
    const r = this.lookupPid(pid, opts.eventTimeMs);
    if (r.kind === "container") return this.#attribute(r.key, r.container, r.mntns, r.via, event);
    if (opts.mntns !== undefined && (r.kind === "exited" || r.kind === "unreadable")) {
      const m = this.#mntns.peek(opts.mntns);
      if (m !== undefined) {
        // Earlier events of the pid still waiting go first (in order).
        const w = this.#waiting.get(pid);
        if (w !== undefined) this.#release(w, m);
        this.#s.viaMntns++;
        return this.#attribute(m.key, m.container, opts.mntns, "mntns", event);
      }
    }
    switch (r.kind) {
      case "exited":
        if (this.#waitTtl > 0) return this.#wait(pid, opts.mntns, event, opts.eventTimeMs);
        this.#s.misses.exited++;
        return "exited";
      case "not-container":
        this.#s.misses.notContainer++;
        return "not-container";
      case "unreadable":
        this.#s.misses.unreadable++;
        return "unreadable";
    }
  }

  /** pid → container from procfs (cached), without the pod index. */
  lookupPid(pid: number, eventTimeMs?: number): PidLookup {
    this.#s.lookups++;
    for (let attempt = 0; attempt < 2; attempt++) {
      // Taken before the read: a successful read proves the process held the pid at `now`.
      const now = this.#now();
      const st = this.reader.startTime(pid);
      if (!st.ok) {
        if (st.reason !== "gone") return { kind: "unreadable", detail: st.detail };
        return this.#history(pid, eventTimeMs, false);
      }
      const start = st.value;
      if (eventTimeMs !== undefined) {
        const startWall = this.#startWall(start);
        if (startWall !== undefined && startWall > eventTimeMs + this.#tolerance) {
          this.#s.pidReused++;
          return this.#history(pid, eventTimeMs, true);
        }
      }
      const hit = this.#cache.get(pid);
      if (
        hit !== undefined &&
        hit.start === start &&
        (hit.container !== undefined || now - hit.resolvedAt < this.#negativeTtl)
      ) {
        this.#s.cacheHits++;
        hit.lastSeen = now;
        return this.#answer(hit, "pid");
      }
      const cg = this.reader.cgroup(pid);
      if (!cg.ok) {
        if (cg.reason !== "gone") return { kind: "unreadable", detail: cg.detail };
        return this.#history(pid, eventTimeMs, false);
      }
      const ns = this.reader.mntns(pid);
      const again = this.reader.startTime(pid);
      if (!again.ok) return this.#history(pid, eventTimeMs, false);
      if (again.value !== start) continue; // reused while we read: start over with the new process
      this.#s.cacheMisses++;
      const cls = classifyProcCgroup(cg.value);
      const id: Identity = {
        pid,
        start,
        container: cls.kind === "container" ? cls.container : undefined,
        monitor: cls.kind === "monitor",
        mntns: ns.ok ? ns.value : undefined,
        resolvedAt: now,
        lastSeen: now,
      };
      this.#cache.set(pid, id);
      this.#learnMntns(id);
      return this.#answer(id, "pid");
    }
    this.#s.pidReused++;
    return { kind: "exited", pidReused: true };
  }

  /**
   * The kernel saw `pid` (a child of `ppid`) in mount namespace `mntns` — an eBPF exec event, or a
   * /proc scan. Teaches the namespace's container from the process itself or, when it is gone
   * already, from its parent: a child starts in its parent's cgroup, and leaving a container's
   * cgroup takes privileges a container does not have. Returns whether the namespace is now known.
   *
   * An exec is where a runtime's init process turns into the workload: runc init is resolved while
   * it still sits in the host namespace (or before it joined the container's cgroup), so a cached
   * answer for the same process would be stale. Negative answers are dropped and read again;
   * positive ones take the namespace the kernel reported.
   *
   * Namespace inodes are reused: one marked as a host process's may now be a container's. When
   * the process itself is in a container's cgroup and /proc confirms it is in `mntns` now, that
   * fresh evidence lifts the mark (never for the host's own namespaces, pid 1's and ours).
   */
  learnMntns(pid: number, mntns: number, ppid?: number): boolean {
    const known = this.#learnFromProcess(pid, mntns, ppid);
    const w = this.#waiting.get(pid);
    if (w !== undefined) {
      // The namespace the event's process ran in: from the event (the tracker knew it) or this exec.
      if (w.mntns === undefined) this.#indexWait(w, mntns);
      const m = this.#mntns.peek(w.mntns ?? mntns);
      if (m !== undefined) this.#release(w, m);
    }
    return known;
  }

  #learnFromProcess(pid: number, mntns: number, ppid: number | undefined): boolean {
    for (const who of ppid === undefined ? [pid] : [pid, ppid]) {
      const cached = this.#cache.peek(who);
      if (who === pid && cached !== undefined && cached.container === undefined) this.#cache.delete(who);
      const r = this.lookupPid(who);
      if (r.kind === "not-container") return false;
      if (r.kind !== "container") continue;
      const id = this.#cache.peek(who);
      if (id === undefined || id.container === undefined) return false;
      if (this.#hostMntns.peek(mntns) !== undefined) {
        const now = who === pid ? this.reader.mntns(pid) : undefined;
        if (now?.ok !== true || now.value !== mntns || this.#ownMntns.has(mntns)) return false;
        this.#hostMntns.delete(mntns);
      }
      if (who === pid) id.mntns = mntns;
      this.#learn(mntns, id.container, `${id.pid}:${id.start}`);
      return true;
    }
    return false;
  }

  /** Container (and pod, when the index knows it) of a mount namespace learned from a resolved pid. */
  lookupMntns(mntns: number): { container: CgroupContainer; pod: PodContainerRef | undefined } | undefined {
    const m = this.#mntns.peek(mntns);
    if (m === undefined) return undefined;
    return { container: m.container, pod: this.#index.lookup(m.container.containerId) };
  }

  /**
   * Whether events of exited processes held at or before `t` (this resolver's clock) still wait
   * for their namespace; those past the wait TTL count as expired. The pod-end barrier waits on it.
   */
  waitingSince(t: number): boolean {
    const now = this.#now();
    const wm = this.#watermark?.();
    for (const w of this.#waiting.values()) {
      if (w.since > t) return false; // insertion order = age order
      if (!this.#expired(w, now, wm)) return true;
    }
    return false;
  }

  /**
   * Drops held events older than the backlog TTL, and waiting events of exited processes older
   * than the wait TTL (also done on each submit, at most once a second).
   */
  sweep(): void {
    const now = this.#now();
    this.#lastSweep = now;
    for (const e of this.#backlog.values()) {
      if (now - e.since < this.#backlogTtl) break; // insertion order = age order
      this.#s.misses.podUnknown += e.events.length;
      this.#dropBacklog(e);
    }
    const wm = this.#watermark?.();
    for (const w of [...this.#waiting.values()]) {
      if (!this.#expired(w, now, wm)) continue; // not in age order: the watermark is per event time
      this.#s.misses.exited += w.events.length;
      this.#dropWait(w);
    }
  }

  stats(): AttributionStats {
    let backlogEvents = 0;
    for (const e of this.#backlog.values()) backlogEvents += e.events.length;
    let waitingEvents = 0;
    for (const w of this.#waiting.values()) waitingEvents += w.events.length;
    return {
      ...this.#s,
      misses: { ...this.#s.misses },
      backlogKeys: this.#backlog.size + this.#waiting.size,
      backlogEvents: backlogEvents + waitingEvents,
      waitingEvents,
      cacheSize: this.#cache.size,
      mntnsSize: this.#mntns.size,
    };
  }

  /** Stops listening to the pod index; held events count as `podUnknown` (waiting ones as `exited`). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    for (const e of [...this.#backlog.values()]) {
      this.#s.misses.podUnknown += e.events.length;
      this.#dropBacklog(e);
    }
    for (const w of [...this.#waiting.values()]) {
      this.#s.misses.exited += w.events.length;
      this.#dropWait(w);
    }
  }

  // --- internals ------------------------------------------------------------------------------

  /**
   * A wait ends after the TTL, or, while the exec is all it waits for (namespace unknown), once
   * the tracker has delivered every exec up to past the newest event held.
   */
  #expired(w: WaitEntry<E>, now: number, watermark: number | undefined): boolean {
    if (now - w.since >= this.#waitTtl) return true;
    return w.mntns === undefined && watermark !== undefined && watermark >= w.latest + WATERMARK_MARGIN_MS;
  }

  /** Adds `event` to held events unless one with the same fact is held: false when it was coalesced. */
  #keep(h: Held<E>, event: E): boolean {
    if (h.facts !== undefined && this.#factKey !== undefined) {
      const k = this.#factKey(event);
      if (h.facts.has(k)) {
        this.#s.coalesced++;
        return false;
      }
      h.facts.add(k);
    }
    h.events.push(event);
    return true;
  }

  #held(event: E): Held<E> {
    const h: Held<E> = {
      events: [],
      facts: this.#factKey === undefined ? undefined : new Set(),
      since: this.#now(),
    };
    this.#keep(h, event);
    return h;
  }

  #answer(id: Identity, via: "pid" | "pid-history"): PidLookup {
    if (id.container === undefined) return { kind: "not-container", monitor: id.monitor };
    const r: PidLookup = { kind: "container", container: id.container, key: `${id.pid}:${id.start}`, via };
    if (id.mntns !== undefined) r.mntns = id.mntns;
    return r;
  }

  /**
   * The pid's current holder cannot be the event's author (gone, or started after the event).
   * The last process we saw with this pid is, if it started before the event and was still alive
   * after it.
   */
  #history(pid: number, eventTimeMs: number | undefined, pidReused: boolean): PidLookup {
    const last = this.#cache.peek(pid);
    if (eventTimeMs !== undefined && last?.container !== undefined && eventTimeMs <= last.lastSeen) {
      const startWall = this.#startWall(last.start);
      if (startWall !== undefined && startWall <= eventTimeMs + this.#tolerance) {
        this.#s.viaHistory++;
        return this.#answer(last, "pid-history");
      }
    }
    return { kind: "exited", pidReused };
  }

  /** Wall-clock ms of a start time in ticks: boot time = now − uptime, re-measured every 10 s. */
  #startWall(startTicks: number): number | undefined {
    const now = this.#now();
    if (this.#bootWall === undefined || now - this.#bootWall.at > BOOT_CLOCK_REFRESH_MS) {
      const up = this.reader.uptimeMs();
      this.#bootWall = { at: now, value: up.ok ? now - up.value : undefined };
    }
    const boot = this.#bootWall.value;
    return boot === undefined ? undefined : boot + (startTicks * 1000) / this.#hz;
  }

  #learnMntns(id: Identity): void {
    if (id.mntns === undefined) return;
    if (id.container === undefined) {
      // A host process (or conmon) lives here: this namespace is not a container's.
      if (this.#mntns.delete(id.mntns)) this.#s.mntnsHostConflicts++;
      this.#hostMntns.set(id.mntns, true);
      return;
    }
    if (this.#hostMntns.peek(id.mntns) !== undefined) return;
    this.#learn(id.mntns, id.container, `${id.pid}:${id.start}`);
  }

  #learn(mntns: number, container: CgroupContainer, key: string): void {
    const prev = this.#mntns.peek(mntns);
    if (prev === undefined) this.#s.mntnsLearned++;
    else if (prev.container.containerId !== container.containerId) this.#s.mntnsRemapped++;
    else if (prev.key === key) return;
    const entry = { container, key };
    this.#mntns.set(mntns, entry);
    const pids = this.#waitingByMntns.get(mntns);
    if (pids === undefined) return;
    for (const pid of [...pids]) {
      const w = this.#waiting.get(pid);
      if (w !== undefined) this.#release(w, entry);
    }
  }

  #attribute(
    key: string,
    container: CgroupContainer,
    mntns: number | undefined,
    via: Attribution["via"],
    event: E,
  ): SubmitOutcome {
    const pod = this.#index.lookup(container.containerId);
    if (pod !== undefined) {
      const held = this.#backlog.get(key);
      if (held !== undefined) this.#replay(held, pod);
      this.#s.attributed++;
      this.#sink(event, this.#attribution(container, pod, mntns, via));
      return "attributed";
    }
    return this.#hold(key, container, mntns, via, event);
  }

  #attribution(
    container: CgroupContainer,
    pod: PodContainerRef,
    mntns: number | undefined,
    via: Attribution["via"],
  ): Attribution {
    const a: Attribution = { containerId: container.containerId, runtime: container.runtime, pod, via };
    if (container.podUid !== undefined) a.cgroupPodUid = container.podUid;
    if (mntns !== undefined) a.mntns = mntns;
    return a;
  }

  /** `moved`: the event was counted as held already (it waited for the exec tracker). */
  #hold(
    key: string,
    container: CgroupContainer,
    mntns: number | undefined,
    via: Attribution["via"],
    event: E,
    moved = false,
  ): SubmitOutcome {
    const held = this.#backlog.get(key);
    if (held !== undefined) {
      if (held.events.length >= this.#perPid && !held.facts?.has(this.#factKey?.(event) ?? "")) {
        this.#s.misses.backlogFull++;
        return "backlog-full";
      }
      if (this.#keep(held, event) && !moved) this.#s.backlogged++;
      return "backlogged";
    }
    if (this.#backlog.size >= this.#maxPids) {
      const oldest = this.#backlog.values().next();
      if (oldest.done !== true) {
        this.#s.misses.backlogFull += oldest.value.events.length;
        this.#dropBacklog(oldest.value);
      }
    }
    const entry: BacklogEntry<E> = { key, container, mntns, via, ...this.#held(event) };
    this.#backlog.set(key, entry);
    const id = container.containerId;
    const keys = this.#backlogByContainer.get(id) ?? new Set<string>();
    keys.add(key);
    this.#backlogByContainer.set(id, keys);
    if (!moved) this.#s.backlogged++;
    return "backlogged";
  }

  /** Holds an event of exited `pid` until its namespace's container is known (bounded, see `sweep`). */
  #wait(pid: number, mntns: number | undefined, event: E, eventTimeMs: number | undefined): SubmitOutcome {
    const at = eventTimeMs ?? this.#now();
    let w = this.#waiting.get(pid);
    if (w === undefined) {
      if (this.#waiting.size >= this.#maxWaitPids) {
        const oldest = this.#waiting.values().next();
        if (oldest.done !== true) {
          this.#s.misses.backlogFull += oldest.value.events.length;
          this.#dropWait(oldest.value);
        }
      }
      w = { pid, mntns: undefined, latest: at, ...this.#held(event) };
      this.#waiting.set(pid, w);
    } else {
      if (w.events.length >= this.#perPid && !w.facts?.has(this.#factKey?.(event) ?? "")) {
        this.#s.misses.backlogFull++;
        return "backlog-full";
      }
      w.latest = Math.max(w.latest, at);
      if (!this.#keep(w, event)) return "waiting";
    }
    if (w.mntns === undefined && mntns !== undefined) this.#indexWait(w, mntns);
    this.#s.backlogged++;
    this.#s.waited++;
    return "waiting";
  }

  #indexWait(w: WaitEntry<E>, mntns: number): void {
    w.mntns = mntns;
    const pids = this.#waitingByMntns.get(mntns) ?? new Set<number>();
    pids.add(w.pid);
    this.#waitingByMntns.set(mntns, pids);
  }

  #dropWait(w: WaitEntry<E>): void {
    this.#waiting.delete(w.pid);
    if (w.mntns === undefined) return;
    const pids = this.#waitingByMntns.get(w.mntns);
    pids?.delete(w.pid);
    if (pids?.size === 0) this.#waitingByMntns.delete(w.mntns);
  }

  /** The namespace of a waiting process is known now: its events go on, in order, as `mntns` attributions. */
  #release(w: WaitEntry<E>, m: MntnsEntry): void {
    this.#dropWait(w);
    this.#s.viaMntns += w.events.length;
    const pod = this.#index.lookup(m.container.containerId);
    if (pod === undefined) {
      for (const ev of w.events) this.#hold(m.key, m.container, w.mntns, "mntns", ev, true);
      return;
    }
    const held = this.#backlog.get(m.key);
    if (held !== undefined) this.#replay(held, pod);
    this.#deliver(w.events, this.#attribution(m.container, pod, w.mntns, "mntns"));
  }

  #dropBacklog(e: BacklogEntry<E>): void {
    this.#backlog.delete(e.key);
    const keys = this.#backlogByContainer.get(e.container.containerId);
    keys?.delete(e.key);
    if (keys?.size === 0) this.#backlogByContainer.delete(e.container.containerId);
  }

  /** Delivers held events in order; a throwing sink loses only that event (counted, reported). */
  #replay(e: BacklogEntry<E>, pod: PodContainerRef): void {
    this.#dropBacklog(e);
    this.#deliver(e.events, this.#attribution(e.container, pod, e.mntns, e.via));
  }

  #deliver(events: E[], a: Attribution): void {
    for (const ev of events) {
      this.#s.replayed++;
      try {
        this.#sink(ev, a);
      } catch (err) {
        this.#s.sinkErrors++;
        this.#onError?.(err);
      }
    }
  }

  #onIndexChange(change: PodIndexChange): void {
    for (const id of change.added) {
      const keys = this.#backlogByContainer.get(id);
      if (keys === undefined) continue;
      const pod = this.#index.lookup(id);
      if (pod === undefined) continue;
      for (const key of [...keys]) {
        const e = this.#backlog.get(key);
        if (e !== undefined) this.#replay(e, pod);
      }
    }
  }

  #maybeSweep(): void {
    if (this.#backlog.size + this.#waiting.size > 0 && this.#now() - this.#lastSweep >= 1000) this.sweep();
  }
}
