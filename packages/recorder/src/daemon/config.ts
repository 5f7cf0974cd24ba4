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
});
export type RecorderConfig = z.infer<typeof RecorderConfig>;
