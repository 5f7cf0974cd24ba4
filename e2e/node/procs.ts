import { type ChildProcess, execFile, spawn } from "node:child_process";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
// From the sources: the deploy tree is not part of @secprof/core's index.
import { DAEMON_ENV, NODE_FLAGS } from "../../packages/core/src/rbac/manifests.js";

/** The repository root: e2e tests run the built `dist/` of each package from here. */
export const ROOT = path.resolve(import.meta.dirname, "../..");

/**
 * What the deployments run for `packages/<p>/dist/<name>.js`: its bundle (scripts/bundle.mjs),
 * `dist/bundled/<name>.mjs`, with the manifests' V8 flags. Other entries run as given.
 */
function asDeployed(entry: string): string[] {
  const m = /^(packages\/[a-z-]+\/dist)\/([a-z-]+)\.js$/.exec(entry);
  return m
    ? [...NODE_FLAGS, path.join(ROOT, m[1] ?? "", "bundled", `${m[2]}.mjs`)]
    : [path.join(ROOT, entry)];
}

/** Starts `node ROOT/entry` as deployed (see asDeployed) with only `env` (plus PATH and HOME), logging to `logFile`. */
export function daemon(entry: string, env: Record<string, string>, logFile: string): ChildProcess {
  const log = openSync(logFile, "a");
  // A clean environment, as a DaemonSet would have: nothing of the test runner leaks in.
  const base = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    ...DAEMON_ENV,
  };
  const child = spawn("node", asDeployed(entry), {
    env: { ...base, ...env },
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  return child;
}

/** Ports already handed out by this process: the kernel may offer a just-closed port again. */
const handedOut = new Set<number>();

/** A port nobody listens on right now (the daemons bind it a moment later), never the same twice. */
export async function freePort(): Promise<number> {
  for (;;) {
    const srv = createServer();
    await new Promise<void>((resolve, reject) => srv.once("error", reject).listen(0, "127.0.0.1", resolve));
    const addr = srv.address();
    await new Promise((r) => srv.close(r));
    if (addr === null || typeof addr === "string") throw new Error("no port");
    if (handedOut.has(addr.port)) continue;
    handedOut.add(addr.port);
    return addr.port;
  }
}

/**
 * Runs a command without blocking the event loop: the fake API server lives in this process, and
 * the merger (serving `secprof pull`) and the recorder talk to it while the command runs.
 */
export function run(
  cmd: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { encoding: "utf8", timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const status = err === null ? 0 : typeof err.code === "number" ? err.code : null;
        resolve({ status, stdout, stderr: stderr || (err?.message ?? "") });
      },
    );
  });
}

/** Polls `fn` every 250 ms until it returns something other than undefined (errors count as not yet). */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The last bytes of a file (daemon logs for failure reports). */
export function tail(f: string, bytes = 6000): string {
  try {
    const fd = openSync(f, "r");
    try {
      const size = statSync(f).size;
      const buf = Buffer.alloc(Math.min(bytes, size));
      readSync(fd, buf, 0, buf.length, size - buf.length);
      return buf.toString("utf8");
    } finally {
      closeSync(fd);
    }
  } catch {
    return "(no log)";
  }
}

/** A daemon's own non-zero metrics with `prefix` (not the nodejs_/process_ ones). */
export async function metricsWith(port: number, prefix: string): Promise<string> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return text
      .split("\n")
      .filter((l) => l.startsWith(prefix) && !/ 0$/.test(l))
      .join("\n");
  } catch (err) {
    return `(metrics unavailable: ${String(err)})`;
  }
}

/** Waits for a child process to exit (already exited: at once). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once("exit", () => r()));
}
