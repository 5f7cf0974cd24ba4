import { z } from "zod";

/**
 * The installer daemon's configuration: environment variables only (deploy/, docker-compose and
 * scripts read this list). Every variable, by mode:
 *
 * Both modes
 * - SECPROF_MODE            `cluster` (default) or `single-host`.
 * - NODE_NAME              this node's name (cluster: required, from the downward API;
 *                          single-host: default the hostname). Used in statuses and finalizers.
 * - SECPROF_HOST_ROOT      host root the profile paths are under (default `/`; `/host` style
 *                          roots work too). Files go only to <root>/<kubelet>/seccomp/operator,
 *                          <root>/etc/apparmor.d and <root>/etc/selinux.d.
 * - SECPROF_SECCOMP_LAYOUT `namespaced` (default: operator/<ns>/<name>.json) or `cluster`
 *                          (SPO's cluster-scoped layout: operator/<name>.json).
 * - SECPROF_KUBELET_DIR    kubelet root relative to the host root (default `var/lib/kubelet`).
 * - SECPROF_SECCOMP_POLICY optional JSON/YAML file with the cluster-wide seccomp policy
 *                          (`allowedSyscalls`, `allowedActions`).
 * - SECPROF_APPLY_SOCKET   optional unix socket of `installer-apply` (the privileged step). Set:
 *                          AppArmor/SELinux files are handed to it (it re-validates, writes and
 *                          loads them); this process then needs no access to /etc/apparmor.d or
 *                          /etc/selinux.d. Unset: done in-process (needs root for those kinds).
 * - SECPROF_STATE_FILE     optional JSON file keeping what this installer installed across
 *                          restarts (single-host default: <dir>/.secprof/install-state.json, or
 *                          install-state.json next to SECPROF_APPROVAL_STORE with the merger;
 *                          cluster default: in memory; the per-node finalizers keep deletions safe
 *                          across restarts anyway).
 * - SECPROF_METRICS_PORT   /metrics, /healthz, /readyz port (default 9104; 0 = any free port).
 * - SECPROF_METRICS_HOST   bind address (default 0.0.0.0).
 * - SECPROF_RESYNC_MS      full reconcile at least this often (default 60000) besides watch events;
 *                          in single-host mode the polling interval (default 10000).
 *
 * Cluster mode: the kubeconfig comes from the usual places (in-cluster service account, KUBECONFIG).
 *
 * Single-host mode (one of the two sources):
 * - SECPROF_PROFILE_DIR    directory of profile CR YAML (as for `secprof install DIR`).
 * - SECPROF_MERGER_URL     the merger's API (e.g. http://merger:8080); profiles are read from
 *                          `GET /v1/recordings` and `GET /v1/recordings/<ns>/<name>/profiles`.
 * - SECPROF_API_TOKEN      bearer token for SECPROF_MERGER_URL (required with it).
 * - SECPROF_APPROVAL_STORE local approval store (`secprof approve` writes it; default
 *                          <SECPROF_PROFILE_DIR>/.secprof/approvals.json; required with the merger).
 */

const port = z.coerce.number().int().min(0).max(65535);
const optionalPath = z
  .string()
  .optional()
  .transform((v) => (v === "" ? undefined : v));

export const InstallerConfig = z
  .object({
    SECPROF_MODE: z.enum(["cluster", "single-host"]).default("cluster"),
    NODE_NAME: z.string().max(253).optional(),
    SECPROF_HOST_ROOT: z.string().min(1).default("/"),
    SECPROF_SECCOMP_LAYOUT: z.enum(["namespaced", "cluster"]).default("namespaced"),
    SECPROF_KUBELET_DIR: z.string().min(1).default("var/lib/kubelet"),
    SECPROF_SECCOMP_POLICY: optionalPath,
    SECPROF_APPLY_SOCKET: optionalPath,
    SECPROF_STATE_FILE: optionalPath,
    SECPROF_METRICS_PORT: port.default(9104),
    SECPROF_METRICS_HOST: z.string().default("0.0.0.0"),
    SECPROF_RESYNC_MS: z.coerce.number().int().min(100).optional(),
    SECPROF_PROFILE_DIR: optionalPath,
    SECPROF_MERGER_URL: z.url().optional(),
    SECPROF_API_TOKEN: z.string().min(16, "SECPROF_API_TOKEN must be at least 16 characters").optional(),
    SECPROF_APPROVAL_STORE: optionalPath,
    /**
     * `on` on nodes that record: the trace profile the webhook gives Logs-recorded containers
     * (core's TRACE_SECCOMP at `operator/secprof-trace.json`) is kept installed. Off elsewhere: any
     * pod could name this log-only profile to run without seccomp restrictions.
     */
    SECPROF_TRACE_PROFILE: z.enum(["on", "off"]).default("off"),
  })
  .superRefine((c, ctx) => {
    const fail = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (c.SECPROF_MODE === "cluster" && c.NODE_NAME === undefined)
      fail("NODE_NAME", "required in cluster mode (downward API spec.nodeName)");
    if (c.SECPROF_MODE !== "single-host") return;
    if ((c.SECPROF_PROFILE_DIR === undefined) === (c.SECPROF_MERGER_URL === undefined))
      fail(
        "SECPROF_PROFILE_DIR",
        "single-host mode needs exactly one of SECPROF_PROFILE_DIR or SECPROF_MERGER_URL",
      );
    if (c.SECPROF_MERGER_URL !== undefined && c.SECPROF_API_TOKEN === undefined)
      fail("SECPROF_API_TOKEN", "required with SECPROF_MERGER_URL");
    if (c.SECPROF_MERGER_URL !== undefined && c.SECPROF_APPROVAL_STORE === undefined)
      fail("SECPROF_APPROVAL_STORE", "required with SECPROF_MERGER_URL");
  });
export type InstallerConfig = z.infer<typeof InstallerConfig>;
