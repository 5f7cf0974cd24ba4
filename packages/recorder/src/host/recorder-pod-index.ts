import type { PodFacts, PodIndex } from "@secprof/core";
import type { KubePodInfo, PodEnd } from "../kube/pod-index.js";

/**
 * What the recorder's composition root uses of a pod index: the attribution port plus selection
 * facts, replica names and pod ends. `KubePodIndex` (Kubernetes API) and `RuncPodIndex` (host
 * mode) both provide it.
 */
export interface RecorderPodIndex extends PodIndex {
  start(): Promise<void>;
  stop(): Promise<void>;
  pod(namespace: string, name: string): KubePodInfo | undefined;
  podFacts(namespace: string, name: string): PodFacts | undefined;
  onPodEnded(listener: (pod: KubePodInfo, end: PodEnd) => void): () => void;
}
