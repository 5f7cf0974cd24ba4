import { z } from "zod";

/**
 * Host mode: one Linux host without Kubernetes (docker-compose.yml, scripts/single-host).
 * ProfileRecordings come from the manifests in SECPROF_RECORDINGS_DIR instead of the Kubernetes
 * API. It is chosen when SECPROF_RECORDINGS_DIR is set and no Kubernetes API is configured
 * (neither KUBECONFIG nor the in-cluster KUBERNETES_SERVICE_HOST); both at once is a startup
 * error rather than a silent choice, since the two modes read recordings from different places.
 */
export const HostModeConfig = z.object({
  SECPROF_RECORDINGS_DIR: z.string().min(1),
  /** Periodic rescan of the recordings directory (fs.watch catches most changes sooner). */
  SECPROF_RECORDINGS_RESCAN_MS: z.coerce.number().int().positive().default(5000),
});
export type HostModeConfig = z.infer<typeof HostModeConfig>;

/** Whether the environment selects host mode; throws when it names both modes. */
export function hostMode(env: NodeJS.ProcessEnv): boolean {
  const dir = (env.SECPROF_RECORDINGS_DIR ?? "") !== "";
  const kube = (env.KUBECONFIG ?? "") !== "" || (env.KUBERNETES_SERVICE_HOST ?? "") !== "";
  if (dir && kube)
    throw new Error(
      "invalid configuration: SECPROF_RECORDINGS_DIR (host mode) and a Kubernetes API (KUBECONFIG or in-cluster) are both set; unset one",
    );
  return dir;
}
