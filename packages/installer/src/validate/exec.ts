import { spawn } from "node:child_process";

/** One run of a policy tool: exit status, bounded output, wall time, whether it was killed. */
export interface ToolRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

export interface ToolOptions {
  timeoutMs: number;
  cwd?: string;
  /** Output kept per stream (the rest is counted, not stored). */
  maxOutput?: number;
}

/**
 * Runs a tool without a shell (arguments are never interpreted), stdin closed, SIGKILL at the
 * timeout. Never rejects: a tool that cannot be started reports `code: null` and the error.
 */
export function runTool(cmd: string, args: readonly string[], opts: ToolOptions): Promise<ToolRun> {
  const max = opts.maxOutput ?? 256 * 1024;
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: ["ignore", "pipe", "pipe"],
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let spawnError = "";
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      if (stdout.length < max) stdout += d.slice(0, max - stdout.length);
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      if (stderr.length < max) stderr += d.slice(0, max - stderr.length);
    });
    child.on("error", (err) => {
      spawnError = err.message;
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout,
        stderr: spawnError === "" ? stderr : `${stderr}${spawnError}`,
        ms: Math.round(performance.now() - started),
        timedOut,
      });
    });
  });
}

/** A one-line summary of how a run ended, for error messages. */
export function howItEnded(cmd: string, r: ToolRun, timeoutMs: number): string {
  if (r.timedOut) return `${cmd} was killed after the ${timeoutMs} ms timeout`;
  if (r.code === null && r.signal === null) return `${cmd} could not be started`;
  if (r.code === null) return `${cmd} died of ${r.signal}`;
  return `${cmd} exited with status ${r.code}`;
}
