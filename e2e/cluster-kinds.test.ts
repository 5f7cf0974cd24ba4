import { randomBytes, randomInt } from "node:crypto";
import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  AppArmorProfile,
  renderProfile,
  SELINUX_DENY_LISTS,
  SELINUX_RECORDING_TYPE,
  SelinuxProfile,
} from "@secprof/core";
import { compileAppArmor, compileCil, prepareSelinuxStore } from "@secprof/installer";
import { missing } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { type Checkpoint, readCheckpoint } from "./node/audit.js";
import { GROUP, type Pod, SimCluster } from "./node/cluster.js";
import { type DaemonProcess, mergerProcess, recorderProcess } from "./node/daemons.js";
import { freePort, ROOT, run, until } from "./node/procs.js";
import { BATCH, HTTP } from "./node/workloads.js";

/**
 * The cluster pipeline for the other two kinds (issue 5): a simulated node (fake API server, real
 * runc containers in kubelet's cgroup layout, real Redis, the recorder and the merger as
 * processes) records
 * - an AppArmorProfile by eBPF (`recorder: Bpf`) of a pod running a real HTTP server and client,
 *   whose AppArmor text must compile with apparmor_parser and cover the files the workload opened;
 * - a SelinuxProfile from the audit log (`recorder: Logs`): this machine runs no SELinux, so the
 *   kernel never logs AVCs; fixture AVC records (packages/testkit/fixtures/audit) are written
 *   into the audit log the recorder follows (its own file here), with the pid of the pod's running
 *   container and the recording's permissive type as source (what the webhook arranges), so
 *   attribution, the queue, the merger and the CR are the real ones. Its CIL must compile against
 *   the reference policy in a private store.
 */
const skip = missing("root", "runc", "redis", "bpftrace", "apparmor_parser", "secilc", "semodule");
const TOKEN = randomBytes(24).toString("hex");
/** Redis outlives a run: recording names are unique per run. */
const RUN = randomBytes(3).toString("hex");
const FIXTURE = path.join(ROOT, "packages/testkit/fixtures/audit/public/selinux-auditd.log");
/** Allows every syscall without logging: the Bpf pod is not changed, and floods no audit log. */
const ALLOW_ALL = { defaultAction: "SCMP_ACT_ALLOW" };

describe.skipIf(skip)(
  `SELinux and AppArmor profiles from the cluster pipeline (${skip ?? "fake API server, runc, Redis, bpftrace, compilers"})`,
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), "secprof-e2e-kinds-"));
    /** The audit log the recorder follows (fixture records are appended to it). */
    const auditLog = path.join(dir, "audit.log");
    let cluster: SimCluster;
    let recorder: DaemonProcess;
    let merger: DaemonProcess & { apiPort: number };

    const diagnostics = async () =>
      [
        await recorder.metrics("secprof_recorder"),
        await merger.metrics("secprof_merger"),
        recorder.diagnostics(),
        merger.diagnostics(),
      ].join("\n\n");

    async function profiles(plural: string, labelSelector?: string): Promise<unknown[]> {
      const list = (await cluster.custom.listClusterCustomObject({
        group: GROUP,
        version: "v1",
        plural,
        ...(labelSelector === undefined ? {} : { labelSelector }),
      })) as { items: { metadata: { name: string } }[] };
      return list.items;
    }

    const profile = (plural: string, name: string, timeoutMs = 60_000): Promise<unknown> =>
      until(
        `${plural}/${name}`,
        async () =>
          (await profiles(plural)).find((p) => (p as { metadata: { name: string } }).metadata.name === name),
        timeoutMs,
      );

    /** The AppArmor text of a CR compiles with apparmor_parser (offline, no kernel load). */
    const compiles = async (cr: AppArmorProfile): Promise<void> => {
      const text = renderProfile(cr).files[0]?.content ?? "";
      const compiled = await compileAppArmor(text);
      expect(compiled.ok, compiled.ok ? "" : `${compiled.message}\n${text}`).toBe(true);
    };

    beforeAll(async () => {
      writeFileSync(auditLog, "");
      cluster = await SimCluster.start(dir);
      // A database of its own (1–15): the merger of another run on the same Redis server would take
      // this run's jobs from the shared queue and write the profiles to its own API server.
      const url = new URL(process.env.SECPROF_REDIS_URL ?? "");
      if (url.pathname === "" || url.pathname === "/") url.pathname = `/${1 + randomInt(15)}`;
      const redisUrl = url.toString();
      recorder = (
        await recorderProcess({
          dir,
          kubeconfig: cluster.kubeconfig,
          redisUrl,
          auditLog,
          extra: {
            SECPROF_RECORDERS: "logs,bpf",
            SECPROF_BPF_INTERVAL_MS: "500",
            SECPROF_BPF_APPARMOR: "on",
          },
        })
      ).start();
      merger = (await mergerProcess({ dir, kubeconfig: cluster.kubeconfig, redisUrl, token: TOKEN })).start();
      for (const ns of ["aa", "aamerge", "se"]) await cluster.namespace(ns);
      await recorder.ready(120_000);
      await merger.ready();
    }, 180_000);

    afterAll(async () => {
      await recorder?.stop();
      await merger?.stop();
      await cluster?.close();
    });

    it("records an AppArmorProfile by eBPF from a running HTTP server and client; its text compiles", async () => {
      onTestFailed(async () => {
        console.error(await diagnostics());
      });
      const rec = `aa-${RUN}`;
      await cluster.createRecording("aa", rec, { app: "http", kind: "AppArmorProfile", recorder: "Bpf" });
      const pod: Pod = await cluster.createPod("aa", "http", "http");
      const c = await cluster.startContainer(pod, HTTP.script(await freePort()), ALLOW_ALL);
      const done = await c.done;
      expect(done.status, done.stderr).toBe(0);
      expect(done.stdout).toContain("CHECK-OK");
      await cluster.setPhase(pod, "Succeeded");

      const cr = AppArmorProfile.parse(await profile("apparmorprofiles", `${rec}-app`));
      expect(cr.metadata.labels).toEqual({
        "spo.x-k8s.io/recording-id": rec,
        "spo.x-k8s.io/container-id": "app",
        "spo.x-k8s.io/recording-namespace": "aa",
      });
      const a = cr.spec.abstract;
      // What the workload ran and opened (paths as core generalises them).
      const exes = a.executable?.allowedExecutables ?? [];
      expect(exes.some((p) => p.startsWith("/usr/bin/python3"))).toBe(true);
      expect(exes).toEqual(expect.arrayContaining(["/usr/bin/curl"]));
      const fs = [
        ...(a.filesystem?.readOnlyPaths ?? []),
        ...(a.filesystem?.readWritePaths ?? []),
        ...(a.filesystem?.writeOnlyPaths ?? []),
      ];
      // The served file (written by the script, read by the server) and the client's download.
      expect(fs.some((p) => p === "/tmp/www/index.html" || p === "/tmp/www/*" || p === "/tmp/www/**")).toBe(
        true,
      );
      expect(fs.some((p) => p === "/tmp/got" || p === "/tmp/*" || p === "/tmp/**")).toBe(true);
      expect(a.network?.allowedProtocols?.allowTcp).toBe(true);

      await compiles(cr);
      const text = renderProfile(cr).files[0]?.content ?? "";

      // The bundle carries the text next to the CR.
      const res = await fetch(`http://127.0.0.1:${merger.apiPort}/v1/recordings/aa/${rec}/bundle.tar.gz`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(res.status).toBe(200);
      const out = path.join(dir, "pulled-aa");
      const pull = await run(
        "node",
        [
          path.join(ROOT, "packages/cli/dist/main.js"),
          "pull",
          "--server",
          `http://127.0.0.1:${merger.apiPort}`,
          "--token",
          TOKEN,
          "--out",
          out,
          `aa/${rec}`,
        ],
        30_000,
      );
      expect(pull.status, pull.stderr).toBe(0);
      expect(readFileSync(path.join(out, `${rec}-app.apparmor`), "utf8")).toBe(text);
    }, 180_000);

    it("merges two replicas' AppArmorProfile partials per container when the recording is deleted (mergeStrategy Containers)", async () => {
      onTestFailed(async () => {
        console.error(await diagnostics());
      });
      const rec = `aamerge-${RUN}`;
      await cluster.createRecording("aamerge", rec, {
        app: "batch",
        kind: "AppArmorProfile",
        recorder: "Bpf",
        mergeStrategy: "Containers",
      });
      const pods = [
        await cluster.createPod("aamerge", "batch-", "batch"),
        await cluster.createPod("aamerge", "batch-", "batch"),
      ];
      // The job idles a second before it ends, as the other scenarios' pods do: a pod that ends
      // before the recorder's watches report the recording and the pod has no target to record.
      const runs = await Promise.all(
        pods.map((p) => cluster.startContainer(p, `${BATCH.script(0)}\nsleep 1`, ALLOW_ALL)),
      );
      for (const r of await Promise.all(runs.map((r) => r.done)))
        expect(r.stdout, r.stderr).toContain("CHECK-OK");
      for (const p of pods) await cluster.setPhase(p, "Succeeded");

      const partialSelector = `spo.x-k8s.io/recording-id=${rec},spo.x-k8s.io/partial=true`;
      const partials = await until(
        "both partial AppArmorProfiles",
        async () => {
          const ps = (await profiles("apparmorprofiles", partialSelector)).map((p) =>
            AppArmorProfile.parse(p),
          );
          return ps.length === 2 ? ps : undefined;
        },
        60_000,
      );
      expect(partials.map((p) => p.metadata.name).sort()).toEqual(
        pods.map((p) => `${rec}-app-${(p.metadata?.name ?? "").slice("batch-".length)}`).sort(),
      );

      await cluster.deleteRecording("aamerge", rec);
      const merged = AppArmorProfile.parse(await profile("apparmorprofiles", `${rec}-app`));
      expect(merged.metadata.labels).toEqual({
        "spo.x-k8s.io/recording-id": rec,
        "spo.x-k8s.io/recording-namespace": "aamerge",
      });
      // The job's commands (each ran for milliseconds) from both replicas.
      expect(merged.spec.abstract.executable?.allowedExecutables ?? []).toEqual(
        expect.arrayContaining(["/usr/bin/sort", "/usr/bin/gzip", "/usr/bin/md5sum"]),
      );
      await compiles(merged);
      await until(
        "the partials to be deleted",
        async () => ((await profiles("apparmorprofiles", partialSelector)).length === 0 ? true : undefined),
        30_000,
      );
    }, 180_000);

    it("records a SelinuxProfile from AVC records of a Logs pod; its CIL compiles against the reference policy", async () => {
      onTestFailed(async () => {
        console.error(await diagnostics());
      });
      const rec = `se-${RUN}`;
      await cluster.createRecording("se", rec, { app: "web", kind: "SelinuxProfile", recorder: "Logs" });
      const pod: Pod = await cluster.createPod("se", "web", "web");
      const c = await cluster.startContainer(pod, "sleep 60", ALLOW_ALL);
      try {
        // `runc run` was only spawned: wait for the container's process.
        const state = await until("the container to run", async () => {
          const r = await run("runc", ["state", c.runcId]);
          const st = r.status === 0 ? (JSON.parse(r.stdout) as { pid: number; status: string }) : undefined;
          return st?.status === "running" ? st : undefined;
        });
        expect(state.pid).toBeGreaterThan(0);
        // The fixture's kernel AVCs of one process (nginx, pid 2231) that SPO's deny lists allow,
        // as the pod's container would log them under the recording's permissive type.
        const denied = new Set(SELINUX_DENY_LISTS.classes);
        const lines = readFileSync(FIXTURE, "utf8")
          .split("\n")
          .filter((l) => l.startsWith("type=AVC ") && l.includes(" pid=2231 "))
          .filter((l) => !denied.has(/ tclass=(\S+)/.exec(l)?.[1] ?? ""));
        expect(lines.length).toBeGreaterThanOrEqual(2);
        const now = Date.now() / 1000;
        const rewritten = lines.map((l, i) =>
          l
            .replace(/msg=audit\([0-9.]+:\d+\)/, `msg=audit(${now.toFixed(3)}:${900_000 + i})`)
            .replace(/ pid=2231 /, ` pid=${state.pid} `)
            .replace(/scontext=\S+/, `scontext=system_u:system_r:${SELINUX_RECORDING_TYPE}:s0`),
        );
        appendFileSync(auditLog, `${rewritten.join("\n")}\n`);
        const size = statSync(auditLog).size;
        await until(
          "the recorder to read the AVC records",
          async () => {
            const cp: Checkpoint | undefined = readCheckpoint(path.join(dir, "node1.checkpoint.json"));
            return cp !== undefined && cp.offset >= size ? true : undefined;
          },
          30_000,
        );
      } finally {
        await run("runc", ["kill", c.runcId, "KILL"]);
        await c.done;
      }
      await cluster.setPhase(pod, "Succeeded");

      const cr = SelinuxProfile.parse(await profile("selinuxprofiles", `${rec}-app`));
      expect(cr.metadata.labels).toEqual({
        "spo.x-k8s.io/recording-id": rec,
        "spo.x-k8s.io/container-id": "app",
        "spo.x-k8s.io/recording-namespace": "se",
      });
      expect(cr.spec.inherit).toEqual([{ kind: "System", name: "container" }]);
      expect(cr.spec.allow).toEqual({
        postgresql_port_t: { tcp_socket: ["name_connect"] },
        user_home_t: { file: ["open", "read", "write"] },
      });
      const cil = renderProfile(cr).files[0]?.content ?? "";
      // One private copy of the reference policy store (cached across runs; slow the first time).
      const store = await prepareSelinuxStore({
        cacheDir: path.join(tmpdir(), "secprof-selinux-store-cache"),
      });
      const compiled = await compileCil(store, [{ name: cr.metadata.name, cil }]);
      expect(compiled.ok, compiled.ok ? "" : `${compiled.message}\n${cil}`).toBe(true);
    }, 900_000);
  },
);
