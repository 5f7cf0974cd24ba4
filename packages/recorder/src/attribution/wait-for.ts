import type { PodIndexChange, PodIndexWaitOptions } from "@secprof/core";

interface Index<R> {
  lookup(containerId: string): R | undefined;
  subscribe(listener: (change: PodIndexChange) => void): () => void;
}

/** The PodIndex port's `waitFor`, for any index that has `lookup` and `subscribe`. */
export function waitForContainer<R>(
  index: Index<R>,
  containerId: string,
  opts: PodIndexWaitOptions = {},
): Promise<R | undefined> {
  const now = index.lookup(containerId);
  if (now !== undefined || opts.signal?.aborted === true) return Promise.resolve(now);
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (v: R | undefined) => {
      unsubscribe();
      if (timer !== undefined) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      resolve(v);
    };
    const onAbort = () => done(undefined);
    const unsubscribe = index.subscribe((change) => {
      if (change.added.includes(containerId)) done(index.lookup(containerId));
    });
    if (opts.timeoutMs !== undefined) timer = setTimeout(() => done(undefined), opts.timeoutMs);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
  });
}
