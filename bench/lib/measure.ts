/**
 * Running measured work in child processes pinned to one core, and timing them.
 *
 * The harness pins itself to CPU 0 and runs every measured process on the last CPU (`taskset`),
 * so its own bookkeeping never shares a core with what it measures.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
} from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";

export function hasCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

export interface Pinning {
  /** CPU the measured children run on, or undefined when pinning is unavailable. */
  cpu: number | undefined;
  note: string;
}

/** Pins this process (all threads) to CPU 0 and picks the last CPU for measured children. */
export function pinHarness(): Pinning {
  const n = availableParallelism();
  if (!hasCommand("taskset")) return { cpu: undefined, note: "taskset not found: children are not pinned" };
  if (n < 2) return { cpu: 0, note: "1 CPU: children pinned to CPU 0, shared with the harness" };
  spawnSync("taskset", ["-a", "-pc", "0", String(process.pid)], { stdio: "ignore" });
  return { cpu: n - 1, note: `harness on CPU 0, measured processes on CPU ${n - 1}` };
}

export interface RunOptions {
  cpu?: number | undefined;
  /** File to feed on stdin (default: /dev/null). */
  stdin?: string;
  /** "ignore" sends stdout to /dev/null; "pipe" captures it. */
  stdout?: "ignore" | "pipe";
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export interface RunResult {
  cmd: string;
  /** Process wall time, spawn to exit, in seconds. */
  wallS: number;
  /** From /usr/bin/time when installed. */
  userS: number | undefined;
  sysS: number | undefined;
  maxRssKb: number | undefined;
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

const GNU_TIME = "/usr/bin/time";

/** Runs `cmd args` (pinned when `cpu` is set) and measures it. Never rejects for a failing child. */
export async function runMeasured(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), "bench-run-"));
  const timeFile = join(dir, "time");
  let argv = [cmd, ...args];
  const timed = existsSync(GNU_TIME);
  if (timed) argv = [GNU_TIME, "-o", timeFile, "-f", "%U %S %M", ...argv];
  if (opts.cpu !== undefined) argv = ["taskset", "-c", String(opts.cpu), ...argv];
  const stdinFd = openSync(opts.stdin ?? "/dev/null", "r");
  const [exe = cmd, ...rest] = argv;
  const t0 = process.hrtime.bigint();
  const child = spawn(exe, rest, {
    stdio: [stdinFd, opts.stdout === "pipe" ? "pipe" : "ignore", "pipe"],
    env: opts.env ?? process.env,
  });
  closeSync(stdinFd);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on("data", (b: Buffer) => out.push(b));
  child.stderr?.on("data", (b: Buffer) => {
    if (err.length < 256) err.push(b);
  });
  let timedOut = false;
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          child.kill("SIGKILL");
        }, opts.timeoutMs);
  const { code, signal, t1 } = await new Promise<{ code: number | null; signal: string | null; t1: bigint }>(
    (resolve) => {
      child.on("error", () => resolve({ code: null, signal: null, t1: process.hrtime.bigint() }));
      child.on("exit", (c, s) => {
        const t1 = process.hrtime.bigint();
        // Let the pipes drain before resolving.
        child.on("close", () => resolve({ code: c, signal: s, t1 }));
      });
    },
  );
  if (timer !== undefined) clearTimeout(timer);
  let userS: number | undefined;
  let sysS: number | undefined;
  let maxRssKb: number | undefined;
  if (timed && existsSync(timeFile)) {
    // GNU time prefixes "Command exited with non-zero status N" on failure: use the last line.
    const last = readFileSync(timeFile, "utf8").trim().split("\n").pop() ?? "";
    const [u, s, m] = last.split(" ").map(Number);
    if (u !== undefined && Number.isFinite(u)) userS = u;
    if (s !== undefined && Number.isFinite(s)) sysS = s;
    if (m !== undefined && Number.isFinite(m)) maxRssKb = m;
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    cmd: [cmd, ...args].join(" "),
    wallS: Number(t1 - t0) / 1e9,
    userS,
    sysS,
    maxRssKb,
    code,
    signal,
    timedOut,
    stdout: Buffer.concat(out).toString("utf8"),
    stderr: Buffer.concat(err).toString("utf8"),
  };
}

/** Reads a file once in 1 MiB chunks so it is in the page cache; returns its size and read time. */
export function warmFile(path: string): { bytes: number; seconds: number } {
  const fd = openSync(path, "r");
  const buf = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      bytes += n;
    }
  } finally {
    closeSync(fd);
  }
  return { bytes, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1
    ? (s[mid] ?? Number.NaN)
    : ((s[mid - 1] ?? Number.NaN) + (s[mid] ?? Number.NaN)) / 2;
}

/**
 * Bundles a TypeScript entry into one ESM file for plain `node`, with every `@secprof/<pkg>`
 * resolved to `packages/<pkg>/src` (so a stale `dist/` is never measured). Uses the esbuild
 * that vite brings along.
 */
export async function bundleForNode(repoRoot: string, entry: string, outfile: string): Promise<void> {
  const { build } = await import("esbuild");
  const pkgs = join(repoRoot, "packages");
  const alias: Record<string, string> = {};
  for (const p of existsSync(pkgs) ? readdirSync(pkgs) : []) {
    const src = join(pkgs, p, "src", "index.ts");
    if (existsSync(src)) alias[`@secprof/${p}`] = src;
  }
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    alias,
    // Only what the measured code imports is needed; build tools stay out of the bundle.
    external: ["esbuild", "vite", "vite-node"],
    // CommonJS dependencies call require(): give the ESM bundle one.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: "error",
  });
}
