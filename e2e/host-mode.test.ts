import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { missing } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { parse } from "yaml";
import { recorderCaughtUp } from "./node/audit.js";
import { DaemonProcess } from "./node/daemons.js";
import { recordingManifest, runHostContainer } from "./node/host.js";
import { freePort, until } from "./node/procs.js";

/**
 * Host mode (README, "Host mode"): the recorder and the merger as processes with no Kubernetes
 * API at all, no fake API server, no kubeconfig: ProfileRecording manifests in a directory, real
 * runc containers (own `--root`, kubelet-like cgroup paths, pod facts in OCI annotations) as the
 * pods, real auditd and Redis; the profiles appear as CR YAML files in the profiles directory.
 */
const skip = missing("root", "auditd", "runc", "redis");
const TOKEN = randomBytes(24).toString("hex");
/** Recording names are unique per run: Redis (SECPROF_REDIS_URL) keeps state across runs. */
const RUN = randomBytes(3).toString("hex");
/** What a container does before it idles; EXPECTED are the long-lived processes' syscalls (sh, sleep). */
const WORK = "ls /usr | sort | head -n 2 > /dev/null";
const EXPECTED = ["execve", "pipe2", "wait4", "clock_nanosleep", "getdents64"];

type Profile = {
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: { syscalls?: { names: string[] }[] };
};

describe.skipIf(skip)(`host mode (${skip ?? "runc, auditd, Redis, no Kubernetes API"})`, () => {
  let dir: string;
  let recordings: string;
  let profiles: string;
  let runcRoot: string;
  let recorder: DaemonProcess;
  let merger: DaemonProcess;
  let apiPort: number;
  const checkpoint = () => path.join(dir, "recorder.checkpoint.json");

  async function runContainer(pod: string, app: string, script: string) {
    const r = await runHostContainer({ runcRoot, namespace: "hostns", pod, app, script });
    expect(r.status, r.stderr).toBe(0);
  }

  const profileFile = (name: string) => path.join(profiles, `${name}.seccomp.yaml`);
  const readProfile = (name: string) => parse(readFileSync(profileFile(name), "utf8")) as Profile;
  /**
   * The profile file once it holds `names`: it is written when the container ends and rewritten
   * when deltas read after the end arrive (merger Finalizer), as on a loaded machine.
   */
  const profileWith = (name: string, names: readonly string[] = []) =>
    until(
      `${name}.seccomp.yaml in the profiles directory${names.length > 0 ? ` with ${names.join(", ")}` : ""}`,
      async () => {
        if (!existsSync(profileFile(name))) return undefined;
        const p = readProfile(name);
        const has = new Set(p.spec.syscalls?.flatMap((s) => s.names));
        return names.every((n) => has.has(n)) ? p : undefined;
      },
      30_000,
    );

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "secprof-host-mode-"));
    recordings = path.join(dir, "recordings");
    profiles = path.join(dir, "profiles");
    runcRoot = path.join(dir, "runc-root");
    for (const d of [recordings, profiles]) mkdirSync(d);
    // The runc root does not exist until the first container: the recorder must cope.
    execFileSync("sh", ["-c", "pgrep -x auditd >/dev/null || auditd; auditctl -b 8192 >/dev/null"]);
    const redisUrl = process.env.SECPROF_REDIS_URL ?? "";
    const hostEnv = { SECPROF_RECORDINGS_DIR: recordings, SECPROF_RECORDINGS_RESCAN_MS: "1000" };
    const recorderPort = await freePort();
    recorder = new DaemonProcess(
      "recorder",
      "packages/recorder/dist/main.js",
      {
        ...hostEnv,
        NODE_NAME: "host-e2e",
        SECPROF_REDIS_URL: redisUrl,
        SECPROF_RUNC_ROOTS: runcRoot,
        SECPROF_RUNC_POLL_MS: "200",
        SECPROF_CHECKPOINT: checkpoint(),
        SECPROF_SPOOL: path.join(dir, "recorder.spool.ndjson"),
        SECPROF_METRICS_PORT: String(recorderPort),
        SECPROF_METRICS_HOST: "127.0.0.1",
        SECPROF_FLUSH_MS: "500",
      },
      path.join(dir, "recorder.log"),
      recorderPort,
    ).start();
    apiPort = await freePort();
    const mergerPort = await freePort();
    merger = new DaemonProcess(
      "merger",
      "packages/merger/dist/main.js",
      {
        ...hostEnv,
        SECPROF_REDIS_URL: redisUrl,
        SECPROF_PROFILES_DIR: profiles,
        SECPROF_API_TOKEN: TOKEN,
        SECPROF_API_PORT: String(apiPort),
        SECPROF_API_HOST: "127.0.0.1",
        SECPROF_METRICS_PORT: String(mergerPort),
      },
      path.join(dir, "merger.log"),
      mergerPort,
    ).start();
    await Promise.all([recorder.ready(), merger.ready()]);
  }, 90_000);

  afterAll(async () => {
    await recorder?.stop();
    await merger?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const diagnostics = () => {
    onTestFailed(async () => {
      console.error(recorder.diagnostics());
      console.error(merger.diagnostics());
      console.error(await recorder.metrics("secprof_recorder"));
      for (const f of readdirSync(profiles))
        console.error(`--- ${f}\n${readFileSync(path.join(profiles, f), "utf8").slice(0, 3000)}`);
    });
  };

  it("records a container selected by an annotation label and writes its SeccompProfile file when it ends", async () => {
    diagnostics();
    const rec = `web-${RUN}`;
    writeFileSync(path.join(recordings, `${rec}.yaml`), recordingManifest("hostns", rec, `web-${RUN}`));
    // Reported, never fatal: an invalid manifest next to the valid one.
    writeFileSync(path.join(recordings, "broken.yaml"), "apiVersion: [unclosed\n");
    for (const d of [recorder, merger])
      await until(`${d.name} to load the recording`, async () =>
        (await d.metric("secprof_host_recordings", { what: "valid" })) === 1 &&
        (await d.metric("secprof_host_recordings", { what: "invalid" })) === 1
          ? true
          : undefined,
      );

    await runContainer("web-0", `web-${RUN}`, `${WORK}; sleep 2`);
    await recorderCaughtUp(checkpoint());

    const profile = await profileWith(`${rec}-app`, EXPECTED);
    expect(profile.kind).toBe("SeccompProfile");
    expect(profile.metadata.namespace).toBeUndefined();
    expect(profile.metadata.labels).toMatchObject({
      "spo.x-k8s.io/recording-id": rec,
      "spo.x-k8s.io/container-id": "app",
      "spo.x-k8s.io/recording-namespace": "hostns",
    });
    expect(profile.spec.syscalls?.[0]?.names).toEqual(expect.arrayContaining(EXPECTED));
    expect(await recorder.metric("secprof_recorder_runc", { what: "endedPods" })).toBeGreaterThanOrEqual(1);

    // The bundle API serves it from the directory: listed, and as a bundle for CI.
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
    const list = await fetch(`http://127.0.0.1:${apiPort}/v1/recordings`, auth);
    const { items } = (await list.json()) as {
      items: { namespace: string; name: string; profiles: string[] }[];
    };
    expect(items.find((r) => r.name === rec)).toMatchObject({
      namespace: "hostns",
      profiles: [`${rec}-app`],
    });
    const bundle = await fetch(`http://127.0.0.1:${apiPort}/v1/recordings/hostns/${rec}/bundle.tar.gz`, auth);
    expect(bundle.status).toBe(200);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(0);
    unlinkSync(path.join(recordings, `${rec}.yaml`));
    // Gone for both daemons before the next test counts its own recording as the one valid manifest.
    for (const d of [recorder, merger])
      await until(`${d.name} to drop the deleted recording`, async () =>
        (await d.metric("secprof_host_recordings", { what: "valid" })) === 0 ? true : undefined,
      );
  });

  it("merges a Containers recording's partials when its manifest file is deleted", async () => {
    diagnostics();
    const rec = `jobs-${RUN}`;
    writeFileSync(
      path.join(recordings, `${rec}.yaml`),
      recordingManifest("hostns", rec, `jobs-${RUN}`, "Containers"),
    );
    await until("the recorder to load the recording", async () =>
      (await recorder.metric("secprof_host_recordings", { what: "valid" })) === 1 ? true : undefined,
    );
    await runContainer("job-a", `jobs-${RUN}`, `${WORK}; sleep 2`);
    await runContainer("job-b", `jobs-${RUN}`, `${WORK}; sleep 2`);
    await recorderCaughtUp(checkpoint());
    // Fixed-name pods with Containers: each is a partial named after its pod (SPO #3328).
    const a = await profileWith(`${rec}-app-job-a`, EXPECTED);
    const b = await profileWith(`${rec}-app-job-b`, EXPECTED);
    expect(a.metadata.labels?.["spo.x-k8s.io/partial"]).toBe("true");
    expect(b.metadata.labels?.["spo.x-k8s.io/partial"]).toBe("true");

    unlinkSync(path.join(recordings, `${rec}.yaml`));
    const merged = await profileWith(`${rec}-app`);
    expect(merged.metadata.labels?.["spo.x-k8s.io/partial"]).toBeUndefined();
    expect(merged.spec.syscalls?.[0]?.names).toEqual(expect.arrayContaining(EXPECTED));
    expect(merged.metadata.annotations?.["spo.x-k8s.io/syscall-coverage"]).toContain('"total":2');
    await until("the partials to be removed", async () =>
      existsSync(profileFile(`${rec}-app-job-a`)) || existsSync(profileFile(`${rec}-app-job-b`))
        ? undefined
        : true,
    );
  });
});
