import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import path from "node:path";

/**
 * Writes each file through a dot-prefixed temp file in the same directory, fsync and rename, so
 * a reader (or a crash, or a full disk) never sees half a profile. On error nothing partial is
 * left behind and the error names the file.
 */
export async function writeFilesAtomically(dir: string, files: ReadonlyMap<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of files) {
    const final = path.join(dir, name);
    const tmp = path.join(dir, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      const fh = await open(tmp, "wx", 0o644);
      try {
        await fh.writeFile(content);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { force: true });
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(
        `cannot write ${final}: ${code === "ENOSPC" ? "no space left on device" : (err as Error).message}`,
      );
    }
  }
}
