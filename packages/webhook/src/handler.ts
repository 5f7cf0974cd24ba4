import { mutatePod, type PodSpecLike, type ProfileRecording } from "@secprof/core";
import { type AdmissionResponse, AdmissionReviewRequest, PodObject } from "./admission-review.js";

export interface NamespaceView {
  labels: Record<string, string>;
  recordings: ProfileRecording[];
}

export interface HandlerDeps {
  /** Current ProfileRecordings and labels of a namespace (from an informer cache). */
  namespace: (ns: string) => NamespaceView | undefined;
  /** Reports who a mutation touched (events on the recordings, metrics). */
  onMutation?: (ns: string, recordings: string[], warnings: string[]) => void;
}

const MAX_BODY = 3 * 1024 * 1024;
export const maxBody = MAX_BODY;

/**
 * One AdmissionReview in, one out. The webhook never blocks a pod: anything it cannot read or
 * does not select is allowed unchanged (failurePolicy decides what happens if it is down).
 */
export function review(body: unknown, deps: HandlerDeps): AdmissionResponse | { error: string } {
  const req = AdmissionReviewRequest.safeParse(body);
  if (!req.success)
    return { error: `not an AdmissionReview v1: ${req.error.issues[0]?.message ?? "invalid"}` };
  const { uid, operation, namespace, object } = req.data.request;
  const allow = (extra: Partial<AdmissionResponse["response"]> = {}): AdmissionResponse => ({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: { uid, allowed: true, ...extra },
  });
  if (operation !== "CREATE" || namespace === undefined) return allow();
  const pod = PodObject.safeParse(object);
  const view = deps.namespace(namespace);
  if (!pod.success || view === undefined) return allow();
  const m = mutatePod(view.recordings, view.labels, pod.data as PodSpecLike);
  if (m.recordings.length === 0) return allow();
  deps.onMutation?.(namespace, m.recordings, m.warnings);
  const warnings = m.warnings.length > 0 ? { warnings: m.warnings } : {};
  if (m.patch.length === 0) return allow(warnings);
  return allow({
    patchType: "JSONPatch",
    patch: Buffer.from(JSON.stringify(m.patch)).toString("base64"),
    ...warnings,
  });
}
