import { z } from "zod";

/** The part of an AdmissionReview v1 request the webhook reads; everything else passes through. */
export const AdmissionReviewRequest = z.object({
  apiVersion: z.literal("admission.k8s.io/v1"),
  kind: z.literal("AdmissionReview"),
  request: z.object({
    uid: z.string().min(1).max(128),
    operation: z.enum(["CREATE", "UPDATE", "DELETE", "CONNECT"]),
    namespace: z.string().max(63).optional(),
    object: z.unknown().optional(),
  }),
});
export type AdmissionReviewRequest = z.infer<typeof AdmissionReviewRequest>;

export const PodObject = z.looseObject({
  metadata: z.looseObject({
    name: z.string().optional(),
    generateName: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.looseObject({
    containers: z.array(z.looseObject({ name: z.string(), securityContext: z.looseObject({}).optional() })),
    initContainers: z
      .array(z.looseObject({ name: z.string(), securityContext: z.looseObject({}).optional() }))
      .optional(),
  }),
});

export interface AdmissionResponse {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  response: {
    uid: string;
    allowed: boolean;
    patchType?: "JSONPatch";
    patch?: string;
    warnings?: string[];
    status?: { message: string };
  };
}
