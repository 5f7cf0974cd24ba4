import { z } from "zod";
import { ObjectName } from "./names.js";

export const API_GROUP = "security-profiles-operator.x-k8s.io";
export const API_VERSION = `${API_GROUP}/v1`;

const labelValue = z.string().max(63);
export const ObjectMeta = z.looseObject({
  name: ObjectName,
  namespace: z.string().max(63).optional(),
  labels: z.record(z.string().max(317), labelValue).optional(),
  annotations: z.record(z.string().max(317), z.string()).optional(),
  resourceVersion: z.string().optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  finalizers: z.array(z.string()).optional(),
  deletionTimestamp: z.string().optional(),
  creationTimestamp: z.string().optional(),
});

export const LabelSelectorRequirement = z.object({
  key: z.string().max(317),
  operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
  values: z.array(z.string()).optional(),
});
export const LabelSelector = z.object({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z.array(LabelSelectorRequirement).optional(),
});
export type LabelSelector = z.infer<typeof LabelSelector>;
