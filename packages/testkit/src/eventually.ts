/**
 * Retries an assertion until it passes or `timeoutMs` is over (then its last error is thrown,
 * with `context()` appended, e.g. a daemon's log). For watch-driven daemons whose effects arrive
 * asynchronously; not a timing measurement.
 */
export async function eventually(
  check: () => unknown,
  timeoutMs = 30_000,
  context?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        if (context !== undefined && err instanceof Error) err.message += `\n${context()}`;
        throw err;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
