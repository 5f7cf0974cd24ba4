import type { LabelSelector } from "../schemas/kube.js";
import { invalidCombination, type ProfileRecording } from "../schemas/recording.js";

/** Namespaces opt in to recording with this label (its value is not checked, as in SPO). */
export const ENABLE_RECORDING_LABEL = "spo.x-k8s.io/enable-recording";

export function labelSelectorMatches(sel: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const req of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key);
    const value = labels[req.key];
    const values = req.values ?? [];
    switch (req.operator) {
      case "In":
        if (!has || value === undefined || !values.includes(value)) return false;
        break;
      case "NotIn":
        if (has && value !== undefined && values.includes(value)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

export interface PodFacts {
  namespaceLabels: Readonly<Record<string, string>>;
  labels: Readonly<Record<string, string>>;
  /** Init containers first, then regular containers (SPO's order). */
  containers: readonly string[];
}

export type Selection =
  | { selected: true; containers: string[] }
  | {
      selected: false;
      reason: "namespace_not_enabled" | "selector_mismatch" | "no_container" | "invalid_recording";
      detail?: string;
    };

/** Which of a pod's containers a recording records (spo.md §1.1, §1.4). */
export function select(rec: ProfileRecording, pod: PodFacts): Selection {
  const invalid = invalidCombination(rec.spec);
  if (invalid !== undefined) return { selected: false, reason: "invalid_recording", detail: invalid };
  if (!Object.hasOwn(pod.namespaceLabels, ENABLE_RECORDING_LABEL))
    return { selected: false, reason: "namespace_not_enabled" };
  if (!labelSelectorMatches(rec.spec.podSelector, pod.labels))
    return { selected: false, reason: "selector_mismatch" };
  const wanted = rec.spec.containers;
  const containers =
    wanted === undefined ? [...pod.containers] : pod.containers.filter((c) => wanted.includes(c));
  return containers.length > 0 ? { selected: true, containers } : { selected: false, reason: "no_container" };
}
