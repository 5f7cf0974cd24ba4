import type { CoreV1Api, V1Pod } from "@kubernetes/client-node";

/** Reports the pod's container `app` running as `containerd://<id>` (what the kubelet does after starting it). */
export async function reportRunning(core: CoreV1Api, pod: V1Pod, id: string): Promise<void> {
  await core.replaceNamespacedPodStatus({
    namespace: pod.metadata?.namespace ?? "",
    name: pod.metadata?.name ?? "",
    body: {
      ...pod,
      status: {
        phase: "Running",
        containerStatuses: [
          {
            name: "app",
            containerID: `containerd://${id}`,
            image: "host",
            imageID: "",
            ready: true,
            restartCount: 0,
          },
        ],
      },
    },
  });
}
