import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { TRACE_SECCOMP_PROFILE } from "@secprof/core";
import { missing, selfSignedCert } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { recorderCaughtUp } from "./node/audit.js";
import { type Pod, SimCluster, TRACE_SECCOMP } from "./node/cluster.js";
import { DaemonProcess, mergerProcess, recorderProcess } from "./node/daemons.js";
import { admit, containerSeccomp, seccompDir, withLocalhostProfile } from "./node/kubelet.js";
import { freePort, ROOT, run } from "./node/procs.js";
import { WORKLOADS, type Workload } from "./node/workloads.js";

/**
 * One node from real parts, end to end: pods are runc containers in kubelet's cgroup layout,
 * the API server is the fake one, the queue is real Redis, the kernel logs through auditd; the
 * recorder, merger and webhook run as processes and the installer is `secprof install` on a
 * temporary host root. Real workloads (an HTTP server with its client, redis-server with
 * redis-cli, a shell-heavy batch job) are recorded through ProfileRecordings, their profiles
 * merged, pulled, approved and installed, and then each workload must pass its own check under
 * its installed profile — and fail without a syscall it needs.
 */
const skip = missing("root", "auditd", "runc", "redis");
const RUN = randomBytes(3).toString("hex");
const NS = "node-sim";
const TOKEN = randomBytes(24).toString("hex");
const CLI = path.join(ROOT, "packages/cli/dist/main.js");

describe.skipIf(skip)(`simulated node end to end (${skip ?? "runc pods, fake API, Redis, auditd"})`, () => {
  const dir = mkdtempSync(path.join(tmpdir(), "secprof-node-"));
  const hostRoot = path.join(dir, "host");
  let cluster: SimCluster;
  let recorder: DaemonProcess;
  let merger: DaemonProcess & { apiPort: number };
  let webhook: DaemonProcess;
  let webhookPort = 0;
  let ca = "";
  const daemons = (): DaemonProcess[] => [recorder, merger, webhook].filter((d) => d !== undefined);
  const recordingOf = (w: Workload) => `${w.app}-${RUN}`;
  /** Profile objects pulled from the merger, approved and installed from here. */
  const profilesDir = path.join(dir, "profiles");

  beforeAll(async () => {
    cluster = await SimCluster.start(dir);
    const redisUrl = process.env.SECPROF_REDIS_URL ?? "";
    recorder = (await recorderProcess({ dir, kubeconfig: cluster.kubeconfig, redisUrl })).start();
    merger = (await mergerProcess({ dir, kubeconfig: cluster.kubeconfig, redisUrl, token: TOKEN })).start();
    const tls = selfSignedCert();
    ca = tls.cert;
    writeFileSync(path.join(dir, "tls.crt"), tls.cert);
    writeFileSync(path.join(dir, "tls.key"), tls.key);
    webhookPort = await freePort();
    const webhookMetrics = await freePort();
    webhook = new DaemonProcess(
      "webhook",
      "packages/webhook/dist/main.js",
      {
        KUBECONFIG: cluster.kubeconfig,
        SECPROF_TLS_CERT: path.join(dir, "tls.crt"),
        SECPROF_TLS_KEY: path.join(dir, "tls.key"),
        SECPROF_WEBHOOK_PORT: String(webhookPort),
        SECPROF_METRICS_PORT: String(webhookMetrics),
      },
      path.join(dir, "webhook.log"),
      webhookMetrics,
    ).start();
    // The node's trace profile, which the webhook points recorded containers at.
    mkdirSync(path.dirname(path.join(seccompDir(hostRoot), TRACE_SECCOMP_PROFILE)), { recursive: true });
    writeFileSync(path.join(seccompDir(hostRoot), TRACE_SECCOMP_PROFILE), JSON.stringify(TRACE_SECCOMP));
    await cluster.namespace(NS);
    await Promise.all([recorder.ready(), merger.ready(), webhook.ready()]);
  }, 120_000);

  afterAll(async () => {
    for (const d of daemons()) await d.stop();
    await cluster?.close();
  });

  const diagnostics = async () =>
    [await recorder.metrics("secprof_recorder"), ...daemons().map((d) => d.diagnostics())].join("\n\n");

  /** Runs a pod to its end as the kubelet would: the container gets the pod's Localhost seccomp profile. */
  async function runPod(pod: Pod, w: Workload, port: number) {
    const c = await cluster.startContainer(pod, w.script(port), containerSeccomp(pod, hostRoot));
    return c.done;
  }

  it("records, merges, approves and installs profiles under which each workload passes its check", async () => {
    onTestFailed(async () => {
      console.error(await diagnostics());
    });
    const t0 = Date.now();
    // 1. ProfileRecordings; the pods go through the webhook, which puts them on the trace profile.
    for (const w of WORKLOADS) await cluster.createRecording(NS, recordingOf(w), { app: w.app });
    // The webhook learns recordings through its watch: retry until it selects the pod.
    const admitted = await Promise.all(
      WORKLOADS.map(async (w) => {
        const body = SimCluster.podBody(`${w.app}-rec`, w.app);
        for (let i = 0; ; i++) {
          const r = await admit(webhookPort, ca, NS, body);
          if (r.patched || i > 40) return r;
          await new Promise((res) => setTimeout(res, 250));
        }
      }),
    );
    for (const a of admitted) {
      expect(a.patched).toBe(true);
      expect(a.pod.spec?.containers[0]?.securityContext?.seccompProfile).toEqual({
        type: "Localhost",
        localhostProfile: TRACE_SECCOMP_PROFILE,
      });
    }
    const pods = await Promise.all(
      WORKLOADS.map((w, i) => cluster.createPod(NS, `${w.app}-rec`, w.app, admitted[i]?.pod)),
    );

    // 2. The workloads run (and pass their checks) under the trace profile while being recorded.
    const ports = await Promise.all(WORKLOADS.map(() => freePort()));
    const recorded = await Promise.all(WORKLOADS.map((w, i) => runPod(pods[i] as Pod, w, ports[i] ?? 0)));
    recorded.forEach((r, i) => {
      expect(r.status, `${WORKLOADS[i]?.app}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout.trim().split("\n").at(-1)).toBe("CHECK-OK");
    });
    await recorderCaughtUp(path.join(dir, "node1.checkpoint.json"));
    for (const p of pods) await cluster.setPhase(p, "Succeeded");
    const tRecorded = Date.now();

    // 3. The merger writes one SeccompProfile per recording; CI pulls each recording's bundle.
    mkdirSync(profilesDir);
    for (const w of WORKLOADS) {
      const name = `${recordingOf(w)}-app`;
      const profile = await cluster.profileNamed(name);
      expect(profile.metadata.labels).toMatchObject({ "spo.x-k8s.io/recording-id": recordingOf(w) });
      expect(profile.spec.defaultAction).toBe("SCMP_ACT_ERRNO");
      const out = path.join(dir, `pulled-${w.app}`);
      const pull = await run("node", [
        CLI,
        "pull",
        "--server",
        `http://127.0.0.1:${merger.apiPort}`,
        "--token",
        TOKEN,
        "--out",
        out,
        `${NS}/${recordingOf(w)}`,
      ]);
      expect(pull.status, pull.stderr).toBe(0);
      for (const f of readdirSync(out).filter((f) => f.endsWith(".yaml")))
        copyFileSync(path.join(out, f), path.join(profilesDir, f));
    }

    // 4. Not approved yet: nothing is installed. Then approve each and install.
    const before = await run("node", [CLI, "install", profilesDir, "--root", hostRoot]);
    expect(before.status, before.stdout + before.stderr).toBe(0);
    expect(installedProfiles()).toEqual([]);
    for (const w of WORKLOADS) {
      const approve = await run("node", [
        CLI,
        "approve",
        `SeccompProfile/${recordingOf(w)}-app`,
        "--dir",
        profilesDir,
        "--by",
        "e2e",
      ]);
      expect(approve.status, approve.stdout + approve.stderr).toBe(0);
    }
    const install = await run("node", [CLI, "install", profilesDir, "--root", hostRoot]);
    expect(install.status, install.stdout + install.stderr).toBe(0);
    const installed = installedProfiles();
    expect(installed).toHaveLength(WORKLOADS.length);

    // 5. Each workload passes its own check under its installed profile (new pods, as after a rollout).
    const enforced = await Promise.all(
      WORKLOADS.map(async (w) => {
        const rel = installed.find((f) => path.basename(f).includes(recordingOf(w)));
        if (rel === undefined) throw new Error(`no installed profile for ${w.app}: ${installed.join(", ")}`);
        const pod = await cluster.createPod(
          NS,
          `${w.app}-run`,
          `${w.app}-enforced`,
          withLocalhostProfile(SimCluster.podBody(`${w.app}-run`, `${w.app}-enforced`), rel),
        );
        return { w, rel, result: await runPod(pod, w, await freePort()) };
      }),
    );
    for (const { w, result } of enforced) {
      expect(result.status, `${w.app} under its profile: ${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout.trim().split("\n").at(-1)).toBe("CHECK-OK");
    }

    // 6. The profiles are tight: without one syscall it needs, the workload fails its check.
    for (const { w, rel } of enforced) {
      if (w.needs === undefined) continue;
      const full = JSON.parse(readFileSync(path.join(seccompDir(hostRoot), rel), "utf8")) as {
        syscalls: { names: string[] }[];
      };
      expect(full.syscalls.flatMap((s) => s.names)).toContain(w.needs);
      const cut = {
        ...full,
        syscalls: full.syscalls.map((s) => ({ ...s, names: s.names.filter((n) => n !== w.needs) })),
      };
      const cutRel = `e2e/${w.app}-without-${w.needs}.json`;
      mkdirSync(path.join(seccompDir(hostRoot), "e2e"), { recursive: true });
      writeFileSync(path.join(seccompDir(hostRoot), cutRel), JSON.stringify(cut));
      const pod = await cluster.createPod(
        NS,
        `${w.app}-cut`,
        `${w.app}-cut`,
        withLocalhostProfile(SimCluster.podBody(`${w.app}-cut`, `${w.app}-cut`), cutRel),
      );
      const r = await runPod(pod, w, await freePort());
      expect(r.status, `${w.app} without ${w.needs} must fail: ${r.stdout}`).not.toBe(0);
      expect(r.stdout).not.toContain("CHECK-OK");
    }
    console.log(
      `node simulation: recorded in ${((tRecorded - t0) / 1000).toFixed(1)} s, total ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  }, 240_000);

  /** Seccomp files the installer wrote, relative to the kubelet's seccomp dir (the trace profile and test files excluded). */
  function installedProfiles(): string[] {
    const base = seccompDir(hostRoot);
    return (readdirSync(base, { recursive: true }) as string[])
      .filter((f) => f.endsWith(".json") && f !== TRACE_SECCOMP_PROFILE && !f.startsWith("e2e/"))
      .sort();
  }
});
