/** The cluster side of the benches that run daemons against the fake API server. */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { SPO_GROUP } from "../../packages/testkit/src/kube/kinds.js";

/**
 * A namespace labelled for recording and a Logs SeccompProfile recording in it that selects the
 * pods labelled `app`; returns the clients the bench goes on with.
 */
export async function recordingNamespace(
  kc: KubeConfig,
  o: { namespace: string; recording: string; app: string; mergeStrategy?: "None" | "Containers" },
): Promise<{ core: CoreV1Api; custom: CustomObjectsApi }> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  await core.createNamespace({
    body: { metadata: { name: o.namespace, labels: { "spo.x-k8s.io/enable-recording": "true" } } },
  });
  await custom.createNamespacedCustomObject({
    group: SPO_GROUP,
    version: "v1",
    namespace: o.namespace,
    plural: "profilerecordings",
    body: {
      apiVersion: `${SPO_GROUP}/v1`,
      kind: "ProfileRecording",
      metadata: { name: o.recording },
      spec: {
        kind: "SeccompProfile",
        recorder: "Logs",
        ...(o.mergeStrategy === undefined ? {} : { mergeStrategy: o.mergeStrategy }),
        podSelector: { matchLabels: { app: o.app } },
      },
    },
  });
  return { core, custom };
}
