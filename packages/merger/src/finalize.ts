/**
 * From recording state to profile objects. Pure functions; every output is sorted so that the same
 * inputs, in any order, give byte-identical `canonicalJson`.
 *
 * - One SeccompProfile per target (`seccompProfileFor`), named and labelled as SPO does (spo.md §1.6);
 *   `spo.x-k8s.io/partial: "true"` when it is a partial of a mergeStrategy Containers recording.
 * - Partials are merged per container (`mergeSeccompPartials`) with core's seccomp union
 *   (`mergeSeccompProfiles`, spo.md §1.7–1.8); the merged profile carries SPO's coverage annotation.
 * - Any non-zero loss counter adds `secprof.x-k8s.io/incomplete` with the counters as JSON, and the
 *   merged profile inherits it.
 */
import type { LossCounters, SeccompProfile, SyscallSet as SyscallSetType, TargetState } from "@secprof/core";
import {
  ANNOTATION_PREFIX,
  LABELS,
  mergedProfileName,
  mergeSeccompProfiles,
  SyscallSet,
  seccompProfileCR,
  seccompSpec,
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

/** The SeccompProfile of one recorded target. */
export function seccompProfileFor(state: TargetState, opts: SeccompProfileOptions = {}): SeccompProfile {
  const t = state.target;
  const labels: Record<string, string> = {
    [LABELS.recordingId]: t.recording,
    [LABELS.containerId]: t.container,
    [LABELS.recordingNamespace]: t.namespace,
  };
  if (opts.partial === true) labels[LABELS.partial] = "true";
  const loss = lossTotals(state);
  const spec = seccompSpec(
    opts.runtime === undefined
      ? { workload: syscallSetOf(state) }
      : { workload: syscallSetOf(state), runtime: opts.runtime },
  );
  return seccompProfileCR(
    isIncomplete(loss)
      ? { name: t.profileName, labels, annotations: { [INCOMPLETE_ANNOTATION]: lossJson(loss) } }
      : { name: t.profileName, labels },
    spec,
  );
}

/**
 * Merges partial SeccompProfiles per container, as SPO's recording merger does: profiles are grouped
 * by (recording-namespace, recording-id, container-id) labels (profiles without a container-id are
 * ignored), each group becomes `<recording>-<container>` labelled with the recording only, with the
 * coverage annotation, and `incomplete` (field-wise max) if any partial was incomplete. Sorted by name.
 */
export function mergeSeccompPartials(partials: readonly SeccompProfile[]): SeccompProfile[] {
  const groups = new Map<string, { rec: string; ctr: string; members: SeccompProfile[] }>();
  for (const p of partials) {
    const l = p.metadata.labels ?? {};
    const ctr = l[LABELS.containerId];
    const rec = l[LABELS.recordingId];
    if (ctr === undefined || rec === undefined) continue;
    const key = JSON.stringify([l[LABELS.recordingNamespace] ?? "", rec, ctr]);
    const g = groups.get(key) ?? { rec, ctr, members: [] };
    g.members.push(p);
    groups.set(key, g);
  }
  // core's union: coverage annotation, shared labels minus partial/container-id, incomplete reasons.
  const out = [...groups.values()].map((g) => {
    const merged = mergeSeccompProfiles(
      [...g.members].sort((a, b) => cmp(a.metadata.name, b.metadata.name)),
      mergedProfileName(g.rec, g.ctr),
    );
    const labels = { ...(merged.metadata.labels ?? {}) };
    delete labels[LABELS.containerId];
    merged.metadata.labels = labels;
    return merged;
  });
  return out.sort((a, b) => cmp(a.metadata.name, b.metadata.name) || cmp(ns(a), ns(b)));
}

const ns = (p: SeccompProfile): string => p.metadata.labels?.[LABELS.recordingNamespace] ?? "";

export interface FinalizeOptions {
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
