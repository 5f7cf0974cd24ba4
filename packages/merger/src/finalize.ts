/**
 * From recording state to profile objects. Pure functions; every output is sorted so that the same
 * inputs, in any order, give byte-identical `canonicalJson`.
 *
 * - One profile per target (`profileFor`), of the recording's kind, named and labelled as SPO does
 *   (spo.md §1.6); `spo.x-k8s.io/partial: "true"` when it is a partial of a mergeStrategy
 *   Containers recording. SeccompProfile from the syscalls (`seccompProfileFor`), SelinuxProfile
 *   from the AVC tuples (`selinuxProfileFor`: core's allow map, `@self`, deny lists enforced),
 *   AppArmorProfile from the AppArmor facts (`appArmorProfileFor`: core's abstract).
 * - Partials are merged per kind and container (`mergePartials`): seccomp with core's seccomp
 *   union (`mergeSeccompProfiles`, spo.md §1.7–1.8, with SPO's coverage annotation), the other
 *   kinds with core's per-kind merge (`mergeProfiles`: SELinux union, AppArmor glob-aware join).
 * - Any non-zero loss counter adds `secprof.x-k8s.io/incomplete` with the counters as JSON, and the
 *   merged profile inherits it.
 */
import type {
  AppArmorProfile,
  LossCounters,
  ProfileObject,
  SeccompProfile,
  SelinuxProfile,
  SyscallSet as SyscallSetType,
  TargetState,
} from "@secprof/core";
import {
  ANNOTATION_PREFIX,
  AvcTuple,
  appArmorAbstract,
  appArmorProfileCR,
  LABELS,
  mergedProfileName,
  mergeProfiles,
  mergeSeccompProfiles,
  SyscallSet,
  seccompProfileCR,
  seccompSpec,
  selinuxAllowFromAvcs,
  selinuxProfileCR,
} from "@secprof/core";

export const INCOMPLETE_ANNOTATION = `${ANNOTATION_PREFIX}/incomplete`;
export type MergeStrategy = "None" | "Containers";

const LOSS_KEYS = ["kernelLost", "parserDropped", "attributionMisses", "truncated"] as const;

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Loss counters of a target summed over its recorders (each recorder's are already maxima). */
export function lossTotals(state: Pick<TargetState, "loss">): LossCounters {
  const out: LossCounters = { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 };
  for (const c of Object.values(state.loss)) for (const k of LOSS_KEYS) out[k] += c[k];
  return out;
}

export const isIncomplete = (loss: LossCounters): boolean => LOSS_KEYS.some((k) => loss[k] > 0);

const lossJson = (l: LossCounters): string =>
  JSON.stringify({
    kernelLost: l.kernelLost,
    parserDropped: l.parserDropped,
    attributionMisses: l.attributionMisses,
    truncated: l.truncated,
  });

/** Every syscall the target used, on every arch. */
export function syscallSetOf(state: Pick<TargetState, "syscalls">): SyscallSetType {
  return SyscallSet.fromJSON(state.syscalls);
}

export interface SeccompProfileOptions {
  /** A partial of a mergeStrategy Containers recording (labelled, merged later). */
  partial?: boolean;
  /** Syscalls the OCI runtime makes after installing the filter (added to the allow list). */
  runtime?: SyscallSetType;
}

/** SPO's name and labels of a recorded target's profile, and the `incomplete` annotation. */
function recordedMeta(
  state: TargetState,
  partial: boolean | undefined,
): { name: string; labels: Record<string, string>; annotations?: Record<string, string> } {
  const t = state.target;
  const labels: Record<string, string> = {
    [LABELS.recordingId]: t.recording,
    [LABELS.containerId]: t.container,
    [LABELS.recordingNamespace]: t.namespace,
  };
  if (partial === true) labels[LABELS.partial] = "true";
  const loss = lossTotals(state);
  return isIncomplete(loss)
    ? { name: t.profileName, labels, annotations: { [INCOMPLETE_ANNOTATION]: lossJson(loss) } }
    : { name: t.profileName, labels };
}

/** The SeccompProfile of one recorded target. */
export function seccompProfileFor(state: TargetState, opts: SeccompProfileOptions = {}): SeccompProfile {
  const spec = seccompSpec(
    opts.runtime === undefined
      ? { workload: syscallSetOf(state) }
      : { workload: syscallSetOf(state), runtime: opts.runtime },
  );
  return seccompProfileCR(recordedMeta(state, opts.partial), spec);
}

/**
 * The SelinuxProfile of one recorded target: core's allow map of its AVC tuples (only AVCs of the
 * recording's permissive process type count; its own type becomes `@self`). Stored tuples that no
 * longer parse are skipped. Throws core's SelinuxPolicyError when the map hits SPO's deny lists.
 */
export function selinuxProfileFor(state: TargetState, opts: { partial?: boolean } = {}): SelinuxProfile {
  const tuples = state.avc.flatMap((m) => {
    try {
      const t = AvcTuple.safeParse(JSON.parse(m));
      return t.success ? [t.data] : [];
    } catch {
      return [];
    }
  });
  return selinuxProfileCR(recordedMeta(state, opts.partial), selinuxAllowFromAvcs(tuples).allow);
}

/**
 * The AppArmorProfile of one recorded target: core's abstract of its facts (paths normalised and
 * generalised; facts that cannot be expressed safely are left out by core).
 */
export function appArmorProfileFor(state: TargetState, opts: { partial?: boolean } = {}): AppArmorProfile {
  const aa = state.apparmor;
  const facts = {
    executables: aa.executables,
    libraries: aa.libraries ?? [],
    readPaths: aa.readPaths,
    writePaths: aa.writePaths,
    capabilities: aa.capabilities,
    network: aa.network.filter((n): n is "tcp" | "udp" | "raw" | "unix" =>
      ["tcp", "udp", "raw", "unix"].includes(n),
    ),
  };
  return appArmorProfileCR(recordedMeta(state, opts.partial), appArmorAbstract(facts).abstract);
}

/** The profile of one recorded target, of its recording's kind (see the per-kind builders). */
export function profileFor(state: TargetState, opts: SeccompProfileOptions = {}): ProfileObject {
  const partial = opts.partial === true ? { partial: true } : {};
  return BUILDERS[state.target.kind](state, opts, partial);
}

const BUILDERS: Readonly<
  Record<
    ProfileObject["kind"],
    (state: TargetState, opts: SeccompProfileOptions, partial: { partial?: boolean }) => ProfileObject
  >
> = {
  SeccompProfile: (s, o) => seccompProfileFor(s, o),
  SelinuxProfile: (s, _o, p) => selinuxProfileFor(s, p),
  AppArmorProfile: (s, _o, p) => appArmorProfileFor(s, p),
};

/**
 * Merges partial SeccompProfiles per container, as SPO's recording merger does: profiles are grouped
 * by (recording-namespace, recording-id, container-id) labels (profiles without a container-id are
 * ignored), each group becomes `<recording>-<container>` labelled with the recording only, with the
 * coverage annotation, and `incomplete` (field-wise max) if any partial was incomplete. Sorted by name.
 */
export function mergeSeccompPartials(partials: readonly SeccompProfile[]): SeccompProfile[] {
  return mergePartials(partials).filter((p): p is SeccompProfile => p.kind === "SeccompProfile");
}

/**
 * `mergeSeccompPartials` for profiles of every kind: grouped by kind as well, seccomp groups merged
 * by core's seccomp union (coverage annotation), the others by core's per-kind merge. A merged
 * profile keeps the labels and annotations all its partials share (minus `partial` and
 * `container-id`) and the union of their `incomplete` reasons. Sorted by kind, name, namespace.
 */
export function mergePartials(partials: readonly ProfileObject[]): ProfileObject[] {
  const groups = new Map<string, { rec: string; ctr: string; members: ProfileObject[] }>();
  for (const p of partials) {
    const l = p.metadata.labels ?? {};
    const ctr = l[LABELS.containerId];
    const rec = l[LABELS.recordingId];
    if (ctr === undefined || rec === undefined) continue;
    const key = JSON.stringify([p.kind, l[LABELS.recordingNamespace] ?? "", rec, ctr]);
    const g = groups.get(key) ?? { rec, ctr, members: [] };
    g.members.push(p);
    groups.set(key, g);
  }
  const out = [...groups.values()].map((g) => {
    const members = [...g.members].sort((a, b) => cmp(a.metadata.name, b.metadata.name));
    const name = mergedProfileName(g.rec, g.ctr);
    const merged = mergeGroup(members, name);
    const labels = { ...(merged.metadata.labels ?? {}) };
    delete labels[LABELS.containerId];
    delete labels[LABELS.partial];
    merged.metadata.labels = labels;
    return merged;
  });
  return out.sort(
    (a, b) => cmp(a.kind, b.kind) || cmp(a.metadata.name, b.metadata.name) || cmp(ns(a), ns(b)),
  );
}

/** One container's partials (same kind, at least one) as one profile named `name`. */
function mergeGroup(members: readonly ProfileObject[], name: string): ProfileObject {
  const seccomp = members.filter((p): p is SeccompProfile => p.kind === "SeccompProfile");
  if (seccomp.length === members.length) return mergeSeccompProfiles(seccomp, name);
  const [first, ...rest] = members;
  if (first === undefined) throw new RangeError("nothing to merge");
  // core's merge keeps the annotations both sides share; `incomplete` reasons are a union instead.
  const merged = rest.reduce((a, b) => mergeProfiles(a, b), first);
  const reasons = new Set<string>();
  for (const p of members)
    for (const r of p.metadata.annotations?.[INCOMPLETE_ANNOTATION]?.split("; ") ?? [])
      if (r !== "") reasons.add(r);
  const annotations = { ...(merged.metadata.annotations ?? {}) };
  delete annotations[INCOMPLETE_ANNOTATION];
  if (reasons.size > 0) annotations[INCOMPLETE_ANNOTATION] = [...reasons].sort().join("; ");
  merged.metadata = { ...merged.metadata, name };
  if (Object.keys(annotations).length > 0) merged.metadata.annotations = annotations;
  else delete merged.metadata.annotations;
  return merged;
}

const ns = (p: ProfileObject): string => p.metadata.labels?.[LABELS.recordingNamespace] ?? "";

export interface FinalizeOptions {
  /** Seccomp only: syscalls the OCI runtime makes after installing the filter. */
  runtime?: SyscallSetType;
}

/**
 * The SeccompProfiles a recording produces from its state: one per target (mergeStrategy None), or
 * one merged profile per container (mergeStrategy Containers). Targets of other kinds are skipped.
 * Sorted by name.
 */
export function finalizeSeccomp(
  states: readonly TargetState[],
  strategy: MergeStrategy,
  opts: FinalizeOptions = {},
): SeccompProfile[] {
  const seccomp = states.filter((s) => s.target.kind === "SeccompProfile");
  const o = (partial: boolean): SeccompProfileOptions =>
    opts.runtime === undefined ? { partial } : { partial, runtime: opts.runtime };
  if (strategy === "Containers")
    return mergeSeccompPartials(seccomp.map((s) => seccompProfileFor(s, o(true))));
  return seccomp
    .map((s) => seccompProfileFor(s, o(false)))
    .sort((a, b) => cmp(a.metadata.name, b.metadata.name) || cmp(ns(a), ns(b)));
}
