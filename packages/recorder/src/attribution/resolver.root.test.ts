import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { type Dirent, readdirSync, readFileSync, readlinkSync, rmdirSync } from "node:fs";
import path from "node:path";
import { missing } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runcBundle } from "../runtime/runc.js";
import { MemoryPodIndex } from "./memory-pod-index.js";
import { type Attribution, AttributionResolver } from "./resolver.js";

const skip = missing("root", "runc");

/**
 * A real runc container placed in a kubelet-style cgroupfs path, as containerd does it for a
 * BestEffort pod (`<cgroup_parent>/<id>` with cgroup_parent `kubepods/besteffort/pod<uid>`).
 * The path is relative, so runc nests it under this process's own cgroup in every hierarchy
 * (like a kubelet `--cgroup-root`), and a per-run prefix keeps concurrent runs apart. runc's
 * systemd driver needs systemd as init, which this VM lacks: the systemd shapes are covered by
 * text in core's cgroup-path tests.
 */
describe.skipIf(skip)(`attribution of a real runc container (${skip ?? "root, runc"})`, () => {
  const prefix = `secprof-attr-${process.pid}-${randomBytes(3).toString("hex")}`;
  const podUid = randomUUID();
  const containerId = randomBytes(32).toString("hex");
  const runcId = `${prefix}-ctr`;
  let cleanup: (() => Promise<void>) | undefined;
  let pid = 0;

  beforeAll(async () => {
    const b = await runcBundle(["sleep", "600"], {
      id: runcId,
      cgroupsPath: `${prefix}/kubepods/besteffort/pod${podUid}/${containerId}`,
    });
    cleanup = b.cleanup;
    const run = spawnSync("runc", ["run", "-d", "--bundle", b.dir, runcId], {
      stdio: "ignore",
      timeout: 30_000,
    });
    expect(run.status).toBe(0);
    pid = (JSON.parse(execFileSync("runc", ["state", runcId], { encoding: "utf8" })) as { pid: number }).pid;
    expect(pid).toBeGreaterThan(0);
  });

  afterAll(async () => {
    await cleanup?.(); // runc delete --force, bundle removed
    removeCgroupTree(prefix);
  });

  it("maps the container's real pid and mount namespace to its id and pod", () => {
    const text = readFileSync(`/proc/${pid}/cgroup`, "utf8");
    expect(text).toContain(`/kubepods/besteffort/pod${podUid}/${containerId}`);

    const index = new MemoryPodIndex();
    const got: [string, Attribution][] = [];
    const r = new AttributionResolver<string>({ podIndex: index, onAttributed: (e, a) => got.push([e, a]) });

    // The pod index has not seen the pod yet: the event waits.
    expect(r.submit(pid, "early", { eventTimeMs: Date.now() })).toBe("backlogged");
    index.upsertPod({
      namespace: "team",
      name: "web-0",
      uid: podUid,
      containers: [{ name: "app", containerId: `containerd://${containerId}` }],
    });
    expect(r.submit(pid, "live", { eventTimeMs: Date.now() })).toBe("attributed");

    const mntns = Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/mnt`))?.[1]);
    expect(mntns).not.toBe(Number(/\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/mnt"))?.[1]));
    expect(got.map(([e]) => e)).toEqual(["early", "live"]);
    for (const [, a] of got)
      expect(a).toMatchObject({
        containerId,
        runtime: "containerd",
        cgroupPodUid: podUid,
        mntns,
        via: "pid",
        pod: { namespace: "team", pod: "web-0", podUid, container: "app" },
      });
    expect(r.lookupPid(pid)).toMatchObject({ kind: "container", container: { qos: "besteffort", podUid } });
    expect(r.lookupMntns(mntns)).toMatchObject({ container: { containerId }, pod: { pod: "web-0" } });

    // A second process joined with `runc exec` shares the cgroup and the mount namespace.
    expect(spawnSync("runc", ["exec", "-d", runcId, "sleep", "600"], { stdio: "ignore" }).status).toBe(0);
    const pids = JSON.parse(
      execFileSync("runc", ["ps", "--format", "json", runcId], { encoding: "utf8" }),
    ) as number[];
    const second = pids.find((p) => p !== pid);
    expect(second).toBeDefined();
    expect(r.submit(second ?? 0, "exec", { eventTimeMs: Date.now() })).toBe("attributed");
    expect(got.at(-1)?.[1]).toMatchObject({ containerId, mntns });

    // This test process is a host process.
    expect(r.submit(process.pid, "host")).toBe("not-container");
    expect(r.stats().misses.notContainer).toBe(1);
    r.close();
  });

  it("still attributes after the container's processes are gone (history, then mntns)", async () => {
    const index = new MemoryPodIndex();
    index.upsertPod({
      namespace: "team",
      name: "web-0",
      uid: podUid,
      containers: [{ name: "app", containerId }],
    });
    const got: [string, Attribution][] = [];
    // No wait for an exec tracker: an event of the exited pid without a time is a miss at once.
    const r = new AttributionResolver<string>({
      podIndex: index,
      exitedWaitMs: 0,
      onAttributed: (e, a) => got.push([e, a]),
    });
    const emitted = Date.now() - 1; // "an audit event from pid, read from the log late"
    const seen = r.lookupPid(pid, emitted);
    expect(seen.kind).toBe("container");
    const mntns = seen.kind === "container" ? seen.mntns : undefined;
    expect(mntns).toBeDefined();

    spawnSync("runc", ["kill", runcId, "KILL"], { stdio: "ignore" });
    for (let i = 0; i < 600 && r.reader.startTime(pid).ok; i++)
      await new Promise((res) => setTimeout(res, 50));
    expect(r.reader.startTime(pid).ok).toBe(false);

    expect(r.submit(pid, "late audit line", { eventTimeMs: emitted })).toBe("attributed");
    expect(r.submit(pid, "no time")).toBe("exited");
    expect(r.submit(pid, "ebpf", { mntns: mntns ?? 0 })).toBe("attributed");
    expect(got.map(([e, a]) => [e, a.via, a.containerId])).toEqual([
      ["late audit line", "pid-history", containerId],
      ["ebpf", "mntns", containerId],
    ]);
    r.close();
  });
});

/** Removes the (empty) cgroup directories runc left under `prefix` in every mounted hierarchy. */
function removeCgroupTree(prefix: string): void {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => / - cgroup2? /.test(l))
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => m !== undefined);
  const rmTree = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) rmTree(path.join(dir, e.name));
    rmdirSync(dir);
  };
  const find = (dir: string, depth: number) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name === prefix) rmTree(p);
      else if (depth > 0) find(p, depth - 1);
    }
  };
  for (const m of mounts) find(m, 3);
}
