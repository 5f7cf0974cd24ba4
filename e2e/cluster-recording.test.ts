import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { machine, release, tmpdir } from "node:os";
import path from "node:path";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { type FakeApiServer, missing, spoKinds, startFakeApiServer } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { AUDIT_LOG, auditMarker, readCheckpoint } from "./node/audit.js";
import {
  createRecording as createRecordingIn,
  GROUP,
  type Pod,
  type ProfileItem,
  startPodContainer,
  TRACE_SECCOMP,
} from "./node/cluster.js";
import { daemon, freePort, metricsWith, ROOT, run, tail, until } from "./node/procs.js";

/**
 * A node simulated from real parts: a runc container in kubelet's cgroup layout plays a pod of
 * the fake API server; the recorder and the merger run as processes against real Redis and the
 * real audit log. The container runs under the trace profile (SCMP_ACT_LOG), as the webhook
 * arranges for `recorder: Logs`.
 */
const skip = missing("root", "auditd", "runc", "redis", "bpftrace");
const TOKEN = randomBytes(24).toString("hex");
/**
 * Suffix of fixed recording names: Redis outlives a run, and a recording's state is keyed by
 * namespace, recording and profile name, so a fixed name would start from an earlier run's syscalls.
 */
const RUN = randomBytes(3).toString("hex");

/** The recorder's attribution counters (viaMntns, …) and misses (exited, …) by name. */
async function attributionCounters(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(
    /^secprof_recorder_attribution(?:_misses)?\{(?:what|reason)="(\w+)"[^}]*\} (\d+)$/gm,
  ))
    if (m[1] !== undefined) out[m[1]] = Number(m[2]);
  return out;
}

/** What a container does before it idles: a pipeline of short commands. */
const WORK = "ls /usr | sort | head -n 2 > /dev/null";
/**
 * Syscalls of long-lived processes (runc init → sh, sleep), both in the container's cgroup. What
 * only the pipeline's millisecond-long commands call is asserted by the short-lived scenario
 * (SHORT_LIVED), which relies on the exec tracker.
 */
const EXPECTED = ["execve", "pipe2", "wait4", "clock_nanosleep", "getdents64"];
/**
 * Made only by the pipeline's commands, which exit within milliseconds, before the recorder reads
 * their records (sort: sysinfo, sched_getaffinity; ls: statx).
 */
const SHORT_LIVED = ["sysinfo", "sched_getaffinity", "statx"];

describe.skipIf(skip)(
  `cluster recording on a simulated node (${skip ?? "fake API server, real Redis, auditd, runc"})`,
  () => {
    let api: FakeApiServer;
    const procs: ChildProcess[] = [];
    const dir = mkdtempSync(path.join(tmpdir(), "secprof-e2e-"));
    const recorderLog = path.join(dir, "recorder.log");
    const mergerLog = path.join(dir, "merger.log");
    const checkpointFile = path.join(dir, "cp.json");
    let apiPort = 0;
    let metricsPort = 0;
    let core: CoreV1Api;
    let custom: CustomObjectsApi;

    const diagnostics = async (): Promise<string> =>
      [
        `recorder metrics (non-zero):\n${await metricsWith(metricsPort, "secprof_recorder")}`,
        `recorder log:\n${tail(recorderLog)}`,
        `merger log:\n${tail(mergerLog)}`,
      ].join("\n\n");

    // ---- helpers: the cluster side (fake API server) ----

    const createRecording = (
      namespace: string,
      name: string,
      app: string,
      mergeStrategy?: "None" | "Containers",
      recorder: "Logs" | "Bpf" = "Logs",
    ) =>
      createRecordingIn(custom, namespace, name, {
        app,
        recorder,
        ...(mergeStrategy === undefined ? {} : { mergeStrategy }),
      });

    async function deleteRecording(namespace: string, name: string): Promise<void> {
      await custom.deleteNamespacedCustomObject({
        group: GROUP,
        version: "v1",
        namespace,
        plural: "profilerecordings",
        name,
      });
    }

    /** A pod on node1 with one container `app`; `name` ending in `-` is a generateName. */
    async function createPod(namespace: string, name: string, app: string): Promise<Pod> {
      const metadata = name.endsWith("-") ? { generateName: name } : { name };
      return core.createNamespacedPod({
        namespace,
        body: {
          metadata: { ...metadata, labels: { app } },
          spec: { nodeName: "node1", containers: [{ name: "app", image: "host" }] },
        },
      });
    }

    async function setPhase(pod: Pod, phase: string): Promise<void> {
      const namespace = pod.metadata?.namespace ?? "";
      const name = pod.metadata?.name ?? "";
      const live = await core.readNamespacedPod({ namespace, name });
      await core.replaceNamespacedPodStatus({
        namespace,
        name,
        body: { ...live, status: { ...live.status, phase } },
      });
    }

    async function listProfiles(labels: Record<string, string> = {}): Promise<ProfileItem[]> {
      const labelSelector = Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      const list = (await custom.listClusterCustomObject({
        group: GROUP,
        version: "v1",
        plural: "seccompprofiles",
        ...(labelSelector === "" ? {} : { labelSelector }),
      })) as { items: ProfileItem[] };
      return list.items;
    }

    const profileNamed = (name: string, timeoutMs = 45_000): Promise<ProfileItem> =>
      until(
        `the SeccompProfile ${name}`,
        async () => (await listProfiles()).find((p) => p.metadata.name === name),
        timeoutMs,
      );

    // ---- helpers: the node side (runc, kubelet, audit log) ----

    /** Starts the pod's container `app` under runc as the kubelet would (see startPodContainer). */
    const startContainer = (pod: Pod, script: string, seccomp: "trace" | "none" = "trace") =>
      startPodContainer(core, pod, script, seccomp === "trace" ? TRACE_SECCOMP : undefined);

    /** Runs the pod's container to its end (exit 0 expected). */
    async function runContainer(
      pod: Pod,
      script: string,
      seccomp: "trace" | "none" = "trace",
    ): Promise<void> {
      const container = await (await startContainer(pod, script, seccomp)).done;
      expect(container.status, container.stderr).toBe(0);
    }

    /** Waits until the recorder has read (and sent) everything logged before now. */
    async function recorderCaughtUp(): Promise<void> {
      const marker = await auditMarker();
      await until("the recorder to read the audit log past the container's records", async () => {
        const cp = readCheckpoint(checkpointFile);
        if (cp === undefined) return undefined;
        if (cp.ino === marker.ino) return cp.offset >= marker.end ? true : undefined;
        // The marker's file was rotated away and the recorder already follows the live file.
        return cp.ino === statSync(AUDIT_LOG).ino && statSync(AUDIT_LOG).ino !== marker.ino
          ? true
          : undefined;
      });
    }

    /** The pods end only after the recorder has read (and sent) everything their containers logged. */
    async function endPods(...pods: Pod[]): Promise<void> {
      await recorderCaughtUp();
      for (const pod of pods) await setPhase(pod, "Succeeded");
    }

    beforeAll(async () => {
      api = await startFakeApiServer({ kinds: spoKinds({ profilesNamespaced: false }) });
      const kc = api.kubeConfig("admin");
      core = kc.makeApiClient(CoreV1Api);
      custom = kc.makeApiClient(CustomObjectsApi);
      const kubeconfig = path.join(dir, "kubeconfig");
      writeFileSync(kubeconfig, kc.exportConfig());
      const redisUrl = process.env.SECPROF_REDIS_URL ?? "";
      const prefixEnv = { SECPROF_REDIS_URL: redisUrl, KUBECONFIG: kubeconfig };
      metricsPort = await freePort();
      apiPort = await freePort();
      procs.push(
        daemon(
          "packages/recorder/dist/main.js",
          {
            ...prefixEnv,
            NODE_NAME: "node1",
            SECPROF_CHECKPOINT: checkpointFile,
            SECPROF_SPOOL: path.join(dir, "spool.ndjson"),
            SECPROF_METRICS_PORT: String(metricsPort),
            SECPROF_METRICS_HOST: "127.0.0.1",
            SECPROF_FLUSH_MS: "500",
            SECPROF_RECORDERS: "logs,bpf",
            SECPROF_BPF_INTERVAL_MS: "500",
          },
          recorderLog,
        ),
        daemon(
          "packages/merger/dist/main.js",
          {
            ...prefixEnv,
            SECPROF_API_TOKEN: TOKEN,
            SECPROF_API_PORT: String(apiPort),
            SECPROF_API_HOST: "127.0.0.1",
            SECPROF_METRICS_PORT: "0",
          },
          mergerLog,
        ),
      );
      // One namespace per scenario, so that no recording selects another scenario's pods.
      for (const name of ["shop", "replicas", "snap", "bare", "ebpf", "short"]) {
        await core.createNamespace({
          body: { metadata: { name, labels: { "spo.x-k8s.io/enable-recording": "true" } } },
        });
      }
      // Without a checkpoint the recorder starts at the end of the audit log once it is up: a
      // workload started before it is ready is not recorded. Wait as the DaemonSet's readiness probe would.
      try {
        await until(
          "the recorder to be ready",
          async () => ((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok ? true : undefined),
          45_000,
        );
        await until(
          "the merger's API",
          async () => ((await fetch(`http://127.0.0.1:${apiPort}/`)).status > 0 ? true : undefined),
          45_000,
        );
      } catch (err) {
        throw new Error(`${String(err)}\n${await diagnostics()}`);
      }
    }, 120_000);

    afterAll(async () => {
      for (const p of procs) p.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 500));
      await api?.close();
    });

    it("records a Logs pod, writes its SeccompProfile when the pod ends, and serves it to CI", async () => {
      onTestFailed(async () => {
        console.error(await diagnostics());
      });
      await createRecording("shop", "web-rec", "web");
      const pod = await createPod("shop", "web-", "web");
      const podName = pod.metadata?.name ?? "";
      await runContainer(pod, `${WORK}; sleep 2`);
      await endPods(pod);

      const profileName = `web-rec-app-${podName.slice("web-".length)}`;
      const profile = await profileNamed(profileName);
      expect(profile.metadata.labels).toMatchObject({
        "spo.x-k8s.io/recording-id": "web-rec",
        "spo.x-k8s.io/container-id": "app",
        "spo.x-k8s.io/recording-namespace": "shop",
      });
      const names = profile.spec.syscalls?.[0]?.names ?? [];
      expect(names).toEqual(expect.arrayContaining(EXPECTED));

      // CI: pull the recording's bundle and diff it against itself (no drift → exit 0).
      const cli = path.join(ROOT, "packages/cli/dist/main.js");
      const out = path.join(dir, "pulled");
      const pull = await run(
        "node",
        [
          cli,
          "pull",
          "--server",
          `http://127.0.0.1:${apiPort}`,
          "--token",
          TOKEN,
          "--out",
          out,
          "shop/web-rec",
        ],
        30_000,
      );
      expect(pull.status, pull.stderr).toBe(0);
      const json = JSON.parse(readFileSync(path.join(out, `${profileName}.seccomp.json`), "utf8")) as {
        syscalls: { names: string[] }[];
      };
      expect(json.syscalls[0]?.names).toEqual(names);
      // The recorder reports its node's kernel and arch; the manifest shows them.
      const manifest = JSON.parse(readFileSync(path.join(out, "manifest.json"), "utf8")) as {
        nodes: { name: string; kernel: string; arch: string }[];
      };
      expect(manifest.nodes).toEqual([{ name: "node1", kernel: release(), arch: machine() }]);
      const diff = await run("node", [cli, "diff", out, out], 30_000);
      expect(diff.status, diff.stdout + diff.stderr).toBe(0);
    }, 120_000);

    it("merges a 2-replica workload's partials (mergeStrategy Containers) when the recording is deleted", async () => {
      onTestFailed(async () => {
        console.error(await diagnostics());
      });
      const rec = `merge-${RUN}`;
      await createRecording("replicas", rec, "web", "Containers");
      const pods = [await createPod("replicas", "web-", "web"), await createPod("replicas", "web-", "web")];
      await Promise.all(pods.map((p) => runContainer(p, `${WORK}; sleep 1`)));
      await endPods(...pods);

      const partialNames = pods.map((p) => `${rec}-app-${(p.metadata?.name ?? "").slice("web-".length)}`);
      const partialLabels = {
        "spo.x-k8s.io/recording-id": rec,
        "spo.x-k8s.io/recording-namespace": "replicas",
        "spo.x-k8s.io/partial": "true",
      };
      const partials = await until(
        "both partial SeccompProfiles",
        async () => {
          const ps = await listProfiles(partialLabels);
          return partialNames.every((n) => ps.some((p) => p.metadata.name === n)) ? ps : undefined;
        },
        45_000,
      );
      expect(partials.map((p) => p.metadata.name).sort()).toEqual([...partialNames].sort());
      for (const p of partials) {
        expect(p.metadata.labels).toEqual({ ...partialLabels, "spo.x-k8s.io/container-id": "app" });
        expect(p.spec.syscalls?.[0]?.names).toEqual(expect.arrayContaining(EXPECTED));
      }

      await deleteRecording("replicas", rec);
      const merged = await profileNamed(`${rec}-app`);
      expect(merged.metadata.labels).toEqual({
        "spo.x-k8s.io/recording-id": rec,
        "spo.x-k8s.io/recording-namespace": "replicas",
      });
      const coverage = merged.metadata.annotations?.["spo.x-k8s.io/syscall-coverage"] ?? "";
      expect(coverage).toContain('"total":2');
      expect(merged.spec.syscalls?.[0]?.names).toEqual(expect.arrayContaining(EXPECTED));
      await until(
        "the partials to be deleted",
        async () => ((await listProfiles(partialLabels)).length === 0 ? true : undefined),
        30_000,
      );
    }, 120_000);

    it("writes the profile of a running container on a snapshot request, before its pod ends", async () => {
      onTestFailed(async () => {
        console.error(await diagnostics());
      });
      const rec = `snap-${RUN}`;
      await createRecording("snap", rec, "snap");
      const pod = await createPod("snap", "snap-", "snap");
      const podName = pod.metadata?.name ?? "";
      const profileName = `${rec}-app-${podName.slice("snap-".length)}`;
      // Idles long enough for the snapshot; killed right after it (the test does not wait it out).
      const container = await startContainer(pod, `${WORK}; sleep 60`);
      try {
        await recorderCaughtUp();
        const unauthorized = await fetch(`http://127.0.0.1:${apiPort}/v1/recordings/snap/${rec}/snapshot`, {
          method: "POST",
        });
        expect(unauthorized.status).toBe(401);
        // The container runs its pipeline on its own and the recorder sends what it read every flush
        // (runc init's own calls before the exec go first): ask again until the snapshot holds the
        // pipeline's calls. Each request rewrites the profile from what the merger has so far.
        const want = ["execve", "pipe2", "wait4"]; // clock_nanosleep is not asserted: sleep may not have begun
        let written: string[] = [];
        const profile = await until(
          "a snapshot with the running target's profile, pipeline included",
          async () => {
            const res = await fetch(`http://127.0.0.1:${apiPort}/v1/recordings/snap/${rec}/snapshot`, {
              method: "POST",
              headers: { authorization: `Bearer ${TOKEN}` },
            });
            if (res.status !== 200) return undefined;
            written = ((await res.json()) as { profiles: string[] }).profiles;
            if (!written.includes(profileName)) return undefined;
            const p = await profileNamed(profileName, 10_000);
            const names = p.spec.syscalls?.[0]?.names ?? [];
            return want.every((n) => names.includes(n)) ? p : undefined;
          },
          30_000,
        );
        expect(written).toEqual([profileName]);
        expect(profile.metadata.labels).toMatchObject({
          "spo.x-k8s.io/recording-id": rec,
          "spo.x-k8s.io/container-id": "app",
          "spo.x-k8s.io/recording-namespace": "snap",
        });
        expect(profile.metadata.labels?.["spo.x-k8s.io/partial"]).toBeUndefined();
        // Neither the pod nor its container has ended.
        const live = await core.readNamespacedPod({ namespace: "snap", name: podName });
        expect(live.status?.phase).toBe("Running");
        const state = await run("runc", ["state", container.runcId]);
        expect(state.stdout).toContain('"status": "running"');
      } finally {
        await run("runc", ["kill", container.runcId, "KILL"]);
        await container.done;
      }
      await setPhase(pod, "Succeeded");
    }, 120_000);

    it("names a bare pod's profile <recording>-<container> (mergeStrategy None)", async () => {
      onTestFailed(async () => {
        console.error(await diagnostics());
      });
      const rec = `bare-${RUN}`;
      await createRecording("bare", rec, "api", "None");
      const pod = await createPod("bare", "api", "api");
      await runContainer(pod, `${WORK}; sleep 1`);
      await endPods(pod);
      const profile = await profileNamed(`${rec}-app`);
      expect(profile.metadata.labels).toEqual({
        "spo.x-k8s.io/recording-id": rec,
        "spo.x-k8s.io/container-id": "app",
        "spo.x-k8s.io/recording-namespace": "bare",
      });
      expect(profile.spec.syscalls?.[0]?.names).toEqual(expect.arrayContaining(EXPECTED));
    }, 120_000);
    it("records a Bpf pod without changing it: no trace profile, syscalls from the kernel per mount namespace", async () => {
      onTestFailed(async () => {
        console.error(await diagnostics());
      });
      const rec = `bpf-${RUN}`;
      await createRecording("ebpf", rec, "bpf", "None", "Bpf");
      const pod = await createPod("ebpf", "bpf", "bpf");
      // No seccomp profile at all: nothing is logged by the kernel's audit, only eBPF sees the calls.
      await runContainer(pod, `${WORK}; sleep 1`, "none");
      await setPhase(pod, "Succeeded");
      const profile = await profileNamed(`${rec}-app`);
      expect(profile.metadata.labels).toEqual({
        "spo.x-k8s.io/recording-id": rec,
        "spo.x-k8s.io/container-id": "app",
        "spo.x-k8s.io/recording-namespace": "ebpf",
      });
      // eBPF aggregates per namespace in the kernel: the millisecond-long commands are in too.
      expect(profile.spec.syscalls?.[0]?.names).toEqual(
        expect.arrayContaining([...EXPECTED, ...SHORT_LIVED]),
      );
      const live = await core.readNamespacedPod({ namespace: "ebpf", name: "bpf" });
      expect(live.spec?.containers[0]?.securityContext).toBeUndefined();
      expect(live.spec?.securityContext ?? {}).toEqual({});
    }, 120_000);

    it("attributes Logs records of commands that exit within milliseconds (exec tracker)", async () => {
      onTestFailed(async () => {
        console.error(await diagnostics());
      });
      const rec = `short-${RUN}`;
      await createRecording("short", rec, "short", "None");
      const pod = await createPod("short", "short", "short");
      const before = await attributionCounters(metricsPort);
      // 30 rounds of the pipeline: each command lives a few milliseconds.
      await runContainer(pod, `for i in $(seq 30); do ${WORK}; done; sleep 1`);
      await endPods(pod);
      const profile = await profileNamed(`${rec}-app`);
      expect(profile.spec.syscalls?.[0]?.names).toEqual(
        expect.arrayContaining([...EXPECTED, ...SHORT_LIVED]),
      );
      const after = await attributionCounters(metricsPort);
      const viaMntns = (after.viaMntns ?? 0) - (before.viaMntns ?? 0);
      const exited = (after.exited ?? 0) - (before.exited ?? 0);
      console.log(
        `short-lived commands: ${viaMntns} records attributed via the exec tracker, ${exited} residual misses`,
      );
      expect(viaMntns).toBeGreaterThan(0);
    }, 120_000);
  },
);
