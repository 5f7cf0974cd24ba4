import { execFile, spawn } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { delimiter, join } from "node:path";
import { BpftraceSource, type BpftraceSourceOptions, ownMntns, resolveEngine } from "./bpftrace-source.js";
import type { BpfEvent } from "./parse.js";

export type SelfTestResult =
  | { ok: true; ms: number; warnings: string[] }
  | { ok: false; problem: string; fix: string };

type Failure = Extract<SelfTestResult, { ok: false }>;

/** What the checks read from the machine; replaceable in tests. */
export interface SelfTestHost {
  platform: string;
  arch: string;
  uid: number | undefined;
  kernelRelease: string;
  env: NodeJS.ProcessEnv;
  exists(path: string): boolean;
  isExecutable(path: string): boolean;
  readText(path: string): string | undefined;
}

export const nodeHost: SelfTestHost = {
  platform: process.platform,
  arch: process.arch,
  uid: process.getuid?.(),
  kernelRelease: release(),
  env: process.env,
  exists: (p) => existsSync(p),
  isExecutable: (p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  },
  readText: (p) => {
    try {
      return readFileSync(p, "utf8");
    } catch {
      return undefined;
    }
  },
};

const TRACEFS_ROOTS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const TRACEPOINTS = ["raw_syscalls/sys_enter", "sched/sched_process_exec"];
const BTF = "/sys/kernel/btf/vmlinux";
const CAP_SYS_RESOURCE = 24n;
/** Kernels before 5.11 charge BPF maps and programs to RLIMIT_MEMLOCK instead of the memory cgroup. */
const MEMLOCK_ACCOUNTED_BEFORE: [number, number] = [5, 11];
const MEMLOCK_MIN = 64 * 1024 * 1024;

export const FIX = {
  root: "run the recorder as root (bpftrace 0.17 refuses any other user), e.g. with sudo or as a privileged DaemonSet",
  bpftrace:
    "install bpftrace >= 0.17: apt-get install bpftrace (Debian/Ubuntu) or dnf install bpftrace (Fedora/RHEL)",
  btf: "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (it provides /sys/kernel/btf/vmlinux; stock Debian/Ubuntu/Fedora kernels >= 5.x do)",
  tracefs:
    "mount tracefs: mount -t tracefs nodev /sys/kernel/tracing (in a container, bind-mount the host's /sys/kernel/tracing)",
  memlock:
    "raise the locked-memory limit: ulimit -l unlimited, LimitMEMLOCK=infinity in the systemd unit, or --ulimit memlock=-1 for the container (or grant CAP_SYS_RESOURCE so bpftrace raises it)",
  lockdown:
    "kernel lockdown blocks BPF tracing: boot with lockdown=none (or disable Secure Boot's lockdown) on this machine",
  arch: "record on an x86_64 Linux machine; the eBPF source reads x86 task state (TS_COMPAT) and is x86_64-only",
} as const;

function kernelAtLeast(releaseStr: string, [maj, min]: [number, number]): boolean {
  const m = /^(\d+)\.(\d+)/.exec(releaseStr);
  if (m === null) return true;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > maj || (a === maj && b >= min);
}

function findOnPath(host: SelfTestHost, cmd: string): string | undefined {
  if (cmd.includes("/")) return host.isExecutable(cmd) ? cmd : undefined;
  for (const dir of (host.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const p = join(dir, cmd);
    if (host.isExecutable(p)) return p;
  }
  return undefined;
}

/** `Max locked memory` soft and hard limits in bytes (Infinity for unlimited). */
export function parseMemlock(limits: string): { soft: number; hard: number } | undefined {
  const m = /^Max locked memory\s+(\S+)\s+(\S+)\s+bytes/m.exec(limits);
  if (m === null) return undefined;
  const n = (s: string | undefined) => (s === "unlimited" ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: n(m[1]), hard: n(m[2]) };
}

function hasCap(status: string | undefined, bit: bigint): boolean {
  const m = status === undefined ? null : /^CapEff:\s*([0-9a-f]+)/im.exec(status);
  if (m === null || m[1] === undefined) return false;
  return ((BigInt(`0x${m[1]}`) >> bit) & 1n) === 1n;
}

/**
 * Checks that need no process: root, bpftrace on PATH, BTF, tracefs with the two tracepoints,
 * locked-memory limits (on kernels that charge BPF to them). Returns the first problem, or the
 * resolved bpftrace path and non-fatal warnings.
 */
export function preflight(
  host: SelfTestHost = nodeHost,
  bpftrace = "bpftrace",
): { ok: true; bpftrace: string; warnings: string[] } | Failure {
  const warnings: string[] = [];
  if (host.platform !== "linux" || host.arch !== "x64") {
    return { ok: false, problem: `unsupported platform ${host.platform}/${host.arch}`, fix: FIX.arch };
  }
  if (host.uid !== 0) {
    return { ok: false, problem: `not running as root (uid ${String(host.uid)})`, fix: FIX.root };
  }
  const path = findOnPath(host, bpftrace);
  if (path === undefined) return { ok: false, problem: `${bpftrace} not found on PATH`, fix: FIX.bpftrace };
  if (!host.exists(BTF)) return { ok: false, problem: `kernel BTF missing (${BTF})`, fix: FIX.btf };
  const root = TRACEFS_ROOTS.find((r) => host.exists(`${r}/events`));
  if (root === undefined) {
    return {
      ok: false,
      problem: `tracefs is not mounted (no ${TRACEFS_ROOTS.join(" or ")}/events)`,
      fix: FIX.tracefs,
    };
  }
  for (const tp of TRACEPOINTS) {
    if (!host.exists(`${root}/events/${tp}/id`)) {
      return {
        ok: false,
        problem: `tracepoint ${tp} is missing under ${root}/events (kernel without CONFIG_FTRACE_SYSCALLS?)`,
        fix: "use a kernel built with CONFIG_FTRACE_SYSCALLS=y and CONFIG_BPF_EVENTS=y",
      };
    }
  }
  const limits = parseMemlock(host.readText("/proc/self/limits") ?? "");
  if (limits !== undefined && limits.soft < MEMLOCK_MIN) {
    const canRaise =
      limits.hard >= MEMLOCK_MIN || hasCap(host.readText("/proc/self/status"), CAP_SYS_RESOURCE);
    if (!kernelAtLeast(host.kernelRelease, MEMLOCK_ACCOUNTED_BEFORE) && !canRaise) {
      return {
        ok: false,
        problem: `RLIMIT_MEMLOCK is ${limits.soft} bytes and cannot be raised (no CAP_SYS_RESOURCE), and kernel ${host.kernelRelease} charges BPF maps to it`,
        fix: FIX.memlock,
      };
    }
    if (!canRaise) {
      warnings.push(
        `RLIMIT_MEMLOCK is ${limits.soft} bytes and bpftrace cannot raise it; harmless on kernel ${host.kernelRelease} (BPF memory is charged to the memory cgroup), bpftrace will still print a warning`,
      );
    }
  }
  return { ok: true, bpftrace: path, warnings };
}

/** Maps bpftrace's stderr to a problem and an actionable fix. */
export function diagnose(
  stderr: string,
  kernelRelease = release(),
  exit: { code: number | null; signal: string | null } | null = null,
): Failure {
  const last = stderr.trim().split("\n").slice(-3).join(" | ") || "(no output)";
  const has = (re: RegExp) => re.test(stderr);
  if (has(/only supports running as the root user|must be run as root/i)) {
    return { ok: false, problem: `bpftrace needs root: ${last}`, fix: FIX.root };
  }
  if (has(/lockdown/i)) return { ok: false, problem: `kernel lockdown: ${last}`, fix: FIX.lockdown };
  if (has(/tracefs|debugfs|tracepoint not found|\/events\/|\/tracing\b/i)) {
    return { ok: false, problem: `tracepoints unavailable: ${last}`, fix: FIX.tracefs };
  }
  if (has(/BTF|Unknown struct|Unknown field|curtask|nsproxy|mnt_ns|thread_info/i)) {
    return { ok: false, problem: `kernel type information unusable: ${last}`, fix: FIX.btf };
  }
  if (has(/Operation not permitted|EPERM|failed to create map|Cannot allocate memory|ENOMEM/i)) {
    // bpftrace 0.17 always complains about RLIMIT_MEMLOCK when it cannot raise it; that only
    // matters on kernels that still charge BPF memory to it.
    return !kernelAtLeast(kernelRelease, MEMLOCK_ACCOUNTED_BEFORE)
      ? { ok: false, problem: `loading BPF failed (locked-memory limit): ${last}`, fix: FIX.memlock }
      : {
          ok: false,
          problem: `loading BPF was refused: ${last}`,
          fix: "run with full root privileges (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN; no seccomp/AppArmor confinement), e.g. a privileged container",
        };
  }
  if (exit?.signal === "SIGSEGV" || exit?.signal === "SIGABRT") {
    return {
      ok: false,
      problem: `bpftrace crashed (${exit.signal}): ${last}`,
      fix: "bpftrace 0.17 crashes on unusable type information: check that /sys/kernel/btf/vmlinux belongs to the running kernel and BPFTRACE_BTF is unset, or upgrade bpftrace",
    };
  }
  return {
    ok: false,
    problem: `bpftrace failed: ${last}`,
    fix: "run the bpftrace command printed in the problem by hand to see the full error",
  };
}

function bpftraceVersion(bpftrace: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(bpftrace, ["--version"], { timeout: 10_000 }, (err, stdout) => {
      resolve(err ? undefined : /v?(\d+\.\d+(?:\.\d+)?)/.exec(stdout)?.[1]);
    });
  });
}

function runTrue(): Promise<number | undefined> {
  return new Promise((resolve) => {
    const c = spawn("/bin/true", [], { stdio: "ignore" });
    c.on("error", () => resolve(undefined));
    c.on("close", () => resolve(c.pid));
  });
}

const EXECVE = 59;
const EXIT_GROUP = 231;

export interface SelfTestOptions {
  bpftrace?: string;
  host?: SelfTestHost;
  /** Passed to the BpftraceSource used for the attach check. */
  source?: Omit<BpftraceSourceOptions, "bpftrace" | "intervalMs">;
}

/**
 * Before recording: checks the machine, then attaches the real program, runs /bin/true and
 * expects its exec event (pid → this process's mount namespace) and its execve and exit_group
 * in the final snapshot, then detaches. Never throws.
 */
export async function selfTest(opts: SelfTestOptions = {}): Promise<SelfTestResult> {
  const t0 = performance.now();
  const host = opts.host ?? nodeHost;
  const pre = preflight(host, opts.bpftrace ?? "bpftrace");
  if (!pre.ok) return pre;
  const warnings = [...pre.warnings];

  const version = await bpftraceVersion(pre.bpftrace);
  if (version === undefined) {
    return { ok: false, problem: `${pre.bpftrace} --version failed`, fix: FIX.bpftrace };
  }
  const [maj = 0, min = 0] = version.split(".").map(Number);
  if (maj === 0 && min < 17) {
    return { ok: false, problem: `bpftrace ${version} is older than 0.17`, fix: FIX.bpftrace };
  }

  // The engine recording would use with these options, not the one the resolved path selects.
  const engine = resolveEngine({
    ...opts.source,
    ...(opts.bpftrace === undefined ? {} : { bpftrace: opts.bpftrace }),
  });
  const source = new BpftraceSource({ ...opts.source, engine, bpftrace: pre.bpftrace, intervalMs: 60_000 });
  const events: BpfEvent[] = [];
  source.onEvent((e) => events.push(e));
  const started = await source.start();
  if (!started.ok) {
    const d = diagnose(started.stderr, host.kernelRelease, started.exit);
    return {
      ok: false,
      problem: `${started.problem}: ${d.problem} (command: ${source.command.join(" ")})`,
      fix: d.fix,
    };
  }
  const pid = await runTrue();
  const stats = await source.stop();
  const ms = performance.now() - t0;

  if (pid === undefined) return { ok: false, problem: "could not run /bin/true", fix: "install coreutils" };
  if (!stats.finalSnapshot) {
    return {
      ok: false,
      problem: `bpftrace did not deliver its final snapshot on SIGINT (exit ${JSON.stringify(stats.exit)}; stderr: ${stats.stderr.slice(-3).join(" | ")})`,
      fix: "check that nothing else signals or kills bpftrace; run the command by hand to see its output",
    };
  }
  const exec = events.find((e) => e.type === "exec" && e.pid === pid);
  if (exec === undefined || exec.type !== "exec") {
    return {
      ok: false,
      problem: `attached, but the exec of /bin/true (pid ${pid}) was not reported (${stats.kernelLost} events lost)`,
      fix: "check that tracepoint sched:sched_process_exec works: bpftrace -e 'tracepoint:sched:sched_process_exec { print(comm); }'",
    };
  }
  const self = ownMntns();
  if (self !== undefined && exec.mntns !== self) {
    return {
      ok: false,
      problem: `mount namespace read through BTF (${exec.mntns}) differs from /proc/self/ns/mnt (${self})`,
      fix: "this kernel's task_struct/nsproxy layout is not what syscalls.bt expects; report the kernel version",
    };
  }
  const seen = (nr: number) =>
    events.some((e) => e.type === "syscalls" && e.mntns === exec.mntns && e.arch === "x86_64" && e.nr === nr);
  if (!seen(EXECVE) || !seen(EXIT_GROUP)) {
    return {
      ok: false,
      problem: `attached, but execve/exit_group of /bin/true in mount namespace ${exec.mntns} were not recorded`,
      fix: "check that tracepoint raw_syscalls:sys_enter works: bpftrace -e 'tracepoint:raw_syscalls:sys_enter { @[args->id] = count(); }'",
    };
  }
  const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
  if (dropped > 0) warnings.push(`${dropped} bpftrace output lines did not validate during the self-test`);
  return { ok: true, ms, warnings };
}
