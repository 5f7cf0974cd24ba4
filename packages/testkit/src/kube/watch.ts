import type { ServerResponse } from "node:http";
import { storageKey } from "./kinds.js";
import type { Selector } from "./selectors.js";
import { badRequest, expired } from "./status.js";
import type { ObjectStore, StoreEvent } from "./store.js";
import type { KindSpec, KObject, WatchEventType } from "./types.js";
import type { Verbs } from "./verbs.js";

export interface WatchRequest {
  kind: KindSpec;
  /** undefined = all namespaces (or a cluster-scoped kind). */
  namespace: string | undefined;
  match: Selector;
  resourceVersion: string;
  allowBookmarks: boolean;
  /** undefined = legacy behaviour (initial ADDED events only when no resourceVersion is given). */
  sendInitialEvents: boolean | undefined;
  timeoutSeconds: number | undefined;
}

export interface WatchDeps {
  store: ObjectStore;
  verbs: Verbs;
  bookmarkIntervalMs: number;
  /** Registry of live watches; calling an entry ends that stream (server close, forced reconnect). */
  open: Set<() => void>;
}

/**
 * Streams newline-delimited watch events like kube-apiserver: synthetic ADDED for the current
 * state when no resourceVersion is given, else a replay of the event log since that RV (or one
 * ERROR 410 Expired event and EOF when it was compacted), then live events until timeout.
 */
export function serveWatch(res: ServerResponse, w: WatchRequest, deps: WatchDeps): void {
  const { store, verbs } = deps;
  const fromNow = w.resourceVersion === "" || w.resourceVersion === "0";
  const fromRv = Number(w.resourceVersion);
  if (!fromNow && !Number.isSafeInteger(fromRv))
    throw badRequest(`invalid resourceVersion "${w.resourceVersion}"`);
  const replay = fromNow ? [] : store.since(storageKey(w.kind), fromRv);

  res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache" });
  res.flushHeaders();
  const send = (type: WatchEventType, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
  const bookmark = (annotations?: Record<string, string>) =>
    send("BOOKMARK", {
      kind: w.kind.kind,
      apiVersion: w.kind.group ? `${w.kind.group}/${w.kind.version}` : w.kind.version,
      metadata: { resourceVersion: String(store.resourceVersion), ...(annotations ? { annotations } : {}) },
    });

  if (replay === "expired") {
    // Real server: HTTP 200, then a single ERROR event carrying the Status, then EOF.
    send("ERROR", expired(fromRv, store.oldestRetained).toStatus());
    res.end();
    return;
  }

  const inScope = (o: KObject) => w.namespace === undefined || (o.metadata.namespace ?? "") === w.namespace;
  const deliver = (e: StoreEvent) => {
    if (e.resource !== storageKey(w.kind)) return;
    const now = verbs.view(w.kind, e.obj);
    if (!inScope(now)) return;
    const was = e.prev && w.match(verbs.view(w.kind, e.prev));
    const is = w.match(now);
    // Objects moving into/out of the selector surface as ADDED/DELETED, as the watch cache does.
    if (e.type === "DELETED") {
      if (is || was) send("DELETED", now);
    } else if (is) send(was ? "MODIFIED" : "ADDED", now);
    else if (was) send("DELETED", now);
  };

  if (fromNow && w.sendInitialEvents !== false) {
    for (const o of verbs.list(w.kind, w.namespace, w.match)) send("ADDED", o);
    if (w.sendInitialEvents && w.allowBookmarks) bookmark({ "k8s.io/initial-events-end": "true" });
  }
  for (const e of replay) deliver(e);
  const unsubscribe = store.subscribe(deliver);

  const timers: NodeJS.Timeout[] = [];
  if (w.allowBookmarks) timers.push(setInterval(() => bookmark(), deps.bookmarkIntervalMs));
  const stop = () => {
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    deps.open.delete(stop);
    if (!res.writableEnded) res.end();
  };
  if (w.timeoutSeconds !== undefined)
    timers.push(
      setTimeout(() => {
        // A bookmark just before a timeout lets the client resume without replaying.
        if (w.allowBookmarks) bookmark();
        stop();
      }, w.timeoutSeconds * 1000),
    );
  deps.open.add(stop);
  res.on("close", stop);
}
