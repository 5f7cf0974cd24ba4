import { randomBytes } from "node:crypto";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Checkpoint } from "@secprof/core";

export type LoadedCheckpoint =
  | { kind: "loaded"; checkpoint: Checkpoint }
  | { kind: "missing" }
  | { kind: "corrupt"; reason: string };

/**
 * Reads a checkpoint file. A file that is not a valid checkpoint comes back as `corrupt` with the reason:
 * a bad checkpoint is something to report and recover from, not a reason for the recorder to crash-loop.
 * Errors other than "no such file" (permissions, I/O) are thrown: those are the environment, not the data.
 */
export async function loadCheckpoint(file: string): Promise<LoadedCheckpoint> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { kind: "missing" };
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { kind: "corrupt", reason: `not JSON: ${(e as Error).message}` };
  }
  const parsed = Checkpoint.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    return { kind: "corrupt", reason: issues.join("; ") };
  }
  return { kind: "loaded", checkpoint: parsed.data };
}

/**
 * Where to follow from: the checkpoint when there is a valid one, else the end of the current file. Without
 * a trustworthy position, replaying the whole log would mix old events into the recording.
 */
export function resumeFrom(loaded: LoadedCheckpoint): { from: Checkpoint | undefined; startAt: "end" } {
  return { from: loaded.kind === "loaded" ? loaded.checkpoint : undefined, startAt: "end" };
}

/**
 * Replaces the checkpoint file atomically: a crash leaves either the old or the new checkpoint, never a torn
 * one. Temp file in the same directory (rename is only atomic within a filesystem), fsync it, rename over,
 * then fsync the directory so the rename itself survives a power loss.
 */
export async function saveCheckpoint(file: string, checkpoint: Checkpoint): Promise<void> {
  // Never write what loadCheckpoint would reject.
  const valid = Checkpoint.parse(checkpoint);
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", 0o600);
  try {
    try {
      await fh.writeFile(`${JSON.stringify(valid)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  const d = await open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
