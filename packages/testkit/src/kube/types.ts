import { z } from "zod";

/** Boundary shape of any object a client sends: loose, so unknown fields survive round trips. */
export const ObjectMetaSchema = z.looseObject({
  name: z.string().optional(),
  generateName: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  deletionGracePeriodSeconds: z.number().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
});

export const KObjectSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema.default({}),
});

export type ObjectMeta = z.infer<typeof ObjectMetaSchema>;
export type KObject = z.infer<typeof KObjectSchema>;

/** One API resource as served at /api(s)/<group>/<version>/<plural>. `group` is "" for core/v1. */
export interface KindSpec {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  statusSubresource?: boolean;
  shortNames?: string[];
  /** Fields usable in fieldSelector besides metadata.name/metadata.namespace (the real server rejects others). */
  selectableFields?: string[];
  /** Extra admission check: a message makes create/update/patch fail with 422 Invalid. */
  validate?: (obj: KObject) => string | undefined;
}

/** What the request log keeps of each call: the RBAC-relevant attributes plus who made it. */
export interface RequestRecord {
  verb: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** Set (and the resource fields empty) for discovery/health paths, like RBAC nonResourceURLs. */
  nonResourceURL: string;
  user: string;
  userAgent: string;
  method: string;
  path: string;
  code: number;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
