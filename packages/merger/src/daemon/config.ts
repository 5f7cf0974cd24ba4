import { z } from "zod";

/** The merger's configuration (environment variables; see deploy/ and README). */
export const MergerConfig = z.object({
  SECPROF_REDIS_URL: z.string().url(),
  SECPROF_API_TOKEN: z.string().min(16, "SECPROF_API_TOKEN must be at least 16 characters"),
  SECPROF_API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  SECPROF_API_HOST: z.string().default("0.0.0.0"),
  SECPROF_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9102),
  /** Jobs at once; each batch job applies up to 100 observations at once (see worker.ts). */
  SECPROF_CONCURRENCY: z.coerce.number().int().positive().default(16),
  SECPROF_PROFILE_SCOPE: z.enum(["Cluster", "Namespaced", "Discover"]).default("Cluster"),
});
