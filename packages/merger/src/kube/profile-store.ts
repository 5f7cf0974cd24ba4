import { ApiException, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import {
  ANNOTATION_PREFIX,
  API_GROUP,
  AppArmorProfile,
  LABELS,
  type ProfileObject,
  type ProfileStore,
  SeccompProfile,
  SelinuxProfile,
} from "@secprof/core";
import { z } from "zod";

/**
 * `ProfileStore` on the Kubernetes API, through `CustomObjectsApi` (client-node's
 * `KubernetesObjectApi` mangles SeccompProfile/AppArmorProfile: its generated V1SeccompProfile
 * model collides with the SPO kind).
 *
 * Scope. SPO's profile kinds are cluster-scoped (spo.md §4.1–4.3; they used to be namespaced),
 * so that is the default; `scope: "Namespaced"` serves the older layout and `"Discover"` asks the
 * API server once (GET /apis/<group>/v1). With cluster scope the port's `namespace` argument is
 * the recording's namespace, carried by the `spo.x-k8s.io/recording-namespace` label: `list`
 * filters on it, and `get`/`put`/`delete` refuse (or, for `get`, do not see) an object labelled
 * for another namespace, so two namespaces' recordings of the same name cannot overwrite each
 * other's profiles. `""` means "any namespace". The object itself never carries a namespace.
 *
 * `put` is create-or-update: create; on 409 AlreadyExists, GET and PUT with the fetched
 * resourceVersion, retrying on 409 Conflict with jittered exponential backoff, at most
 * `maxAttempts` rounds. The update keeps the stored object's identity (name, namespace, uid,
 * finalizers, ownerReferences: never "mutating name and/or namespace", SPO #3328), replaces the
 * spec, and replaces the labels/annotations secprof owns (`spo.x-k8s.io/*`, `secprof.x-k8s.io/*`:
 * a stale `incomplete` marker must not survive a clean re-recording) while keeping foreign ones.
 */

export type ProfileKind = ProfileObject["kind"];
export type ProfileScope = "Cluster" | "Namespaced";

export const PROFILE_VERSION = "v1";
export const PROFILE_PLURALS: Readonly<Record<ProfileKind, string>> = {
  SeccompProfile: "seccompprofiles",
  SelinuxProfile: "selinuxprofiles",
  AppArmorProfile: "apparmorprofiles",
};
const SCHEMAS = { SeccompProfile, SelinuxProfile, AppArmorProfile } as const;
const OWNED_PREFIXES = ["spo.x-k8s.io/", `${ANNOTATION_PREFIX}/`];
/** Server-managed metadata never sent on create. */
const SERVER_FIELDS = [
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "selfLink",
  "namespace",
];

export class ProfileConflictError extends Error {
  constructor(
    readonly kind: ProfileKind,
    readonly profileName: string,
    readonly attempts: number,
  ) {
    super(`${kind} ${profileName}: still conflicting after ${attempts} attempts`);
    this.name = "ProfileConflictError";
  }
}

export class ProfileOwnershipError extends Error {
  constructor(
    readonly kind: ProfileKind,
    readonly profileName: string,
    readonly owner: string,
    readonly namespace: string,
  ) {
    super(
      `${kind} ${profileName} belongs to recordings of namespace "${owner}", not "${namespace}" (cluster-scoped name collision)`,
    );
    this.name = "ProfileOwnershipError";
  }
}

interface CommonOptions {
  /** Default "Cluster" (SPO's current layout). */
  scope?: ProfileScope | "Discover";
  /** Create/get/replace rounds before giving up with ProfileConflictError. Default 6. */
  maxAttempts?: number;
  /** Backoff between conflicting rounds: exponential from initialMs to maxMs, equal jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
  random?: () => number;
  /** List page size. Default 500. */
  pageSize?: number;
  /** Objects from the API that fail the profile schema (skipped by `list`). */
  onInvalid?: (obj: unknown, error: string) => void;
}
export type KubeProfileStoreOptions = CommonOptions &
  ({ kubeConfig: KubeConfig; client?: CustomObjectsApi } | { client: CustomObjectsApi });

const StatusBody = z.looseObject({ reason: z.string().optional(), message: z.string().optional() });
function failure(err: unknown): { code: number; reason: string } | undefined {
  if (!(err instanceof ApiException)) return undefined;
  let body: unknown = err.body;
  if (typeof body === "string")
    try {
      body = JSON.parse(body);
    } catch {
      body = {};
    }
  const s = StatusBody.safeParse(body);
  return {
    code: typeof err.code === "number" ? err.code : 0,
    reason: s.success ? (s.data.reason ?? "") : "",
  };
}

const Meta = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  resourceVersion: z.string().optional(),
  uid: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
const RawObject = z.looseObject({ metadata: Meta });
type RawObject = z.infer<typeof RawObject>;
const ListBody = z.looseObject({
  metadata: z.looseObject({ continue: z.string().optional() }).optional(),
  items: z.array(z.unknown()),
});
const ResourceList = z.looseObject({
  resources: z.array(z.looseObject({ name: z.string(), namespaced: z.boolean() })),
});

type Wire = Record<string, unknown>;

const owned = (key: string) => OWNED_PREFIXES.some((p) => key.startsWith(p));
/** Foreign keys of `stored` survive; owned keys come only from `ours`. */
function mergeOwned(
  stored: Readonly<Record<string, string>> | undefined,
  ours: Readonly<Record<string, string>> | undefined,
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(stored ?? {})) if (!owned(k)) out[k] = v;
  for (const [k, v] of Object.entries(ours ?? {})) out[k] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

export class KubeProfileStore implements ProfileStore {
  readonly #client: CustomObjectsApi;
  readonly #opts: CommonOptions;
  #scopes: Promise<Record<ProfileKind, ProfileScope>> | undefined;
  #invalid = 0;

  constructor(opts: KubeProfileStoreOptions) {
    this.#client =
      opts.client ?? ("kubeConfig" in opts ? opts.kubeConfig.makeApiClient(CustomObjectsApi) : opts.client);
    this.#opts = opts;
  }

  /** Objects skipped by `list`/`get` because they failed the profile schema. */
  get invalidSeen(): number {
    return this.#invalid;
  }

  /** The scope used for `kind` (after discovery, when configured). */
  async scopeOf(kind: ProfileKind): Promise<ProfileScope> {
    this.#scopes ??= this.#resolveScopes();
    try {
      return (await this.#scopes)[kind];
    } catch (err) {
      this.#scopes = undefined; // discovery failed: try again next call
      throw err;
    }
  }

  async put(namespace: string, profile: ProfileObject): Promise<ProfileObject> {
    const kind = profile.kind;
    const checked = SCHEMAS[kind].parse(profile);
    const scope = await this.scopeOf(kind);
    const name = checked.metadata.name;
    if (scope === "Namespaced") {
      if (namespace === "") throw new Error(`${kind} ${name}: a namespace is required (namespaced profiles)`);
      const own = checked.metadata.namespace;
      if (own !== undefined && own !== namespace)
        throw new Error(`${kind} ${name}: metadata.namespace "${own}" differs from "${namespace}"`);
    }
    const body = this.#desired(checked, scope, namespace);
    const attempts = this.#opts.maxAttempts ?? 6;
    let exists = false;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (!exists) {
        try {
          return this.#out(kind, await this.#create(kind, scope, namespace, body));
        } catch (err) {
          if (failure(err)?.code !== 409) throw err;
          exists = true;
        }
      }
      const stored = await this.#getRaw(kind, scope, namespace, name);
      if (stored === undefined) {
        exists = false; // deleted in between: create again
        continue;
      }
      if (stored.metadata.deletionTimestamp !== undefined) {
        // Finalizers hold it: wait for it to go, then create.
        await this.#sleep(attempt);
        continue;
      }
      this.#checkOwner(kind, scope, namespace, stored);
      try {
        return this.#out(kind, await this.#replace(kind, scope, namespace, this.#updated(stored, body)));
      } catch (err) {
        const f = failure(err);
        if (f?.code === 404) {
          exists = false;
          continue;
        }
        if (f?.code !== 409) throw err;
        await this.#sleep(attempt);
      }
    }
    throw new ProfileConflictError(kind, name, attempts);
  }

  async get(kind: ProfileKind, namespace: string, name: string): Promise<ProfileObject | undefined> {
    const scope = await this.scopeOf(kind);
    const raw = await this.#getRaw(kind, scope, namespace, name);
    if (raw === undefined || !this.#visible(scope, namespace, raw)) return undefined;
    return this.#out(kind, raw);
  }

  async list(
    kind: ProfileKind,
    namespace: string,
    labels: Record<string, string> = {},
  ): Promise<ProfileObject[]> {
    const scope = await this.scopeOf(kind);
    const selector: Record<string, string> = { ...labels };
    if (scope === "Cluster" && namespace !== "") {
      const given = selector[LABELS.recordingNamespace];
      if (given !== undefined && given !== namespace) return [];
      selector[LABELS.recordingNamespace] = namespace;
    }
    const labelSelector = Object.entries(selector)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    const out: ProfileObject[] = [];
    const base = {
      group: API_GROUP,
      version: PROFILE_VERSION,
      plural: PROFILE_PLURALS[kind],
      limit: this.#opts.pageSize ?? 500,
      ...(labelSelector === "" ? {} : { labelSelector }),
    };
    let cont: string | undefined;
    do {
      const page = { ...base, ...(cont === undefined ? {} : { _continue: cont }) };
      const raw: unknown =
        scope === "Cluster"
          ? await this.#client.listClusterCustomObject(page)
          : namespace === ""
            ? await this.#client.listCustomObjectForAllNamespaces(page)
            : await this.#client.listNamespacedCustomObject({ ...page, namespace });
      const body = ListBody.parse(raw);
      for (const item of body.items) {
        const p = SCHEMAS[kind].safeParse(item);
        if (p.success) out.push(p.data);
        else this.#reject(item, p.error.message);
      }
      cont = body.metadata?.continue || undefined;
    } while (cont !== undefined);
    return out;
  }

  async delete(kind: ProfileKind, namespace: string, name: string): Promise<void> {
    const scope = await this.scopeOf(kind);
    const ref = this.#ref(kind, name);
    let uid: string | undefined;
    if (scope === "Cluster" && namespace !== "") {
      const stored = await this.#getRaw(kind, scope, namespace, name);
      if (stored === undefined) return;
      this.#checkOwner(kind, scope, namespace, stored);
      uid = stored.metadata.uid;
    }
    // With a uid precondition a same-name object created since the ownership check survives.
    const body = uid === undefined ? {} : { body: { preconditions: { uid } } };
    try {
      if (scope === "Cluster") await this.#client.deleteClusterCustomObject({ ...ref, ...body });
      else await this.#client.deleteNamespacedCustomObject({ ...ref, namespace, ...body });
    } catch (err) {
      if (failure(err)?.code !== 404) throw err;
    }
  }

  // --- helpers -----------------------------------------------------------------------------------

  async #resolveScopes(): Promise<Record<ProfileKind, ProfileScope>> {
    const fixed = this.#opts.scope ?? "Cluster";
    if (fixed !== "Discover") return { SeccompProfile: fixed, SelinuxProfile: fixed, AppArmorProfile: fixed };
    const list = ResourceList.parse(
      await this.#client.getAPIResources({ group: API_GROUP, version: PROFILE_VERSION }),
    );
    const scopeOf = (kind: ProfileKind): ProfileScope => {
      const r = list.resources.find((x) => x.name === PROFILE_PLURALS[kind]);
      if (r === undefined)
        throw new Error(`${PROFILE_PLURALS[kind]}.${API_GROUP}/${PROFILE_VERSION} is not served`);
      return r.namespaced ? "Namespaced" : "Cluster";
    };
    return {
      SeccompProfile: scopeOf("SeccompProfile"),
      SelinuxProfile: scopeOf("SelinuxProfile"),
      AppArmorProfile: scopeOf("AppArmorProfile"),
    };
  }

  #ref(kind: ProfileKind, name: string) {
    return { group: API_GROUP, version: PROFILE_VERSION, plural: PROFILE_PLURALS[kind], name };
  }

  #desired(profile: ProfileObject, scope: ProfileScope, namespace: string): Wire {
    const metadata: Wire = { ...profile.metadata };
    for (const f of SERVER_FIELDS) delete metadata[f];
    if (scope === "Namespaced") metadata.namespace = namespace;
    return { apiVersion: profile.apiVersion, kind: profile.kind, metadata, spec: profile.spec };
  }

  /** The stored object with our spec and owned labels/annotations, identity untouched. */
  #updated(stored: RawObject, desired: Wire): Wire {
    const ours = Meta.partial().parse(desired.metadata);
    const metadata: Wire = { ...stored.metadata };
    const labels = mergeOwned(stored.metadata.labels, ours.labels);
    const annotations = mergeOwned(stored.metadata.annotations, ours.annotations);
    if (labels === undefined) delete metadata.labels;
    else metadata.labels = labels;
    if (annotations === undefined) delete metadata.annotations;
    else metadata.annotations = annotations;
    return { ...stored, apiVersion: desired.apiVersion, kind: desired.kind, metadata, spec: desired.spec };
  }

  async #create(kind: ProfileKind, scope: ProfileScope, namespace: string, body: Wire): Promise<unknown> {
    const ref = { group: API_GROUP, version: PROFILE_VERSION, plural: PROFILE_PLURALS[kind], body };
    return scope === "Cluster"
      ? this.#client.createClusterCustomObject(ref)
      : this.#client.createNamespacedCustomObject({ ...ref, namespace });
  }

  async #replace(kind: ProfileKind, scope: ProfileScope, namespace: string, body: Wire): Promise<unknown> {
    const name = RawObject.parse(body).metadata.name;
    const ref = { ...this.#ref(kind, name), body };
    return scope === "Cluster"
      ? this.#client.replaceClusterCustomObject(ref)
      : this.#client.replaceNamespacedCustomObject({ ...ref, namespace });
  }

  async #getRaw(
    kind: ProfileKind,
    scope: ProfileScope,
    namespace: string,
    name: string,
  ): Promise<RawObject | undefined> {
    const ref = this.#ref(kind, name);
    try {
      const raw: unknown =
        scope === "Cluster"
          ? await this.#client.getClusterCustomObject(ref)
          : await this.#client.getNamespacedCustomObject({ ...ref, namespace });
      return RawObject.parse(raw);
    } catch (err) {
      if (failure(err)?.code === 404) return undefined;
      throw err;
    }
  }

  #visible(scope: ProfileScope, namespace: string, raw: RawObject): boolean {
    if (scope !== "Cluster" || namespace === "") return true;
    const owner = raw.metadata.labels?.[LABELS.recordingNamespace];
    return owner === undefined || owner === namespace;
  }

  #checkOwner(kind: ProfileKind, scope: ProfileScope, namespace: string, raw: RawObject): void {
    if (this.#visible(scope, namespace, raw)) return;
    throw new ProfileOwnershipError(
      kind,
      raw.metadata.name,
      raw.metadata.labels?.[LABELS.recordingNamespace] ?? "",
      namespace,
    );
  }

  #out(kind: ProfileKind, raw: unknown): ProfileObject {
    const p = SCHEMAS[kind].safeParse(raw);
    if (p.success) return p.data;
    this.#reject(raw, p.error.message);
    throw new Error(`${kind} from the API server failed validation: ${p.error.message}`);
  }

  #reject(obj: unknown, error: string): void {
    this.#invalid += 1;
    this.#opts.onInvalid?.(obj, error);
  }

  #sleep(attempt: number): Promise<void> {
    const initial = this.#opts.backoff?.initialMs ?? 25;
    const max = this.#opts.backoff?.maxMs ?? 2_000;
    const ceiling = Math.min(max, initial * 2 ** (attempt - 1));
    const ms = ceiling / 2 + ((this.#opts.random ?? Math.random)() * ceiling) / 2;
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}
