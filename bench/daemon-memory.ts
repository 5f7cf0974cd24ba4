/**
 * bench/daemon-memory: resident memory of each daemon, idle and under a modest load.
 *
 *   npx vite-node bench/daemon-memory.ts [--pods 20] [--lines-per-s 20000] [--webhook-rps 50]
 *       [--idle-s 5] [--load-s 20] [--out bench/out]
 *
 * Runs the built daemons (`packages/<app>/dist/main.js`, so `npm run build` first) as processes,
 * as e2e/cluster-recording.test.ts does: real Redis on a private port, the fake kube-apiserver of
 * @secprof/testkit in this process, and
 *   - recorder: follows a private audit log with a fake proc root (packages/recorder's FakeProc)
 *     in which `--pods` pods' processes live, so the SECCOMP lines written are attributed,
 *     batched and queued as on a node;
 *   - merger: merges what the recorder queues, and writes the SeccompProfiles when the pods end;
 *   - webhook: answers AdmissionReviews for pod creations (`--webhook-rps`, HTTPS);
 *   - installer (when packages/installer/dist/main.js exists): cluster mode, host root in a temp
 *     dir, sees the profiles the merger writes.
 * Phases: idle (after ready, `--idle-s`), load (`--load-s`: audit lines at `--lines-per-s`, the
 * webhook's requests), then the pods end and the profiles are written (still sampled). RSS is read
 * from /proc/<pid>/status every 250 ms: idle = median of the idle samples, under load = the
 * largest sample (and VmHWM, the kernel's peak). Budgets are on the peak.
 *
 * The alternative: SPO publishes limits, not measurements. /work/shared/reference/perf.md gives
 * the log-enricher's (256 MiB, raised after OOM kills, SPO#751), the recorder's counterpart; it is
 * shown as a published number, not measured here. perf.md gives none for the other daemons.
 * Exit code 0 unless a daemon could not start.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  DAEMON_ENV,
  heapLimitMiB,
  MEMORY_LIMIT_MIB,
  NODE_FLAGS,
} from "../packages/core/src/rbac/manifests.js";
import { FakeProc } from "../packages/recorder/src/attribution/fake-proc.js";
// From the testkit's sources, not its index: the index also exports vitest helpers, which need a test runner.
import { SPO_GROUP as GROUP, spoKinds } from "../packages/testkit/src/kube/kinds.js";
import { reportRunning } from "../packages/testkit/src/kube/kubelet.js";
import { type FakeApiServer, startFakeApiServer } from "../packages/testkit/src/kube/server.js";
import { selfSignedCert } from "../packages/testkit/src/tls.js";
import { recordingNamespace } from "./lib/cluster.js";
import { hasCommand, median } from "./lib/measure.js";
import { fmtFixed, fmtInt, formatTable, writeResults } from "./lib/report.js";
import { type BenchRow, benchRow } from "./lib/result.js";
import { freePort, rssMiB, sleep, startRedis, until } from "./lib/services.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const NODE = "node1";
const NS = "bench-mem";

type Daemon = "recorder" | "merger" | "webhook" | "installer";

/**
 * Budgets on the peak RSS under load, MiB. recorder: perf.md's target (≤ 100 MB steady). The
 * others have none in perf.md: about 80 % of their deploy/base memory limit (webhook, installer:
 * 128Mi) or half of it for the merger (512Mi; it holds merge state for every recording).
 */
const BUDGET_MIB: Record<Daemon, number> = { recorder: 100, merger: 256, webhook: 100, installer: 100 };

/** SPO's published memory limit for the recorder's counterpart (perf.md §1.1, SPO#751). */
const SPO_ENRICHER_LIMIT_MIB = 256;

interface Running {
  name: Daemon;
  child: ChildProcess;
  log: string;
  readyUrl: string;
}

/**
 * What runs: the bundle scripts/bundle.mjs builds (as deployed) or tsc's module tree (`--layout
 * dist`, for comparison), with the V8 flags the deploy manifests give (`--node-flags` overrides).
 */
interface Launch {
  layout: "bundled" | "dist";
  /** undefined: the deployments' flags. */
  flags: readonly string[] | undefined;
}
/** The deployment's V8 flags, with the heap limit for the daemon's container memory limit. */
const deployedFlags = (name: Daemon) => [
  ...NODE_FLAGS,
  `--max-old-space-size=${heapLimitMiB(MEMORY_LIMIT_MIB[name])}`,
];
const entryOf = (name: Daemon, layout: Launch["layout"]) =>
  join(ROOT, "packages", name, "dist", ...(layout === "bundled" ? ["bundled", "main.mjs"] : ["main.js"]));

function startDaemon(
  name: Daemon,
  env: Record<string, string>,
  dir: string,
  metricsPort: number,
  launch: Launch,
): Running {
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, "w");
  // A clean environment, as a DaemonSet would have.
  const base = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    ...DAEMON_ENV,
  };
  const flags = launch.flags ?? deployedFlags(name);
  const child = spawn(process.execPath, [...flags, entryOf(name, launch.layout)], {
    env: { ...base, ...env },
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  return { name, child, log, readyUrl: `http://127.0.0.1:${metricsPort}/readyz` };
}

function mtimeOf(file: string): number {
  return existsSync(file) ? statSync(file).mtimeMs : 0;
}

/** Newest modification time of the non-test .ts files under `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith(".ts") || e.name.endsWith(".test.ts")) continue;
    newest = Math.max(newest, mtimeOf(join(e.parentPath, e.name)));
  }
  return newest;
}

class Sampler {
  readonly samples = new Map<Daemon, number[]>();
  #timer: NodeJS.Timeout | undefined;
  constructor(private readonly daemons: readonly Running[]) {}
  start(): void {
    for (const d of this.daemons) this.samples.set(d.name, []);
    const tick = () => {
      for (const d of this.daemons) {
        const m = rssMiB(d.child.pid);
        if (m !== undefined) this.samples.get(d.name)?.push(m.rss);
      }
    };
    tick();
    this.#timer = setInterval(tick, 250);
  }
  stop(): Map<Daemon, number[]> {
    clearInterval(this.#timer);
    return this.samples;
  }
}

/** A SECCOMP record as auditd writes it for a process of a recorded container. */
function seccompLine(serial: number, pid: number, syscall: number, nowMs: number): string {
  const ts = `${Math.floor(nowMs / 1000)}.${String(nowMs % 1000).padStart(3, "0")}`;
  return (
    `type=SECCOMP msg=audit(${ts}:${serial}): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=${pid} ` +
    `comm="app" exe="/usr/bin/app" sig=0 arch=c000003e syscall=${syscall} compat=0 ip=0x7f3a1c2b9d4e code=0x7ffc0000\n`
  );
}

/** POSTs one AdmissionReview for a pod creation; resolves with the HTTP status (0 on error). */
function admissionReview(url: string, agent: Agent, n: number): Promise<number> {
  const body = JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: `bench-${n}`,
      operation: "CREATE",
      namespace: NS,
      object: {
        metadata: { generateName: "load-", labels: { app: "load" } },
        spec: { containers: [{ name: "app" }] },
      },
    },
  });
  return new Promise((res) => {
    const req = request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/json" } },
      (r) => {
        r.resume();
        r.on("end", () => res(r.statusCode ?? 0));
      },
    );
    req.on("error", () => res(0));
    req.end(body);
  });
}

/** The recorder's own non-zero metrics (secprof_recorder_*), from its /metrics. */
async function recorderMetrics(port: number): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split("\n").filter((l) => l.startsWith("secprof_recorder") && !/ 0$/.test(l));
}

/** The recorder's counter of audit lines read. */
async function recorderLines(port: number): Promise<number | undefined> {
  const line = (await recorderMetrics(port)).find((l) => l.startsWith("secprof_recorder_lines_total"));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/**
 * What any of our daemons costs before doing anything: node with the libraries every daemon loads
 * (@kubernetes/client-node dominates), measured the same way. Context for the budgets, not a row.
 */
async function libraryFloorMiB(): Promise<{ node: number | undefined; libs: number | undefined }> {
  const measure = async (code: string) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
      cwd: join(ROOT, "packages", "webhook"),
      stdio: "ignore",
    });
    await sleep(3000);
    const m = rssMiB(child.pid);
    child.kill("SIGKILL");
    return m?.rss;
  };
  const hold = "setInterval(() => {}, 1000);";
  return {
    node: await measure(hold),
    libs: await measure(
      `await import("@kubernetes/client-node"); await import("pino"); await import("prom-client"); await import("zod"); ${hold}`,
    ),
  };
}

/**
 * V8 heap used and allocated, MiB, from a daemon's own metrics (prom-client's default ones): tells
 * JavaScript objects from the rest of the RSS (code, native buffers, free heap pages not returned).
 */
async function heapOf(metricsUrl: string): Promise<{ used: number; total: number } | undefined> {
  try {
    const text = await (await fetch(metricsUrl)).text();
    const value = (name: string) =>
      Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, "m").exec(text)?.[1]);
    const used = value("secprof_nodejs_heap_size_used_bytes") / 2 ** 20;
    const total = value("secprof_nodejs_heap_size_total_bytes") / 2 ** 20;
    return Number.isFinite(used) && Number.isFinite(total) ? { used, total } : undefined;
  } catch {
    return undefined;
  }
}

interface DaemonResult {
  name: Daemon;
  idleMiB: number | undefined;
  loadMiB: number | undefined;
  hwmMiB: number | undefined;
  /** V8 heap used / allocated when the load stopped. */
  heapUsedMiB: number | undefined;
  heapTotalMiB: number | undefined;
  samples: number;
  exitedEarly: boolean;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      pods: { type: "string", default: "20" },
      "lines-per-s": { type: "string", default: "20000" },
      "webhook-rps": { type: "string", default: "50" },
      "idle-s": { type: "string", default: "5" },
      "load-s": { type: "string", default: "20" },
      /** "dist" runs tsc's module tree instead of the bundles, for comparison. */
      layout: { type: "string", default: "bundled" },
      /** V8 flags instead of the deployments' (NODE_FLAGS and the heap limit); "" for none. */
      "node-flags": { type: "string" },
      out: { type: "string", default: join(ROOT, "bench", "out") },
    },
  });
  const pods = Number(values.pods);
  const linesPerS = Number(values["lines-per-s"]);
  const webhookRps = Number(values["webhook-rps"]);
  const idleS = Number(values["idle-s"]);
  const loadS = Number(values["load-s"]);
  if (values.layout !== "bundled" && values.layout !== "dist") throw new Error("--layout: bundled or dist");
  const launch: Launch = {
    layout: values.layout,
    flags: values["node-flags"]?.split(/\s+/).filter((f) => f !== ""),
  };

  const names: Daemon[] = ["recorder", "merger", "webhook"];
  if (existsSync(entryOf("installer", launch.layout))) names.push("installer");
  const unbuilt = names.filter((n) => !existsSync(entryOf(n, launch.layout)));
  const tools = ["redis-server", "openssl"].filter((c) => !hasCommand(c));
  if (unbuilt.length > 0 || tools.length > 0) {
    console.log(
      `SKIP: ${unbuilt.length > 0 ? `not built (npm run build): ${unbuilt.join(", ")}` : ""}` +
        `${tools.length > 0 ? ` missing: ${tools.join(", ")}` : ""}`,
    );
    return 0;
  }
  const stale = names.filter(
    (n) => newestMtime(join(ROOT, "packages", n, "src")) > mtimeOf(entryOf(n, launch.layout)),
  );
  if (stale.length > 0)
    console.log(
      `warning: sources newer than dist for ${stale.join(", ")}: run npm run build to measure the current code`,
    );
  console.log(
    `daemon-memory: ${names.join(", ")}; ${pods} recorded pods, ${fmtInt(linesPerS)} audit lines/s and ` +
      `${webhookRps} AdmissionReviews/s for ${loadS} s; idle ${idleS} s; node ${process.version}` +
      `\n  ${launch.layout === "bundled" ? "bundles (dist/bundled/*.mjs)" : "tsc's modules (dist/*.js)"}; V8 flags: ` +
      `${launch.flags?.join(" ") ?? `${NODE_FLAGS.join(" ")} --max-old-space-size=<3/4 of the container limit>`}` +
      (names.includes("installer") ? "" : "\n  installer: not built, not measured"),
  );

  const dir = mkdtempSync(join(tmpdir(), "secprof-bench-mem-"));
  const fake = new FakeProc(1000);
  const running: Running[] = [];
  let api: FakeApiServer | undefined;
  const redisPort = await freePort();
  const redis = await startRedis(redisPort);
  try {
    api = await startFakeApiServer({ kinds: spoKinds({ profilesNamespaced: false }) });
    // secprof's own cluster-scoped kinds, which the installer watches (as in its cluster tests).
    for (const [kind, plural] of [
      ["ProfileApproval", "profileapprovals"],
      ["ProfileNodeStatus", "profilenodestatuses"],
    ] as const)
      api.registerKind({ group: GROUP, version: "v1", kind, plural, namespaced: false });
    const kc = api.kubeConfig("admin");
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, kc.exportConfig());
    // The cluster: a recording namespace, a Logs recording, `pods` running pods on this node.
    const { core, custom } = await recordingNamespace(kc, {
      namespace: NS,
      recording: "mem-rec",
      app: "load",
    });
    const pids: number[] = [];
    const podNames: string[] = [];
    for (let i = 0; i < pods; i++) {
      // generateName, as a Deployment's pods have: one profile per pod (a fixed name would merge them all).
      const pod = await core.createNamespacedPod({
        namespace: NS,
        body: {
          metadata: { generateName: "load-", labels: { app: "load" } },
          spec: { nodeName: NODE, containers: [{ name: "app", image: "host" }] },
        },
      });
      const id = randomBytes(32).toString("hex");
      const uid = pod.metadata?.uid ?? "";
      const name = pod.metadata?.name ?? "";
      await reportRunning(core, pod, id);
      const pid = 200_000 + i;
      fake.spawn({ pid, start: 5000 + i, cgroup: `0::/kubepods/besteffort/pod${uid}/${id}\n` });
      pids.push(pid);
      podNames.push(name);
    }

    const tls = selfSignedCert();
    writeFileSync(join(dir, "tls.crt"), tls.cert);
    writeFileSync(join(dir, "tls.key"), tls.key);
    const auditLog = join(dir, "audit.log");
    writeFileSync(auditLog, "");
    const token = randomBytes(24).toString("hex");
    const ports = {
      recorder: await freePort(),
      merger: await freePort(),
      mergerApi: await freePort(),
      webhook: await freePort(),
      webhookMetrics: await freePort(),
      installer: await freePort(),
    };
    const common = { SECPROF_REDIS_URL: `redis://127.0.0.1:${redisPort}`, KUBECONFIG: kubeconfig };
    running.push(
      startDaemon(
        "recorder",
        {
          ...common,
          NODE_NAME: NODE,
          SECPROF_AUDIT_LOG: auditLog,
          SECPROF_CHECKPOINT: join(dir, "checkpoint.json"),
          SECPROF_SPOOL: join(dir, "spool.ndjson"),
          SECPROF_PROC_ROOT: fake.root,
          SECPROF_METRICS_PORT: String(ports.recorder),
          SECPROF_METRICS_HOST: "127.0.0.1",
        },
        dir,
        ports.recorder,
        launch,
      ),
      startDaemon(
        "merger",
        {
          ...common,
          SECPROF_API_TOKEN: token,
          SECPROF_API_PORT: String(ports.mergerApi),
          SECPROF_API_HOST: "127.0.0.1",
          SECPROF_METRICS_PORT: String(ports.merger),
        },
        dir,
        ports.merger,
        launch,
      ),
      startDaemon(
        "webhook",
        {
          KUBECONFIG: kubeconfig,
          SECPROF_TLS_CERT: join(dir, "tls.crt"),
          SECPROF_TLS_KEY: join(dir, "tls.key"),
          SECPROF_WEBHOOK_PORT: String(ports.webhook),
          SECPROF_METRICS_PORT: String(ports.webhookMetrics),
        },
        dir,
        ports.webhookMetrics,
        launch,
      ),
    );
    if (names.includes("installer")) {
      const hostRoot = join(dir, "host");
      mkdirSync(hostRoot, { recursive: true });
      running.push(
        startDaemon(
          "installer",
          {
            KUBECONFIG: kubeconfig,
            NODE_NAME: NODE,
            SECPROF_HOST_ROOT: hostRoot,
            // Profiles are cluster-scoped here, as the merger writes them with the fake server's kinds.
            SECPROF_SECCOMP_LAYOUT: "cluster",
            SECPROF_METRICS_PORT: String(ports.installer),
            SECPROF_METRICS_HOST: "127.0.0.1",
          },
          dir,
          ports.installer,
          launch,
        ),
      );
    }
    for (const d of running) {
      try {
        await until(`${d.name} ready`, async () => ((await fetch(d.readyUrl)).ok ? true : undefined), 45_000);
      } catch (e) {
        console.error(
          `${d.name} did not become ready: ${String(e)}\n${readFileSync(d.log, "utf8").slice(-3000)}`,
        );
        return 1;
      }
    }
    const tStart = performance.now();
    console.log("all daemons ready; settling 3 s");
    await sleep(3000);

    // Idle.
    const idle = new Sampler(running);
    idle.start();
    await sleep(idleS * 1000);
    const idleSamples = idle.stop();

    // Load: audit lines for the pods' processes, AdmissionReviews, then the pods end.
    const load = new Sampler(running);
    load.start();
    const fd = openSync(auditLog, "a");
    let serial = 1;
    let written = 0;
    const perTick = Math.max(1, Math.round(linesPerS / 20));
    const writer = setInterval(() => {
      const now = Date.now();
      let chunk = "";
      for (let i = 0; i < perTick; i++, serial++) {
        // Each pod's process calls a growing set of syscalls: new ones keep reaching the merger.
        const pid = pids[serial % pids.length] ?? 0;
        const nr = (serial * 7 + Math.floor(serial / 5000)) % 330;
        chunk += seccompLine(serial, pid, nr, now);
      }
      writeSync(fd, chunk);
      written += perTick;
    }, 50);
    const agent = new Agent({ keepAlive: true, ca: tls.cert, maxSockets: 4 });
    const url = `https://127.0.0.1:${ports.webhook}/mutate-v1-pod-recording`;
    const statuses = new Map<number, number>();
    let reviews = 0;
    const reviewer = setInterval(
      () => {
        void admissionReview(url, agent, reviews++).then((s) => statuses.set(s, (statuses.get(s) ?? 0) + 1));
      },
      Math.max(1, Math.round(1000 / webhookRps)),
    );
    await sleep(loadS * 1000);
    clearInterval(writer);
    clearInterval(reviewer);
    closeSync(fd);
    const heaps = new Map<Daemon, { used: number; total: number } | undefined>();
    for (const d of running) heaps.set(d.name, await heapOf(d.readyUrl.replace(/\/readyz$/, "/metrics")));
    const read = await until(
      "the recorder to read every line written",
      async () => {
        const n = await recorderLines(ports.recorder);
        return n !== undefined && n >= written ? n : undefined;
      },
      30_000,
    ).catch(() => undefined);
    for (const name of podNames) {
      const live = await core.readNamespacedPod({ namespace: NS, name });
      await core.replaceNamespacedPodStatus({
        namespace: NS,
        name,
        body: { ...live, status: { ...live.status, phase: "Succeeded" } },
      });
    }
    const listProfiles = async () =>
      (
        (await custom.listClusterCustomObject({
          group: GROUP,
          version: "v1",
          plural: "seccompprofiles",
        })) as {
          items: unknown[];
        }
      ).items.length;
    const profiles = await until(
      "the merger to write a profile per pod",
      async () => {
        const n = await listProfiles();
        return n >= pods ? n : undefined;
      },
      30_000,
    ).catch(() => listProfiles());
    await sleep(2000);
    const loadSamples = load.stop();
    if (profiles < pods)
      console.log(
        `only ${profiles}/${pods} profiles written; recorder metrics:\n  ${(await recorderMetrics(ports.recorder)).join("\n  ")}` +
          `\nmerger log (end):\n${readFileSync(running[1]?.log ?? "", "utf8").slice(-2000)}`,
      );
    agent.destroy();

    const results: DaemonResult[] = running.map((d) => {
      const i = idleSamples.get(d.name) ?? [];
      const l = loadSamples.get(d.name) ?? [];
      const peak = rssMiB(d.child.pid);
      return {
        name: d.name,
        idleMiB: i.length > 0 ? median(i) : undefined,
        loadMiB: l.length > 0 ? Math.max(...l) : undefined,
        hwmMiB: peak?.hwm,
        heapUsedMiB: heaps.get(d.name)?.used,
        heapTotalMiB: heaps.get(d.name)?.total,
        samples: i.length + l.length,
        exitedEarly: d.child.exitCode !== null || d.child.signalCode !== null,
      };
    });
    const okReviews = statuses.get(200) ?? 0;
    const loadNote = {
      recorder: `${fmtInt(written)} audit lines written, ${fmtInt(read)} read by the recorder`,
      merger: `${profiles}/${pods} SeccompProfiles written when the pods ended`,
      webhook: `${fmtInt(okReviews)}/${fmtInt(reviews)} AdmissionReviews answered 200`,
      installer: `${profiles} SeccompProfiles in the cluster to install`,
    } satisfies Record<Daemon, string>;

    console.log(
      `\n${formatTable(
        [
          "daemon",
          "idle RSS MiB",
          "peak RSS MiB (load)",
          "VmHWM MiB",
          "heap used/alloc MiB",
          "budget MiB",
          "samples",
          "load",
        ],
        results.map((r) => [
          r.name,
          fmtFixed(r.idleMiB, 1),
          fmtFixed(r.loadMiB, 1),
          fmtFixed(r.hwmMiB, 1),
          `${fmtFixed(r.heapUsedMiB, 0)}/${fmtFixed(r.heapTotalMiB, 0)}`,
          `≤ ${BUDGET_MIB[r.name]}`,
          String(r.samples),
          loadNote[r.name],
        ]),
      )}`,
    );
    console.log(
      `\nRSS sampled every 250 ms from /proc/<pid>/status; idle: median; load: largest sample; heap: V8's, ` +
        "from the daemon's metrics when the load stopped. " +
        `Run took ${fmtFixed((performance.now() - tStart) / 1000, 0)} s after the daemons were ready.` +
        `\nSPO publishes limits, not measurements: log-enricher ${SPO_ENRICHER_LIMIT_MIB} MiB (perf.md, SPO#751) is the` +
        " recorder rows' alternative (published); perf.md gives none for the merger, webhook or installer.",
    );
    const floor = await libraryFloorMiB();
    console.log(
      `floor: node alone ${fmtFixed(floor.node, 1)} MiB; node + @kubernetes/client-node, pino, prom-client, zod ` +
        `imported ${fmtFixed(floor.libs, 1)} MiB (what every daemon pays before its own work)`,
    );
    const summary: BenchRow[] = [];
    for (const r of results) {
      const spo =
        r.name === "recorder"
          ? {
              alternative: {
                value: SPO_ENRICHER_LIMIT_MIB,
                name: "SPO log-enricher limit",
                kind: "published" as const,
              },
            }
          : {};
      for (const [phase, value] of [
        ["idle", r.idleMiB],
        ["peak under load", r.loadMiB],
      ] as const) {
        summary.push(
          benchRow({
            bench: "daemon-memory",
            name: `${r.name} RSS, ${phase}`,
            ours: value,
            unit: "MiB",
            better: "lower",
            ...spo,
            budget: { max: BUDGET_MIB[r.name] },
            note: r.exitedEarly ? "the daemon exited during the run" : loadNote[r.name],
          }),
        );
      }
    }
    for (const r of summary)
      console.log(
        `${r.pass ? "PASS" : "FAIL"}  ${r.name}: ${fmtFixed(r.ours ?? Number.NaN, 1)} MiB (budget ≤ ${r.budget?.max} MiB)`,
      );
    const file = writeResults(values.out, "daemon-memory", {
      summary,
      params: {
        pods,
        linesPerS,
        webhookRps,
        idleS,
        loadS,
        layout: launch.layout,
        nodeFlags: launch.flags ?? "deployed",
      },
      results,
      floorMiB: floor,
      load: { written, read, reviews, okReviews, profiles },
    });
    console.log(`\nresults: ${file}`);
    return results.some((r) => r.exitedEarly) ? 1 : 0;
  } finally {
    for (const d of running) d.child.kill("SIGTERM");
    await sleep(500);
    for (const d of running) if (d.child.exitCode === null) d.child.kill("SIGKILL");
    await api?.close();
    redis.kill("SIGTERM");
    fake.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
