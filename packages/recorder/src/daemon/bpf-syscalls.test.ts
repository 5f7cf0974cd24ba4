import type { ArchName, PodContainerRef } from "@secprof/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeProc } from "../attribution/fake-proc.js";
import { MemoryPodIndex } from "../attribution/memory-pod-index.js";
import { AttributionResolver } from "../attribution/resolver.js";
import { BpfSyscallAttributor } from "./bpf-syscalls.js";
import { ExecTracker } from "./exec-tracker.js";

const A = "a1".repeat(32);
const UID_A = "11111111-2222-4333-8444-555555555555";
const cgA = `0::/kubepods/besteffort/pod${UID_A}/${A}\n`;
const HOST = "0::/system.slice/systemd-resolved.service\n";
const NS_A = 4026532001;
const NS_SERVICE = 4026532099;
const BOOT = 1_790_000_000_000;
const UPTIME_S = 1000;

let fake: FakeProc;
let index: MemoryPodIndex;
let now: number;
let resolver: AttributionResolver<string>;
let tracker: ExecTracker;
let got: [string, ArchName, string][];
let audit: [string, string][];

const podA = () =>
  index.upsertPod({
    namespace: "ns",
    name: "pod-a",
    uid: UID_A,
    containers: [{ name: "app", containerId: `containerd://${A}` }],
  });

function attributor(opts: { scanIntervalMs?: number; pendingTtlMs?: number } = {}) {
  return new BpfSyscallAttributor({
    resolver,
    tracker,
    now: () => now,
    deliver: (pod: PodContainerRef, arch, name) => got.push([pod.pod, arch, name]),
    ...opts,
  });
}

const exec = (pid: number, ppid: number, mntns: number) =>
  ({ type: "exec", pid, ppid, mntns, comm: "x", filename: "/x" }) as const;
const sys = (mntns: number, nr: number) =>
  ({ type: "syscalls", mntns, arch: "x86_64", nr, count: 1 }) as const;
const snapshot = { type: "snapshot", seq: 1, final: false, keys: 0, changed: 0, full: false } as const;

beforeEach(() => {
  now = BOOT + UPTIME_S * 1000;
  fake = new FakeProc(UPTIME_S);
  index = new MemoryPodIndex();
  got = [];
  audit = [];
  resolver = new AttributionResolver<string>({
    podIndex: index,
    procRoot: fake.root,
    now: () => now,
    onAttributed: (e, a) => audit.push([e, a.pod.pod]),
  });
  tracker = new ExecTracker({ resolver, now: () => now });
});
afterEach(() => {
  resolver.close();
  fake.cleanup();
});

describe("ExecTracker (Logs mode: processes gone before /proc is read)", () => {
  it("attributes an exited command through its exec's namespace, learned from its live parent", () => {
    podA();
    fake.spawn({ pid: 10, start: 5000, cgroup: cgA, mntns: NS_A }); // the container's shell
    // The command exec'd and exited before the exec event was handled: only the parent is left.
    tracker.onExec(exec(11, 10, NS_A));
    expect(tracker.stats()).toMatchObject({ execs: 1, learned: 1, size: 1 });

    const at = now - 5;
    const ns = tracker.mntnsOf(11, at);
    expect(ns).toBe(NS_A);
    expect(resolver.submit(11, "sort", { eventTimeMs: at, ...(ns === undefined ? {} : { mntns: ns }) })).toBe(
      "attributed",
    );
    expect(audit).toEqual([["sort", "pod-a"]]);
    expect(resolver.stats().viaMntns).toBe(1);
  });

  it("re-resolves a runtime's init at its exec (it was resolved before joining the container)", () => {
    podA();
    fake.spawn({ pid: 50, start: 5000, cgroup: HOST, mntns: 4026531840 });
    expect(resolver.lookupPid(50).kind).toBe("not-container");
    // runc init joined the pod's cgroup and namespace, then exec'd the workload (same process).
    fake.spawn({ pid: 50, start: 5000, cgroup: cgA, mntns: NS_A });
    tracker.onExec(exec(50, 1, NS_A));
    expect(tracker.stats().learned).toBe(1);
    expect(resolver.lookupMntns(NS_A)?.pod?.pod).toBe("pod-a");
  });

  it("does not answer for a pid whose exec came after the event (a later process)", () => {
    tracker.onExec(exec(12, 1, NS_A));
    expect(tracker.mntnsOf(12, now - 5000)).toBeUndefined();
    expect(tracker.mntnsOf(12, now)).toBe(NS_A);
  });

  it("attributes the command when its exec event arrives after its audit record", () => {
    podA();
    fake.spawn({ pid: 10, start: 5000, cgroup: cgA, mntns: NS_A });
    const at = now - 5;
    expect(tracker.mntnsOf(11, at)).toBeUndefined(); // bpftrace has not printed the exec yet
    expect(resolver.submit(11, "mkdir", { eventTimeMs: at })).toBe("waiting");
    now += 800;
    tracker.onExec(exec(11, 10, NS_A));
    expect(audit).toEqual([["mkdir", "pod-a"]]);
    expect(resolver.stats()).toMatchObject({ viaMntns: 1, replayed: 1, misses: { exited: 0 } });
  });

  it("without the tracker the same event is an `exited` miss once the wait is over", () => {
    podA();
    fake.spawn({ pid: 10, start: 5000, cgroup: cgA, mntns: NS_A });
    expect(resolver.submit(11, "sort", { eventTimeMs: now })).toBe("waiting");
    now += 3000;
    resolver.sweep();
    expect(audit).toEqual([]);
    expect(resolver.stats().misses.exited).toBe(1);
  });
});

describe("BpfSyscallAttributor (recorder: Bpf)", () => {
  it("delivers a namespace's syscalls once an exec in it is resolved, including those seen before", () => {
    podA();
    const b = attributor();
    b.onEvent(sys(NS_A, 0)); // read
    expect(got).toEqual([]);
    fake.spawn({ pid: 20, start: 5000, cgroup: cgA, mntns: NS_A });
    b.onEvent(exec(20, 1, NS_A));
    b.onEvent(sys(NS_A, 1)); // write
    expect(got).toEqual([
      ["pod-a", "x86_64", "read"],
      ["pod-a", "x86_64", "write"],
    ]);
    expect(b.stats()).toMatchObject({ delivered: 2, pendingNamespaces: 0 });
  });

  it("finds containers started before the recorder by scanning /proc, at most once per interval", () => {
    podA();
    fake.spawn({ pid: 30, start: 5000, cgroup: cgA, mntns: NS_A });
    fake.spawn({ pid: 31, start: 5000, cgroup: HOST, mntns: NS_SERVICE });
    const b = attributor({ scanIntervalMs: 5000 });
    b.onEvent(sys(NS_A, 2)); // open
    b.onEvent(sys(NS_SERVICE, 3));
    b.onEvent(snapshot);
    expect(got).toEqual([["pod-a", "x86_64", "open"]]);
    // The service's namespace is known not to be a container's: dropped at once from now on.
    b.onEvent(sys(NS_SERVICE, 4));
    expect(b.stats()).toMatchObject({ scans: 1, misses: { notContainer: 2 }, pendingNamespaces: 0 });

    b.onEvent(sys(4026532555, 0));
    b.onEvent(snapshot);
    expect(b.stats().scans).toBe(1);
    now += 5000;
    b.onEvent(snapshot);
    expect(b.stats().scans).toBe(2);
  });

  it("holds facts while the pod index lags, and counts what never gets a pod", () => {
    fake.spawn({ pid: 40, start: 5000, cgroup: cgA, mntns: NS_A });
    const b = attributor({ pendingTtlMs: 60_000 });
    b.onEvent(exec(40, 1, NS_A));
    b.onEvent(sys(NS_A, 0));
    b.onEvent(snapshot);
    expect(got).toEqual([]);
    podA();
    b.onEvent(snapshot);
    expect(got).toEqual([["pod-a", "x86_64", "read"]]);

    b.onEvent(sys(4026532777, 0));
    b.onEvent(sys(4026532777, 1));
    now += 60_000;
    b.onEvent(snapshot);
    expect(b.stats()).toMatchObject({ misses: { expired: 2 }, pendingNamespaces: 0 });
  });

  it("resolves nextSnapshot() waiters on the next snapshot", async () => {
    const b = attributor();
    let done = false;
    const p = b.nextSnapshot(60_000).then(() => {
      done = true;
    });
    await Promise.resolve();
    expect(done).toBe(false);
    b.onEvent(snapshot);
    await p;
    expect(done).toBe(true);
  });
});
