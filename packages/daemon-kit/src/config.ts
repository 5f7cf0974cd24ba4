import type { z } from "zod";

/** Reads a daemon's configuration from the environment; a bad value is a clear startup error. */
export function loadConfig<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.infer<T> {
  const r = schema.safeParse(env);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`).join("\n");
  throw new Error(`invalid configuration:\n${problems}`);
}
