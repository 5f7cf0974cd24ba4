import { execFile } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { missing } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { recorderCaughtUp } from "./node/audit.js";
import { recordingManifest, runHostContainer } from "./node/host.js";
import { freePort, ROOT, tail, until } from "./node/procs.js";

/**
 * scripts/single-host (README, "Single-host install without Docker") on this machine: the daemons
 * of docker-compose.yml as plain processes, each with the uid and capabilities the compose file
 * and docs/security-model.md give it, in host mode (no Kubernetes API, no kubeconfig): a
 * ProfileRecording manifest and a real runc container make the merger write a profile into the
 * profiles directory, which is approved and installed; then everything is stopped.
 */
const skip = missing("root", "auditd", "runc", "redis");
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

/** `secprof approve REF --dir <profiles>` (single-host approvals), its output. */
function approveIn(profiles: string, ref: string): Promise<string> {
  return new Promise<string>((resolve) =>
    execFile(
      "node",
      [path.join(ROOT, "packages/cli/dist/main.js"), "approve", ref, "--dir", profiles, "--by", "e2e"],
      (_e, o, e) => resolve(o + e),
    ),
  );
}

/** The path of a file named `name` somewhere under `dir`, if there is one. */
async function findFile(dir: string, name: string): Promise<string | undefined> {
  const hits = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter(
    (f) => path.basename(f) === name,
  );
  return hits[0] === undefined ? undefined : path.join(dir, hits[0]);
}

describe.skipIf(skip)("scripts/single-host", () => {
  let dir: string;
  let env: Record<string, string>;
  const ports: Record<string, number> = {};
  const approve = (ref: string) => approveIn(env.SECPROF_PROFILES as string, ref);
  const pid = (name: string) => Number(readFileSync(path.join(dir, "home/run", `${name}.pid`), "utf8"));

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "secprof-single-host-"));
    chmodSync(dir, 0o755);
    for (const p of ["redis", "api", "recorder", "merger", "installer"]) ports[p] = await freePort();
    const profiles = path.join(dir, "profiles");
    env = {
      SECPROF_RECORDINGS: path.join(dir, "recordings"),
      SECPROF_RUNC_ROOTS: path.join(dir, "runc-root"),
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
    for (const d of [profiles, env.SECPROF_HOST_ROOT as string, env.SECPROF_RECORDINGS as string])
      mkdirSync(d, { recursive: true });
    // The merger (uid 65535) writes the recorded profiles there.
    chownSync(profiles, 65535, 65535);
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
    const approved = await approve("SeccompProfile/shop/web");
    expect(approved).toMatch(/approved SeccompProfile\/shop\/web/);
  }, 60_000);

  afterAll(async () => {
    if (dir === undefined) return;
    await script(["stop"], env);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

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

    // Host mode: a recording manifest and a container annotated into its selection make the merger
    // write the profile file when the container ends; approved, the installer installs it.
    const rec = `sh-${TOKEN.slice(-6)}`;
    writeFileSync(
      path.join(env.SECPROF_RECORDINGS as string, `${rec}.yaml`),
      recordingManifest("edge", rec, "edge-app"),
    );
    const recordingsLoaded = async () => {
      const text = await (await fetch(`http://127.0.0.1:${ports.recorder}/metrics`)).text();
      return /^secprof_host_recordings\{[^}]*what="valid"[^}]*\} 1$/m.test(text) ? true : undefined;
    };
    await until("the recorder to load the recording", recordingsLoaded);
    const ran = await runHostContainer({
      runcRoot: env.SECPROF_RUNC_ROOTS as string,
      namespace: "edge",
      pod: "edge-0",
      app: "edge-app",
      script: "ls /usr | sort | head -n 2 > /dev/null; sleep 2",
    });
    expect(ran.status, ran.stderr).toBe(0);
    await recorderCaughtUp(path.join(dir, "home/recorder/audit.checkpoint.json"));
    const recorded = path.join(env.SECPROF_PROFILES as string, `${rec}-app.seccomp.yaml`);
    // Written when the container ends, rewritten if deltas read after the end arrive (loaded machine).
    await until(
      `${recorded} with wait4`,
      async () => (existsSync(recorded) && /- wait4/.test(readFileSync(recorded, "utf8")) ? true : undefined),
      30_000,
    );
    expect(statSync(recorded).uid).toBe(65535);
    expect(readFileSync(recorded, "utf8")).toMatch(/spo\.x-k8s\.io\/recording-namespace: edge/);
    const approvedRecorded = await approve(`SeccompProfile/${rec}-app`);
    expect(approvedRecorded).toMatch(new RegExp(`approved SeccompProfile/${rec}-app`));
    const seccompRoot = path.join(dir, "host/var/lib/kubelet/seccomp");
    const installedRecorded = await until(
      `the installer to install ${rec}-app`,
      async () => findFile(seccompRoot, `${rec}-app.json`),
      30_000,
    );
    const recordedJson = JSON.parse(readFileSync(installedRecorded, "utf8")) as {
      syscalls: { names: string[] }[];
    };
    expect(recordedJson.syscalls[0]?.names).toEqual(expect.arrayContaining(["execve", "wait4"]));

    const stopped = await script(["stop"], env);
    expect(stopped.status).toBe(0);
    const status = await script(["status"], env);
    expect(status.status).toBe(3);
    expect(status.out).not.toMatch(/running/);
  });
});
