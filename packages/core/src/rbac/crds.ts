import { type Schema, s } from "./schema.js";

/** CRDs for the SPO API group, generated from the small descriptions below. */
export const API_GROUP = "security-profiles-operator.x-k8s.io";

const PROFILE_KINDS = ["SeccompProfile", "SelinuxProfile", "AppArmorProfile"] as const;
export const PROFILE_STATES = [
  "Pending",
  "InProgress",
  "Installed",
  "Terminating",
  "Error",
  "Partial",
  "Disabled",
] as const;
const SECCOMP_ACTIONS = [
  "KILL",
  "KILL_PROCESS",
  "KILL_THREAD",
  "TRAP",
  "ERRNO",
  "TRACE",
  "ALLOW",
  "LOG",
  "NOTIFY",
].map((a) => `SCMP_ACT_${a}`);
const SECCOMP_ARCHES = [
  "NATIVE",
  "X86",
  "X86_64",
  "X32",
  "ARM",
  "AARCH64",
  "MIPS",
  "MIPS64",
  "MIPS64N32",
  "MIPSEL",
  "MIPSEL64",
  "MIPSEL64N32",
  "PPC",
  "PPC64",
  "PPC64LE",
  "S390",
  "S390X",
  "PARISC",
  "PARISC64",
  "RISCV64",
].map((a) => `SCMP_ARCH_${a}`);
const SECCOMP_OPS = ["NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ"].map((o) => `SCMP_CMP_${o}`);
const SECCOMP_FLAGS = ["TSYNC", "LOG", "SPEC_ALLOW", "WAIT_KILLABLE_RECV"].map(
  (f) => `SECCOMP_FILTER_FLAG_${f}`,
);

const labelSelector = s.obj({
  matchLabels: s.map(s.str({ maxLength: 63 }), 64),
  matchExpressions: s.arr(
    s.obj(
      {
        key: s.str({ maxLength: 317 }),
        operator: s.enm(["In", "NotIn", "Exists", "DoesNotExist"]),
        values: s.arr(s.str({ maxLength: 63 }), 256),
      },
      ["key", "operator"],
    ),
    64,
  ),
});

/** metav1.Condition, as written by our recorder (`Ready`). */
const conditions = s.arr(
  s.obj(
    {
      type: s.str({
        maxLength: 316,
        pattern:
          "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
      }),
      status: s.enm(["True", "False", "Unknown"]),
      observedGeneration: s.int({ minimum: 0, format: "int64" }),
      lastTransitionTime: s.str({ format: "date-time" }),
      reason: s.str({ maxLength: 1024, minLength: 1, pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$" }),
      message: s.str({ maxLength: 32768 }),
    },
    ["type", "status", "lastTransitionTime", "reason", "message"],
  ),
  16,
  { "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] },
);

const workloads = s.arr(s.str({ maxLength: 253 }), 1024, { "x-kubernetes-list-type": "set" });
const profileStatus = s.obj({
  status: s.enm(PROFILE_STATES),
  conditions,
  activeWorkloads: workloads,
  path: s.str({ maxLength: 4096 }),
  localhostProfile: s.str({ maxLength: 4096 }),
  usage: s.str({ maxLength: 512 }),
});
const state = s.enm(["Enabled", "Disabled"], { default: "Enabled" });

function recordingSpec(lowercase: boolean): Schema {
  const withLower = (v: string[]) => (lowercase ? [...v, ...v.map((x) => x.toLowerCase())] : v);
  return s.obj(
    {
      kind: s.enm(PROFILE_KINDS),
      recorder: s.enm(withLower(["Logs", "Bpf"])),
      mergeStrategy: s.enm(withLower(["None", "Containers"]), { default: "None" }),
      podSelector: labelSelector,
      containers: s.arr(s.label(), 256, { "x-kubernetes-list-type": "set" }),
      disableProfileAfterRecording: s.bool({ default: false }),
    },
    ["kind", "recorder", "podSelector"],
  );
}
const recordingStatus = s.obj({ activeWorkloads: workloads, conditions });

const seccompSpec = s.obj(
  {
    state,
    baseProfileName: s.str({ maxLength: 512 }),
    defaultAction: s.enm(SECCOMP_ACTIONS),
    architectures: s.arr(s.enm(SECCOMP_ARCHES), 20, { "x-kubernetes-list-type": "set" }),
    listenerPath: s.str({
      pattern: "^/var/run/security-profiles-operator/[A-Za-z0-9_.-]+$",
      maxLength: 4096,
    }),
    listenerMetadata: s.str({ maxLength: 4096 }),
    syscalls: s.arr(
      s.obj(
        {
          names: s.arr(s.str({ pattern: "^[a-z0-9_]{1,64}$" }), 1024, { minItems: 1 }),
          action: s.enm(SECCOMP_ACTIONS),
          errnoRet: s.int({ minimum: 0 }),
          args: s.arr(
            s.obj(
              {
                index: s.int({ minimum: 0, maximum: 5 }),
                value: s.int({ minimum: 0 }),
                valueTwo: s.int({ minimum: 0 }),
                op: s.enm(SECCOMP_OPS),
              },
              ["index", "op"],
            ),
            6,
          ),
        },
        ["names", "action"],
      ),
      1024,
    ),
    flags: s.arr(s.enm(SECCOMP_FLAGS), 4, { "x-kubernetes-list-type": "set" }),
  },
  ["defaultAction"],
);

const selinuxSpec = s.obj(
  {
    state,
    inherit: s.arr(
      s.obj({ kind: s.enm(["System", "SelinuxProfile"], { default: "System" }), name: s.name() }, ["name"]),
      32,
    ),
    mode: s.enm(["Enforcing", "Permissive"], { default: "Enforcing" }),
    allow: s.map(s.map(s.arr(s.str({ maxLength: 64 }), 256), 256), 1024),
  },
  ["allow"],
);

const paths = s.arr(s.str({ maxLength: 4096 }), 10_000);
const apparmorSpec = s.obj({
  state,
  mode: s.enm(["Enforce", "Complain"], { default: "Enforce" }),
  abstract: s.obj({
    executable: s.obj({ allowedExecutables: paths, allowedLibraries: paths }),
    filesystem: s.obj({ readOnlyPaths: paths, writeOnlyPaths: paths, readWritePaths: paths }),
    network: s.obj({
      allowRaw: s.bool(),
      allowedProtocols: s.obj({ allowTcp: s.bool(), allowUdp: s.bool() }),
    }),
    capability: s.obj({ allowedCapabilities: s.arr(s.str({ maxLength: 32, pattern: "^[a-z_]+$" }), 64) }),
  }),
});

const profileRef = {
  kind: s.enm(PROFILE_KINDS),
  name: s.name(),
};
const nodeStatusSpec = s.obj({ node: s.name(), ...profileRef }, ["node", "kind", "name"]);
const nodeStatusStatus = s.obj({
  state: s.enm(PROFILE_STATES),
  message: s.str({ maxLength: 4096 }),
  digest: s.str({ pattern: "^sha256:[0-9a-f]{64}$" }),
});
const approver = s.str({ minLength: 1, maxLength: 256, pattern: "^[^\\u0000-\\u001f\\u007f]+$" });
const approvalSpec = s.obj(
  {
    ...profileRef,
    namespace: s.label(),
    digest: s.str({ pattern: "^sha256:[0-9a-f]{64}$" }),
    approvedBy: approver,
    approvedAt: s.str({ format: "date-time" }),
    revoked: s.obj({ by: approver, at: s.str({ format: "date-time" }) }, ["by", "at"]),
  },
  ["kind", "name", "digest", "approvedBy", "approvedAt"],
);

export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  spec: Schema;
  status?: Schema;
  /** true: status is a subresource (written through /status only). */
  statusSubresource: boolean;
  printerColumns?: { name: string; type: string; jsonPath: string; priority?: number }[];
}
export interface CrdSource {
  kind: string;
  plural: string;
  singular: string;
  shortNames?: string[];
  scope: "Namespaced" | "Cluster";
  specRequired: boolean;
  versions: CrdVersion[];
}

const age = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };
const profileVersion = (spec: Schema, cols: CrdVersion["printerColumns"]): CrdVersion[] => [
  {
    name: "v1",
    served: true,
    storage: true,
    spec,
    status: profileStatus,
    statusSubresource: true,
    printerColumns: cols ?? [],
  },
];

export const CRD_SOURCES: readonly CrdSource[] = [
  {
    kind: "ProfileRecording",
    plural: "profilerecordings",
    singular: "profilerecording",
    scope: "Namespaced",
    specRequired: true,
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        // v1alpha1's lowercase spellings stay accepted in v1 too: objects created through
        // v1alpha1 are stored unconverted (conversion: None) and must survive a v1 status update.
        spec: recordingSpec(true),
        status: recordingStatus,
        statusSubresource: true,
        printerColumns: [
          { name: "PodSelector", type: "string", jsonPath: ".spec.podSelector", priority: 10 },
          age,
        ],
      },
      {
        name: "v1alpha1",
        served: true,
        storage: false,
        spec: recordingSpec(true),
        status: recordingStatus,
        statusSubresource: true,
      },
    ],
  },
  {
    kind: "SeccompProfile",
    plural: "seccompprofiles",
    singular: "seccompprofile",
    shortNames: ["sp"],
    scope: "Cluster",
    specRequired: true,
    versions: profileVersion(seccompSpec, [
      { name: "Status", type: "string", jsonPath: ".status.status" },
      age,
      { name: "LocalhostProfile", type: "string", jsonPath: ".status.localhostProfile", priority: 10 },
    ]),
  },
  {
    kind: "SelinuxProfile",
    plural: "selinuxprofiles",
    singular: "selinuxprofile",
    scope: "Cluster",
    specRequired: true,
    versions: profileVersion(selinuxSpec, [
      { name: "Usage", type: "string", jsonPath: ".status.usage" },
      { name: "State", type: "string", jsonPath: ".status.status" },
    ]),
  },
  {
    kind: "AppArmorProfile",
    plural: "apparmorprofiles",
    singular: "apparmorprofile",
    shortNames: ["aa"],
    scope: "Cluster",
    specRequired: false,
    versions: profileVersion(apparmorSpec, [
      { name: "Status", type: "string", jsonPath: ".status.status" },
      age,
    ]),
  },
  {
    kind: "ProfileNodeStatus",
    plural: "profilenodestatuses",
    singular: "profilenodestatus",
    shortNames: ["pns"],
    scope: "Cluster",
    specRequired: true,
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        spec: nodeStatusSpec,
        status: nodeStatusStatus,
        // Not a subresource: the installer creates and updates the whole object (see the RBAC table).
        statusSubresource: false,
        printerColumns: [
          { name: "Node", type: "string", jsonPath: ".spec.node" },
          { name: "Kind", type: "string", jsonPath: ".spec.kind" },
          { name: "Profile", type: "string", jsonPath: ".spec.name" },
          { name: "State", type: "string", jsonPath: ".status.state" },
        ],
      },
    ],
  },
  {
    kind: "ProfileApproval",
    plural: "profileapprovals",
    singular: "profileapproval",
    scope: "Cluster",
    specRequired: true,
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        spec: approvalSpec,
        statusSubresource: false,
        printerColumns: [
          { name: "Kind", type: "string", jsonPath: ".spec.kind" },
          { name: "Profile", type: "string", jsonPath: ".spec.name" },
          { name: "Digest", type: "string", jsonPath: ".spec.digest" },
          { name: "ApprovedBy", type: "string", jsonPath: ".spec.approvedBy" },
        ],
      },
    ],
  },
];

export function versionSchema(src: CrdSource, v: CrdVersion): Schema {
  return s.obj(
    {
      apiVersion: s.str(),
      kind: s.str(),
      metadata: { type: "object" },
      spec: v.spec,
      ...(v.status ? { status: v.status } : {}),
    },
    src.specRequired ? ["spec"] : [],
  );
}

export function renderCrd(src: CrdSource): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${src.plural}.${API_GROUP}`, labels: { "app.kubernetes.io/part-of": "secprof" } },
    spec: {
      group: API_GROUP,
      names: {
        kind: src.kind,
        listKind: `${src.kind}List`,
        plural: src.plural,
        singular: src.singular,
        ...(src.shortNames ? { shortNames: src.shortNames } : {}),
      },
      scope: src.scope,
      versions: src.versions.map((v) => ({
        name: v.name,
        served: v.served,
        storage: v.storage,
        ...(v.printerColumns && v.printerColumns.length > 0
          ? { additionalPrinterColumns: v.printerColumns }
          : {}),
        schema: { openAPIV3Schema: versionSchema(src, v) },
        ...(v.statusSubresource ? { subresources: { status: {} } } : {}),
      })),
    },
  };
}
