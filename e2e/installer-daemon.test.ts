import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type ApprovalRecord, type ProfileObject, TRACE_SECCOMP, TRACE_SECCOMP_PROFILE } from "@secprof/core";
import { approvalObject, nodeStatusName, profileDigest } from "@secprof/installer";
import {
  eventually,
  type FakeApiServer,
  installerKinds,
  type KObject,
  SPO_GROUP,
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
const API = `${SPO_GROUP}/v1`;
const SA = "system:serviceaccount:secprof:secprof-installer";
let api: FakeApiServer;
let base: string;
let proc: ChildProcess;
let log = "";
let port = 0;

const until = (check: () => unknown) =>
  eventually(check, 30_000, () => `installer log:\n${log.slice(-4000)}`);

let kubeconfig = "";

/** Starts dist/main.js in cluster mode; resolves once it listens (its metrics port parsed from the log). */
async function startDaemon(): Promise<void> {
  log = "";
  proc = spawn(process.execPath, [path.join(ROOT, "packages/installer/dist/main.js")], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      KUBECONFIG: kubeconfig,
      NODE_NAME: "e2e-node",
      SECPROF_HOST_ROOT: path.join(base, "host"),
      SECPROF_SECCOMP_LAYOUT: "cluster",
      SECPROF_METRICS_PORT: "0",
      SECPROF_METRICS_HOST: "127.0.0.1",
      SECPROF_TRACE_PROFILE: "on",
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
}

beforeAll(async () => {
  api = await startFakeApiServer({
    kinds: [...spoKinds({ profilesNamespaced: false, versions: ["v1"] }), ...installerKinds()],
  });
  base = await mkdtemp(path.join(tmpdir(), "secprof-installer-e2e-"));
  await mkdir(path.join(base, "host"));
  kubeconfig = path.join(base, "kubeconfig");
  await writeFile(kubeconfig, api.kubeConfig(SA).exportConfig(), { mode: 0o600 });
  await startDaemon();
});

afterAll(async () => {
  proc?.kill("SIGKILL");
  await api?.close();
  if (base !== undefined) await rm(base, { recursive: true, force: true });
});

const get = (p: string) => fetch(`http://127.0.0.1:${port}${p}`);
const FILE = () => path.join(base, "host/var/lib/kubelet/seccomp/operator/web.json");
const nodeState = () =>
  (
    api.get(API, "ProfileNodeStatus", nodeStatusName("e2e-node", { kind: "SeccompProfile", name: "web" })) as
      | { status?: { state?: string; digest?: string } }
      | undefined
  )?.status;

/** Sets the profile's syscalls (creating it if needed) and approves exactly that content. */
function publish(names: string[]): string {
  const cur = api.get(API, "SeccompProfile", "web");
  const profile: KObject = {
    apiVersion: API,
    kind: "SeccompProfile",
    metadata: cur?.metadata ?? { name: "web" },
    spec: {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names, action: "SCMP_ACT_ALLOW" }],
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
  const old = api.get(API, "ProfileApproval", "seccomp.web");
  api.put({ ...(approvalObject(record) as KObject), ...(old ? { metadata: { ...old.metadata } } : {}) });
  return record.digest;
}

describe("installer daemon process (cluster mode)", () => {
  it("installs an approved profile, reports it, serves probes and metrics, stops on SIGTERM", async () => {
    expect((await get("/healthz")).status).toBe(200);
    // A recording node's trace profile, installed without approval at the path the webhook names.
    const trace = path.join(base, "host/var/lib/kubelet/seccomp", TRACE_SECCOMP_PROFILE);
    expect(JSON.parse(await readFile(trace, "utf8"))).toEqual(TRACE_SECCOMP);
    publish(["read", "write", "exit_group"]);
    await until(async () => expect(JSON.parse(await readFile(FILE(), "utf8")).syscalls).toBeDefined());
    await until(() => expect(nodeState()?.state).toBe("Installed"));
    await until(async () => expect((await get("/readyz")).status).toBe(200));
    // The node status is written during a reconcile pass, the gauges when the pass ends: ask until they are.
    await until(async () => {
      const metrics = await (await get("/metrics")).text();
      expect(metrics).toMatch(/secprof_installer_profiles\{state="Installed",component="installer"\} 1/);
      expect(metrics).toMatch(
        /secprof_installer_reconciles_total\{result="ok",component="installer"\} [1-9]/,
      );
    });

    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("kill -9 at random points while versions change: the file is always a whole version, no temp file survives a restart", async () => {
    const kills = Number(process.env.SECPROF_DAEMON_KILLS ?? 12);
    const versions: string[][] = [];
    const dir = path.dirname(FILE());
    const BASE = ["read", "write", "exit_group", "openat", "close", "mmap", "brk", "fstat", "lseek", "futex"];
    let temps = 0;
    for (let i = 0; i < kills; i++) {
      await startDaemon();
      const names = BASE.slice(0, 3 + (i % (BASE.length - 2)));
      versions.push(names);
      publish(names);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 120)));
      proc.kill("SIGKILL");
      await new Promise((r) => proc.once("exit", r));
      const text = await readFile(FILE(), "utf8").catch(() => undefined);
      if (text !== undefined) {
        const got = (JSON.parse(text) as { syscalls: { names: string[] }[] }).syscalls[0]?.names;
        expect(versions.map((v) => JSON.stringify(v))).toContain(JSON.stringify(got));
      }
      temps += (await readdir(dir).catch(() => [] as string[])).filter((n) =>
        n.endsWith(".secprof-tmp"),
      ).length;
    }
    const last = versions[versions.length - 1] ?? [];
    await startDaemon();
    const digest = publish(last);
    await until(() => expect(nodeState()).toMatchObject({ state: "Installed", digest }));
    expect(
      (JSON.parse(await readFile(FILE(), "utf8")) as { syscalls: { names: string[] }[] }).syscalls[0]?.names,
    ).toEqual(last);
    expect((await readdir(dir)).sort()).toEqual([path.basename(TRACE_SECCOMP_PROFILE), "web.json"]);
    process.stdout.write(
      `installer kill -9: ${kills} kills, ${temps} temp files seen between kills, none after restart\n`,
    );
  });
});
