import { z } from "zod";

const int = (def: number) => z.coerce.number().int().positive().default(def);

/** The recorder daemon's configuration (environment variables; see deploy/ and README). */
export const RecorderConfig = z.object({
  NODE_NAME: z.string().min(1, "set NODE_NAME (downward API spec.nodeName)"),
  SECPROF_REDIS_URL: z.string().url(),
  SECPROF_AUDIT_LOG: z.string().default("/var/log/audit/audit.log"),
  SECPROF_CHECKPOINT: z.string().default("/var/lib/secprof/recorder/audit.checkpoint.json"),
  SECPROF_SPOOL: z.string().default("/var/lib/secprof/recorder/spool.ndjson"),
  SECPROF_PROC_ROOT: z.string().default("/proc"),
  SECPROF_FLUSH_MS: int(1000),
  SECPROF_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9101),
  SECPROF_METRICS_HOST: z.string().default("0.0.0.0"),
  SECPROF_RECORDERS: z
    .string()
    .default("logs")
    .transform((s) => new Set(s.split(",").map((x) => x.trim())))
    .pipe(z.set(z.enum(["logs", "bpf"]))),
  /** bpftrace executable (recorder: Bpf, and the exec tracker). */
  SECPROF_BPFTRACE: z.string().default("bpftrace"),
  /** How often the eBPF syscall map is read: bounds how late a Bpf-recorded syscall is sent. */
  SECPROF_BPF_INTERVAL_MS: int(1000),
  /**
   * Exec tracker for Logs mode (attributes processes that exit before /proc is read). `auto`:
   * used when bpftrace starts, else the recorder runs without it (misses are counted); `on`: a
   * failure to start is fatal; `off`. With the Bpf recorder on, its own exec events feed it.
   */
  SECPROF_EXEC_TRACKER: z.enum(["auto", "on", "off"]).default("auto"),
  /**
   * Longest wait of audit records of a process that exited before /proc was read for the exec
   * tracker to name its mount namespace (its exec event arrives after them under load); then they
   * count as `exited` misses. They stop waiting sooner, about a second after their time, once the
   * tracker's ticks show it has delivered every exec up to then; this bound is for a tracker that
   * is behind (starved of CPU). A pod's end waits (at most this long) for those held before it.
   */
  SECPROF_EXEC_WAIT_MS: int(30_000),
  /**
   * The AppArmor eBPF recorder (recorder: Bpf, kind AppArmorProfile), with SECPROF_RECORDERS
   * including bpf. `auto`: started, and the daemon runs without it if bpftrace cannot attach it
   * (AppArmor Bpf recordings then get no facts; logged); `on`: a failure is fatal; `off`.
   * Started with the daemon rather than when a recording appears: attaching takes seconds and
   * facts count from each process's exec, so a source started late would miss the first pods of a
   * recording created just before them.
   */
  SECPROF_BPF_APPARMOR: z.enum(["auto", "on", "off"]).default("auto"),
  /** Path keys the AppArmor source keeps per container in the kernel (more are counted as truncation). */
  SECPROF_APPARMOR_MAX_PATHS: int(10_000),
});
export type RecorderConfig = z.infer<typeof RecorderConfig>;
