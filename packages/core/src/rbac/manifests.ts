/**
 * The deploy/ tree as data: one source for the generator (scripts/gen-deploy.mjs), the drift
 * test and the security-model test. Pure: returns objects; the generator serialises them.
 */
import { CRD_SOURCES, renderCrd } from "./crds.js";
import { NAMESPACE, rbacFor } from "./rbac.js";
import { COMPONENTS } from "./table.js";

export type Obj = Record<string, unknown>;
export const IMAGE = "secprof:latest";
const REDIS_IMAGE = "redis:7.2-alpine";
const REDIS_URL = `redis://secprof-redis.${NAMESPACE}.svc:6379`;
const UID = 65535;

const labels = (component: string) => ({
  "app.kubernetes.io/name": "secprof",
  "app.kubernetes.io/component": component,
});
const selector = (component: string) => ({ matchLabels: labels(component) });
const meta = (name: string, component: string) => ({ name, namespace: NAMESPACE, labels: labels(component) });

const dropAll = { drop: ["ALL"] };
/** The hardened container context every non-privileged secprof container starts from. */
export const hardened = (uid = UID) => ({
  runAsNonRoot: true,
  runAsUser: uid,
  runAsGroup: uid,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: dropAll,
  seccompProfile: { type: "RuntimeDefault" },
});
const probes = (port: number, scheme: "HTTP" | "HTTPS" = "HTTP") => ({
  livenessProbe: { httpGet: { path: "/healthz", port, scheme }, periodSeconds: 10, failureThreshold: 3 },
  readinessProbe: { httpGet: { path: "/readyz", port, scheme }, periodSeconds: 5, failureThreshold: 2 },
});
const resources = (cpu: string, mem: string, memLimit: string) => ({
  requests: { cpu, memory: mem },
  limits: { memory: memLimit },
});
const env = (vars: Record<string, string>) => Object.entries(vars).map(([name, value]) => ({ name, value }));
const nodeName = { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } };
const hostPath = (name: string, path: string, type: string) => ({ name, hostPath: { path, type } });
/**
 * V8 flags of every daemon (bench/daemon-memory.ts measures them; `--node-flags` there compares):
 * a 1 MiB semi-space instead of V8's 16 (young garbage is collected sooner instead of filling 3 x 16
 * MiB of pages), and V8's size-over-speed heuristics. On the command line: NODE_OPTIONS refuses
 * --optimize-for-size, and flags there would also reach the programs the daemons start.
 */
export const NODE_FLAGS = ["--max-semi-space-size=1", "--optimize-for-size"] as const;
/**
 * Environment of every daemon (the image sets it, scripts/single-host too: dockerfile.test.ts checks
 * both; benches and e2e launchers spread it). glibc malloc tuned for a small, steady RSS:
 * - one arena instead of up to 8 per core (one per contending thread: libuv's pool, V8's workers),
 *   each keeping its own freed memory;
 * - fixed mmap and trim thresholds (128 KiB): glibc otherwise raises the mmap threshold to the size
 *   of the largest block freed (up to 32 MiB), after which big short-lived blocks (V8 compiler zones,
 *   read buffers) come from the heap and stay there. Without this, the recorder's idle RSS was one of
 *   two values run to run, 8 MiB apart.
 * bench/cluster-node.ts, 1 000 containers, 4 runs each, peak under load: arena 2 → 86.7-95.2 MiB;
 * arena 1 → 85.3-91.9; arena 1 + thresholds → 83.9-90.0, recorder CPU a line unchanged (21-24 µs).
 */
export const DAEMON_ENV = {
  MALLOC_ARENA_MAX: "1",
  MALLOC_MMAP_THRESHOLD_: "131072",
  MALLOC_TRIM_THRESHOLD_: "131072",
} as const;
/** Container memory limits, MiB, per daemon entry (also the V8 heap limits below). */
export const MEMORY_LIMIT_MIB = {
  recorder: 256,
  merger: 512,
  webhook: 128,
  installer: 256,
  "installer-init": 128,
  "installer-apply": 256,
} as const;
/**
 * V8's old-space limit for a container memory limit: 3/4 of it, the rest left to code, native
 * buffers and the young generation. V8 then collects harder before the kernel would kill the
 * container, and a leak ends with V8's heap out-of-memory report instead of a silent OOM kill.
 */
export const heapLimitMiB = (limitMiB: number) => Math.floor((limitMiB * 3) / 4);
/** The daemon's command: its bundle (scripts/bundle.mjs) with the flags above. */
export const daemonCommand = (pkg: string, entry: string, limitMiB: number) => [
  "node",
  ...NODE_FLAGS,
  `--max-old-space-size=${heapLimitMiB(limitMiB)}`,
  `packages/${pkg}/dist/bundled/${entry}.mjs`,
];
const limit = (name: keyof typeof MEMORY_LIMIT_MIB) => `${MEMORY_LIMIT_MIB[name]}Mi`;
const nodeTolerations = [{ operator: "Exists", effect: "NoSchedule" }];

/** Host paths the installer may write: exactly these three. */
export const INSTALLER_WRITABLE_HOST_PATHS = [
  "/var/lib/kubelet/seccomp",
  "/etc/selinux.d",
  "/etc/apparmor.d",
] as const;
/** Host paths the recorder reads (read-only mounts) and its own state dir (read-write). */
export const RECORDER_READONLY_HOST_PATHS = [
  "/var/log/audit",
  "/proc",
  "/sys/kernel/tracing",
  "/sys/kernel/btf",
] as const;
export const RECORDER_STATE_DIR = "/var/lib/secprof/recorder";

function recorder(): Obj {
  const ro = RECORDER_READONLY_HOST_PATHS.map((p, i) => ({ name: `ro-${i}`, path: p }));
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: meta("secprof-recorder", "recorder"),
    spec: {
      selector: selector("recorder"),
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "10%" } },
      template: {
        metadata: { labels: labels("recorder") },
        spec: {
          serviceAccountName: "secprof-recorder",
          automountServiceAccountToken: true,
          priorityClassName: "system-node-critical",
          tolerations: nodeTolerations,
          containers: [
            {
              name: "recorder",
              image: IMAGE,
              command: daemonCommand("recorder", "main", MEMORY_LIMIT_MIB.recorder),
              env: [
                nodeName,
                ...env({
                  SECPROF_REDIS_URL: REDIS_URL,
                  SECPROF_AUDIT_LOG: "/var/log/audit/audit.log",
                  SECPROF_PROC_ROOT: "/host/proc",
                  SECPROF_CHECKPOINT: "/var/lib/secprof/checkpoint.json",
                  SECPROF_SPOOL: "/var/lib/secprof/spool.ndjson",
                  SECPROF_METRICS_PORT: "9101",
                  // Both recorders: a ProfileRecording chooses one (`recorder: Logs|Bpf`).
                  SECPROF_RECORDERS: "logs,bpf",
                }),
              ],
              ports: [{ name: "metrics", containerPort: 9101 }],
              // Base: no root, no hostPID, no privilege. The record overlay adds them.
              securityContext: hardened(),
              resources: resources("50m", "64Mi", limit("recorder")),
              ...probes(9101),
              volumeMounts: [
                { name: "ro-0", mountPath: "/var/log/audit", readOnly: true },
                { name: "ro-1", mountPath: "/host/proc", readOnly: true },
                { name: "ro-2", mountPath: "/sys/kernel/tracing", readOnly: true },
                { name: "ro-3", mountPath: "/sys/kernel/btf", readOnly: true },
                { name: "state", mountPath: "/var/lib/secprof" },
              ],
            },
          ],
          volumes: [
            ...ro.map((v) => hostPath(v.name, v.path, "Directory")),
            hostPath("state", RECORDER_STATE_DIR, "DirectoryOrCreate"),
          ],
        },
      },
    },
  };
}

/**
 * The record overlay's installer patch: recording nodes keep the trace profile the webhook names
 * installed. Not in the base: on other nodes any pod could name that log-only profile to run
 * without seccomp restrictions.
 */
export function installerTraceProfilePatch(): Obj {
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "secprof-installer", namespace: NAMESPACE },
    spec: {
      template: {
        spec: { containers: [{ name: "installer", env: [{ name: "SECPROF_TRACE_PROFILE", value: "on" }] }] },
      },
    },
  };
}

/** The record overlay's patch: recording needs root, the host PID namespace and privilege. */
export function recorderPrivilegedPatch(): Obj {
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "secprof-recorder", namespace: NAMESPACE },
    spec: {
      template: {
        spec: {
          hostPID: true,
          containers: [
            {
              name: "recorder",
              securityContext: {
                privileged: true,
                runAsNonRoot: false,
                runAsUser: 0,
                runAsGroup: 0,
                allowPrivilegeEscalation: true,
                seccompProfile: { type: "Unconfined" },
              },
            },
          ],
        },
      },
    },
  };
}

/**
 * The installer's privilege split (docs/security-model.md, "Installer privilege split"):
 * - `prepare-dirs` (init, root, CHOWN/FOWNER/FSETID/DAC_OVERRIDE only): hands the seccomp
 *   operator directory to uid 65535 and makes the apply socket directory 0750 root:65535;
 * - `installer` (uid 65535, no capabilities): the daemon; writes seccomp files itself, never
 *   mounts /etc/apparmor.d or /etc/selinux.d;
 * - `installer-apply` (root, no capabilities, no API credentials): re-validates and writes
 *   AppArmor/SELinux files the daemon hands over on the socket, loads them when it can.
 */
const APPLY_SOCKET = "/run/secprof/apply.sock";
const INSTALLER_PORT = 9104;
function installer(): Obj {
  const [seccompPath, selinuxPath, apparmorPath] = INSTALLER_WRITABLE_HOST_PATHS;
  const host = (path: (typeof INSTALLER_WRITABLE_HOST_PATHS)[number]) => ({
    name: `host-${INSTALLER_WRITABLE_HOST_PATHS.indexOf(path)}`,
    mountPath: path,
  });
  const run = { name: "run", mountPath: "/run/secprof" };
  const tmp = { name: "tmp", mountPath: "/tmp" };
  const common = env({ SECPROF_HOST_ROOT: "/", SECPROF_APPLY_SOCKET: APPLY_SOCKET });
  const root = {
    runAsNonRoot: false,
    runAsUser: 0,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    seccompProfile: { type: "RuntimeDefault" },
  };
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: meta("secprof-installer", "installer"),
    spec: {
      selector: selector("installer"),
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "10%" } },
      template: {
        metadata: { labels: labels("installer") },
        spec: {
          serviceAccountName: "secprof-installer",
          priorityClassName: "system-node-critical",
          tolerations: nodeTolerations,
          initContainers: [
            {
              // packages/installer/src/init-main.ts: hands <kubelet>/seccomp/operator to uid 65535.
              name: "prepare-dirs",
              image: IMAGE,
              command: daemonCommand("installer", "init-main", MEMORY_LIMIT_MIB["installer-init"]),
              env: [
                ...common,
                ...env({ SECPROF_INSTALLER_UID: String(UID), SECPROF_INSTALLER_GID: String(UID) }),
              ],
              securityContext: {
                ...root,
                capabilities: { drop: ["ALL"], add: ["CHOWN", "FOWNER", "FSETID", "DAC_OVERRIDE"] },
              },
              resources: resources("10m", "32Mi", limit("installer-init")),
              // Only the seccomp directory and the socket directory: nothing else changes owner.
              volumeMounts: [host(seccompPath), run],
            },
          ],
          containers: [
            {
              name: "installer",
              image: IMAGE,
              command: daemonCommand("installer", "main", MEMORY_LIMIT_MIB.installer),
              env: [
                nodeName,
                ...common,
                ...env({ SECPROF_MODE: "cluster", SECPROF_METRICS_PORT: String(INSTALLER_PORT) }),
              ],
              ports: [{ name: "metrics", containerPort: INSTALLER_PORT }],
              securityContext: hardened(),
              resources: resources("20m", "64Mi", limit("installer")),
              ...probes(INSTALLER_PORT),
              volumeMounts: [host(seccompPath), run, tmp],
            },
            {
              name: "installer-apply",
              image: IMAGE,
              command: daemonCommand("installer", "apply-main", MEMORY_LIMIT_MIB["installer-apply"]),
              env: common,
              securityContext: { ...root, capabilities: dropAll },
              resources: resources("10m", "32Mi", limit("installer-apply")),
              volumeMounts: [host(apparmorPath), host(selinuxPath), run, tmp],
            },
          ],
          volumes: [
            ...INSTALLER_WRITABLE_HOST_PATHS.map((p, i) => hostPath(`host-${i}`, p, "DirectoryOrCreate")),
            { name: "run", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
            { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
          ],
        },
      },
    },
  };
}

function deployment(component: "merger" | "webhook"): Obj {
  const isMerger = component === "merger";
  const container = {
    name: component,
    image: IMAGE,
    command: daemonCommand(component, "main", MEMORY_LIMIT_MIB[component]),
    env: isMerger
      ? [
          ...env({ SECPROF_REDIS_URL: REDIS_URL }),
          {
            name: "SECPROF_API_TOKEN",
            valueFrom: { secretKeyRef: { name: "secprof-api-token", key: "token" } },
          },
          ...env({ SECPROF_API_PORT: "8080", SECPROF_METRICS_PORT: "9102" }),
        ]
      : env({
          SECPROF_TLS_CERT: "/etc/secprof/tls/tls.crt",
          SECPROF_TLS_KEY: "/etc/secprof/tls/tls.key",
          SECPROF_WEBHOOK_PORT: "9443",
          SECPROF_METRICS_PORT: "9103",
        }),
    ports: isMerger
      ? [
          { name: "api", containerPort: 8080 },
          { name: "metrics", containerPort: 9102 },
        ]
      : [
          { name: "webhook", containerPort: 9443 },
          { name: "metrics", containerPort: 9103 },
        ],
    securityContext: hardened(),
    resources: isMerger
      ? resources("100m", "128Mi", limit("merger"))
      : resources("50m", "64Mi", limit("webhook")),
    ...probes(isMerger ? 9102 : 9103),
    ...(isMerger ? {} : { volumeMounts: [{ name: "tls", mountPath: "/etc/secprof/tls", readOnly: true }] }),
  };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(`secprof-${component}`, component),
    spec: {
      replicas: 2,
      selector: selector(component),
      template: {
        metadata: { labels: labels(component) },
        spec: {
          serviceAccountName: `secprof-${component}`,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
          containers: [container],
          ...(isMerger ? {} : { volumes: [{ name: "tls", secret: { secretName: "secprof-webhook-tls" } }] }),
        },
      },
    },
  };
}

function service(name: string, component: string, port: number, targetPort: number, headless = false): Obj {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(name, component),
    spec: {
      ...(headless ? { clusterIP: "None" } : {}),
      selector: labels(component),
      ports: [{ port, targetPort }],
    },
  };
}

function redis(): Obj {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: meta("secprof-redis", "redis"),
    spec: {
      serviceName: "secprof-redis-headless",
      replicas: 1,
      selector: selector("redis"),
      template: {
        metadata: { labels: labels("redis") },
        spec: {
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, fsGroup: 999, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "redis",
              image: REDIS_IMAGE,
              args: [
                "redis-server",
                "--maxmemory-policy",
                "noeviction",
                "--appendonly",
                "yes",
                "--dir",
                "/data",
              ],
              ports: [{ name: "redis", containerPort: 6379 }],
              securityContext: hardened(999),
              resources: resources("100m", "256Mi", "1Gi"),
              livenessProbe: { tcpSocket: { port: 6379 }, periodSeconds: 10 },
              readinessProbe: { exec: { command: ["redis-cli", "ping"] }, periodSeconds: 5 },
              volumeMounts: [{ name: "data", mountPath: "/data" }],
            },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: "data" },
          spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "2Gi" } } },
        },
      ],
    },
  };
}

function pdb(component: string): Obj {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: meta(`secprof-${component}`, component),
    spec: { minAvailable: 1, selector: selector(component) },
  };
}

function netpol(name: string, component: string, spec: Obj): Obj {
  return { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: meta(name, component), spec };
}
const fromComponents = (...cs: string[]) => cs.map((c) => ({ podSelector: { matchLabels: labels(c) } }));

function networkPolicies(): Obj[] {
  return [
    netpol("secprof-default-deny-ingress", "namespace", { podSelector: {}, policyTypes: ["Ingress"] }),
    netpol("secprof-redis", "redis", {
      podSelector: { matchLabels: labels("redis") },
      policyTypes: ["Ingress"],
      ingress: [{ from: fromComponents("recorder", "merger"), ports: [{ protocol: "TCP", port: 6379 }] }],
    }),
    netpol("secprof-webhook", "webhook", {
      podSelector: { matchLabels: labels("webhook") },
      policyTypes: ["Ingress"],
      // The API server's source address is not selectable portably; only the webhook port is open.
      ingress: [{ ports: [{ protocol: "TCP", port: 9443 }] }],
    }),
    netpol("secprof-merger-api", "merger", {
      podSelector: { matchLabels: labels("merger") },
      policyTypes: ["Ingress"],
      ingress: [{ ports: [{ protocol: "TCP", port: 8080 }] }],
    }),
    netpol("secprof-metrics", "namespace", {
      podSelector: { matchLabels: { "app.kubernetes.io/name": "secprof" } },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
          ports: [9101, 9102, 9103, 9104].map((port) => ({ protocol: "TCP", port })),
        },
      ],
    }),
  ];
}

function mutatingWebhook(): Obj {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: "secprof-recording", labels: labels("webhook") },
    webhooks: [
      {
        name: "recording.secprof.x-k8s.io",
        admissionReviewVersions: ["v1"],
        sideEffects: "None",
        failurePolicy: "Ignore",
        timeoutSeconds: 5,
        reinvocationPolicy: "Never",
        clientConfig: {
          service: {
            name: "secprof-webhook",
            namespace: NAMESPACE,
            path: "/mutate-v1-pod-recording",
            port: 443,
          },
        },
        namespaceSelector: {
          matchExpressions: [{ key: "spo.x-k8s.io/enable-recording", operator: "Exists" }],
        },
        rules: [
          {
            apiGroups: [""],
            apiVersions: ["v1"],
            operations: ["CREATE"],
            resources: ["pods"],
            scope: "Namespaced",
          },
        ],
      },
    ],
  };
}

/** Components that exist only for recording; the install-only overlay removes them. */
export const RECORDING_COMPONENTS: readonly string[] = ["recorder", "merger", "webhook", "redis"];

/** Relative path under deploy/ → documents. */
export function deployTree(): Map<string, Obj[]> {
  const files = new Map<string, Obj[]>();
  for (const src of CRD_SOURCES) files.set(`crds/${src.plural}.yaml`, [renderCrd(src)]);
  files.set("crds/kustomization.yaml", [
    kustomization({ resources: CRD_SOURCES.map((c) => `${c.plural}.yaml`) }),
  ]);
  for (const c of COMPONENTS) files.set(`rbac/${c}.yaml`, rbacFor(c));
  files.set("rbac/kustomization.yaml", [kustomization({ resources: COMPONENTS.map((c) => `${c}.yaml`) })]);
  const base: [string, Obj[]][] = [
    [
      "namespace.yaml",
      [
        {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: {
            name: NAMESPACE,
            // hostPath volumes (installer) need the privileged Pod Security level.
            labels: {
              "pod-security.kubernetes.io/enforce": "privileged",
              "app.kubernetes.io/name": "secprof",
            },
          },
        },
      ],
    ],
    ["installer.yaml", [installer()]],
    ["recorder.yaml", [recorder()]],
    ["merger.yaml", [deployment("merger"), service("secprof-merger", "merger", 8080, 8080)]],
    [
      "webhook.yaml",
      [deployment("webhook"), service("secprof-webhook", "webhook", 443, 9443), mutatingWebhook()],
    ],
    [
      "redis.yaml",
      [
        redis(),
        service("secprof-redis", "redis", 6379, 6379),
        service("secprof-redis-headless", "redis", 6379, 6379, true),
      ],
    ],
    ["network-policies.yaml", networkPolicies()],
    ["pdb.yaml", [pdb("merger"), pdb("webhook")]],
  ];
  for (const [f, docs] of base) files.set(`base/${f}`, docs);
  files.set("base/kustomization.yaml", [
    kustomization({ namespace: NAMESPACE, resources: ["../crds", "../rbac", ...base.map(([f]) => f)] }),
  ]);
  files.set("overlays/record/recorder-privileged.yaml", [recorderPrivilegedPatch()]);
  files.set("overlays/record/installer-trace-profile.yaml", [installerTraceProfilePatch()]);
  files.set("overlays/record/kustomization.yaml", [
    kustomization({
      resources: ["../../base"],
      patches: [{ path: "recorder-privileged.yaml" }, { path: "installer-trace-profile.yaml" }],
    }),
  ]);
  files.set("overlays/install-only/kustomization.yaml", [
    kustomization({
      resources: ["../../base"],
      patches: recordingOnlyObjects(files).map((o) => ({
        target: { kind: o.kind, name: o.name },
        patch: JSON.stringify({
          $patch: "delete",
          apiVersion: o.apiVersion,
          kind: o.kind,
          metadata: { name: o.name },
        }),
      })),
    }),
  ]);
  return files;
}

function kustomization(body: Obj): Obj {
  return { apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization", ...body };
}

function componentOf(o: Obj): string | undefined {
  return ((o.metadata as Obj | undefined)?.labels as Record<string, string> | undefined)?.[
    "app.kubernetes.io/component"
  ];
}

function recordingOnlyObjects(
  files: Map<string, Obj[]>,
): { apiVersion: string; kind: string; name: string }[] {
  const out: { apiVersion: string; kind: string; name: string }[] = [];
  for (const [path, docs] of files) {
    if (!path.startsWith("base/") && !path.startsWith("rbac/")) continue;
    for (const d of docs) {
      const c = componentOf(d);
      if (c !== undefined && RECORDING_COMPONENTS.includes(c))
        out.push({
          apiVersion: String(d.apiVersion),
          kind: String(d.kind),
          name: String((d.metadata as Obj).name),
        });
    }
  }
  return out;
}

/**
 * Strategic-merge subset used by our overlay: objects merge, `containers` merge by name, `env`
 * merges by name and adds new variables.
 */
function merge(base: unknown, patch: unknown, key?: string): unknown {
  if (Array.isArray(base) && Array.isArray(patch) && (key === "containers" || key === "initContainers")) {
    return base.map((c) => {
      const p = patch.find((x) => (x as Obj).name === (c as Obj).name);
      return p === undefined ? c : merge(c, p);
    });
  }
  if (Array.isArray(base) && Array.isArray(patch) && key === "env") {
    const named = (x: unknown) => (x as Obj).name;
    // New variables go first, as kustomize puts them.
    return [
      ...patch.filter((p) => !base.some((e) => named(e) === named(p))),
      ...base.map((e) => patch.find((p) => named(p) === named(e)) ?? e),
    ];
  }
  if (
    typeof base === "object" &&
    base !== null &&
    !Array.isArray(base) &&
    typeof patch === "object" &&
    patch !== null &&
    !Array.isArray(patch)
  ) {
    const out: Obj = { ...(base as Obj) };
    for (const [k, v] of Object.entries(patch as Obj)) out[k] = k in out ? merge(out[k], v, k) : v;
    return out;
  }
  return patch;
}

/** What `kubectl kustomize deploy/overlays/<overlay>` renders, computed from the source. */
export function renderOverlay(overlay: "record" | "install-only"): Obj[] {
  const files = deployTree();
  const objs: Obj[] = [];
  for (const [path, docs] of files) {
    if (path.endsWith("kustomization.yaml") || path.startsWith("overlays/")) continue;
    objs.push(...docs);
  }
  if (overlay === "install-only")
    return objs.filter((o) => !RECORDING_COMPONENTS.includes(componentOf(o) ?? ""));
  const patches = [recorderPrivilegedPatch(), installerTraceProfilePatch()];
  return objs.map((o) =>
    patches.reduce(
      (obj, patch) =>
        obj.kind === patch.kind && (obj.metadata as Obj).name === (patch.metadata as Obj).name
          ? (merge(obj, patch) as Obj)
          : obj,
      o,
    ),
  );
}
