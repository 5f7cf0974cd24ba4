import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import path from "node:path";

export type Resolved = { ok: true; file: string } | { ok: false; code: 126 | 127; message: string };

/** PATH lookup as a shell does it, so a missing command fails before any recorder starts. */
export async function resolveCommand(cmd: string, envPath: string | undefined): Promise<Resolved> {
  const candidates = cmd.includes("/")
    ? [cmd]
    : (envPath ?? "/usr/local/bin:/usr/bin:/bin").split(":").map((d) => path.join(d || ".", cmd));
  let denied: string | undefined;
  for (const file of candidates) {
    try {
      const st = await stat(file);
      if (!st.isFile()) continue;
      await access(file, constants.X_OK);
      return { ok: true, file };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EACCES") denied = file;
    }
  }
  if (denied !== undefined) return { ok: false, code: 126, message: `${cmd}: permission denied (${denied})` };
  return { ok: false, code: 127, message: `${cmd}: command not found` };
}
