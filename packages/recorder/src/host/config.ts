import { z } from "zod";

/** The recorder's host-mode settings (environment variables; see README, "Host mode"). */
export const RecorderHostConfig = z.object({
  /** Comma-separated runc `--root` directories whose containers stand in for pods. */
  SECPROF_RUNC_ROOTS: z
    .string()
    .default("/run/runc")
    .transform((s) =>
      s
        .split(",")
        .map((x) => x.trim())
        .filter((x) => x !== ""),
    )
    .pipe(z.array(z.string()).min(1, "name at least one runc state root")),
  /** How often the roots are rescanned (container ends are seen at most this late). */
  SECPROF_RUNC_POLL_MS: z.coerce.number().int().positive().default(1000),
});
export type RecorderHostConfig = z.infer<typeof RecorderHostConfig>;
