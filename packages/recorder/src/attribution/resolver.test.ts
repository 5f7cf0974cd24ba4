import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeProc } from "./fake-proc.js";
import { MemoryPodIndex } from "./memory-pod-index.js";
import { ProcReader } from "./proc-reader.js";
import {
  type Attribution,
  AttributionResolver,
  type AttributionStats,
  type ResolverOptions,
} from "./resolver.js";

const A = "a1".repeat(32);
const B = "b2".repeat(32);
const UID_A = "11111111-2222-4333-8444-555555555555";
const UID_B = "66666666-7777-4888-9999-aaaaaaaaaaaa";
const cgA = `0::/kubepods/besteffort/pod${UID_A}/${A}\n`;
const cgB = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_B.replaceAll("-", "_")}.slice/cri-containerd-${B}.scope\n`;
const HOST = "0::/user.slice/user-0.slice/session-1.scope\n";
const BOOT = 1_790_000_000_000; // wall-clock ms of the fake boot
const UPTIME_S = 1000;

/** Wall-clock ms of a start time in ticks (USER_HZ 100) on the fake machine. */
const wall = (ticks: number) => BOOT + ticks * 10;

interface Ev {
  n: number;
}

let fake: FakeProc;
let index: MemoryPodIndex;
let now: number;
let got: [Ev, Attribution][];

function resolver(opts: Partial<ResolverOptions<Ev>> = {}) {
  return new AttributionResolver<Ev>({
    podIndex: index,
    procRoot: fake.root,
    now: () => now,
    onAttributed: (e, a) => got.push([e, a]),
    ...opts,
  });
}

const podA = () =>
  index.upsertPod({
    namespace: "ns",
    name: "pod-a",
    uid: UID_A,
    containers: [{ name: "app", containerId: `containerd://${A}` }],
  });
const podB = () =>
  index.upsertPod({
    namespace: "ns",
    name: "pod-b",
    uid: UID_B,
    containers: [{ name: "web", containerId: `containerd://${B}` }],
  });

/** Every event is accounted for exactly once. */
function balanced(s: AttributionStats): void {
  const misses = Object.values(s.misses).reduce((a, b) => a + b, 0);
  expect(s.attributed + s.replayed + s.coalesced + misses + s.backlogEvents).toBe(s.events);
}

beforeEach(() => {
  now = BOOT + UPTIME_S * 1000;
  fake = new FakeProc(UPTIME_S);
  index = new MemoryPodIndex();
  got = [];
});
afterEach(() => fake.cleanup());

describe("pid → container → pod", () => {
  it("attributes a container process and caches it per (pid, start time)", () => {
    podA();
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA, mntns: 4026532001 });
    const r = resolver();
    expect(r.submit(100, { n: 1 })).toBe("attributed");
    expect(r.submit(100, { n: 2 })).toBe("attributed");
    expect(got.map(([e]) => e.n)).toEqual([1, 2]);
    expect(got[0]?.[1]).toMatchObject({
      containerId: A,
      runtime: "containerd",
      cgroupPodUid: UID_A,
      mntns: 4026532001,
      via: "pid",
      pod: { namespace: "ns", pod: "pod-a", podUid: UID_A, container: "app", runtime: "containerd" },
    });
    const s = r.stats();
    expect(s).toMatchObject({ cacheMisses: 1, cacheHits: 1, attributed: 2 });
    balanced(s);
  });

  it("re-resolves a reused pid (same pid, new start time)", () => {
    podA();
    podB();
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA });
    const r = resolver();
    r.submit(100, { n: 1 });
    fake.spawn({ pid: 100, start: 9000, cgroup: cgB }); // A's process exited, pid 100 reused in B
    r.submit(100, { n: 2 });
    expect(got.map(([e, a]) => [e.n, a.containerId, a.pod.pod])).toEqual([
      [1, A, "pod-a"],
      [2, B, "pod-b"],
    ]);
    expect(r.stats()).toMatchObject({ cacheMisses: 2, cacheHits: 0 });
  });

  it("does not blame a reused pid for an event older than its process", () => {
    podA();
    podB();
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA });
    const r = resolver();
    r.submit(100, { n: 1 }, { eventTimeMs: wall(5001) }); // seen alive at `now`
    fake.spawn({ pid: 100, start: 90_000, cgroup: cgB });
    // An event A's process emitted before we last saw it: still A's.
    expect(r.submit(100, { n: 2 }, { eventTimeMs: wall(6000) })).toBe("attributed");
    // After the reuse, the new process's own events go to B.
    expect(r.submit(100, { n: 3 }, { eventTimeMs: wall(90_001) })).toBe("attributed");
    expect(got.map(([e, a]) => [e.n, a.containerId, a.via])).toEqual([
      [1, A, "pid"],
      [2, A, "pid-history"],
      [3, B, "pid"],
    ]);
    expect(r.stats()).toMatchObject({ pidReused: 1, viaHistory: 1 });
  });

  it("counts an event whose process exited before any lookup as a miss", () => {
    podA();
    const r = resolver({ exitedWaitMs: 0 }); // no wait for the exec tracker (see below)
    expect(r.submit(4242, { n: 1 }, { eventTimeMs: wall(10) })).toBe("exited");
    expect(r.submit(4242, { n: 2 })).toBe("exited");
    expect(got).toEqual([]);
    const s = r.stats();
    expect(s.misses).toMatchObject({ exited: 2 });
    balanced(s);
  });

  it("credits an exited process only with events from before its last sighting", () => {
    podA();
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA });
    const r = resolver({ exitedWaitMs: 0 });
    r.submit(100, { n: 1 }, { eventTimeMs: wall(5001) });
    const lastSeen = now;
    fake.exit(100);
    now += 5000;
    expect(r.submit(100, { n: 2 }, { eventTimeMs: lastSeen - 1 })).toBe("attributed");
    expect(r.submit(100, { n: 3 }, { eventTimeMs: lastSeen + 1 })).toBe("exited"); // could be a later holder
    expect(r.submit(100, { n: 4 })).toBe("exited"); // no time: nothing to prove
    expect(got.map(([e, a]) => [e.n, a.via])).toEqual([
      [1, "pid"],
      [2, "pid-history"],
    ]);
    balanced(r.stats());
  });

  it("counts host processes and conmon as not-a-container, not as errors", () => {
    fake.spawn({ pid: 7, start: 1, cgroup: HOST, mntns: 4026531840 });
    fake.spawn({ pid: 8, start: 2, cgroup: `0::/system.slice/crio-conmon-${A}.scope\n` });
    const r = resolver();
    expect(r.submit(7, { n: 1 })).toBe("not-container");
    expect(r.submit(8, { n: 2 })).toBe("not-container");
    expect(r.lookupPid(8)).toEqual({ kind: "not-container", monitor: true });
    expect(r.stats().misses.notContainer).toBe(2);
  });

  it("trusts a negative answer only briefly (runc init joins the cgroup after it starts)", () => {
    podA();
    fake.spawn({ pid: 100, start: 5000, cgroup: HOST });
    const r = resolver({ negativeTtlMs: 1000 });
    expect(r.submit(100, { n: 1 })).toBe("not-container");
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA }); // same process, moved into the container
    expect(r.submit(100, { n: 2 })).toBe("not-container"); // cached
    now += 1001;
    expect(r.submit(100, { n: 3 })).toBe("attributed");
  });

  it("reports an unreadable proc entry as such", () => {
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA });
    const r = resolver();
    expect(r.submit(0, { n: 1 })).toBe("unreadable");
    expect(r.stats().misses.unreadable).toBe(1);
  });
});

describe("mount namespace → container (eBPF)", () => {
  it("learns mntns from resolved pids and uses it when the pid is gone", () => {
    podA();
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA, mntns: 4026532001 });
    const r = resolver({ exitedWaitMs: 0 });
    expect(r.lookupMntns(4026532001)).toBeUndefined();
    r.lookupPid(100);
    expect(r.lookupMntns(4026532001)).toMatchObject({ container: { containerId: A }, pod: { pod: "pod-a" } });
    fake.exit(100);
    expect(r.submit(101, { n: 1 }, { mntns: 4026532001 })).toBe("attributed");
    expect(got[0]?.[1]).toMatchObject({ containerId: A, via: "mntns", mntns: 4026532001 });
    expect(r.submit(102, { n: 2 }, { mntns: 4026539999 })).toBe("exited");
  });

  it("never learns a namespace a host process lives in", () => {
    fake.spawn({ pid: 7, start: 1, cgroup: HOST, mntns: 4026531840 });
    // runc's first init: already in the container cgroup, still in the host mount namespace.
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA, mntns: 4026531840 });
    const r = resolver();
    r.lookupPid(7);
    r.lookupPid(100);
    expect(r.lookupMntns(4026531840)).toBeUndefined();

    const r2 = resolver(); // opposite order: learned, then unlearned
    r2.lookupPid(100);
    expect(r2.lookupMntns(4026531840)).toBeDefined();
    r2.lookupPid(7);
    expect(r2.lookupMntns(4026531840)).toBeUndefined();
    expect(r2.stats().mntnsHostConflicts).toBe(1);
  });

  it("remaps a reused namespace inode to the newer container", () => {
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA, mntns: 4026532001 });
    fake.spawn({ pid: 200, start: 6000, cgroup: cgB, mntns: 4026532001 });
    const r = resolver();
    r.lookupPid(100);
    r.lookupPid(200);
    expect(r.lookupMntns(4026532001)?.container.containerId).toBe(B);
    expect(r.stats()).toMatchObject({ mntnsLearned: 1, mntnsRemapped: 1 });
  });
});

describe("backlog while the pod is unknown", () => {
  it("holds events and replays them in order when the pod index learns the container", () => {
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA });
    fake.spawn({ pid: 101, start: 5001, cgroup: cgA });
    const r = resolver();
    expect(r.submit(100, { n: 1 })).toBe("backlogged");
    expect(r.submit(101, { n: 2 })).toBe("backlogged");
    expect(r.submit(100, { n: 3 })).toBe("backlogged");
    fake.exit(100); // exits before the pod shows up: its container is already known
    expect(got).toEqual([]);
    podA();
    expect(got.map(([e, a]) => [e.n, a.pod.pod])).toEqual([
      [1, "pod-a"],
      [3, "pod-a"],
      [2, "pod-a"],
    ]);
    const s = r.stats();
    expect(s).toMatchObject({ backlogged: 3, replayed: 3, backlogKeys: 0, backlogEvents: 0 });
    balanced(s);
  });

  it("flushes a process's held events before its next event when the index knew first", () => {
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA });
    const r = resolver();
    r.submit(100, { n: 1 });
    // Index learned the pod without notifying (another listener threw, say).
    const silent = new MemoryPodIndex();
    silent.upsertPod({
      namespace: "ns",
      name: "pod-a",
      uid: UID_A,
      containers: [{ name: "app", containerId: A }],
    });
    const ref = silent.lookup(A);
    index.lookup = (id) => (id === A ? ref : undefined);
    expect(r.submit(100, { n: 2 })).toBe("attributed");
    expect(got.map(([e]) => e.n)).toEqual([1, 2]);
  });

  it("bounds events per process and processes, and counts the drops", () => {
    for (let p = 1; p <= 4; p++) fake.spawn({ pid: 100 + p, start: 5000 + p, cgroup: cgA });
    const r = resolver({ backlogPerPid: 2, backlogPids: 3 });
    expect(r.submit(101, { n: 1 })).toBe("backlogged");
    expect(r.submit(101, { n: 2 })).toBe("backlogged");
    expect(r.submit(101, { n: 3 })).toBe("backlog-full");
    r.submit(102, { n: 4 });
    r.submit(103, { n: 5 });
    expect(r.stats()).toMatchObject({ backlogKeys: 3, backlogEvents: 4 });
    r.submit(104, { n: 6 }); // table full: pid 101's two events are evicted
    let s = r.stats();
    expect(s).toMatchObject({ backlogKeys: 3, backlogEvents: 3 });
    expect(s.misses.backlogFull).toBe(3);
    balanced(s);
    podA();
    expect(got.map(([e]) => e.n).sort()).toEqual([4, 5, 6]);
    s = r.stats();
    balanced(s);
  });

  it("drops held events after the TTL as pod-unknown", () => {
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA });
    const r = resolver({ backlogTtlMs: 10_000 });
    r.submit(100, { n: 1 });
    now += 10_001;
    r.sweep();
    podA();
    expect(got).toEqual([]);
    const s = r.stats();
    expect(s.misses.podUnknown).toBe(1);
    balanced(s);
  });

  it("counts held events as pod-unknown on close and stops listening", () => {
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA });
    const r = resolver();
    r.submit(100, { n: 1 });
    r.close();
    podA();
    expect(got).toEqual([]);
    expect(r.stats().misses.podUnknown).toBe(1);
  });

  it("keeps replaying when the sink throws, and reports the error", () => {
    fake.spawn({ pid: 100, start: 5000, cgroup: cgA });
    const errors: unknown[] = [];
    const r = resolver({
      onAttributed: (e) => {
        if (e.n === 1) throw new Error("boom");
        got.push([e, {} as Attribution]);
      },
      onError: (e) => errors.push(e),
    });
    r.submit(100, { n: 1 });
    r.submit(100, { n: 2 });
    podA();
    expect(got.map(([e]) => e.n)).toEqual([2]);
    expect(errors).toHaveLength(1);
    expect(r.stats().sinkErrors).toBe(1);
  });
});

describe("MemoryPodIndex", () => {
  it("strips runtime schemes, skips empty ids, reports changes, and waits", async () => {
    const changes: unknown[] = [];
    index.subscribe((c) => changes.push(c));
    const wait = index.waitFor(A, { timeoutMs: 1000 });
    index.upsertPod({
      namespace: "ns",
      name: "pod-a",
      uid: UID_A,
      containers: [
        { name: "init", containerId: `cri-o://${B}`, kind: "init" },
        { name: "app", containerId: "" },
      ],
    });
    podA();
    expect(await wait).toMatchObject({ container: "app", containerId: A });
    expect(index.lookup(B)).toBeUndefined();
    expect(changes).toEqual([
      { added: [B], removed: [] },
      { added: [A], removed: [B] },
    ]);
    index.markDeleted(UID_A);
    expect(index.lookup(A)?.deleted).toBe(true);
    index.removePod(UID_A);
    expect(index.lookup(A)).toBeUndefined();
    expect(await index.waitFor(B, { timeoutMs: 5 })).toBeUndefined();
    const ac = new AbortController();
    const aborted = index.waitFor(B, { signal: ac.signal });
    ac.abort();
    expect(await aborted).toBeUndefined();
  });
});

describe("exited processes wait for the exec tracker", () => {
  const NS = 4026532001;
  /** The container's shell (pid 100, lives on) ran `mkdir` (pid 4242), which exited before lookup. */
  const shell = () => fake.spawn({ pid: 100, start: 5000, cgroup: cgA, mntns: NS });

  it("replays, in order, the events of a pid the tracker learns 500 ms later", () => {
    podA();
    shell();
    const r = resolver();
    expect(r.submit(4242, { n: 1 }, { eventTimeMs: now - 5 })).toBe("waiting");
    expect(r.submit(4242, { n: 2 }, { eventTimeMs: now - 4 })).toBe("waiting");
    expect(r.waitingSince(now)).toBe(true);
    expect(got).toEqual([]);
    balanced(r.stats());
    now += 500;
    expect(r.learnMntns(4242, NS, 100)).toBe(true); // the exec event, late: learned via the parent
    expect(got.map(([e, a]) => [e.n, a.containerId, a.via, a.mntns])).toEqual([
      [1, A, "mntns", NS],
      [2, A, "mntns", NS],
    ]);
    // A later event of the same pid: the tracker's namespace now attributes it at once.
    expect(r.submit(4242, { n: 3 }, { mntns: NS })).toBe("attributed");
    const s = r.stats();
    expect(s).toMatchObject({
      waited: 2,
      replayed: 2,
      attributed: 1,
      viaMntns: 3,
      waitingEvents: 0,
      backlogKeys: 0,
    });
    expect(s.misses.exited).toBe(0);
    expect(r.waitingSince(now)).toBe(false);
    balanced(s);
  });

  it("replays when the namespace the tracker named is learned later, into the pod backlog if needed", () => {
    const r = resolver();
    // The tracker knew the namespace, but not yet its container: nothing resolved there so far.
    expect(r.submit(4242, { n: 1 }, { mntns: NS })).toBe("waiting");
    shell();
    r.lookupPid(100); // teaches NS → container A; pod A not indexed yet
    expect(got).toEqual([]);
    expect(r.stats()).toMatchObject({ waitingEvents: 0, backlogEvents: 1, backlogged: 1 });
    podA();
    expect(got.map(([e, a]) => [e.n, a.containerId, a.via])).toEqual([[1, A, "mntns"]]);
    balanced(r.stats());
  });

  it("counts an exited miss when the tracker never learns the pid within the TTL", () => {
    podA();
    shell();
    const r = resolver({ exitedWaitMs: 2500 });
    const t = now;
    expect(r.submit(4242, { n: 1 })).toBe("waiting");
    now += 2499;
    r.sweep();
    expect(r.stats().misses.exited).toBe(0);
    expect(r.waitingSince(t)).toBe(true);
    now += 1;
    expect(r.waitingSince(t)).toBe(false); // expired: the pod-end barrier stops waiting
    r.sweep();
    expect(r.learnMntns(4242, NS, 100)).toBe(true); // too late
    expect(got).toEqual([]);
    const s = r.stats();
    expect(s.misses.exited).toBe(1);
    expect(s).toMatchObject({ waitingEvents: 0, backlogKeys: 0 });
    balanced(s);
  });

  it("bounds waiting events per pid and pids in total, and counts the drops", () => {
    podA();
    shell();
    const r = resolver({ backlogPerPid: 2, exitedWaitPids: 2 });
    expect(r.submit(4242, { n: 1 })).toBe("waiting");
    expect(r.submit(4242, { n: 2 })).toBe("waiting");
    expect(r.submit(4242, { n: 3 })).toBe("backlog-full");
    expect(r.submit(4243, { n: 4 })).toBe("waiting");
    expect(r.submit(4244, { n: 5 })).toBe("waiting"); // full: pid 4242's two events are dropped
    let s = r.stats();
    expect(s.misses.backlogFull).toBe(3);
    expect(s).toMatchObject({ backlogKeys: 2, waitingEvents: 2 });
    balanced(s);
    r.learnMntns(4242, NS, 100);
    r.learnMntns(4244, NS, 100);
    expect(got.map(([e]) => e.n)).toEqual([5]);
    r.close(); // pid 4243 never learned
    s = r.stats();
    expect(s.misses).toMatchObject({ exited: 1, backlogFull: 3 });
    balanced(s);
  });
});

describe("exited processes: facts held once, waits ended by the exec tracker's watermark", () => {
  const NS = 4026532001;
  const shell = () => fake.spawn({ pid: 100, start: 5000, cgroup: cgA, mntns: NS });

  it("keeps one held event per fact, so a process's later calls are not refused by the bound", () => {
    podA();
    shell();
    // redis-cli: a hundred calls of a few kinds, then connect; the bound is 3 distinct facts here.
    const r = resolver({ backlogPerPid: 3, factKey: (e) => String(e.n) });
    for (const n of [1, 1, 2, 1, 2, 2, 1, 3, 3]) expect(r.submit(4242, { n })).toBe("waiting");
    expect(r.submit(4242, { n: 4 })).toBe("backlog-full"); // a fourth distinct fact is over the bound
    expect(r.stats()).toMatchObject({ waitingEvents: 3, coalesced: 6 });
    balanced(r.stats());
    r.learnMntns(4242, NS, 100);
    expect(got.map(([e]) => e.n)).toEqual([1, 2, 3]);
    // The pod backlog (container known, pod not yet indexed) coalesces the same way.
    index.removePod(UID_A);
    fake.spawn({ pid: 101, start: 5001, cgroup: cgA, mntns: NS });
    for (const n of [5, 5, 6, 5]) expect(r.submit(101, { n })).toBe("backlogged");
    podA();
    expect(got.map(([e]) => e.n)).toEqual([1, 2, 3, 5, 6]);
    const s = r.stats();
    expect(s).toMatchObject({ coalesced: 8, backlogEvents: 0 });
    expect(s.misses.backlogFull).toBe(1);
    balanced(s);
  });

  it("stops waiting once the tracker has delivered every exec up to past the event, not before", () => {
    podA();
    shell();
    let watermark: number | undefined;
    const r = resolver({ exitedWaitMs: 30_000, execWatermark: () => watermark });
    const t = now;
    const at = now - 20; // the audit record's time
    expect(r.submit(4242, { n: 1 }, { eventTimeMs: at })).toBe("waiting");
    // The tracker lags (no tick yet, then one from before the event): keep waiting.
    now += 5000;
    r.sweep();
    watermark = at - 1000;
    r.sweep();
    expect(r.waitingSince(t)).toBe(true);
    // Past the event, but within the margin for other CPUs' buffers: still waiting.
    watermark = at + 499;
    expect(r.waitingSince(t)).toBe(true);
    // Past the event and the margin: its exec would have arrived. An exited miss, at once.
    watermark = at + 500;
    expect(r.waitingSince(t)).toBe(false);
    r.sweep();
    expect(r.stats().misses.exited).toBe(1);
    balanced(r.stats());
  });

  it("keeps waiting for a namespace's container when the tracker named the namespace", () => {
    shell();
    podA();
    const watermark = now + 60_000;
    const r = resolver({ exitedWaitMs: 30_000, execWatermark: () => watermark });
    // The exec was seen (namespace known) but that namespace's container is not learned yet.
    expect(r.submit(4242, { n: 1 }, { mntns: NS + 1, eventTimeMs: now })).toBe("waiting");
    r.sweep();
    expect(r.stats()).toMatchObject({ waitingEvents: 1 });
    now += 30_000; // the TTL bounds it
    r.sweep();
    expect(r.stats().misses.exited).toBe(1);
    balanced(r.stats());
  });
});

describe("cost", () => {
  it("measures a cache hit on the real /proc (this process)", () => {
    // Our own process is a host process: make it a "container" with a custom reader whose
    // cgroup text names one, so the hit path (stat read + LRU) is what is measured.
    class PretendContainer extends ProcReader {
      override cgroup() {
        return { ok: true as const, value: cgA };
      }
    }
    const reader = new PretendContainer();
    podA();
    let n = 0;
    const r = new AttributionResolver<number>({ podIndex: index, reader, onAttributed: () => n++ });
    const N = 20_000;
    r.submit(process.pid, 0);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) r.submit(process.pid, i);
    const perHitUs = Number(process.hrtime.bigint() - t0) / N / 1000;
    expect(n).toBe(N + 1);
    expect(r.stats()).toMatchObject({ cacheMisses: 1, cacheHits: N });
    console.log(`attribution cache hit: ${perHitUs.toFixed(2)} µs/event (one /proc/<pid>/stat read)`);
    expect(perHitUs).toBeLessThan(200);
  });
});
