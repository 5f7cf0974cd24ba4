import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { daemon, exited, freePort, metricsWith, tail, until } from "./procs.js";

/** A daemon process that a test can kill -9 and start again with the same environment. */
export class DaemonProcess {
  child: ChildProcess | undefined;

  constructor(
    readonly name: string,
    readonly entry: string,
    readonly env: Record<string, string>,
    readonly logFile: string,
    /** Port of its /metrics, /readyz (0: none). */
    readonly metricsPort: number,
  ) {}

  start(): this {
    this.child = daemon(this.entry, this.env, this.logFile);
    return this;
  }

  /** Waits for /readyz (the recorder is ready only once its audit log follower is positioned). */
  async ready(timeoutMs = 45_000): Promise<void> {
    try {
      await until(
        `${this.name} to be ready`,
        async () => ((await fetch(`http://127.0.0.1:${this.metricsPort}/readyz`)).ok ? true : undefined),
        timeoutMs,
      );
    } catch (err) {
      throw new Error(`${String(err)}\n${this.name} log:\n${tail(this.logFile)}`);
    }
  }

  /** SIGKILL: no shutdown hook runs, nothing is flushed. */
  async kill9(): Promise<void> {
    const c = this.child;
    if (c === undefined) return;
    c.kill("SIGKILL");
    await exited(c);
    this.child = undefined;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (c === undefined) return;
    c.kill("SIGTERM");
    await Promise.race([exited(c), new Promise((r) => setTimeout(r, 5000))]);
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    this.child = undefined;
  }

  metrics(prefix: string): Promise<string> {
    return metricsWith(this.metricsPort, prefix);
  }

  /** The value of metric `name` whose labels include `labels` (0 if there is none). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
    const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    const line = text.split("\n").find((l) => {
      if (!l.startsWith(`${name}{`) && !l.startsWith(`${name} `)) return false;
      const labelText = l.slice(name.length, l.lastIndexOf(" "));
      return want.every((w) => labelText.includes(w));
    });
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
  }

  diagnostics(): string {
    return `${this.name} log:\n${tail(this.logFile)}`;
  }
}

export interface RecorderEnv {
  dir: string;
  kubeconfig: string;
  redisUrl: string;
  node?: string;
  auditLog?: string;
  procRoot?: string;
  flushMs?: number;
  extra?: Record<string, string>;
}

/** The per-node recorder with its checkpoint and spool in `dir` (node name in file names). */
export async function recorderProcess(o: RecorderEnv): Promise<DaemonProcess> {
  const node = o.node ?? "node1";
  const port = await freePort();
  return new DaemonProcess(
    `recorder ${node}`,
    "packages/recorder/dist/main.js",
    {
      SECPROF_REDIS_URL: o.redisUrl,
      KUBECONFIG: o.kubeconfig,
      NODE_NAME: node,
      SECPROF_CHECKPOINT: path.join(o.dir, `${node}.checkpoint.json`),
      SECPROF_SPOOL: path.join(o.dir, `${node}.spool.ndjson`),
      SECPROF_METRICS_PORT: String(port),
      SECPROF_METRICS_HOST: "127.0.0.1",
      SECPROF_FLUSH_MS: String(o.flushMs ?? 500),
      ...(o.auditLog === undefined ? {} : { SECPROF_AUDIT_LOG: o.auditLog }),
      ...(o.procRoot === undefined ? {} : { SECPROF_PROC_ROOT: o.procRoot }),
      ...o.extra,
    },
    path.join(o.dir, `recorder-${node}.log`),
    port,
  );
}

/** The merger with its bundle API on `apiPort` (token-protected). */
export async function mergerProcess(o: {
  dir: string;
  kubeconfig: string;
  redisUrl: string;
  token: string;
  name?: string;
}): Promise<DaemonProcess & { apiPort: number }> {
  const apiPort = await freePort();
  const metricsPort = await freePort();
  const name = o.name ?? "merger";
  const p = new DaemonProcess(
    name,
    "packages/merger/dist/main.js",
    {
      SECPROF_REDIS_URL: o.redisUrl,
      KUBECONFIG: o.kubeconfig,
      SECPROF_API_TOKEN: o.token,
      SECPROF_API_PORT: String(apiPort),
      SECPROF_API_HOST: "127.0.0.1",
      SECPROF_METRICS_PORT: String(metricsPort),
    },
    path.join(o.dir, `${name}.log`),
    metricsPort,
  );
  return Object.assign(p, { apiPort });
}
