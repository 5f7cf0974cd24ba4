import { spawn } from "node:child_process";
import type { Readable } from "node:stream";
import type { LocalRecorder, LocalResult, Progress } from "./local-recorder.js";

export interface RunResult {
  /** CMD's exit code, or 128+signal when a signal ended it (as a shell reports it). */
  exitCode: number;
  signal: NodeJS.Signals | null;
  durationMs: number;
  result: LocalResult;
  interrupted: boolean;
}

export interface RunHooks {
  /** Called about once a second while CMD runs (for the live status line). */
  onTick?: (elapsedMs: number, p: Progress) => void;
  /** Resolves when the user asks to stop (Ctrl-C); CMD is then signalled and still recorded. */
  interrupt?: (stop: (signal: NodeJS.Signals) => void) => void;
}

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
  SIGPIPE: 13,
  SIGABRT: 6,
  SIGSEGV: 11,
};

function readAll(stream: Readable | null): Promise<string> {
  if (stream === null) return Promise.resolve("");
  return new Promise((resolve) => {
    let text = "";
    stream.setEncoding("utf8");
    stream.on("data", (d: string) => {
      text += d;
    });
    stream.on("end", () => resolve(text));
    stream.on("error", () => resolve(text));
  });
}

/**
 * Runs CMD under a started recorder with stdin/stdout/stderr passed through, waits for it (and
 * forwards Ctrl-C to it), then stops the recorder so everything in flight is collected.
 */
export async function runLocal(
  rec: LocalRecorder,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  hooks: RunHooks = {},
): Promise<RunResult> {
  const launch = rec.launch(argv);
  const started = Date.now();
  const child = spawn(launch.file, launch.args, {
    stdio: launch.statusFd ? ["inherit", "inherit", "inherit", "pipe"] : "inherit",
    env,
  });
  const status = readAll(launch.statusFd ? (child.stdio[3] as Readable | null) : null);
  let interrupted = false;
  hooks.interrupt?.((signal) => {
    interrupted = true;
    child.kill(signal);
  });
  const tick =
    hooks.onTick === undefined
      ? undefined
      : setInterval(() => hooks.onTick?.(Date.now() - started, rec.progress()), 1000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
    child.on("error", () => resolve({ code: 127, signal: null }));
  });
  if (child.pid !== undefined) rec.spawned(child.pid, launch.statusFd ? await status : "");
  const { code, signal } = await exited;
  if (tick !== undefined) clearInterval(tick);
  const durationMs = Date.now() - started;
  const result = await rec.stop();
  const exitCode = code ?? 128 + (signal === null ? 0 : (SIGNALS[signal] ?? 0));
  return { exitCode, signal, durationMs, result, interrupted };
}
