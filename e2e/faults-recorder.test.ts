import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { missing } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
// From the sources: the deploy tree is not part of @secprof/core's index.
import { heapLimitMiB, MEMORY_LIMIT_MIB } from "../packages/core/src/rbac/manifests.js";
import { type Pod, SimCluster } from "./node/cluster.js";
import { type DaemonProcess, mergerProcess, recorderProcess } from "./node/daemons.js";
import {
  AuditLogWriter,
  checkpointAtEnd,
  FakeProc,
  fakePod,
  seeded,
  syscallStream,
} from "./node/synthetic.js";

/**
 * Recorder faults on a node with a simulated kernel (an audit log the test writes, a fake /proc)
 * and everything else real: the recorder and merger daemons, Redis, the fake API server. Each
 * test states what must hold afterwards; the yardstick is the profile an undisturbed recorder
 * writes for the same syscall stream (and the stream's own set of syscalls).
 */
const skip = missing("redis");
const RUN = randomBytes(3).toString("hex");
const NS = "faults";
const TOKEN = randomBytes(24).toString("hex");
/** The merger's mark on a profile whose recording lost data (with the loss counters). */
const INCOMPLETE = "secprof.x-k8s.io/incomplete";
/**
 * The flood: lines, processes, and the recorder's peak RSS budget (VmHWM, MiB): the memory limit
 * of its container in the manifests, under which it runs with their V8 heap limit.
 */
const FLOOD_LINES = 250_000;
const FLOOD_PIDS = 3000;
const FLOOD_RSS_BUDGET_MIB = MEMORY_LIMIT_MIB.recorder;
const RECORDER_HEAP_CAP = `--max-old-space-size=${heapLimitMiB(MEMORY_LIMIT_MIB.recorder)}`;

describe.skipIf(skip)(`recorder faults (${skip ?? "recorder + merger processes, Redis, fake API"})`, () => {
  const dir = mkdtempSync(path.join(tmpdir(), "secprof-faults-"));
  const redisUrl = process.env.SECPROF_REDIS_URL ?? "";
  const proc = new FakeProc(100_000);
  let cluster: SimCluster;
  let merger: DaemonProcess;
  const recorders: DaemonProcess[] = [];
  let nextPid = 4000;

  beforeAll(async () => {
    cluster = await SimCluster.start(dir);
    merger = (await mergerProcess({ dir, kubeconfig: cluster.kubeconfig, redisUrl, token: TOKEN })).start();
    await cluster.namespace(NS);
    await merger.ready();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(recorders.map((r) => r.stop()));
    await merger?.stop();
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
    proc.cleanup();
  }, 30_000);

  const diagnostics = () => [...recorders, merger].map((d) => d.diagnostics()).join("\n\n");

  /** A recorder for node `node` reading its own audit log (the exec tracker is off: the pids are fake). */
  async function nodeRecorder(node: string, extra: Record<string, string> = {}) {
    const audit = new AuditLogWriter(path.join(dir, `${node}.audit.log`), 0);
    const r = await recorderProcess({
      dir,
      kubeconfig: cluster.kubeconfig,
      redisUrl,
      node,
      auditLog: audit.file,
      procRoot: proc.root,
      flushMs: 200,
      extra: { SECPROF_EXEC_TRACKER: "off", ...extra },
    });
    recorders.push(r);
    return { audit, recorder: r, checkpoint: path.join(dir, `${node}.checkpoint.json`) };
  }

  /** A recording selecting one fixed-name pod on `node`, whose container is fake process `pid`. */
  async function recordedPod(
    name: string,
    node: string,
  ): Promise<{ pod: Pod; pid: number; profile: string }> {
    const rec = `${name}-${RUN}`;
    await cluster.createRecording(NS, rec, { app: rec, mergeStrategy: "None" });
    const pid = nextPid++;
    const pod = await fakePod(cluster, proc, { namespace: NS, name: rec, app: rec, node, pid });
    return { pod, pid, profile: `${rec}-app` };
  }

  async function profileSyscalls(
    name: string,
  ): Promise<{ names: string[]; annotations: Record<string, string> }> {
    const p = await cluster.profileNamed(name, 30_000);
    return {
      names: (p.spec.syscalls ?? []).flatMap((s) => s.names).sort(),
      annotations: p.metadata.annotations ?? {},
    };
  }

  it("recorder kill -9 at random points while recording: the final profile equals the undisturbed recorder's", async () => {
    onTestFailed(() => console.error(diagnostics()));
    const seed = Date.now() % 100_000;
    const rand = seeded(seed);
    const killed = await nodeRecorder(`k9-${RUN}`);
    const calm = await nodeRecorder(`calm-${RUN}`);
    const a = await recordedPod("k9", `k9-${RUN}`);
    const b = await recordedPod("calm", `calm-${RUN}`);
    killed.recorder.start();
    calm.recorder.start();
    await Promise.all([killed.recorder.ready(), calm.recorder.ready()]);

    let done = 0;
    // ~8 s of events (300 distinct syscalls in 12 000 lines) to both nodes, the same stream;
    // meanwhile one recorder is killed -9 and restarted at random moments.
    const stream = syscallStream(12_000, 300, seed);
    const kills = 5;
    let writing = true;
    let killedWhileWriting = 0;
    const writer = (async () => {
      for (let i = 0; i < stream.length; i += 100) {
        const chunk = stream.slice(i, i + 100);
        killed.audit.append(chunk.map((n) => killed.audit.seccomp(a.pid, n)));
        calm.audit.append(chunk.map((n) => calm.audit.seccomp(b.pid, n)));
        await new Promise((r) => setTimeout(r, 60));
        // The stream never runs ahead of the kills: every kill lands while the log grows.
        while (done < kills && (i + 100) / stream.length > (done + 1) / (kills + 1))
          await new Promise((r) => setTimeout(r, 50));
      }
      writing = false;
    })();
    while (done < kills) {
      await new Promise((r) => setTimeout(r, 200 + rand() * 900));
      if (writing) killedWhileWriting++;
      await killed.recorder.kill9();
      done++;
      // Down for a random moment; the log grows meanwhile.
      await new Promise((r) => setTimeout(r, rand() * 400));
      killed.recorder.start();
      if (writing) await killed.recorder.ready();
    }
    await writer;
    await killed.recorder.ready();
    await Promise.all([
      checkpointAtEnd(killed.checkpoint, killed.audit.file),
      checkpointAtEnd(calm.checkpoint, calm.audit.file),
    ]);
    await cluster.setPhase(a.pod, "Succeeded");
    await cluster.setPhase(b.pod, "Succeeded");

    const [disturbed, undisturbed] = await Promise.all([
      profileSyscalls(a.profile),
      profileSyscalls(b.profile),
    ]);
    const truth = [...new Set(stream)].sort();
    expect(undisturbed.names).toEqual(truth);
    expect(disturbed.names, `seed ${seed}`).toEqual(undisturbed.names);
    expect(done).toBe(kills);
    expect(killedWhileWriting, "kills landed while the log grew").toBe(kills);
    // Nothing was lost, so nothing is reported lost: the restarts resumed from their checkpoints.
    expect(disturbed.annotations[INCOMPLETE]).toBeUndefined();
    expect(readFileSync(killed.recorder.logFile, "utf8").match(/"kind":"resumed"/g)).toHaveLength(kills);
  }, 120_000);

  it("audit.log rotated every 0.25 s under load, then truncated while the recorder is down: every line is read once; only what the truncation destroyed is missing, and it is reported", async () => {
    onTestFailed(() => console.error(diagnostics()));
    const node = `rot-${RUN}`;
    const { audit, recorder, checkpoint } = await nodeRecorder(node);
    const target = await recordedPod("rot", node);
    recorder.start();
    await recorder.ready();

    // Phase 1: 16 000 lines in ~4 s while auditd-style rotation (keep 8) runs every 250 ms.
    const stream = syscallStream(16_000, 200, 7);
    let writing = true;
    let rotations = 0;
    const rotator = (async () => {
      while (writing) {
        await new Promise((r) => setTimeout(r, 250));
        audit.rotate(8);
        rotations++;
      }
    })();
    for (let i = 0; i < stream.length; i += 400) {
      audit.append(stream.slice(i, i + 400).map((n) => audit.seccomp(target.pid, n)));
      await new Promise((r) => setTimeout(r, 100));
    }
    writing = false;
    await rotator;
    // A long tail after the last rotation, so the checkpoint offset is large for phase 2.
    const tailNames = syscallStream(3000, 20, 8);
    audit.append(tailNames.map((n) => audit.seccomp(target.pid, n)));
    await checkpointAtEnd(checkpoint, audit.file);
    expect(rotations).toBeGreaterThanOrEqual(12);
    expect(await recorder.metric("secprof_recorder_audit_log", { what: "rotations" })).toBe(rotations);
    // Every line read exactly once: nothing lost, nothing repeated across the rotations.
    expect(await recorder.metric("secprof_recorder_lines_total")).toBe(audit.lines);

    // Phase 2: down; lines logged after its checkpoint are destroyed by a truncation; new lines follow.
    const seen = new Set([...stream, ...tailNames]);
    const unseen = syscallStream(4000, 400, 9).filter((n) => !seen.has(n));
    const doomed = [...new Set(unseen)].slice(0, 15);
    const after = [...new Set(unseen)].slice(15, 30);
    expect(after).toHaveLength(15);
    await recorder.kill9();
    audit.append(doomed.map((n) => audit.seccomp(target.pid, n)));
    audit.truncate();
    audit.append(after.map((n) => audit.seccomp(target.pid, n)));
    recorder.start();
    await recorder.ready();
    await checkpointAtEnd(checkpoint, audit.file);
    // After the restart: exactly the lines written since the truncation, once.
    expect(await recorder.metric("secprof_recorder_lines_total")).toBe(after.length);
    await cluster.setPhase(target.pod, "Succeeded");
    const profile = await profileSyscalls(target.profile);
    expect(profile.names).toEqual([...new Set([...seen, ...after])].sort());
    for (const n of doomed) expect(profile.names).not.toContain(n);
    // The loss is reported: in the recorder's log, and on the profile (marked incomplete).
    expect(readFileSync(recorder.logFile, "utf8")).toMatch(/checkpoint-not-used.*truncated or replaced/);
    expect(profile.annotations[INCOMPLETE], JSON.stringify(profile.annotations)).toBeDefined();
  }, 120_000);
  it("clock skew between two recorders (-10 min and +10 min): each node's profile and the merged one equal the undisturbed result", async () => {
    onTestFailed(() => console.error(diagnostics()));
    const rec = `skew-${RUN}`;
    await cluster.createRecording(NS, rec, { app: rec, mergeStrategy: "Containers" });
    const stream = syscallStream(4000, 120, 11);
    const nodes = await Promise.all(
      [-600_000, 600_000].map(async (skewMs, i) => {
        const node = `skew${i}-${RUN}`;
        const n = await nodeRecorder(node, {
          NODE_OPTIONS: `--import=${path.join(import.meta.dirname, "node/skewed-clock.mjs")}`,
          SECPROF_TEST_CLOCK_SKEW_MS: String(skewMs),
        });
        // The node's kernel stamps audit records with the node's own (skewed) clock.
        const audit = new AuditLogWriter(n.audit.file, skewMs);
        const pid = nextPid++;
        const pod = await fakePod(cluster, proc, { namespace: NS, name: `${rec}-${i}`, app: rec, node, pid });
        return { ...n, audit, pid, pod };
      }),
    );
    for (const n of nodes) n.recorder.start();
    await Promise.all(nodes.map((n) => n.recorder.ready()));
    // The skew is in effect: each recorder's log lines carry its own clock's time.
    nodes.forEach((n, i) => {
      const first = JSON.parse(readFileSync(n.recorder.logFile, "utf8").split("\n")[0] ?? "{}") as {
        time: number;
      };
      expect(Math.abs(first.time - Date.now() - (i === 0 ? -600_000 : 600_000))).toBeLessThan(60_000);
    });
    for (let i = 0; i < stream.length; i += 500)
      for (const n of nodes) n.audit.append(stream.slice(i, i + 500).map((s) => n.audit.seccomp(n.pid, s)));
    await Promise.all(nodes.map((n) => checkpointAtEnd(n.checkpoint, n.audit.file)));
    for (const n of nodes) await cluster.setPhase(n.pod, "Succeeded");

    const truth = [...new Set(stream)].sort();
    for (const n of nodes) {
      const partial = await profileSyscalls(`${rec}-app-${n.pod.metadata?.name}`);
      expect(partial.names, `partial of ${n.pod.spec?.nodeName}`).toEqual(truth);
    }
    await cluster.deleteRecording(NS, rec);
    const merged = await profileSyscalls(`${rec}-app`);
    expect(merged.names).toEqual(truth);
    expect(merged.annotations["spo.x-k8s.io/syscall-coverage"]).toContain('"total":2');
    expect(merged.annotations[INCOMPLETE]).toBeUndefined();
  }, 120_000);
  it(`a flood of ${FLOOD_LINES / 1000}k events from ${FLOOD_PIDS} processes of containers no pod claims: peak RSS stays under ${FLOOD_RSS_BUDGET_MIB} MiB, drops are counted, and the recorded pod's profile is complete and marked incomplete`, async () => {
    onTestFailed(() => console.error(diagnostics()));
    const node = `flood-${RUN}`;
    const { audit, recorder, checkpoint } = await nodeRecorder(node, { NODE_OPTIONS: RECORDER_HEAP_CAP });
    const target = await recordedPod("flood", node);
    // Processes in containers of pods the API does not know (static pods, another runtime's
    // containers): their events wait in the resolver's bounded backlog, then are dropped and counted.
    const floodPids = Array.from({ length: FLOOD_PIDS }, (_, i) => 100_000 + i);
    for (const pid of floodPids) {
      const id = randomBytes(32).toString("hex");
      proc.spawn({ pid, start: 100, cgroup: `0::/kubepods/besteffort/pod${randomUUID()}/${id}\n` });
    }
    recorder.start();
    await recorder.ready();
    const truth = syscallStream(5000, 150, 21);
    const noise = syscallStream(FLOOD_LINES, 300, 22);
    const rand = seeded(23);
    const started = Date.now();
    const perChunk = 10_000;
    for (let i = 0, t = 0; i < noise.length; i += perChunk) {
      const lines: string[] = [];
      for (const name of noise.slice(i, i + perChunk)) {
        lines.push(audit.seccomp(floodPids[Math.floor(rand() * floodPids.length)] ?? 0, name));
        if (rand() < truth.length / FLOOD_LINES && t < truth.length)
          lines.push(audit.seccomp(target.pid, truth[t++] ?? ""));
      }
      if (i + perChunk >= noise.length)
        while (t < truth.length) lines.push(audit.seccomp(target.pid, truth[t++] ?? ""));
      audit.append(lines);
    }
    await checkpointAtEnd(checkpoint, audit.file, 120_000);
    const seconds = (Date.now() - started) / 1000;
    const pid = recorder.child?.pid ?? 0;
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const peakMib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? "0") / 1024;
    const misses = await recorder.metric("secprof_recorder_attribution_misses", { reason: "backlogFull" });
    console.log(
      `flood: ${audit.lines} lines in ${seconds.toFixed(1)} s (${Math.round(audit.lines / seconds)} lines/s), recorder peak RSS ${peakMib.toFixed(0)} MiB, backlogFull drops ${misses}`,
    );
    expect(peakMib).toBeGreaterThan(0);
    expect(peakMib).toBeLessThan(FLOOD_RSS_BUDGET_MIB);
    expect(await recorder.metric("secprof_recorder_lines_total")).toBe(audit.lines);
    expect(misses).toBeGreaterThan(0);

    await cluster.setPhase(target.pod, "Succeeded");
    const profile = await profileSyscalls(target.profile);
    expect(profile.names).toEqual([...new Set(truth)].sort());
    const incomplete = JSON.parse(profile.annotations[INCOMPLETE] ?? "{}") as Record<string, unknown>;
    expect(JSON.stringify(incomplete)).toMatch(/"attributionMisses":[1-9]/);
  }, 180_000);
});
