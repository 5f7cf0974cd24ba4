import { stat } from "node:fs/promises";

/** Where the recorder has processed the audit log up to (a follower checkpoint). */
export interface LogPosition {
  ino: number;
  offset: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves true once `done()` holds (polled every `pollMs`), false after `timeoutMs`. */
export async function settle(done: () => boolean, timeoutMs: number, pollMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
  return true;
}

/**
 * Resolves true once everything the log at `path` held when called has been processed
 * (`processed()` is at or past its end), false after `timeoutMs`.
 *
 * Why: a pod's end reaches the recorder through the API server's watch, usually within
 * milliseconds, while the container's last audit records may still sit unread in the log. Sending
 * `ended` first would write the profile without them.
 */
export async function logBarrier(
  path: string,
  processed: () => LogPosition | undefined,
  timeoutMs: number,
  pollMs = 10,
): Promise<boolean> {
  let end: { ino: number; size: number };
  try {
    const s = await stat(path);
    end = { ino: s.ino, size: s.size };
  } catch {
    return true; // no log (yet): nothing to wait for
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const at = processed();
    if (at !== undefined) {
      if (at.ino === end.ino && at.offset >= end.size) return true;
      // Rotated since: past the end when the follower already reads the file now at `path`.
      if (at.ino !== end.ino) {
        const now = await stat(path).catch(() => undefined);
        if (now !== undefined && now.ino === at.ino && now.ino !== end.ino) return true;
      }
    }
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
}
