import { execFile, spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * Real OCI containers (runtime measurement and tests): a runc bundle whose rootfs shows the host's /usr and /etc
 * read-only (so any host program can be the workload), with its own mount, pid, ipc and uts
 * namespaces, the host network (loopback servers work) and the given seccomp profile enforced.
 */
export interface RuncResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RuncOptions {
  seccomp?: unknown;
  /** Extra read-write bind mounts (host path → container path). */
  binds?: [string, string][];
  cwd?: string;
  env?: string[];
  timeoutMs?: number;
  /** cgroup path inside the cgroup hierarchy, e.g. kubelet-style `kubepods/.../cri-containerd-<id>`. */
  cgroupsPath?: string;
  id?: string;
  /** OCI annotations (runc keeps them in its state; host mode reads pod facts from them). */
  annotations?: Record<string, string>;
}

let counter = 0;

function ociConfig(args: string[], opts: RuncOptions): Record<string, unknown> {
  const mounts: Record<string, unknown>[] = [
    { destination: "/proc", type: "proc", source: "proc" },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    { destination: "/usr", type: "bind", source: "/usr", options: ["rbind", "ro"] },
    { destination: "/etc", type: "bind", source: "/etc", options: ["rbind", "ro"] },
    { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
  ];
  for (const [src, dst] of opts.binds ?? [])
    mounts.push({ destination: dst, type: "bind", source: src, options: ["rbind", "rw"] });
  const linux: Record<string, unknown> = {
    namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
    maskedPaths: ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
    readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
  };
  if (opts.seccomp !== undefined) linux.seccomp = opts.seccomp;
  if (opts.cgroupsPath !== undefined) linux.cgroupsPath = opts.cgroupsPath;
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: opts.env ?? ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/root"],
      cwd: opts.cwd ?? "/",
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "secprof-test",
    mounts,
    linux,
    ...(opts.annotations === undefined ? {} : { annotations: opts.annotations }),
  };
}

/** Builds a bundle directory for `args` and returns it with a cleanup function. */
export async function runcBundle(
  args: string[],
  opts: RuncOptions = {},
): Promise<{ dir: string; id: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), "secprof-runc-"));
  const rootfs = path.join(dir, "rootfs");
  for (const d of ["usr", "etc", "tmp", "proc", "dev", "root", "run"])
    await mkdir(path.join(rootfs, d), { recursive: true });
  for (const l of ["bin", "lib", "lib64", "sbin", "lib32", "libx32"])
    await symlink(`usr/${l}`, path.join(rootfs, l));
  await writeFile(path.join(dir, "config.json"), JSON.stringify(ociConfig(args, opts), null, 1));
  const id = opts.id ?? `secprof-${process.pid}-${++counter}`;
  return {
    dir,
    id,
    cleanup: async () => {
      spawnSync("runc", ["delete", "--force", id], { stdio: "ignore" });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `args` in a fresh runc container and returns its exit code and output. */
export async function runcRun(args: string[], opts: RuncOptions = {}): Promise<RuncResult> {
  const b = await runcBundle(args, opts);
  try {
    return await new Promise<RuncResult>((resolve) => {
      execFile(
        "runc",
        ["run", "--bundle", b.dir, b.id],
        { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
          resolve({ code, stdout, stderr });
        },
      );
    });
  } finally {
    await b.cleanup();
  }
}
