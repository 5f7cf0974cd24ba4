import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { KubePodInfo, PodEnd } from "../kube/pod-index.js";
import { labelsOf, RuncPodIndex } from "./runc-pod-index.js";
import { parseRuncState } from "./runc-state.js";

const ID_A = "a".repeat(64);
const ID_B = "b".repeat(64);
const UID = "12345678-1234-1234-1234-123456789abc";

/** A state.json as runc 1.1 writes it (cgroup v1 hybrid: one path per controller plus "" for the unified tree). */
function state(id: string, pid: number, start: number, cgroup: string, annotations: Record<string, string>) {
  const paths = Object.fromEntries(
    ["", "cpu", "memory", "name=systemd"].map((c) => [
      c,
      `/sys/fs/cgroup/${c === "" ? "unified" : c}${cgroup}`,
    ]),
  );
  return JSON.stringify({
    id,
    init_process_pid: pid,
    init_process_start: start,
    created: "2026-11-26T18:09:38.014549063Z",
    config: {
      labels: [...Object.entries(annotations).map(([k, v]) => `${k}=${v}`), "bundle=/tmp/bundle"],
      cgroups: { path: cgroup },
    },
    cgroup_paths: paths,
  });
}

/** `/proc/<pid>/stat` with `state` and starttime (field 22) set. */
const stat = (pid: number, start: number, st = "S") =>
  `${pid} (sh) ${st} 1 ${Array(17).fill("0").join(" ")} ${start} 0 0\n`;

describe("RuncPodIndex", () => {
  let dir: string;
  let root: string;
  let proc: string;
  let index: RuncPodIndex;
  let ended: [KubePodInfo, PodEnd][];
  let invalid: string[];

  const container = (id: string, pid: number, start: number, cgroup: string, ann: Record<string, string>) => {
    mkdirSync(path.join(root, id), { recursive: true });
    writeFileSync(path.join(root, id, "state.json"), state(id, pid, start, cgroup, ann));
    mkdirSync(path.join(proc, String(pid)), { recursive: true });
    writeFileSync(path.join(proc, String(pid), "stat"), stat(pid, start));
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "secprof-runc-index-"));
    root = path.join(dir, "run-runc");
    proc = path.join(dir, "proc");
    mkdirSync(root);
    mkdirSync(proc);
    ended = [];
    invalid = [];
    index = new RuncPodIndex({
      roots: [root, path.join(dir, "missing-root")],
      nodeName: "host1",
      procRoot: proc,
      pollMs: 3_600_000,
      onInvalid: (file) => invalid.push(path.basename(path.dirname(file))),
    });
    index.onPodEnded((pod, end) => ended.push([pod, end]));
  });
  afterEach(async () => {
    await index.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("maps kubelet-like runc containers to pods by their cgroup id and annotations; a missing root is no error", async () => {
    container("e2e-web", 101, 5000, `/kubepods/besteffort/pod${UID}/${ID_A}`, {
      "io.kubernetes.pod.namespace": "shop",
      "io.kubernetes.pod.name": "web-1",
      "io.kubernetes.container.name": "app",
      "secprof.io/label.app": "web",
    });
    // No annotations, systemd-style scope: everything defaults to the runc id.
    container(ID_B, 102, 6000, `/system.slice/docker-${ID_B}.scope`, {});
    // runc's default cgroup (/<id>) with a non-hex id: not attributable, counted.
    container("plain", 103, 7000, "/plain", {});
    await index.start();

    expect(index.synced).toBe(true);
    const a = index.lookup(ID_A);
    expect(a).toMatchObject({
      containerId: ID_A,
      namespace: "shop",
      pod: "web-1",
      podUid: "e2e-web",
      container: "app",
      node: "host1",
      labels: { app: "web", "secprof.io/label.app": "web" },
    });
    expect(index.podFacts("shop", "web-1")).toEqual({
      namespaceLabels: { "spo.x-k8s.io/enable-recording": "true" },
      labels: a?.labels,
      containers: ["app"],
    });
    expect(index.lookup(ID_B)).toMatchObject({ namespace: "default", pod: ID_B, container: ID_B });
    expect(index.stats).toMatchObject({ pods: 2, containers: 2, unattributable: 1, missingRoots: 1 });
  });

  it("a pod ends when its state is gone (Deleted) or its init exited (Succeeded); ended entries still answer", async () => {
    const ann = { "io.kubernetes.pod.name": "job", "io.kubernetes.container.name": "app" };
    container("gone", 201, 100, `/kubepods/pod${UID}/${ID_A}`, ann);
    container("exited", 202, 200, `/kubepods/besteffort/pod${UID}/${ID_B}`, {
      ...ann,
      "io.kubernetes.pod.name": "batch",
    });
    await index.start();
    const added: string[] = [];
    index.subscribe((c) => added.push(...c.added));

    rmSync(path.join(root, "gone"), { recursive: true });
    // Same pid, different start time: the pid was reused by another process.
    writeFileSync(path.join(proc, "202", "stat"), stat(202, 999));
    index.rescan();
    expect(ended.map(([p, e]) => `${p.name} ${e}`).sort()).toEqual(["batch Succeeded", "job Deleted"]);
    expect(index.lookup(ID_A)).toMatchObject({ pod: "job", deleted: true });
    expect(index.pod("default", "batch")?.phase).toBe("Succeeded");

    // Ends are reported once; a zombie init also counts as exited.
    index.rescan();
    expect(ended).toHaveLength(2);
    container("late", 203, 300, `/kubepods/pod${UID}/${"c".repeat(64)}`, ann);
    index.rescan();
    expect(added).toEqual(["c".repeat(64)]);
    expect(index.lookup("c".repeat(64))).toMatchObject({ pod: "job", podUid: "late" });
    writeFileSync(path.join(proc, "203", "stat"), stat(203, 300, "Z"));
    index.rescan();
    expect(ended.map(([p, e]) => `${p.uid} ${e}`)).toContain("late Succeeded");
  });

  it("containers sharing io.kubernetes.pod.uid are one pod, which ends with its last container", async () => {
    const ann = (c: string) => ({
      "io.kubernetes.pod.name": "duo",
      "io.kubernetes.pod.uid": UID,
      "io.kubernetes.container.name": c,
    });
    container("one", 301, 1, `/kubepods/pod${UID}/${ID_A}`, ann("web"));
    container("two", 302, 2, `/kubepods/pod${UID}/${ID_B}`, ann("sidecar"));
    await index.start();
    expect(index.podFacts("default", "duo")?.containers).toEqual(["web", "sidecar"]);
    rmSync(path.join(root, "one"), { recursive: true });
    index.rescan();
    expect(ended).toEqual([]);
    rmSync(path.join(root, "two"), { recursive: true });
    index.rescan();
    expect(ended.map(([p, e]) => `${p.uid} ${e} ${p.containers.length}`)).toEqual([`${UID} Deleted 2`]);
  });

  it("a lookup miss scans at once (rate-limited) and tells listeners afterwards, not inside the lookup", async () => {
    await index.start();
    const added: string[] = [];
    index.subscribe((c) => added.push(...c.added));
    await new Promise((r) => setTimeout(r, 30));
    container("fresh", 501, 1, `/kubepods/pod${UID}/${ID_A}`, { "io.kubernetes.pod.name": "fresh" });
    expect(index.lookup(ID_A)).toMatchObject({ pod: "fresh" });
    expect(added).toEqual([]);
    await Promise.resolve();
    expect(added).toEqual([ID_A]);
    // An id that missed does not scan again within the gap (another runtime's container).
    expect(index.lookup(ID_B)).toBeUndefined();
    const scans = index.stats.scans;
    container("next", 502, 1, `/kubepods/pod${UID}/${ID_B}`, {});
    expect(index.lookup(ID_B)).toBeUndefined();
    expect(index.stats.scans).toBe(scans);
  });

  it("reports a state.json that is not JSON or not runc's shape once, and keeps scanning", async () => {
    mkdirSync(path.join(root, "torn"));
    writeFileSync(path.join(root, "torn", "state.json"), '{"id": "torn", "init_pro');
    mkdirSync(path.join(root, "odd"));
    writeFileSync(path.join(root, "odd", "state.json"), JSON.stringify({ id: "odd", init_process_pid: "x" }));
    mkdirSync(path.join(root, "creating")); // no state.json yet: skipped silently
    container("ok", 401, 1, `/kubepods/pod${UID}/${ID_A}`, {});
    await index.start();
    index.rescan();
    expect(invalid.sort()).toEqual(["odd", "torn"]);
    expect(index.stats).toMatchObject({ invalidStates: 2, containers: 1 });
  });
});

describe("runc state and labels", () => {
  it("reads annotations (not runc's bundle label) and the container id from the systemd cgroup form", () => {
    const c = parseRuncState(
      "/run/runc",
      state(
        "x",
        1,
        2,
        `/kubepods.slice/kubepods-pod${UID.replaceAll("-", "_")}.slice/cri-containerd-${ID_A}.scope`,
        {
          k: "v=w",
        },
      ),
    );
    expect(c).toMatchObject({ id: "x", cgroupId: ID_A, annotations: { k: "v=w" } });
    expect(parseRuncState("/r", "[]")).toHaveProperty("error");
  });

  it("secprof.io/label.<key> becomes <key> and wins over a plain annotation of that name", () => {
    expect(labelsOf({ app: "x", "secprof.io/label.app": "web", "secprof.io/label.": "ignored" })).toEqual({
      app: "web",
      "secprof.io/label.app": "web",
      "secprof.io/label.": "ignored",
    });
  });
});
