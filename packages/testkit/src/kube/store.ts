import type { KObject } from "./types.js";

/** One committed write. `prev` lets selector-filtered watches turn a MODIFIED into ADDED/DELETED. */
export interface StoreEvent {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  resource: string;
  obj: KObject;
  prev: KObject | undefined;
}

const objectKey = (ns: string, name: string): string => `${ns}/${name}`;

/**
 * The etcd stand-in: objects per resource, one global resourceVersion counter bumped by every
 * write (so RVs are comparable across resources, as with etcd revisions), and a bounded event
 * log that watches replay from. Everything handed out is a copy.
 */
export class ObjectStore {
  private rv = 0;
  private readonly data = new Map<string, Map<string, KObject>>();
  private log: StoreEvent[] = [];
  /** Highest RV whose event is no longer in the log; watching from below it is 410 Expired. */
  private compactedRv = 0;
  private readonly listeners = new Set<(e: StoreEvent) => void>();

  constructor(private readonly historyLimit: number) {}

  get resourceVersion(): number {
    return this.rv;
  }

  get(resource: string, ns: string, name: string): KObject | undefined {
    const o = this.data.get(resource)?.get(objectKey(ns, name));
    return o && structuredClone(o);
  }

  /** Sorted by namespace/name, which is also the order the real server lists in. */
  list(resource: string, ns?: string): KObject[] {
    const all = [...(this.data.get(resource)?.entries() ?? [])].sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return all
      .map(([, o]) => o)
      .filter((o) => ns === undefined || (o.metadata.namespace ?? "") === ns)
      .map((o) => structuredClone(o));
  }

  /** Stores `obj` under a fresh resourceVersion and returns the stored copy. */
  write(resource: string, obj: KObject): KObject {
    const ns = obj.metadata.namespace ?? "";
    const name = obj.metadata.name ?? "";
    const bucket = this.data.get(resource) ?? new Map<string, KObject>();
    this.data.set(resource, bucket);
    const prev = bucket.get(objectKey(ns, name));
    const stored = structuredClone(obj);
    stored.metadata.resourceVersion = String(++this.rv);
    bucket.set(objectKey(ns, name), stored);
    this.emit({ rv: this.rv, type: prev ? "MODIFIED" : "ADDED", resource, obj: stored, prev });
    return structuredClone(stored);
  }

  /** Deletes and returns the final state, stamped with the deletion's resourceVersion like etcd3 does. */
  remove(resource: string, ns: string, name: string): KObject | undefined {
    const bucket = this.data.get(resource);
    const prev = bucket?.get(objectKey(ns, name));
    if (!bucket || !prev) return undefined;
    bucket.delete(objectKey(ns, name));
    const gone = structuredClone(prev);
    gone.metadata.resourceVersion = String(++this.rv);
    this.emit({ rv: this.rv, type: "DELETED", resource, obj: gone, prev });
    return structuredClone(gone);
  }

  /** Events after `rv` for `resource`, or "expired" when some of them were already compacted away. */
  since(resource: string, rv: number): StoreEvent[] | "expired" {
    if (rv < this.compactedRv) return "expired";
    return this.log.filter((e) => e.rv > rv && e.resource === resource);
  }

  get oldestRetained(): number {
    return this.compactedRv + 1;
  }

  /** Drops the whole event log, so any watch from an older RV gets 410 (what etcd compaction does). */
  compact(): void {
    this.compactedRv = this.rv;
    this.log = [];
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: StoreEvent): void {
    this.log.push(e);
    if (this.log.length > this.historyLimit) {
      const dropped = this.log.splice(0, this.log.length - this.historyLimit);
      this.compactedRv = dropped.at(-1)?.rv ?? this.compactedRv;
    }
    for (const fn of this.listeners) fn(e);
  }
}
