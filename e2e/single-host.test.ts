import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { missing } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { SimCluster } from "./node/cluster.js";
import { freePort, ROOT, tail } from "./node/procs.js";

/**
 * scripts/single-host (README, "Single-host install without Docker") on this machine: the daemons
 * of docker-compose.yml as plain processes, each with the uid and capabilities the compose file
 * and docs/security-model.md give it, against the fake API server; then stopped.
 */
const skip = missing("root", "auditd", "redis");
const SCRIPT = path.join(ROOT, "scripts/single-host");
const TOKEN = "single-host-e2e-token-0123456789";

function script(args: string[], env: Record<string, string>) {
  return new Promise<{ status: number | null; out: string }>((resolve) => {
    execFile(
      SCRIPT,
      args,
      { env: { ...process.env, ...env }, encoding: "utf8", timeout: 120_000 },
      (err, o, e) =>
        resolve({ status: err === null ? 0 : typeof err.code === "number" ? err.code : null, out: o + e }),
    );
  });
}

/** uid, effective capabilities and no_new_privs of a process, from /proc/<pid>/status. */
function creds(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (k: string) => new RegExp(`^${k}:\\s*(\\S+)`, "m").exec(status)?.[1];
  return {
    uid: Number(field("Uid")),
    capEff: BigInt(`0x${field("CapEff")}`),
    noNewPrivs: field("NoNewPrivs"),
  };
}

describe.skipIf(skip)("scripts/single-host", () => {
  let dir: string;
  let cluster: SimCluster;
  let env: Record<string, string>;
  const ports: Record<string, number> = {};
  const pid = (name: string) => Number(readFileSync(path.join(dir, "home/run", `${name}.pid`), "utf8"));

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "secprof-single-host-"));
    chmodSync(dir, 0o755);
    cluster = await SimCluster.start(dir);
    for (const p of ["redis", "api", "recorder", "merger", "installer"]) ports[p] = await freePort();
    const profiles = path.join(dir, "profiles");
    env = {
      KUBECONFIG: cluster.kubeconfig,
      SECPROF_API_TOKEN: TOKEN,
      NODE_NAME: "single-host-e2e",
      SECPROF_HOME: path.join(dir, "home"),
      SECPROF_HOST_ROOT: path.join(dir, "host"),
      SECPROF_PROFILES: profiles,
      SECPROF_REDIS_PORT: String(ports.redis),
      SECPROF_API_PORT: String(ports.api),
      SECPROF_RECORDER_METRICS_PORT: String(ports.recorder),
      SECPROF_MERGER_METRICS_PORT: String(ports.merger),
      SECPROF_INSTALLER_METRICS_PORT: String(ports.installer),
    };
    for (const d of [profiles, env.SECPROF_HOST_ROOT as string]) mkdirSync(d, { recursive: true });
    writeFileSync(
      path.join(profiles, "web.yaml"),
      [
        "apiVersion: security-profiles-operator.x-k8s.io/v1",
        "kind: SeccompProfile",
        "metadata: {name: web, namespace: shop}",
        "spec:",
        "  defaultAction: SCMP_ACT_ERRNO",
        "  architectures: [SCMP_ARCH_X86_64]",
        "  syscalls: [{action: SCMP_ACT_ALLOW, names: [exit_group, read, write]}]",
        "",
      ].join("\n"),
    );
    const approved = await new Promise<string>((resolve) =>
      execFile(
        "node",
        [
          path.join(ROOT, "packages/cli/dist/main.js"),
          "approve",
          "SeccompProfile/shop/web",
          "--dir",
          profiles,
          "--by",
          "e2e",
        ],
        (_e, o, e) => resolve(o + e),
      ),
    );
    expect(approved).toMatch(/approved SeccompProfile\/shop\/web/);
  }, 60_000);

  afterAll(async () => {
    if (dir === undefined) return;
    await script(["stop"], env);
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts every daemon with its compose privileges, serves, installs, and stops them all", async () => {
    onTestFailed(() => {
      for (const d of ["redis", "merger", "recorder", "installer-apply", "installer", "installer-init"])
        console.error(`--- ${d}.log\n${tail(path.join(dir, "home/log", `${d}.log`))}`);
    });
    const started = await script(["start"], env);
    expect(started.out).toContain("installer running");
    expect(started.status, started.out).toBe(0);

    // uid 65535 with no capabilities and no way to gain any, except the recorder and apply (root).
    for (const d of ["redis", "merger", "installer"])
      expect(creds(pid(d)), d).toEqual({ uid: 65535, capEff: 0n, noNewPrivs: "1" });
    for (const d of ["recorder", "installer-apply"]) expect(creds(pid(d)).uid, d).toBe(0);

    // The merger's download API wants the token.
    const api = `http://127.0.0.1:${ports.api}/v1/recordings`;
    expect((await fetch(api)).status).toBe(401);
    expect((await fetch(api, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);

    // Redis: no eviction, AOF (the queue must never lose data).
    const config = await new Promise<string>((resolve) =>
      execFile("redis-cli", ["-p", String(ports.redis), "config", "get", "*"], (_e, o) => resolve(o)),
    );
    expect(config).toMatch(/maxmemory-policy\nnoeviction/);
    expect(config).toMatch(/appendonly\nyes/);

    // The unprivileged installer installed the approved profile into the seccomp operator dir.
    const installed = path.join(dir, "host/var/lib/kubelet/seccomp/operator/shop/web.json");
    const profile = JSON.parse(readFileSync(installed, "utf8")) as { defaultAction: string };
    expect(profile.defaultAction).toBe("SCMP_ACT_ERRNO");

    const stopped = await script(["stop"], env);
    expect(stopped.status).toBe(0);
    const status = await script(["status"], env);
    expect(status.status).toBe(3);
    expect(status.out).not.toMatch(/running/);
  });
});
