import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defaultMarker, intOption, keepStderr, withPdeathsig } from "./bpftrace-process.js";
import { type BpfEvent, DROP_REASONS, type DropReason, parseLine, SnapshotDiffer } from "./parse.js";

/**
 * The shipped bpftrace programs ("seen" mode and count mode). The build must copy `*.bt` next
 * to the compiled module (dist/sources/bpf/); the paths are resolved relative to this file.
 */
export const PROGRAM_PATH = fileURLToPath(new URL("./syscalls.bt", import.meta.url));
export const COUNTS_PROGRAM_PATH = fileURLToPath(new URL("./syscalls-counts.bt", import.meta.url));

/**
 * The CO-RE build of the same program (core/, built by core/build.sh from scripts/setup) and its
 * loader, which prints bpftrace's JSON lines. Build output is not copied into dist/: src/ and
 * dist/ sit at the same depth, so one relative path reaches it from both.
 */
const CORE_OUT = new URL("../../../src/sources/bpf/core/out/", import.meta.url);
export const CORE_LOADER_PATH = fileURLToPath(new URL("secprof-bpf", CORE_OUT));
export const CORE_OBJECT_PATH = fileURLToPath(new URL("syscalls.bpf.o", CORE_OUT));

/**
 * "libbpf": the CO-RE program (tp_btf probes, no perf event: a fraction of bpftrace's cost per
 * syscall, see bench/README.md). "bpftrace": syscalls.bt / syscalls-counts.bt, or `program`.
 * "auto": libbpf when it is built, unless a bpftrace `program` or a bpftrace executable other
 * than the plain "bpftrace" is asked for (both only make sense under bpftrace).
 */
export type BpfEngine = "auto" | "libbpf" | "bpftrace";

/** The engine "auto" picks for these options. */
export function resolveEngine(
  opts: Pick<BpftraceSourceOptions, "engine" | "program" | "bpftrace">,
): "libbpf" | "bpftrace" {
  const engine = opts.engine ?? "auto";
  if (engine !== "auto") return engine;
  const wantsBpftrace = opts.program !== undefined || (opts.bpftrace ?? "bpftrace") !== "bpftrace";
  return !wantsBpftrace && existsSync(CORE_LOADER_PATH) && existsSync(CORE_OBJECT_PATH)
    ? "libbpf"
    : "bpftrace";
}

export interface BpftraceSourceOptions {
  /** Snapshot interval, ms (10..60000). Bounds how late a newly seen syscall reaches userspace. Default 1000. */
  intervalMs?: number;
  /**
   * false (default): "seen" mode (syscalls.bt), one read-only map lookup per syscall; `count` is
   * 1 on first sight. true: per-CPU call counts (syscalls-counts.bt), a lookup and an update per
   * syscall (about 100 ns more per call under bpftrace; no measurable difference under libbpf).
   */
  counts?: boolean;
  /** Mount namespace inode to skip in the kernel (e.g. the host's, as SPO does). Default: none. */
  excludeMntns?: number;
  /** Kernel map key limit: (mntns, abi, syscall) triples kept (16..4194304). Default 65536. */
  mapKeysMax?: number;
  /** Longest comm/filename bpftrace copies, bytes (16..200, bpftrace 0.17's maximum). Default 200. */
  strlen?: number;
  /** Pages per CPU of bpftrace's perf buffer (power of two). Default: bpftrace's own (64). */
  perfRbPages?: number;
  /** Which loader runs the program. Default "auto" (see BpfEngine). */
  engine?: BpfEngine;
  /** bpftrace executable (bpftrace engine). Default "bpftrace" (from PATH). */
  bpftrace?: string;
  /** bpftrace program file; implies the bpftrace engine under "auto". Default: the shipped syscalls.bt (or syscalls-counts.bt). */
  program?: string;
  /** Wrap bpftrace in `setpriv --pdeathsig KILL` (when setpriv exists) so it never outlives us. Default true. */
  pdeathsig?: boolean;
  /**
   * Command start() runs (as often as needed) to prove the probes are attached: it must exec.
   * Default /bin/true (or node -e "" where there is none). Its exec is reported like any other.
   */
  marker?: string[];
  /** Give up on start-up after this long (compiling and attaching). Default 30000. */
  startTimeoutMs?: number;
  /** After SIGINT, wait this long for the final snapshot before SIGKILL. Default 10000. */
  stopTimeoutMs?: number;
  /** Called for anything worth a log line (lost events, a full map, stderr). */
  onWarning?: (message: string) => void;
}

export interface BpfSourceStats {
  /** Non-blank stdout lines. */
  linesRead: number;
  dropped: Record<DropReason, number>;
  /** Events bpftrace reported lost because its perf buffer overflowed (exec events, prints). */
  kernelLost: number;
  snapshots: number;
  execs: number;
  syscallEvents: number;
  /** Keys in the kernel map at the last snapshot. */
  mapKeys: number;
  /** Snapshots taken while the kernel map was at its key limit (new keys were being lost). */
  mapFullSnapshots: number;
  /** The END snapshot was read and bpftrace exited. */
  finalSnapshot: boolean;
  /** Last stderr lines of bpftrace (at most 50). */
  stderr: string[];
  exit: { code: number | null; signal: string | null } | null;
}

export type StartResult =
  | { ok: true; ms: number }
  | { ok: false; problem: string; stderr: string; exit: BpfSourceStats["exit"] };

type State = "idle" | "starting" | "running" | "stopping" | "stopped";

const UNSHARE_PATHS = ["/usr/bin/unshare", "/bin/unshare"];
const MARKER_WAIT_MS = 250;

/** This process's mount namespace inode. */
export function ownMntns(): number | undefined {
  try {
    const m = /^mnt:\[(\d+)\]$/.exec(readlinkSync("/proc/self/ns/mnt"));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * Runs syscalls.bt under bpftrace, or its CO-RE build under core/'s loader (which prints the
 * same lines), and turns its JSON lines into typed events: `syscalls` deltas
 * per (mount namespace, ABI, syscall), `exec` (pid → mount namespace), and `snapshot` markers.
 * Bad lines are counted as drops, never thrown.
 */
export class BpftraceSource {
  readonly #interval: number;
  readonly #counts: boolean;
  readonly #exclude: number;
  readonly #keysMax: number;
  readonly #strlen: number;
  readonly #rbPages: number | undefined;
  readonly #engine: "libbpf" | "bpftrace";
  readonly #bpftrace: string;
  readonly #program: string;
  readonly #pdeathsig: boolean;
  readonly #startTimeout: number;
  readonly #stopTimeout: number;
  readonly #warn: (message: string) => void;

  #state: State = "idle";
  #child: ChildProcess | undefined;
  readonly #closed: Promise<void>;
  #resolveClosed: () => void = () => {};
  #partial: string[] = [];
  readonly #differ = new SnapshotDiffer();
  readonly #listeners = new Set<(e: BpfEvent) => void>();
  #onReady: (() => void) | undefined;
  readonly #markers = new Map<number, (attached: boolean) => void>();
  #stopping: Promise<BpfSourceStats> | undefined;
  readonly #marker: string[];
  #finalPending = false;
  #sawEnd = false;
  readonly #stats: BpfSourceStats = {
    linesRead: 0,
    dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    kernelLost: 0,
    snapshots: 0,
    execs: 0,
    syscallEvents: 0,
    mapKeys: 0,
    mapFullSnapshots: 0,
    finalSnapshot: false,
    stderr: [],
    exit: null,
  };

  constructor(opts: BpftraceSourceOptions = {}) {
    this.#interval = intOption("intervalMs", opts.intervalMs, 1000, 10, 60_000);
    this.#counts = opts.counts ?? false;
    this.#exclude = intOption("excludeMntns", opts.excludeMntns, 0, 0, 0xffff_ffff);
    this.#keysMax = intOption("mapKeysMax", opts.mapKeysMax, 65_536, 16, 4_194_304);
    this.#strlen = intOption("strlen", opts.strlen, 200, 16, 200);
    this.#rbPages =
      opts.perfRbPages === undefined ? undefined : intOption("perfRbPages", opts.perfRbPages, 64, 1, 65_536);
    this.#engine = resolveEngine(opts);
    this.#bpftrace = opts.bpftrace ?? "bpftrace";
    this.#program = opts.program ?? (this.#counts ? COUNTS_PROGRAM_PATH : PROGRAM_PATH);
    this.#pdeathsig = opts.pdeathsig ?? true;
    this.#marker = opts.marker ?? defaultMarker();
    this.#startTimeout = intOption("startTimeoutMs", opts.startTimeoutMs, 30_000, 100, 600_000);
    this.#stopTimeout = intOption("stopTimeoutMs", opts.stopTimeoutMs, 10_000, 100, 600_000);
    this.#warn = opts.onWarning ?? (() => {});
    this.#closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  /** The engine this source runs. */
  get engine(): "libbpf" | "bpftrace" {
    return this.#engine;
  }

  /** Command line that start() runs (for logs and diagnostics). */
  get command(): string[] {
    const args = [String(this.#interval), String(this.#exclude)];
    const bt =
      this.#engine === "libbpf"
        ? [
            CORE_LOADER_PATH,
            CORE_OBJECT_PATH,
            ...args,
            String(this.#keysMax),
            this.#counts ? "count" : "seen",
          ]
        : [this.#bpftrace, "-B", "line", "-f", "json", this.#program, ...args];
    return this.#pdeathsig ? withPdeathsig(bt) : bt;
  }

  /** Process id of bpftrace once started. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get state(): State {
    return this.#state;
  }

  /** A copy of the counters. */
  get stats(): BpfSourceStats {
    return structuredClone(this.#stats);
  }

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(listener: (e: BpfEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Events from now until bpftrace exits, buffered (volume is proportional to new keys and execs,
   * not to syscalls). One consumer per call.
   */
  events(): AsyncIterableIterator<BpfEvent> {
    const queue: BpfEvent[] = [];
    let wake: (() => void) | undefined;
    let done = this.#state === "stopped";
    const off = this.onEvent((e) => {
      queue.push(e);
      wake?.();
    });
    void this.#closed.then(() => {
      done = true;
      off();
      wake?.();
    });
    const it: AsyncIterableIterator<BpfEvent> = {
      next: async () => {
        while (queue.length === 0 && !done) {
          await new Promise<void>((r) => {
            wake = r;
          });
        }
        const value = queue.shift();
        return value === undefined ? { done: true, value: undefined } : { done: false, value };
      },
      return: async () => {
        done = true;
        off();
        queue.length = 0;
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /**
   * Spawns bpftrace and resolves once every probe is attached (the BEGIN marker), or with the
   * reason it could not start. Never rejects.
   */
  async start(): Promise<StartResult> {
    if (this.#state !== "idle") throw new Error(`BpftraceSource.start() called in state ${this.#state}`);
    this.#state = "starting";
    const t0 = performance.now();
    const [cmd, ...args] = this.command;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      BPFTRACE_MAP_KEYS_MAX: String(this.#keysMax),
      BPFTRACE_STRLEN: String(this.#strlen),
    };
    if (this.#rbPages !== undefined) env.BPFTRACE_PERF_RB_PAGES = String(this.#rbPages);

    const child = spawn(cmd ?? this.#bpftrace, args, { stdio: ["ignore", "pipe", "pipe"], env });
    this.#child = child;
    let spawnError: Error | undefined;
    let finished = false;
    const finish = (code: number | null, signal: string | null) => {
      if (finished) return;
      finished = true;
      this.#flushPartial();
      this.#stats.exit = { code, signal };
      this.#stats.finalSnapshot = this.#sawEnd;
      this.#state = "stopped";
      this.#resolveClosed();
    };
    child.on("error", (err) => {
      spawnError = err;
      finish(null, null);
    });
    child.on("close", (code, signal) => finish(code, signal));

    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => this.#onStdout(chunk));
    let errPartial = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      const lines = (errPartial + chunk).split("\n");
      errPartial = lines.pop() ?? "";
      for (const l of lines) this.#onStderr(l);
    });
    child.stderr?.on("end", () => {
      if (errPartial !== "") this.#onStderr(errPartial);
      errPartial = "";
    });

    // BEGIN ("ready") runs before bpftrace attaches the other probes; the marker handshake
    // then proves that both tracepoints are live.
    const begun = new Promise<"begun">((resolve) => {
      this.#onReady = () => resolve("begun");
    });
    const deadline = t0 + this.#startTimeout;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.#startTimeout);
    });
    const closed = this.#closed.then(() => "closed" as const);
    let outcome: "begun" | "closed" | "timeout" | "ok" | { problem: string } = await Promise.race([
      begun,
      closed,
      timeout,
    ]);
    this.#onReady = undefined;
    if (outcome === "begun") outcome = await Promise.race([this.#handshake(deadline), closed, timeout]);
    clearTimeout(timer);

    if (outcome === "ok") {
      this.#state = "running";
      return { ok: true, ms: performance.now() - t0 };
    }
    if (outcome !== "closed") {
      child.kill("SIGKILL");
      await this.#closed;
    }
    const stderr = this.#stats.stderr.join("\n");
    const problem =
      spawnError !== undefined
        ? `cannot run ${cmd ?? this.#bpftrace}: ${spawnError.message}`
        : outcome === "timeout"
          ? `bpftrace did not attach within ${this.#startTimeout} ms`
          : typeof outcome === "object"
            ? outcome.problem
            : `bpftrace exited before attaching (code ${String(this.#stats.exit?.code)}, signal ${String(this.#stats.exit?.signal)})`;
    return { ok: false, problem, stderr, exit: this.#stats.exit };
  }

  /**
   * Runs the marker command until one of its exec lines shows that its own execve is already
   * in the syscall map: then sys_enter and sched_process_exec are both attached. When this
   * process's own namespace is excluded in the kernel, the marker runs in a new mount namespace
   * (unshare -m); without unshare, an exec line alone must do (bpftrace 0.17 attaches
   * tracepoints in program order, sys_enter first).
   */
  async #handshake(deadline: number): Promise<"ok" | { problem: string }> {
    let argv = this.#marker;
    // syscalls-counts.bt cannot prove sys_enter from the exec probe (see its header). The CO-RE
    // loader prints "ready" only once both probes are attached, so there an exec line is enough
    // (a proof through the map would also fail once the map is full).
    let needProof = this.#engine === "bpftrace" && (!this.#counts || this.#program !== COUNTS_PROGRAM_PATH);
    if (this.#exclude !== 0 && this.#exclude === ownMntns()) {
      const unshare = UNSHARE_PATHS.find((p) => existsSync(p));
      if (unshare === undefined) needProof = false;
      else argv = [unshare, "-m", "--propagation", "unchanged", "--", ...argv];
    }
    while (performance.now() < deadline && this.#state === "starting") {
      const seen = await this.#runMarker(argv, needProof, MARKER_WAIT_MS);
      if (seen === true) return "ok";
      if (seen !== false) return seen;
    }
    return { problem: `bpftrace did not attach within ${this.#startTimeout} ms (marker never seen)` };
  }

  /** Runs the marker once; true when its exec line (with the proof, if asked) arrived in time. */
  async #runMarker(
    argv: string[],
    needProof: boolean,
    waitMs: number,
  ): Promise<boolean | { problem: string }> {
    const [cmd, ...args] = argv;
    if (cmd === undefined) return { problem: "empty marker command" };
    const marker = spawn(cmd, args, { stdio: "ignore" });
    const pid = marker.pid;
    const exited = new Promise<Error | undefined>((resolve) => {
      marker.on("error", resolve);
      marker.on("close", () => resolve(undefined));
    });
    if (pid === undefined) {
      const err = await exited;
      return { problem: `cannot run the marker ${argv.join(" ")}: ${String(err?.message)}` };
    }
    const seen = new Promise<true>((resolve) => {
      this.#markers.set(pid, (attached) => {
        if (attached || !needProof) resolve(true);
      });
    });
    await exited;
    let t: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      seen,
      this.#closed.then(() => false),
      new Promise<false>((resolve) => {
        t = setTimeout(() => resolve(false), waitMs);
      }),
    ]);
    clearTimeout(t);
    this.#markers.delete(pid);
    return ok;
  }

  /**
   * Stops recording and resolves after every line has been read and bpftrace is gone.
   *
   * bpftrace 0.17 discards perf events (exec lines) it happens to read after SIGINT arrived, so
   * stop() first runs the marker once more and waits for its exec line: everything that happened
   * before stop() was called has then been read. Then SIGINT: bpftrace detaches, runs END (the
   * final snapshot of the map, which holds every syscall up to the detach), drains its buffers
   * and exits. After stopTimeoutMs it is killed (`finalSnapshot` false). Safe to call twice.
   */
  stop(): Promise<BpfSourceStats> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<BpfSourceStats> {
    const child = this.#child;
    if (child === undefined || this.#state === "stopped" || this.#state === "idle") {
      this.#state = "stopped";
      this.#resolveClosed();
      return this.stats;
    }
    if (this.#state === "running") {
      const barrier = await this.#runMarker(this.#marker, false, Math.min(this.#stopTimeout, 2000));
      if (barrier !== true)
        this.#warn("stop(): bpftrace did not report the barrier exec; exec events may be missing");
    }
    this.#state = "stopping";
    child.kill("SIGINT");
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.#closed.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), this.#stopTimeout);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.#warn(`bpftrace did not exit ${this.#stopTimeout} ms after SIGINT; killing it`);
      child.kill("SIGKILL");
      await this.#closed;
    }
    return this.stats;
  }

  /** Resolves when bpftrace has exited (for any reason) and all its output is processed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  #emit(e: BpfEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        this.#warn(`event listener threw: ${String(err)}`);
      }
    }
  }

  #onStdout(chunk: string): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf("\n", start);
      if (nl === -1) break;
      const piece = chunk.slice(start, nl);
      if (this.#partial.length > 0) {
        this.#partial.push(piece);
        const line = this.#partial.join("");
        this.#partial = [];
        this.#onLine(line);
      } else {
        this.#onLine(piece);
      }
      start = nl + 1;
    }
    if (start < chunk.length) this.#partial.push(chunk.slice(start));
  }

  #flushPartial(): void {
    if (this.#partial.length === 0) return;
    const line = this.#partial.join("");
    this.#partial = [];
    this.#onLine(line);
  }

  #onStderr(line: string): void {
    if (line.trim() === "") return;
    keepStderr(this.#stats.stderr, line);
    // bpftrace 0.17 tries to raise RLIMIT_MEMLOCK and complains when it cannot; kernels >= 5.11
    // account BPF memory to the cgroup instead, so this is only a hint unless loading fails.
    if (/RLIMIT_MEMLOCK/.test(line) && this.#state !== "starting") return;
    if (this.#state === "running" || this.#state === "stopping") this.#warn(`bpftrace: ${line}`);
  }

  #onLine(line: string): void {
    const p = parseLine(line);
    if (p.kind === "blank") return;
    this.#stats.linesRead++;
    switch (p.kind) {
      case "drop":
        this.#stats.dropped[p.reason]++;
        return;
      case "attached":
        return;
      case "ready":
        this.#onReady?.();
        return;
      case "lost":
        this.#stats.kernelLost += p.events;
        this.#warn(`bpftrace lost ${p.events} events (perf buffer full)`);
        return;
      case "exec":
        this.#stats.execs++;
        this.#markers.get(p.event.pid)?.(p.attached);
        this.#emit(p.event);
        return;
      case "tick":
        this.#emit({ type: "tick", monoNs: p.monoNs });
        return;
      case "final":
        this.#finalPending = true;
        return;
      case "end":
        this.#sawEnd = true;
        // An empty map prints nothing, so "end" can follow "final" directly.
        if (this.#finalPending) this.#snapshot({}, true);
        return;
      case "map":
        this.#snapshot(p.entries, this.#finalPending);
        return;
    }
  }

  #snapshot(entries: Record<string, number>, final: boolean): void {
    this.#finalPending = false;
    const r = this.#differ.apply(entries);
    for (const d of r.drops) this.#stats.dropped[d.reason]++;
    const full = r.keys >= this.#keysMax;
    if (full) {
      this.#stats.mapFullSnapshots++;
      this.#warn(`kernel map is full (${r.keys} keys): new (mntns, syscall) pairs are being lost`);
    }
    this.#stats.snapshots++;
    this.#stats.mapKeys = r.keys;
    this.#stats.syscallEvents += r.events.length;
    for (const e of r.events) this.#emit(e);
    this.#emit({
      type: "snapshot",
      seq: this.#stats.snapshots,
      final,
      keys: r.keys,
      changed: r.events.length,
      full,
    });
  }
}
