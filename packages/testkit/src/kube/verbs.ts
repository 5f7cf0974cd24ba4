import { randomUUID } from "node:crypto";
import { type KindRegistry, storageKey } from "./kinds.js";
import { applyPatch, type PatchType } from "./patch.js";
import type { Selector } from "./selectors.js";
import {
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  invalid,
  methodNotAllowed,
  notFound,
} from "./status.js";
import type { ObjectStore } from "./store.js";
import { type KindSpec, type KObject, KObjectSchema } from "./types.js";

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"; // apiserver's generateName alphabet (no vowels)

/** RFC 3339 with second precision, the format metav1.Time serialises to. */
export const rfc3339Now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
const apiVersionOf = (k: KindSpec): string => (k.group ? `${k.group}/${k.version}` : k.version);

/** Key-order-insensitive JSON, so a client re-serialising fields in another order is not a change. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object")
    return `{${Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

/** Everything but metadata and status: a change here is a spec change and bumps metadata.generation. */
function specPart(o: KObject): string {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return canonical(rest);
}
function sameIgnoringRv(a: KObject, b: KObject): boolean {
  const strip = (o: KObject) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return canonical(strip(a)) === canonical(strip(b));
}

/**
 * The generic registry's verb semantics (create/update/patch/delete, status subresource,
 * finalizers, namespace lifecycle) over the dumb versioned store.
 */
export class Verbs {
  constructor(
    private readonly store: ObjectStore,
    private readonly kinds: KindRegistry,
  ) {}

  /** Stamps the requested version's apiVersion/kind: one stored object, one view per served version. */
  view(k: KindSpec, o: KObject): KObject {
    const { apiVersion: _a, kind: _k, ...rest } = o;
    return { apiVersion: apiVersionOf(k), kind: k.kind, ...rest };
  }

  get(k: KindSpec, ns: string, name: string): KObject {
    const o = this.store.get(storageKey(k), ns, name);
    if (!o) throw notFound(k, name);
    return this.view(k, o);
  }

  list(k: KindSpec, ns: string | undefined, match: Selector): KObject[] {
    return this.store
      .list(storageKey(k), ns)
      .map((o) => this.view(k, o))
      .filter(match);
  }

  create(k: KindSpec, ns: string, raw: unknown): KObject {
    const obj = this.parseBody(k, raw);
    const meta = obj.metadata;
    if (k.namespaced) {
      if (!ns) throw methodNotAllowed();
      if (meta.namespace && meta.namespace !== ns)
        throw badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      meta.namespace = ns;
      this.requireLiveNamespace(ns);
    } else delete meta.namespace;
    if (!meta.name && meta.generateName) {
      const suffix = Array.from(
        { length: 5 },
        () => SUFFIX_CHARS[Math.floor(Math.random() * SUFFIX_CHARS.length)],
      );
      meta.name = meta.generateName + suffix.join("");
    }
    const name = meta.name ?? "";
    if (!name) throw invalid(k, "", "metadata.name", "Required value: name or generateName is required");
    const nameRule = k.kind === "Namespace" ? DNS_LABEL : DNS_SUBDOMAIN;
    if (!nameRule.test(name) || name.length > 253)
      throw invalid(
        k,
        name,
        "metadata.name",
        `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
      );
    if (this.store.get(storageKey(k), ns, name)) throw alreadyExists(k, name);
    meta.uid = randomUUID();
    meta.creationTimestamp = rfc3339Now();
    meta.generation = 1;
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    // With a status subresource the main endpoint never writes status; the strategies default it.
    if (k.statusSubresource) {
      delete obj.status;
      if (k.group === "" && k.kind === "Pod") obj.status = { phase: "Pending" };
      if (k.group === "" && k.kind === "Namespace") obj.status = { phase: "Active" };
    }
    this.validate(k, obj);
    return this.view(k, this.store.write(storageKey(k), obj));
  }

  /** PUT on the object (`sub` = "") or on its status subresource. */
  update(k: KindSpec, ns: string, name: string, raw: unknown, sub: "" | "status"): KObject {
    const old = this.store.get(storageKey(k), ns, name);
    if (!old) throw notFound(k, name);
    return this.commitUpdate(k, old, this.parseBody(k, raw), sub);
  }

  patch(k: KindSpec, ns: string, name: string, type: PatchType, body: unknown, sub: "" | "status"): KObject {
    const old = this.store.get(storageKey(k), ns, name);
    if (!old) throw notFound(k, name);
    const patched = applyPatch(this.view(k, old), type, body);
    return this.commitUpdate(k, old, this.parseBody(k, patched), sub);
  }

  /**
   * Finalizers present: only stamp deletionTimestamp (the object stays until an update empties
   * them). Otherwise remove. `preconditions` is DeleteOptions.preconditions.
   */
  delete(
    k: KindSpec,
    ns: string,
    name: string,
    preconditions?: { uid?: string | undefined; resourceVersion?: string | undefined },
  ): KObject {
    const old = this.store.get(storageKey(k), ns, name);
    if (!old) throw notFound(k, name);
    if (preconditions?.uid && preconditions.uid !== old.metadata.uid) throw conflict(k, name);
    if (preconditions?.resourceVersion && preconditions.resourceVersion !== old.metadata.resourceVersion)
      throw conflict(k, name);
    if (k.group === "" && k.kind === "Namespace") return this.deleteNamespace(k, old);
    if (old.metadata.finalizers?.length) {
      if (old.metadata.deletionTimestamp) return this.view(k, old);
      old.metadata.deletionTimestamp = rfc3339Now();
      old.metadata.deletionGracePeriodSeconds = 0;
      return this.view(k, this.store.write(storageKey(k), old));
    }
    return this.view(k, this.removeNow(k, old));
  }

  private commitUpdate(k: KindSpec, old: KObject, incoming: KObject, sub: "" | "status"): KObject {
    const name = old.metadata.name ?? "";
    if (incoming.metadata.name !== undefined && incoming.metadata.name !== name)
      throw badRequest(
        `the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`,
      );
    // An empty resourceVersion means an unconditional update, which pods and CRs allow.
    const rv = incoming.metadata.resourceVersion;
    if (rv && rv !== old.metadata.resourceVersion) throw conflict(k, name);

    let next: KObject;
    if (sub === "status") {
      // Status writes copy everything except .status from the stored object.
      next = structuredClone(old);
      if (incoming.status === undefined) delete next.status;
      else next.status = incoming.status;
    } else {
      next = incoming;
      if (k.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = old.status;
      }
      const immutable = [
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
      ];
      for (const f of immutable) {
        if (old.metadata[f] === undefined) delete next.metadata[f];
        else next.metadata[f] = old.metadata[f];
      }
      next.metadata.name = name;
      const oldFinalizers = new Set(old.metadata.finalizers ?? []);
      if (
        old.metadata.deletionTimestamp &&
        (next.metadata.finalizers ?? []).some((f) => !oldFinalizers.has(f))
      )
        throw invalid(
          k,
          name,
          "metadata.finalizers",
          "Forbidden: no new finalizers can be added if the object is being deleted",
        );
      next.metadata.generation = (old.metadata.generation ?? 1) + (specPart(next) !== specPart(old) ? 1 : 0);
    }
    delete next.apiVersion;
    delete next.kind;
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    this.validate(k, next);
    // A no-op write is not persisted and does not bump the resourceVersion, as in the real server.
    if (sameIgnoringRv(next, old)) return this.view(k, old);
    if (next.metadata.deletionTimestamp && !next.metadata.finalizers?.length)
      return this.view(k, this.removeNow(k, next));
    return this.view(k, this.store.write(storageKey(k), next));
  }

  private removeNow(k: KindSpec, obj: KObject): KObject {
    const ns = obj.metadata.namespace ?? "";
    // Like the real store, emptying the finalizers deletes the *stored* object without writing the
    // update first: watchers see a single DELETED that still lists the last finalizer.
    const gone = this.store.remove(storageKey(k), ns, obj.metadata.name ?? "") ?? obj;
    if (k.namespaced) this.finishNamespaceIfEmpty(ns);
    return gone;
  }

  /** The namespace controller, compressed: mark Terminating, delete the contents, drop it once empty. */
  private deleteNamespace(k: KindSpec, ns: KObject): KObject {
    const name = ns.metadata.name ?? "";
    let current = ns;
    if (!ns.metadata.deletionTimestamp) {
      ns.metadata.deletionTimestamp = rfc3339Now();
      ns.status = { ...(typeof ns.status === "object" ? ns.status : {}), phase: "Terminating" };
      current = this.store.write(storageKey(k), ns);
    }
    for (const rk of this.kinds.namespacedResources())
      for (const o of this.store.list(storageKey(rk), name)) this.delete(rk, name, o.metadata.name ?? "");
    return this.view(k, this.finishNamespaceIfEmpty(name) ?? current);
  }

  private finishNamespaceIfEmpty(name: string): KObject | undefined {
    const nsKind = this.kinds.resolve("", "v1", "namespaces");
    if (!nsKind) return undefined;
    const ns = this.store.get(storageKey(nsKind), "", name);
    if (!ns?.metadata.deletionTimestamp || ns.metadata.finalizers?.length) return undefined;
    const empty = this.kinds
      .namespacedResources()
      .every((rk) => this.store.list(storageKey(rk), name).length === 0);
    return empty ? this.store.remove(storageKey(nsKind), "", name) : undefined;
  }

  private requireLiveNamespace(ns: string): void {
    const nsKind = this.kinds.resolve("", "v1", "namespaces");
    if (!nsKind) return;
    const o = this.store.get(storageKey(nsKind), "", ns);
    if (!o) throw notFound(nsKind, ns);
    if (o.metadata.deletionTimestamp)
      throw forbidden(`unable to create new content in namespace ${ns} because it is being terminated`);
  }

  /** Body → object, checking it is for this endpoint (the decoder's kind/apiVersion check). */
  private parseBody(k: KindSpec, raw: unknown): KObject {
    const parsed = KObjectSchema.safeParse(raw);
    if (!parsed.success) throw badRequest(`invalid object: ${parsed.error.message}`);
    const obj = structuredClone(parsed.data);
    if (obj.kind !== undefined && obj.kind !== k.kind)
      throw badRequest(`the kind in the data (${obj.kind}) does not match the expected kind (${k.kind})`);
    if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersionOf(k))
      throw badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersionOf(k)})`,
      );
    return obj;
  }

  private validate(k: KindSpec, obj: KObject): void {
    const msg = k.validate?.(this.view(k, obj));
    if (msg !== undefined) throw invalid(k, obj.metadata.name ?? "", "spec", msg);
  }
}
