import { type ChildProcess, spawn } from "node:child_process";
import { readlinkSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { AppArmorFactsInput, AppArmorLoss } from "@secprof/core";
import {
  AppArmorFactTable,
  type AppArmorFactTableOptions,
  type BaseResolver,
  type KnownDir,
} from "./apparmor-facts.js";
import { type AppArmorDropReason, type AppArmorExecLine, parseAppArmorLine } from "./apparmor-parse.js";
import { defaultMarker, intOption, keepStderr, withPdeathsig } from "./bpftrace-process.js";

/** The shipped program; the build copies `*.bt` next to the compiled module. */
export const APPARMOR_PROGRAM_PATH = fileURLToPath(new URL("./apparmor.bt", import.meta.url));

/**
 * Longest path bpftrace copies. apparmor.bt keeps one path in a map key and builds that key
 * twice in a probe (lookup, then insert); 176 bytes is what fits the 512-byte BPF stack with
 * bpftrace 0.17 (200 does not). Longer paths are counted as unusable, never guessed.
 */
export const APPARMOR_STRLEN = 176;

export interface AppArmorBpfSourceOptions {
  /** Snapshot interval, ms (10..60000). Default 1000. */
  intervalMs?: number;
  /** Mount namespace skipped in the kernel (e.g. the host's). Default: none. */
  excludeMntns?: number;
  /** Path keys kept per mount namespace in the kernel; more are counted as truncation. Default 10000. */
  maxPathsPerNamespace?: number;
  /** Kernel map key limit (all namespaces). Default 65536. */
  mapKeysMax?: number;
  /**
   * true (default): a process's facts count from its first exec in the namespace (what AppArmor
   * confines; a runtime's set-up before the entrypoint's exec is left out). false: everything.
   */
  afterExec?: boolean;
  bpftrace?: string;
  program?: string;
  /** Command run to prove the probes are attached and, at stop, that all output is read. Default /bin/true. */
  marker?: string[];
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  onWarning?: (message: string) => void;
  /** Relative-path base lookup; default reads /proc. */
  resolver?: BaseResolver;
}

export interface AppArmorSourceStats {
  linesRead: number;
  dropped: Record<AppArmorDropReason | "bad_key", number>;
  /** bpftrace's perf buffer overflowed: exec lines were lost (facts are in maps, not lost). */
  kernelLost: number;
  snapshots: number;
  /**
   * Snapshots in which a kernel map held BPFTRACE_MAP_KEYS_MAX keys: new facts of any namespace
   * were being lost (the maps are cumulative: a long-running source must be restarted to free them).
   */
  mapFullSnapshots: number;
  execs: number;
  finalSnapshot: boolean;
  stderr: string[];
  exit: { code: number | null; signal: string | null } | null;
}

export type AppArmorStartResult = { ok: true; ms: number } | { ok: false; problem: string; stderr: string };

/** The /proc reader: a live process's cwd (as its own root sees it) and the cwd's inode. */
export const procResolver: BaseResolver = {
  cwd(pid: number): KnownDir | undefined {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      const root = readlinkSync(`/proc/${pid}/root`);
      const st = statSync(`/proc/${pid}/cwd`);
      // stat's dev_t → the kernel's internal encoding apparmor.bt records (MKDEV: major << 20 | minor).
      const major = Math.floor(st.dev / 256) & 0xfff;
      const minor = (st.dev & 0xff) | (Math.floor(st.dev / 2 ** 20) << 8);
      const inRoot = root === "/" ? cwd : cwd.startsWith(`${root}/`) ? cwd.slice(root.length) : undefined;
      if (inRoot === undefined || !inRoot.startsWith("/")) return undefined;
      return { path: inRoot, dev: major * 2 ** 20 + minor, ino: st.ino };
    } catch {
      return undefined;
    }
  },
};

/**
 * Runs apparmor.bt: AppArmor facts (files with read/write/exec intent, executed files,
 * created/removed paths, sockets, granted capabilities) per mount namespace, aggregated in the
 * kernel and read as cumulative snapshots. Exposes exec events (to name namespaces) and the
 * facts of any namespace at any time (`facts`, `loss`, `forget`), so a local recording and a
 * node daemon use it the same way.
 */
export class AppArmorBpfSource {
  readonly #interval: number;
  readonly #exclude: number;
  readonly #maxPaths: number;
  readonly #keysMax: number;
  readonly #afterExec: boolean;
  readonly #bpftrace: string;
  readonly #program: string;
  readonly #marker: string[];
  readonly #startTimeout: number;
  readonly #stopTimeout: number;
  readonly #warn: (m: string) => void;
  readonly #table: AppArmorFactTable;
  readonly #execListeners = new Set<(e: AppArmorExecLine) => void>();
  readonly #markers = new Map<number, () => void>();
  #child: ChildProcess | undefined;
  #partial = "";
  #inFinal = false;
  #onReady: (() => void) | undefined;
  #stopping: Promise<AppArmorSourceStats> | undefined;
  #resolveClosed: () => void = () => {};
  readonly #closed = new Promise<void>((r) => {
    this.#resolveClosed = r;
  });
  #running = false;
  readonly #stats: AppArmorSourceStats = {
    linesRead: 0,
    dropped: { invalid_json: 0, schema: 0, unexpected: 0, bad_key: 0 },
    kernelLost: 0,
    snapshots: 0,
    mapFullSnapshots: 0,
    execs: 0,
    finalSnapshot: false,
    stderr: [],
    exit: null,
  };

  constructor(opts: AppArmorBpfSourceOptions = {}) {
    this.#interval = intOption("intervalMs", opts.intervalMs, 1000, 10, 60_000);
    this.#exclude = intOption("excludeMntns", opts.excludeMntns, 0, 0, 0xffff_ffff);
    this.#maxPaths = intOption("maxPathsPerNamespace", opts.maxPathsPerNamespace, 10_000, 1, 1_000_000);
    this.#keysMax = intOption("mapKeysMax", opts.mapKeysMax, 65_536, 16, 4_194_304);
    this.#afterExec = opts.afterExec ?? true;
    this.#bpftrace = opts.bpftrace ?? "bpftrace";
    this.#program = opts.program ?? APPARMOR_PROGRAM_PATH;
    this.#marker = opts.marker ?? defaultMarker();
    this.#startTimeout = intOption("startTimeoutMs", opts.startTimeoutMs, 60_000, 100, 600_000);
    this.#stopTimeout = intOption("stopTimeoutMs", opts.stopTimeoutMs, 10_000, 100, 600_000);
    this.#warn = opts.onWarning ?? (() => {});
    const tableOpts: AppArmorFactTableOptions = {
      strlen: APPARMOR_STRLEN,
      maxPathsPerNamespace: this.#maxPaths,
      resolver: opts.resolver ?? procResolver,
    };
    this.#table = new AppArmorFactTable(tableOpts);
  }

  /** The command line start() runs. */
  get command(): string[] {
    const bt = [
      this.#bpftrace,
      "-B",
      "line",
      "-f",
      "json",
      this.#program,
      String(this.#interval),
      String(this.#exclude),
      String(this.#maxPaths),
      this.#afterExec ? "1" : "0",
    ];
    return withPdeathsig(bt);
  }

  get stats(): AppArmorSourceStats {
    const s = structuredClone(this.#stats);
    s.dropped.bad_key = this.#table.droppedKeys;
    return s;
  }

  /** Exec events of every namespace (the host's included), as they happen. */
  onExec(listener: (e: AppArmorExecLine) => void): () => void {
    this.#execListeners.add(listener);
    return () => this.#execListeners.delete(listener);
  }

  /** Namespaces (ns_id) with facts so far. Exec events map a pid's namespace inode to its ns_id. */
  namespaces(): number[] {
    return this.#table.namespaces();
  }

  /** The facts of a namespace so far (complete for everything up to stop() once it resolved). */
  facts(mntns: number): AppArmorFactsInput {
    return this.#table.facts(mntns);
  }

  /** What a namespace's facts could not keep; any non-zero count makes its profile incomplete. */
  loss(mntns: number): AppArmorLoss {
    return this.#table.loss(mntns);
  }

  forget(mntns: number): void {
    this.#table.forget(mntns);
  }

  /** Spawns bpftrace; resolves once every probe is attached, or with why it could not. Never rejects. */
  async start(): Promise<AppArmorStartResult> {
    if (this.#child !== undefined) throw new Error("AppArmorBpfSource.start() called twice");
    const t0 = performance.now();
    const [cmd = this.#bpftrace, ...args] = this.command;
    const child = spawn(cmd, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        BPFTRACE_MAP_KEYS_MAX: String(this.#keysMax),
        BPFTRACE_STRLEN: String(APPARMOR_STRLEN),
      },
    });
    this.#child = child;
    let spawnError: Error | undefined;
    child.on("error", (err) => {
      spawnError = err;
      this.#resolveClosed();
    });
    child.on("close", (code, signal) => {
      if (this.#partial !== "") this.#line(this.#partial);
      this.#partial = "";
      this.#stats.exit = { code, signal };
      this.#running = false;
      this.#resolveClosed();
    });
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      const lines = (this.#partial + chunk).split("\n");
      this.#partial = lines.pop() ?? "";
      for (const l of lines) this.#line(l);
    });
    let errPartial = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      const lines = (errPartial + chunk).split("\n");
      errPartial = lines.pop() ?? "";
      for (const l of lines) this.#stderr(l);
    });

    const deadline = t0 + this.#startTimeout;
    const begun = new Promise<boolean>((resolve) => {
      this.#onReady = () => resolve(true);
    });
    const closed = this.#closed.then(() => false);
    let ok = await Promise.race([begun, closed, delay(this.#startTimeout).then(() => false)]);
    this.#onReady = undefined;
    // BEGIN runs before the other probes attach; the exec probe is attached last, so the marker's
    // exec line proves that all of them are live.
    while (ok && performance.now() < deadline) {
      if (await this.#runMarker(250)) break;
      if (this.#stats.exit !== null) ok = false;
    }
    if (ok && performance.now() < deadline) {
      this.#running = true;
      return { ok: true, ms: performance.now() - t0 };
    }
    child.kill("SIGKILL");
    await this.#closed;
    const stderr = this.#stats.stderr.join("\n");
    const problem =
      spawnError !== undefined
        ? `cannot run ${cmd}: ${spawnError.message}`
        : this.#stats.exit !== null && !ok
          ? `bpftrace exited before attaching the AppArmor probes (code ${String(this.#stats.exit.code)}): ${this.#stats.stderr
              .filter((l) => /ERROR|error/.test(l))
              .slice(-3)
              .join(" | ")}`
          : `bpftrace did not attach the AppArmor probes within ${this.#startTimeout} ms`;
    return { ok: false, problem, stderr };
  }

  /**
   * Reads everything up to now (a marker exec as a barrier), then SIGINT: bpftrace prints the
   * final maps at END and exits. Resolves with the counters; facts are then final. Safe to call twice.
   */
  stop(): Promise<AppArmorSourceStats> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<AppArmorSourceStats> {
    const child = this.#child;
    if (child !== undefined && this.#stats.exit === null) {
      if (this.#running && !(await this.#runMarker(Math.min(this.#stopTimeout, 2000))))
        this.#warn("AppArmor source: bpftrace did not report the barrier exec");
      child.kill("SIGINT");
      const timedOut = await Promise.race([
        this.#closed.then(() => false),
        delay(this.#stopTimeout).then(() => true),
      ]);
      if (timedOut) {
        this.#warn(`bpftrace (AppArmor) did not exit ${this.#stopTimeout} ms after SIGINT; killing it`);
        child.kill("SIGKILL");
        await this.#closed;
      }
    }
    this.#table.finish();
    return this.stats;
  }

  async #runMarker(waitMs: number): Promise<boolean> {
    const [cmd, ...args] = this.#marker;
    if (cmd === undefined) return false;
    const m = spawn(cmd, args, { stdio: "ignore" });
    const pid = m.pid;
    const exited = new Promise<void>((r) => {
      m.on("error", () => r());
      m.on("close", () => r());
    });
    if (pid === undefined) {
      await exited;
      return false;
    }
    const seen = new Promise<boolean>((r) => this.#markers.set(pid, () => r(true)));
    await exited;
    const ok = await Promise.race([seen, this.#closed.then(() => false), delay(waitMs).then(() => false)]);
    this.#markers.delete(pid);
    return ok;
  }

  #stderr(line: string): void {
    if (line.trim() === "") return;
    keepStderr(this.#stats.stderr, line);
    if (this.#running && !/RLIMIT_MEMLOCK|Addrspace mismatch|^\s*[~/]|^\s*if \(/.test(line))
      this.#warn(`bpftrace (AppArmor): ${line}`);
  }

  #line(line: string): void {
    const p = parseAppArmorLine(line);
    if (p.kind === "blank") return;
    this.#stats.linesRead++;
    switch (p.kind) {
      case "drop":
        this.#stats.dropped[p.reason]++;
        return;
      case "ready":
        this.#onReady?.();
        return;
      case "final":
        this.#inFinal = true;
        return;
      case "end":
        this.#stats.finalSnapshot = this.#inFinal;
        this.#stats.snapshots++;
        return;
      case "lost":
        this.#stats.kernelLost += p.events;
        this.#warn(`bpftrace (AppArmor) lost ${p.events} events (perf buffer full)`);
        return;
      case "exec":
        this.#stats.execs++;
        if (p.event.mntns !== this.#exclude) this.#table.exec(p.event.pid);
        this.#markers.get(p.event.pid)?.();
        for (const l of this.#execListeners) l(p.event);
        return;
      case "map": {
        if (p.name === "@p" && !this.#inFinal) this.#stats.snapshots++;
        const keys = Object.keys(p.entries).length;
        if (keys >= this.#keysMax) {
          this.#stats.mapFullSnapshots++;
          this.#warn(`AppArmor map ${p.name} is full (${keys} keys): new facts are being lost`);
        }
        this.#table.map(p.name, p.entries);
        return;
      }
      case "attached":
        return;
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
