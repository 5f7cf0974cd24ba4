import { randomBytes } from "node:crypto";
import { closeSync, existsSync, fstatSync, openSync, readFileSync, statSync } from "node:fs";
import { run, until } from "./procs.js";

export const AUDIT_LOG = "/var/log/audit/audit.log";

/**
 * Writes a marker record through the kernel's audit queue, which also carries the containers'
 * SECCOMP records, and returns where the marker line ends in the audit log: once the recorder's
 * checkpoint is past it, every record logged before the marker has been read and sent.
 */
export async function auditMarker(): Promise<{ ino: number; end: number }> {
  const text = `secprof-e2e-${randomBytes(8).toString("hex")}`;
  const r = await run("auditctl", ["-m", text]);
  if (r.status !== 0) throw new Error(`auditctl -m: ${r.stderr}`);
  return until(`audit marker ${text}`, async () => {
    for (const file of [AUDIT_LOG, `${AUDIT_LOG}.1`]) {
      if (!existsSync(file)) continue;
      const fd = openSync(file, "r");
      try {
        const { ino } = fstatSync(fd);
        const data = readFileSync(fd);
        const at = data.indexOf(`text=${text}`);
        const nl = at < 0 ? -1 : data.indexOf(0x0a, at);
        // Found in audit.log.1: auditd rotated in between; the marker ends that file's records.
        if (nl >= 0) return { ino, end: nl + 1 };
      } finally {
        closeSync(fd);
      }
    }
    return undefined;
  });
}

export type Checkpoint = { ino: number; offset: number };
export function readCheckpoint(file: string): Checkpoint | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Checkpoint;
  } catch {
    return undefined;
  }
}

/** Waits until the recorder checkpointing to `checkpointFile` has read (and sent) everything logged before now. */
export async function recorderCaughtUp(checkpointFile: string, timeoutMs = 30_000): Promise<void> {
  const marker = await auditMarker();
  await until(
    "the recorder to read the audit log past the container's records",
    async () => {
      const cp = readCheckpoint(checkpointFile);
      if (cp === undefined) return undefined;
      if (cp.ino === marker.ino) return cp.offset >= marker.end ? true : undefined;
      // The marker's file was rotated away and the recorder already follows the live file.
      return cp.ino === statSync(AUDIT_LOG).ino && statSync(AUDIT_LOG).ino !== marker.ino ? true : undefined;
    },
    timeoutMs,
  );
}
