import {
  ApiException,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Watch,
} from "@kubernetes/client-node";
import { z } from "zod";

/** The status of a failed API call, from client-node's ApiException (whose body may still be JSON text). */
export interface ApiFailure {
  code: number;
  reason: string;
  message: string;
}

const StatusBody = z.looseObject({ reason: z.string().optional(), message: z.string().optional() });

export function apiFailure(err: unknown): ApiFailure | undefined {
  if (!(err instanceof ApiException)) return undefined;
  let body: unknown = err.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {
      body = { message: body };
    }
  }
  const parsed = StatusBody.safeParse(body);
  const code = typeof err.code === "number" ? err.code : 0;
  return {
    code,
    reason: parsed.success ? (parsed.data.reason ?? "") : "",
    message: parsed.success ? (parsed.data.message ?? "") : "",
  };
}

export interface RetryOptions {
  /** First restart delay after a failed list/watch (ms). Default 500. */
  initialMs?: number;
  /** Cap of the exponential delay (ms). Default 30 000. */
  maxMs?: number;
}

/** Exponential backoff with "equal jitter": half fixed, half random, so restarts of many nodes spread out. */
export function backoffDelay(attempt: number, opts: RetryOptions = {}, random = Math.random): number {
  const initial = opts.initialMs ?? 500;
  const max = opts.maxMs ?? 30_000;
  const ceiling = Math.min(max, initial * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + (random() * ceiling) / 2;
}

/** Minimal shape every listed/watched object must have for the informer's cache (name, namespace). */
const CachedObject = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string().optional(),
    resourceVersion: z.string().optional(),
  }),
});
const ListBody = z.looseObject({
  metadata: z
    .looseObject({
      resourceVersion: z.string().optional(),
      // The wire's name, and client-node's for the list it deserialises (V1ListMeta).
      continue: z.string().optional(),
      _continue: z.string().optional(),
    })
    .optional(),
  items: z.array(z.unknown()),
});

/** One page of a list call (`limit`, and the `continue` token of the page before; client-node's names). */
export interface ListPage {
  limit?: number;
  _continue?: string;
}

export interface InformerHandlers {
  /** Added or modified (also for every item of a (re)list). Receives the wire object, unvalidated. */
  upsert(obj: unknown): void;
  /** Deleted (watch DELETED, or missing from a relist). */
  remove(obj: unknown): void;
  /** Called once the first list has been loaded into the handlers. */
  synced?(): void;
}

export interface ResilientInformerOptions {
  kubeConfig: KubeConfig;
  /** Watch path, e.g. `/api/v1/pods`. */
  path: string;
  /** The list call matching `path` and the selectors, for `page`; returns the raw list body. */
  list: (page: ListPage) => Promise<unknown>;
  /**
   * List in pages of this many objects (each projected before the next is fetched), so a list's
   * transient memory is one page, not every object at once. Default: one call for everything.
   */
  pageSize?: number;
  fieldSelector?: string;
  labelSelector?: string;
  retry?: RetryOptions;
  onError?: (err: unknown) => void;
  /**
   * What the cache keeps of each listed or watched object, and what the handlers receive. The
   * cache holds every object for the informer's life; a daemon that reads a few fields keeps only
   * those (a real pod carries managedFields, volumes, env, probes, ... the recorder never reads).
   * The result must keep `metadata.name`, `namespace` and `resourceVersion` (the cache's key and
   * its "unchanged" check). Default: the whole object.
   */
  project?: (obj: unknown) => unknown;
  handlers: InformerHandlers;
}

/** A `Watch` that hands ListWatch the projection of each watched object instead of the object. */
class ProjectingWatch extends Watch {
  readonly #project: (obj: unknown) => unknown;

  constructor(kubeConfig: KubeConfig, project: (obj: unknown) => unknown) {
    super(kubeConfig);
    this.#project = project;
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    // ERROR carries a Status (ListWatch reads its code), BOOKMARK only a resourceVersion.
    return super.watch(
      path,
      queryParams,
      (phase, obj) => callback(phase, phase === "ERROR" || phase === "BOOKMARK" ? obj : this.#project(obj)),
      done,
    );
  }
}

/**
 * A client-node `ListWatch` (what `makeInformer` builds; used directly because `makeInformer` in
 * client-node 1.3 has no field selector) that restarts itself: ListWatch stops for good on any
 * list or watch error, so every error schedules a restart with jittered exponential backoff. A
 * restart resumes the watch from the last resourceVersion; a 410 Expired relists.
 */
export class ResilientInformer {
  readonly #opts: ResilientInformerOptions;
  readonly #lw: ListWatch<KubernetesObject>;
  #stopped = true;
  #synced = false;
  #failures = 0;
  /** A list call succeeded (ListWatch loads its items before `start()` resolves). */
  #listed = false;
  #restarts = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #syncWaiters: (() => void)[] = [];

  constructor(opts: ResilientInformerOptions) {
    this.#opts = opts;
    this.#lw = new ListWatch<KubernetesObject>(
      opts.path,
      opts.project === undefined
        ? new Watch(opts.kubeConfig)
        : new ProjectingWatch(opts.kubeConfig, opts.project),
      () => this.#list(),
      false,
      opts.labelSelector,
      opts.fieldSelector,
    );
    this.#lw.on("add", (o) => opts.handlers.upsert(o));
    this.#lw.on("update", (o) => opts.handlers.upsert(o));
    this.#lw.on("delete", (o) => opts.handlers.remove(o));
    this.#lw.on("error", (err: unknown) => this.#onError(err));
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Restarts after errors so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Starts list+watch; resolves once the first list is loaded (or when stopped before that). */
  start(): Promise<void> {
    if (this.#stopped) {
      this.#stopped = false;
      void this.#run();
    }
    return this.waitSynced();
  }

  waitSynced(): Promise<void> {
    if (this.#synced || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#lw.stop();
    this.#releaseWaiters();
  }

  async #run(): Promise<void> {
    let failed = false;
    const onErr = () => {
      failed = true;
    };
    this.#lw.on("error", onErr);
    try {
      await this.#lw.start();
    } finally {
      this.#lw.off("error", onErr);
    }
    if (!failed) this.#failures = 0;
    if (this.#listed && !this.#stopped) this.#markSynced();
  }

  async #list(): Promise<KubernetesListObject<KubernetesObject>> {
    const items: KubernetesObject[] = [];
    const project = this.#opts.project;
    const limit = this.#opts.pageSize;
    let resourceVersion: string | undefined;
    let next: string | undefined;
    do {
      const page: ListPage = {};
      if (limit !== undefined) page.limit = limit;
      if (next !== undefined) page._continue = next;
      const body = ListBody.parse(await this.#opts.list(page));
      for (const listed of body.items) {
        const raw = project === undefined ? listed : project(listed);
        // Items missing a name cannot be cached; they are handed to the handlers' validation via upsert.
        const item = CachedObject.safeParse(raw);
        // Checked to have what the cache keys on; optional fields are absent, not undefined, on the wire.
        if (item.success) items.push(item.data as KubernetesObject);
        else this.#opts.handlers.upsert(raw);
      }
      // Every page of a list is served from the first page's snapshot (one resourceVersion).
      resourceVersion ??= body.metadata?.resourceVersion;
      next = body.metadata?.continue ?? body.metadata?._continue;
      if (next === "") next = undefined;
    } while (next !== undefined);
    this.#listed = true;
    return { items, metadata: resourceVersion === undefined ? {} : { resourceVersion } };
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    this.#opts.handlers.synced?.();
    this.#releaseWaiters();
  }

  #releaseWaiters(): void {
    for (const w of this.#syncWaiters.splice(0)) w();
  }

  #onError(err: unknown): void {
    // stop() aborts the watch request, which ListWatch reports as an error: not one.
    if (this.#stopped) return;
    this.#opts.onError?.(err);
    this.#failures += 1;
    const delay = backoffDelay(this.#failures, this.#opts.retry);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopped) return;
      this.#restarts += 1;
      void this.#run();
    }, delay);
    this.#timer.unref();
  }
}
