import type { AppArmorFactsInput, AppArmorLoss, PodContainerRef } from "@secprof/core";
import { describe, expect, it } from "vitest";
import type { AppArmorExecLine } from "../sources/bpf/apparmor-parse.js";
import { type AppArmorSourceLike, BpfAppArmorAttributor, NodeAppArmorRecorder } from "./bpf-apparmor.js";

const noLoss = (): AppArmorLoss => ({
  truncated: 0,
  droppedNamespaceEvents: 0,
  unusablePaths: 0,
  unknownCapabilities: 0,
});
const facts = (readPaths: string[]): AppArmorFactsInput => ({
  executables: ["/bin/sh"],
  libraries: [],
  readPaths,
  writePaths: [],
  capabilities: [],
  network: [],
});

/** A fact table as AppArmorBpfSource keeps it: by ns_id, forgotten ids stay ignored. */
class FakeSource implements AppArmorSourceLike {
  readonly table = new Map<number, { facts: AppArmorFactsInput; loss: AppArmorLoss }>();
  readonly forgotten = new Set<number>();
  readonly listeners = new Set<(e: AppArmorExecLine) => void>();
  stats = { snapshots: 0, mapFullSnapshots: 0, kernelLost: 0, linesRead: 0 };
  started = 0;
  stopped = 0;
  set(nsId: number, readPaths: string[], loss = noLoss()): void {
    if (!this.forgotten.has(nsId)) this.table.set(nsId, { facts: facts(readPaths), loss });
  }
  exec(e: Partial<AppArmorExecLine> & { pid: number; mntns: number; nsId: number }): void {
    for (const l of this.listeners) l({ ppid: 1, comm: "sh", filename: "/bin/sh", ...e });
  }
  namespaces(): number[] {
    return [...this.table.keys()];
  }
  facts(nsId: number): AppArmorFactsInput {
    return this.table.get(nsId)?.facts ?? facts([]);
  }
  loss(nsId: number): AppArmorLoss {
    return this.table.get(nsId)?.loss ?? noLoss();
  }
  forget(nsId: number): void {
    this.forgotten.add(nsId);
    this.table.delete(nsId);
  }
  onExec(l: (e: AppArmorExecLine) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  async start() {
    this.started++;
    return { ok: true as const, ms: 1 };
  }
  async stop() {
    this.stopped++;
  }
}

const ref = (pod: string, uid = `${pod}-uid`): PodContainerRef => ({
  namespace: "shop",
  pod,
  podUid: uid,
  container: "app",
  containerId: `${pod}-cid`,
  kind: "regular",
});

/** mntns inode → pod (what the resolver learned); pids of host services. */
function fakeResolver(byInode: Map<number, PodContainerRef>, hostPids: Set<number>) {
  return {
    lookupMntns: (ino: number) => {
      const pod = byInode.get(ino);
      return pod === undefined ? undefined : { container: {} as never, pod };
    },
    lookupPid: (pid: number) => (hostPids.has(pid) ? { kind: "not-container" } : { kind: "gone" }) as never,
  };
}

describe("BpfAppArmorAttributor", () => {
  it("binds each ns_id to the pod its inode resolves to, and keeps it when the inode is reused", () => {
    const src = new FakeSource();
    const byInode = new Map<number, PodContainerRef>();
    const got: [string, string[], number][] = [];
    const a = new BpfAppArmorAttributor(src, {
      resolver: fakeResolver(byInode, new Set()),
      tracker: { onExec: () => false },
      deliver: (pod, f, lost) => got.push([pod.pod, f.readPaths, lost]),
    });
    src.listeners.add(a.onExec);
    src.set(7, ["/etc/a"]);
    a.collect();
    expect(got).toEqual([]); // no exec seen: the namespace waits
    src.exec({ pid: 10, mntns: 4026532001, nsId: 7 });
    a.collect();
    expect(got).toEqual([]); // the pod index has not reported it yet
    byInode.set(4026532001, ref("web-1"));
    a.collect();
    expect(got).toEqual([["web-1", ["/etc/a"], 0]]);
    // The inode is reused by another pod's namespace (a new ns_id): each keeps its own pod.
    byInode.set(4026532001, ref("web-2"));
    src.exec({ pid: 11, mntns: 4026532001, nsId: 8 });
    src.set(8, ["/etc/b"]);
    src.set(7, ["/etc/a", "/etc/c"], { ...noLoss(), truncated: 2 });
    got.length = 0;
    a.collect();
    expect(got).toEqual([
      ["web-1", ["/etc/a", "/etc/c"], 2],
      ["web-2", ["/etc/b"], 0],
    ]);
    got.length = 0;
    a.collect(); // loss is reported once
    expect(got.map((g) => g[2])).toEqual([0, 0]);
    expect(a.stats()).toMatchObject({ attributed: 2, waiting: 0 });
  });

  it("forgets host services' namespaces at their first exec, and a pod's namespaces when it ends", () => {
    const src = new FakeSource();
    const byInode = new Map([[4026532002, ref("job")]]);
    const got: string[] = [];
    const a = new BpfAppArmorAttributor(src, {
      resolver: fakeResolver(byInode, new Set([99])),
      tracker: { onExec: () => false },
      deliver: (pod) => got.push(pod.pod),
    });
    src.listeners.add(a.onExec);
    src.set(3, ["/var/lib/svc"]);
    src.exec({ pid: 99, mntns: 4026531999, nsId: 3 });
    expect(src.forgotten.has(3)).toBe(true);
    src.exec({ pid: 20, mntns: 4026532002, nsId: 4 });
    src.set(4, ["/data"]);
    a.collect();
    expect(got).toEqual(["job"]);
    a.podEnded({ namespace: "shop", name: "job", uid: "job-uid" });
    expect(src.forgotten.has(4)).toBe(true);
    expect(a.stats()).toMatchObject({ notContainer: 1, forgotten: 1 });
  });
});

describe("BpfAppArmorAttributor.wants", () => {
  it("copies out only the facts of containers a recording wants", () => {
    const src = new FakeSource();
    const byInode = new Map([
      [4026532010, ref("wanted")],
      [4026532011, ref("other")],
    ]);
    const got: string[] = [];
    const a = new BpfAppArmorAttributor(src, {
      resolver: fakeResolver(byInode, new Set()),
      tracker: { onExec: () => false },
      deliver: (pod) => got.push(pod.pod),
      wants: (pod) => pod.pod === "wanted",
    });
    src.listeners.add(a.onExec);
    src.exec({ pid: 30, mntns: 4026532010, nsId: 20 });
    src.exec({ pid: 31, mntns: 4026532011, nsId: 21 });
    src.set(20, ["/a"]);
    src.set(21, ["/b"]);
    a.collect();
    expect(got).toEqual(["wanted"]);
    expect(src.forgotten.size).toBe(0);
  });
});

describe("NodeAppArmorRecorder", () => {
  it("replaces a source whose kernel map is full, keeping the namespaces' pods", async () => {
    const made: FakeSource[] = [];
    const flags: boolean[] = [];
    const got: string[][] = [];
    const byInode = new Map([[4026532003, ref("api")]]);
    const r = new NodeAppArmorRecorder({
      resolver: fakeResolver(byInode, new Set()),
      tracker: { onExec: () => false },
      deliver: (_pod, f) => got.push(f.readPaths),
      onWarning: () => {},
      create: (restarted) => {
        flags.push(restarted);
        const s = new FakeSource();
        made.push(s);
        return s;
      },
    });
    await r.start();
    const first = made[0] as FakeSource;
    first.exec({ pid: 5, mntns: 4026532003, nsId: 9 });
    first.set(9, ["/srv/a"]);
    first.stats.mapFullSnapshots = 1;
    r.collect();
    await new Promise((res) => setTimeout(res, 10));
    expect(flags).toEqual([false, true]);
    expect(first.stopped).toBe(1);
    const second = made[1] as FakeSource;
    second.set(9, ["/srv/b"]);
    got.length = 0;
    r.collect();
    expect(got).toEqual([["/srv/b"]]);
    expect(r.stats()).toMatchObject({ restarts: 1 });
    await r.stop();
    expect(second.stopped).toBe(1);
  });

  it("on a pod's end waits for two more snapshots before collecting", async () => {
    const src = new FakeSource();
    const got: string[][] = [];
    const r = new NodeAppArmorRecorder({
      resolver: fakeResolver(new Map([[4026532004, ref("end")]]), new Set()),
      tracker: { onExec: () => false },
      deliver: (_pod, f) => got.push(f.readPaths),
      onWarning: () => {},
      create: () => src,
    });
    src.exec({ pid: 6, mntns: 4026532004, nsId: 12 });
    const ended = r.podEnded({ namespace: "shop", name: "end", uid: "end-uid" }, 5000);
    src.set(12, ["/last"]);
    src.stats.snapshots += 2;
    await ended;
    expect(got).toEqual([["/last"]]);
    expect(src.forgotten.has(12)).toBe(true);
  });
});
