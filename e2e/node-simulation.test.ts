import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { TRACE_SECCOMP_PROFILE } from "@secprof/core";
import { nodeStatusName } from "@secprof/installer";
import { missing, SPO_GROUP, selfSignedCert } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { recorderCaughtUp } from "./node/audit.js";
import { NODE, type Pod, SimCluster, TRACE_SECCOMP } from "./node/cluster.js";
import { DaemonProcess, mergerProcess, recorderProcess } from "./node/daemons.js";
import { admit, containerSeccomp, seccompDir, withLocalhostProfile } from "./node/kubelet.js";
import { freePort, ROOT, run, until } from "./node/procs.js";
import { WORKLOADS, type Workload } from "./node/workloads.js";

/**
 * One node from real parts, end to end: pods are runc containers in kubelet's cgroup layout,
 * the API server is the fake one, the queue is real Redis, the kernel logs through auditd (and
 * bpftrace feeds the recorder's exec tracker); the recorder, merger, webhook and installer run as
 * processes, the installer on a temporary host root. Real workloads (an HTTP server with its
 * client in two replicas, redis-server with redis-cli, a shell-heavy batch job) are recorded
 * through ProfileRecordings (mergeStrategy Containers: merged when the recording is deleted),
 * approved with `secprof approve` (a ProfileApproval), installed by the installer daemon, and
 * then each workload must pass its own check under its installed profile — and fail without a
 * syscall it needs.
 */
const skip = missing("root", "auditd", "runc", "redis", "bpftrace");
const RUN = randomBytes(3).toString("hex");
const NS = "node-sim";
const TOKEN = randomBytes(24).toString("hex");
const CLI = path.join(ROOT, "packages/cli/dist/main.js");
/** Replicas per workload: the HTTP server runs twice, so its profile is a merge of two partials. */
const replicasOf = (w: Workload) => (w.app === "http" ? 2 : 1);

describe.skipIf(skip)(
  `simulated node end to end (${skip ?? "runc pods, fake API, Redis, auditd, bpftrace"})`,
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), "secprof-node-"));
    const hostRoot = path.join(dir, "host");
    let cluster: SimCluster;
    const daemons: DaemonProcess[] = [];
    let webhookPort = 0;
    let ca = "";
    const recordingOf = (w: Workload) => `${w.app}-${RUN}`;
    const profileOf = (w: Workload) => `${recordingOf(w)}-app`;

    beforeAll(async () => {
      cluster = await SimCluster.start(dir);
      const kubeconfig = cluster.kubeconfig;
      const redisUrl = process.env.SECPROF_REDIS_URL ?? "";
      const tls = selfSignedCert();
      ca = tls.cert;
      writeFileSync(path.join(dir, "tls.crt"), tls.cert);
      writeFileSync(path.join(dir, "tls.key"), tls.key);
      webhookPort = await freePort();
      // The node's trace profile, which the webhook points recorded containers at.
      mkdirSync(path.dirname(path.join(seccompDir(hostRoot), TRACE_SECCOMP_PROFILE)), { recursive: true });
      writeFileSync(path.join(seccompDir(hostRoot), TRACE_SECCOMP_PROFILE), JSON.stringify(TRACE_SECCOMP));
      const metrics = [await freePort(), await freePort()] as const;
      daemons.push(
        await recorderProcess({ dir, kubeconfig, redisUrl, extra: { SECPROF_RECORDERS: "logs,bpf" } }),
        await mergerProcess({ dir, kubeconfig, redisUrl, token: TOKEN }),
        new DaemonProcess(
          "webhook",
          "packages/webhook/dist/main.js",
          {
            KUBECONFIG: kubeconfig,
            SECPROF_TLS_CERT: path.join(dir, "tls.crt"),
            SECPROF_TLS_KEY: path.join(dir, "tls.key"),
            SECPROF_WEBHOOK_PORT: String(webhookPort),
            SECPROF_METRICS_PORT: String(metrics[0]),
          },
          path.join(dir, "webhook.log"),
          metrics[0],
        ),
        new DaemonProcess(
          "installer",
          "packages/installer/dist/main.js",
          {
            KUBECONFIG: kubeconfig,
            NODE_NAME: NODE,
            SECPROF_HOST_ROOT: hostRoot,
            SECPROF_SECCOMP_LAYOUT: "cluster",
            SECPROF_METRICS_PORT: String(metrics[1]),
            SECPROF_METRICS_HOST: "127.0.0.1",
          },
          path.join(dir, "installer.log"),
          metrics[1],
        ),
      );
      for (const d of daemons) d.start();
      await cluster.namespace(NS);
      await Promise.all(daemons.map((d) => d.ready()));
    }, 120_000);

    afterAll(async () => {
      await Promise.all(daemons.map((d) => d.stop()));
      await cluster?.close();
      rmSync(dir, { recursive: true, force: true });
    }, 30_000);

    /** The recorder's waits for the exec tracker and its misses, for the log and failure messages. */
    const attributionSummary = async () => {
      const r = daemons[0];
      if (r === undefined) return "";
      const what = async (w: string) => `${w} ${await r.metric("secprof_recorder_attribution", { what: w })}`;
      const miss = async (m: string) =>
        `${m} ${await r.metric("secprof_recorder_attribution_misses", { reason: m })}`;
      const parts = await Promise.all([
        what("waited"),
        what("coalesced"),
        miss("exited"),
        miss("backlogFull"),
      ]);
      return `recorder attribution: ${parts.join(", ")}`;
    };
    const diagnostics = async () =>
      [await daemons[0]?.metrics("secprof_recorder"), ...daemons.map((d) => d.diagnostics())].join("\n\n");

    /** Runs a pod to its end as the kubelet would: the container gets the pod's Localhost seccomp profile. */
    async function runPod(pod: Pod, w: Workload) {
      const c = await cluster.startContainer(
        pod,
        w.script(await freePort()),
        containerSeccomp(pod, hostRoot),
      );
      return c.done;
    }

    /** This node's ProfileNodeStatus of the workload's profile: `state` and `reason: message`. */
    const nodeState = async (w: Workload): Promise<{ state?: string; message?: string } | undefined> => {
      const name = nodeStatusName(NODE, { kind: "SeccompProfile", name: profileOf(w) });
      const o = cluster.api.get(`${SPO_GROUP}/v1`, "ProfileNodeStatus", name) as
        | { status?: { state?: string; message?: string } }
        | undefined;
      return o?.status;
    };
    /** Where the installer puts a cluster-scoped seccomp profile (relative to the kubelet's seccomp dir). */
    const installedRel = (w: Workload) => `operator/${profileOf(w)}.json`;

    it("records, merges, approves and installs profiles under which each workload passes its check", async () => {
      onTestFailed(async () => {
        console.error(await diagnostics());
      });
      const t0 = Date.now();
      const lap = (what: string, since: number) => `${what} ${((Date.now() - since) / 1000).toFixed(1)} s`;
      const laps: string[] = [];

      // 1. ProfileRecordings; the pods go through the webhook, which puts them on the trace profile.
      for (const w of WORKLOADS)
        await cluster.createRecording(NS, recordingOf(w), {
          app: w.app,
          mergeStrategy: "Containers",
          recorder: w.recorder,
        });
      const planned = WORKLOADS.flatMap((w) =>
        Array.from({ length: replicasOf(w) }, (_, i) => ({ w, name: `${w.app}-rec-${i}` })),
      );
      // The webhook learns recordings through its watch: ask until it selects the Logs pods; Bpf
      // pods are left as they are (they run unconfined while eBPF records them).
      const pods = await Promise.all(
        planned.map(async ({ w, name }) => {
          const body = SimCluster.podBody(name, w.app);
          if (w.recorder === "Bpf") {
            expect((await admit(webhookPort, ca, NS, body)).patched).toBe(false);
            return { w, pod: await cluster.createPod(NS, name, w.app, body) };
          }
          const admitted = await until(`the webhook to select ${name}`, async () => {
            const r = await admit(webhookPort, ca, NS, body);
            return r.patched ? r : undefined;
          });
          expect(admitted.pod.spec?.containers[0]?.securityContext?.seccompProfile).toEqual({
            type: "Localhost",
            localhostProfile: TRACE_SECCOMP_PROFILE,
          });
          return { w, pod: await cluster.createPod(NS, name, w.app, admitted.pod) };
        }),
      );

      // 2. The workloads run (and pass their checks) under the trace profile while being recorded.
      let t = Date.now();
      const recorded = await Promise.all(pods.map(({ w, pod }) => runPod(pod, w)));
      recorded.forEach((r, i) => {
        expect(r.status, `${pods[i]?.w.app}: ${r.stdout}${r.stderr}`).toBe(0);
        expect(r.stdout.trim().split("\n").at(-1)).toBe("CHECK-OK");
      });
      await recorderCaughtUp(path.join(dir, "node1.checkpoint.json"));
      for (const { pod } of pods) await cluster.setPhase(pod, "Succeeded");
      laps.push(lap("record", t));

      // 3. Each replica's partial is written when its pod ends; deleting a recording merges them.
      t = Date.now();
      for (const w of WORKLOADS) {
        const partials = await until(`${replicasOf(w)} partials of ${recordingOf(w)}`, async () => {
          const ps = await cluster.listProfiles({
            "spo.x-k8s.io/recording-id": recordingOf(w),
            "spo.x-k8s.io/partial": "true",
          });
          return ps.length === replicasOf(w) ? ps : undefined;
        }).catch(async (err: unknown) => {
          const names = (await cluster.listProfiles()).map((p) => p.metadata.name);
          throw new Error(`${String(err)} (profiles: ${names.join(", ")})`);
        });
        expect(partials).toHaveLength(replicasOf(w));
        await cluster.deleteRecording(NS, recordingOf(w));
      }
      for (const w of WORKLOADS) {
        const merged = await cluster.profileNamed(profileOf(w));
        expect(merged.spec.defaultAction).toBe("SCMP_ACT_ERRNO");
        expect(merged.metadata.annotations?.["spo.x-k8s.io/syscall-coverage"]).toContain(
          `"total":${replicasOf(w)}`,
        );
      }
      laps.push(lap("merge", t));

      // 4. The installer sees the profiles but installs nothing unapproved; `secprof approve` (a
      // ProfileApproval of the content's digest) lets it install each one.
      t = Date.now();
      for (const w of WORKLOADS) {
        await until(`${profileOf(w)} awaiting approval`, async () =>
          (await nodeState(w))?.message?.startsWith("AwaitingApproval") ? true : undefined,
        );
        expect(existsSync(path.join(seccompDir(hostRoot), installedRel(w)))).toBe(false);
        const approve = await run("node", [
          CLI,
          "approve",
          `SeccompProfile/${profileOf(w)}`,
          "--kubeconfig",
          cluster.kubeconfig,
        ]);
        expect(approve.status, approve.stdout + approve.stderr).toBe(0);
      }
      for (const w of WORKLOADS)
        await until(`${profileOf(w)} installed`, async () =>
          (await nodeState(w))?.state === "Installed" ? true : undefined,
        );
      laps.push(lap("approve+install", t));

      // 5. Each workload passes its own check under its installed profile (new pods, as after a rollout).
      t = Date.now();
      const enforced = await Promise.all(
        WORKLOADS.map(async (w) => {
          const body = withLocalhostProfile(
            SimCluster.podBody(`${w.app}-run`, `${w.app}-run`),
            installedRel(w),
          );
          const pod = await cluster.createPod(NS, `${w.app}-run`, `${w.app}-run`, body);
          return { w, result: await runPod(pod, w) };
        }),
      );
      for (const { w, result } of enforced) {
        expect(
          result.status,
          `${w.app} under its profile: ${result.stdout}${result.stderr} (${await attributionSummary()})`,
        ).toBe(0);
        expect(result.stdout.trim().split("\n").at(-1)).toBe("CHECK-OK");
      }

      // 6. The profiles are tight: without one syscall it needs, the workload fails its check.
      await Promise.all(
        WORKLOADS.map(async (w) => {
          if (w.needs === undefined) return;
          const needed = w.needs;
          const full = JSON.parse(readFileSync(path.join(seccompDir(hostRoot), installedRel(w)), "utf8")) as {
            syscalls: { names: string[] }[];
          };
          expect(full.syscalls.flatMap((s) => s.names)).toContain(needed);
          const cut = {
            ...full,
            syscalls: full.syscalls.map((s) => ({ ...s, names: s.names.filter((n) => n !== needed) })),
          };
          const cutRel = `e2e/${w.app}-without-${needed}.json`;
          mkdirSync(path.join(seccompDir(hostRoot), "e2e"), { recursive: true });
          writeFileSync(path.join(seccompDir(hostRoot), cutRel), JSON.stringify(cut));
          const body = withLocalhostProfile(SimCluster.podBody(`${w.app}-cut`, `${w.app}-cut`), cutRel);
          const r = await runPod(await cluster.createPod(NS, `${w.app}-cut`, `${w.app}-cut`, body), w);
          expect(r.status, `${w.app} without ${needed} must fail: ${r.stdout}`).not.toBe(0);
          expect(r.stdout).not.toContain("CHECK-OK");
        }),
      );
      laps.push(lap("enforce", t));
      console.log(
        `node simulation: ${laps.join(", ")}; total ${((Date.now() - t0) / 1000).toFixed(1)} s; ${await attributionSummary()}`,
      );
    }, 300_000);
  },
);
