import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { missing } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { type Pod, SimCluster } from "./node/cluster.js";
import { type DaemonProcess, mergerProcess, recorderProcess } from "./node/daemons.js";
import { KillSwitchProxy } from "./node/kill-switch-proxy.js";
import { until } from "./node/procs.js";
import { AuditLogWriter, checkpointAtEnd, FakeProc, fakePod, syscallStream } from "./node/synthetic.js";

/**
 * Merger crash mid-merge, end to end: a Containers recording's partials are merged when the
 * recording is deleted (write the merged profile, then delete the partials, then drop the state).
 * A proxy in front of the API server kills the merger -9 at an exact step of that merge; after a
 * restart the result must be the one an uninterrupted merge of the same partials gives, with no
 * partial left behind.
 */
const skip = missing("redis");
const RUN = randomBytes(3).toString("hex");
const NS = "merge-faults";
const TOKEN = randomBytes(24).toString("hex");
const NODE = `mnode-${RUN}`;
const REPLICAS = 4;
const PROFILES = "/apis/security-profiles-operator.x-k8s.io/v1/seccompprofiles";

describe.skipIf(skip)(
  `merger crash mid-merge (${skip ?? "merger + recorder processes, Redis, fake API"})`,
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), "secprof-mfaults-"));
    const redisUrl = process.env.SECPROF_REDIS_URL ?? "";
    const proc = new FakeProc(100_000);
    let cluster: SimCluster;
    let proxy: KillSwitchProxy;
    let merger: DaemonProcess;
    let recorder: DaemonProcess;
    let audit: AuditLogWriter;
    let nextPid = 7000;
    /** Each replica's syscalls (the same for every recording, so all merges must agree). */
    const streams = Array.from({ length: REPLICAS }, (_, i) => syscallStream(600, 60, 100 + i));

    beforeAll(async () => {
      cluster = await SimCluster.start(dir);
      proxy = await KillSwitchProxy.start(cluster.api.url);
      const viaProxy = cluster.kubeconfigVia(proxy.url, path.join(dir, "kubeconfig-proxy"));
      merger = (await mergerProcess({ dir, kubeconfig: viaProxy, redisUrl, token: TOKEN })).start();
      audit = new AuditLogWriter(path.join(dir, "audit.log"));
      recorder = (
        await recorderProcess({
          dir,
          kubeconfig: cluster.kubeconfig,
          redisUrl,
          node: NODE,
          auditLog: audit.file,
          procRoot: proc.root,
          flushMs: 200,
          extra: { SECPROF_EXEC_TRACKER: "off" },
        })
      ).start();
      await cluster.namespace(NS);
      await Promise.all([merger.ready(), recorder.ready()]);
    }, 60_000);

    afterAll(async () => {
      await recorder?.stop();
      await merger?.stop();
      await proxy?.close();
      await cluster?.close();
      rmSync(dir, { recursive: true, force: true });
      proc.cleanup();
    });

    const diagnostics = () => [recorder, merger].map((d) => d.diagnostics()).join("\n\n");
    const partialsOf = (rec: string) =>
      cluster.listProfiles({ "spo.x-k8s.io/recording-id": rec, "spo.x-k8s.io/partial": "true" });

    /** A Containers recording of REPLICAS pods that ran `streams`; returns once all partials exist. */
    async function recordedReplicas(rec: string): Promise<void> {
      await cluster.createRecording(NS, rec, { app: rec, mergeStrategy: "Containers" });
      const pods: { pod: Pod; pid: number }[] = [];
      for (let i = 0; i < REPLICAS; i++) {
        const pid = nextPid++;
        pods.push({
          pod: await fakePod(cluster, proc, {
            namespace: NS,
            name: `${rec}-${i}`,
            app: rec,
            node: NODE,
            pid,
          }),
          pid,
        });
      }
      for (const [i, { pid }] of pods.entries())
        audit.append((streams[i] ?? []).map((s) => audit.seccomp(pid, s)));
      await checkpointAtEnd(path.join(dir, `${NODE}.checkpoint.json`), audit.file);
      for (const { pod } of pods) await cluster.setPhase(pod, "Succeeded");
      await until("all partials", async () =>
        (await partialsOf(rec)).length === REPLICAS ? true : undefined,
      );
    }

    async function mergedOf(rec: string) {
      const p = await cluster.profileNamed(`${rec}-app`, 30_000);
      return {
        names: (p.spec.syscalls ?? []).flatMap((s) => s.names).sort(),
        coverage: p.metadata.annotations?.["spo.x-k8s.io/syscall-coverage"],
      };
    }

    // Where the merger dies: the request it was about to send when killed.
    const isWrite = (m: string | undefined) => m === "POST" || m === "PUT" || m === "PATCH";
    const stages: [
      string,
      (nthDelete: number) => (req: { method?: string | undefined; url?: string | undefined }) => boolean,
    ][] = [
      [
        "after computing the merge, before writing it",
        () => (r) => isWrite(r.method) && (r.url ?? "").startsWith(PROFILES),
      ],
      [
        "after writing the merged profile, before deleting a partial",
        () => (r) => r.method === "DELETE" && (r.url ?? "").startsWith(PROFILES),
      ],
      [
        "after deleting half the partials",
        (n) => {
          let seen = 0;
          return (r) => r.method === "DELETE" && (r.url ?? "").startsWith(PROFILES) && ++seen === n;
        },
      ],
    ];

    it("an uninterrupted merge (the yardstick) and merges killed -9 at each step converge to the same profile", async () => {
      onTestFailed(() => console.error(diagnostics()));
      const ref = `ref-${RUN}`;
      await recordedReplicas(ref);
      await cluster.deleteRecording(NS, ref);
      const expected = await mergedOf(ref);
      expect(expected.names).toEqual([...new Set(streams.flat())].sort());
      expect(expected.coverage).toContain(`"total":${REPLICAS}`);
      await until("the yardstick's partials to go", async () =>
        (await partialsOf(ref)).length === 0 ? true : undefined,
      );

      for (const [i, [stage, rule]] of stages.entries()) {
        const rec = `crash${i}-${RUN}`;
        await recordedReplicas(rec);
        let killed = false;
        proxy.arm(rule(REPLICAS / 2 + 1), () => {
          killed = true;
          merger.child?.kill("SIGKILL");
        });
        await cluster.deleteRecording(NS, rec);
        await until(`the merger to die ${stage}`, async () => (killed ? true : undefined), 15_000);
        await merger.kill9();
        merger.start();
        await merger.ready();
        const got = await mergedOf(rec);
        expect(got, `killed ${stage}`).toEqual(expected);
        await until(
          `no partial of ${rec} left (killed ${stage})`,
          async () => ((await partialsOf(rec)).length === 0 ? true : undefined),
          30_000,
        );
      }
    }, 240_000);
  },
);
