/** SPO's labels on recorded profiles (spo.md §1.6), kept so SPO users' selectors keep working. */
export const LABELS = {
  recordingId: "spo.x-k8s.io/recording-id",
  containerId: "spo.x-k8s.io/container-id",
  recordingNamespace: "spo.x-k8s.io/recording-namespace",
  partial: "spo.x-k8s.io/partial",
} as const;

export const COVERAGE_ANNOTATION = "spo.x-k8s.io/syscall-coverage";

/**
 * The replica suffix of a pod created from `generateName` (e.g. `web-7d9f-gmbrj` with
 * generateName `web-7d9f-` → `gmbrj`); empty for fixed-name pods.
 */
export function replicaSuffix(podName: string, generateName: string | undefined): string {
  if (generateName === undefined || generateName.length === 0 || !podName.startsWith(generateName)) return "";
  return podName.slice(generateName.length);
}

/**
 * `<recording>-<container>` or, for replicas, `<recording>-<container>-<suffix>`. With
 * mergeStrategy Containers every instance is a partial, and a fixed-name pod gets the pod name as
 * its suffix so that no partial can ever carry the merged profile's name (SPO #3328).
 */
export function profileNameFor(recording: string, container: string, replica: string): string {
  return replica.length > 0 ? `${recording}-${container}-${replica}` : `${recording}-${container}`;
}

export function mergedProfileName(recording: string, container: string): string {
  return `${recording}-${container}`;
}
