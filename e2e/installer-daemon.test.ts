import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ApprovalRecord, ProfileObject } from "@secprof/core";
import { approvalObject, nodeStatusName, profileDigest } from "@secprof/installer";
import {
  eventually,
  type FakeApiServer,
  installerKinds,
  type KObject,
  spoKinds,
  startFakeApiServer,
} from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The installer's composition root (packages/installer/dist/main.js, cluster mode) as a process
 * against the fake API server: config from the environment, kubeconfig from KUBECONFIG, an approved
 * profile installed under a temporary host root, /healthz, /readyz and /metrics, clean SIGTERM.
 */

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const GROUP = "security-profiles-operator.x-k8s.io";
const API = `${GROUP}/v1`;
const SA = "system:serviceaccount:secprof:secprof-installer";
let api: FakeApiServer;
let base: string;
let proc: ChildProcess;
let log = "";
let port = 0;

const until = (check: () => unknown) =>
  eventually(check, 30_000, () => `installer log:\n${log.slice(-4000)}`);

beforeAll(async () => {
  api = await startFakeApiServer({ kinds: spoKinds({ profilesNamespaced: false, versions: ["v1"] }) });
  for (const k of installerKinds()) api.registerKind(k);
  base = await mkdtemp(path.join(tmpdir(), "secprof-installer-e2e-"));
  await mkdir(path.join(base, "host"));
  const kubeconfig = path.join(base, "kubeconfig");
  await writeFile(kubeconfig, api.kubeConfig(SA).exportConfig(), { mode: 0o600 });
  proc = spawn(process.execPath, [path.join(ROOT, "packages/installer/dist/main.js")], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      KUBECONFIG: kubeconfig,
      NODE_NAME: "e2e-node",
      SECPROF_HOST_ROOT: path.join(base, "host"),
      SECPROF_SECCOMP_LAYOUT: "cluster",
      SECPROF_METRICS_PORT: "0",
      SECPROF_METRICS_HOST: "127.0.0.1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  await until(() => {
    const m = /"metrics":\{[^}]*"port":(\d+)/.exec(log);
    if (m?.[1] === undefined) throw new Error("not started");
    port = Number(m[1]);
  });
});

afterAll(async () => {
  proc?.kill("SIGKILL");
  await api?.close();
  if (base !== undefined) await rm(base, { recursive: true, force: true });
});

const get = (p: string) => fetch(`http://127.0.0.1:${port}${p}`);

describe("installer daemon process (cluster mode)", () => {
  it("installs an approved profile, reports it, serves probes and metrics, stops on SIGTERM", async () => {
    expect((await get("/healthz")).status).toBe(200);
    const profile: KObject = {
      apiVersion: API,
      kind: "SeccompProfile",
      metadata: { name: "web" },
      spec: {
        defaultAction: "SCMP_ACT_ERRNO",
        architectures: ["SCMP_ARCH_X86_64"],
        syscalls: [{ names: ["read", "write", "exit_group"], action: "SCMP_ACT_ALLOW" }],
      },
    };
    api.put(profile);
    const record: ApprovalRecord = {
      kind: "SeccompProfile",
      name: "web",
      digest: profileDigest(profile as ProfileObject),
      approvedBy: "alice",
      approvedAt: new Date().toISOString(),
    };
    api.put(approvalObject(record) as KObject);
    const file = path.join(base, "host/var/lib/kubelet/seccomp/operator/web.json");
    await until(async () => expect(JSON.parse(await readFile(file, "utf8")).syscalls).toBeDefined());
    await until(() =>
      expect(
        (
          api.get(
            API,
            "ProfileNodeStatus",
            nodeStatusName("e2e-node", { kind: "SeccompProfile", name: "web" }),
          ) as {
            status?: { state?: string };
          }
        )?.status?.state,
      ).toBe("Installed"),
    );
    await until(async () => expect((await get("/readyz")).status).toBe(200));
    const metrics = await (await get("/metrics")).text();
    expect(metrics).toMatch(/secprof_installer_profiles\{state="Installed",component="installer"\} 1/);
    expect(metrics).toMatch(/secprof_installer_reconciles_total\{result="ok",component="installer"\} [1-9]/);

    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
