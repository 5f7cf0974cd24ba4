import { randomBytes, randomUUID } from "node:crypto";
import { runcBundle } from "@secprof/recorder";
import { TRACE_SECCOMP } from "./cluster.js";
import { run } from "./procs.js";

/**
 * A container as host mode sees one (README, "Host mode"): run by runc under its own `--root`
 * (the recorder's SECPROF_RUNC_ROOTS), in a kubelet-like cgroup path that names a 64-hex id,
 * under the trace seccomp profile, with its pod facts in OCI annotations. Resolves when it exited
 * and runc removed its state.
 */
export async function runHostContainer(o: {
  runcRoot: string;
  namespace: string;
  pod: string;
  /** Becomes the pod label `app` (annotation `secprof.io/label.app`). */
  app: string;
  script: string;
}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const id = randomBytes(32).toString("hex");
  const runcId = `host-${id.slice(0, 12)}`;
  const bundle = await runcBundle(["/bin/sh", "-c", o.script], {
    seccomp: TRACE_SECCOMP,
    cgroupsPath: `/kubepods/besteffort/pod${randomUUID()}/${id}`,
    id: runcId,
    annotations: {
      "io.kubernetes.pod.namespace": o.namespace,
      "io.kubernetes.pod.name": o.pod,
      "io.kubernetes.container.name": "app",
      "secprof.io/label.app": o.app,
    },
  });
  try {
    return await run("runc", ["--root", o.runcRoot, "run", "--bundle", bundle.dir, runcId]);
  } finally {
    await run("runc", ["--root", o.runcRoot, "delete", "--force", runcId]);
    await bundle.cleanup();
  }
}

/** A v1 ProfileRecording manifest recording the SeccompProfile of pods labelled `app` (Logs). */
export const recordingManifest = (
  namespace: string,
  name: string,
  app: string,
  mergeStrategy: "None" | "Containers" = "None",
) => `apiVersion: security-profiles-operator.x-k8s.io/v1
kind: ProfileRecording
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  kind: SeccompProfile
  recorder: Logs
  mergeStrategy: ${mergeStrategy}
  podSelector:
    matchLabels:
      app: ${app}
`;
