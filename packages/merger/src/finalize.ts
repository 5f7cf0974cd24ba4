/**
 * From recording state to profile objects. Pure functions; every output is sorted so that the same
 * inputs, in any order, give byte-identical `canonicalJson`.
 *
 * - One SeccompProfile per target (`seccompProfileFor`), named and labelled as SPO does (spo.md §1.6);
 *   `spo.x-k8s.io/partial: "true"` when it is a partial of a mergeStrategy Containers recording.
 * - Partials are merged per container (`mergeSeccompPartials`, spo.md §1.7–1.8): the union of the
 *   rules, with SPO's "least restrictive action wins" per syscall, plus the union of defaultAction
 *   (least restrictive), architectures and flags. The merged profile carries SPO's coverage annotation
 *   `{"version":"v1","total":M,"syscalls":{"<name>":N}}`.
 * - Any non-zero loss counter adds `secprof.x-k8s.io/incomplete` with the counters as JSON, and the
 *   merged profile inherits it.
 */
import type {
  LossCounters,
  SeccompAction,
  SeccompArchitecture,
  SeccompProfile,
  SeccompRule,
  SeccompSpec,
  SyscallSet as SyscallSetType,
  TargetState,
} from "@secprof/core";
import {
  ANNOTATION_PREFIX,
  ARCH_NAMES,
  COVERAGE_ANNOTATION,
  LABELS,
  mergedProfileName,
  SeccompArchitecture as SeccompArchitectureSchema,
  SyscallSet,
  scmpArchOf,
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

function parseLoss(value: string | undefined): LossCounters | undefined {
  if (value === undefined) return undefined;
  const out: LossCounters = { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 };
  try {
    const v: unknown = JSON.parse(value);
    if (typeof v === "object" && v !== null)
      for (const k of LOSS_KEYS) {
        const n = (v as Record<string, unknown>)[k];
        if (typeof n === "number" && Number.isInteger(n) && n >= 0) out[k] = n;
      }
  } catch {
    // An unreadable marker still means "incomplete".
  }
  if (!isIncomplete(out)) out.truncated = 1;
  return out;
}

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
 * SPO's `spo.x-k8s.io/syscall-coverage` value: M partials, and per syscall name (any rule, any
 * action) in how many of them it appears. Same bytes as Go's `json.Marshal` (keys sorted, compact).
 */
export function seccompCoverage(specs: readonly Pick<SeccompSpec, "syscalls">[]): string {
  const counts = new Map<string, number>();
  for (const spec of specs) {
    const seen = new Set<string>();
    for (const rule of spec.syscalls ?? []) for (const n of rule.names) seen.add(n);
    for (const n of seen) counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  const entries = [...counts.keys()].sort(cmp).map((n) => `${JSON.stringify(n)}:${counts.get(n) ?? 0}`);
  return `{"version":"v1","total":${specs.length},"syscalls":{${entries.join(",")}}}`;
}

/**
 * SPO's action order, most to least restrictive (spo.md §1.8); unknown actions rank -1. The union
 * keeps the least restrictive.
 */
const ACTION_RANK: Readonly<Record<SeccompAction, number>> = {
  SCMP_ACT_KILL_PROCESS: 0,
  SCMP_ACT_KILL: 1,
  SCMP_ACT_KILL_THREAD: 1,
  SCMP_ACT_TRAP: 2,
  SCMP_ACT_ERRNO: 3,
  SCMP_ACT_NOTIFY: 4,
  SCMP_ACT_TRACE: 5,
  SCMP_ACT_LOG: 6,
  SCMP_ACT_ALLOW: 7,
};
const rank = (a: SeccompAction): number => ACTION_RANK[a] ?? -1;

/** Least restrictive first; equal ranks (KILL vs KILL_THREAD) by name, so the pick is order-free. */
function lessRestrictive(a: SeccompAction, b: SeccompAction): SeccompAction {
  const d = rank(a) - rank(b);
  if (d !== 0) return d > 0 ? a : b;
  return cmp(a, b) <= 0 ? a : b;
}

/** Architectures in the order `seccompSpec` writes them (the canonical arch order), others after. */
const ARCH_ORDER: readonly string[] = [
  ...ARCH_NAMES.map((a) => scmpArchOf(a)),
  ...SeccompArchitectureSchema.options.filter((a) => !ARCH_NAMES.some((n) => scmpArchOf(n) === a)),
];
const archIndex = (a: string): number => {
  const i = ARCH_ORDER.indexOf(a);
  return i < 0 ? ARCH_ORDER.length : i;
};

type Arg = NonNullable<SeccompRule["args"]>[number];
const argJson = (a: Arg): string => {
  const o: Record<string, unknown> = { index: a.index };
  if (a.value !== undefined) o.value = a.value;
  if (a.valueTwo !== undefined) o.valueTwo = a.valueTwo;
  o.op = a.op;
  return JSON.stringify(o);
};

interface Pick1 {
  action: SeccompAction;
  errnoRet: number | undefined;
  /** undefined: unconditional. */
  args: Map<string, Arg> | undefined;
}

/** The union of several seccomp specs; the result does not depend on their order. */
export function mergeSeccompSpecs(specs: readonly SeccompSpec[]): SeccompSpec {
  const first = specs[0];
  if (first === undefined) throw new RangeError("nothing to merge");
  let defaultAction = first.defaultAction;
  const arches = new Set<SeccompArchitecture>();
  const flags = new Set<NonNullable<SeccompSpec["flags"]>[number]>();
  let anyArches = false;
  const byName = new Map<string, Pick1>();
  for (const spec of specs) {
    defaultAction = lessRestrictive(defaultAction, spec.defaultAction);
    if (spec.architectures !== undefined) anyArches = true;
    for (const a of spec.architectures ?? []) arches.add(a);
    for (const f of spec.flags ?? []) flags.add(f);
    for (const rule of spec.syscalls ?? []) {
      const args = rule.args === undefined || rule.args.length === 0 ? undefined : rule.args;
      for (const name of rule.names) {
        const prev = byName.get(name);
        const argMap = args === undefined ? undefined : new Map(args.map((a) => [argJson(a), a]));
        if (prev === undefined) {
          byName.set(name, { action: rule.action, errnoRet: rule.errnoRet, args: argMap });
          continue;
        }
        // Args: unconditional if either side is; otherwise the union (spo.md §1.8).
        let merged: Map<string, Arg> | undefined;
        if (prev.args !== undefined && argMap !== undefined) {
          merged = new Map(prev.args);
          for (const [k, a] of argMap) merged.set(k, a);
        }
        const action = lessRestrictive(prev.action, rule.action);
        // errnoRet follows the chosen action; between equal actions the smaller one, order-free.
        let errnoRet: number | undefined;
        if (prev.action === action && rule.action === action)
          errnoRet = minDefined(prev.errnoRet, rule.errnoRet);
        else errnoRet = prev.action === action ? prev.errnoRet : rule.errnoRet;
        byName.set(name, { action, errnoRet, args: merged });
      }
    }
  }
  // One rule per distinct (action, errnoRet, args), names sorted; rules least restrictive first.
  const groups = new Map<string, { rule: Omit<SeccompRule, "names">; names: string[]; rank: number }>();
  for (const name of [...byName.keys()].sort(cmp)) {
    const p = byName.get(name) as Pick1;
    const args =
      p.args === undefined ? undefined : [...p.args.keys()].sort(cmp).map((k) => p.args?.get(k) as Arg);
    const key = JSON.stringify([p.action, p.errnoRet ?? null, args?.map(argJson) ?? null]);
    let g = groups.get(key);
    if (g === undefined) {
      const rule: Omit<SeccompRule, "names"> = { action: p.action };
      if (p.errnoRet !== undefined) rule.errnoRet = p.errnoRet;
      if (args !== undefined) rule.args = args;
      g = { rule, names: [], rank: rank(p.action) };
      groups.set(key, g);
    }
    g.names.push(name);
  }
  const rules: SeccompRule[] = [...groups.entries()]
    .sort(([ka, a], [kb, b]) => b.rank - a.rank || cmp(ka, kb))
    .map(([, g]) => ({ names: g.names, ...g.rule }));

  // Fields that are not rules come from the first spec by content, so that order never matters.
  const base = [...specs].sort((a, b) => cmp(JSON.stringify(a), JSON.stringify(b)))[0] as SeccompSpec;
  return {
    ...(base.state !== undefined ? { state: base.state } : {}),
    ...(base.baseProfileName !== undefined ? { baseProfileName: base.baseProfileName } : {}),
    defaultAction,
    ...(anyArches
      ? { architectures: [...arches].sort((a, b) => archIndex(a) - archIndex(b) || cmp(a, b)) }
      : {}),
    ...(base.listenerPath !== undefined ? { listenerPath: base.listenerPath } : {}),
    ...(base.listenerMetadata !== undefined ? { listenerMetadata: base.listenerMetadata } : {}),
    ...(rules.length > 0 ? { syscalls: rules } : {}),
    ...(flags.size > 0 ? { flags: [...flags].sort(cmp) } : {}),
  };
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

/**
 * Merges partial SeccompProfiles per container, as SPO's recording merger does: profiles are grouped
 * by (recording-namespace, recording-id, container-id) labels (profiles without a container-id are
 * ignored), each group becomes `<recording>-<container>` labelled with the recording only, with the
 * coverage annotation, and `incomplete` (field-wise max) if any partial was incomplete. Sorted by name.
 */
export function mergeSeccompPartials(partials: readonly SeccompProfile[]): SeccompProfile[] {
  const groups = new Map<string, { rec: string; ns: string; ctr: string; members: SeccompProfile[] }>();
  for (const p of partials) {
    const l = p.metadata.labels ?? {};
    const ctr = l[LABELS.containerId];
    const rec = l[LABELS.recordingId];
    if (ctr === undefined || rec === undefined) continue;
    const ns = l[LABELS.recordingNamespace] ?? "";
    const key = JSON.stringify([ns, rec, ctr]);
    let g = groups.get(key);
    if (g === undefined) {
      g = { rec, ns, ctr, members: [] };
      groups.set(key, g);
    }
    g.members.push(p);
  }
  const out: SeccompProfile[] = [];
  for (const g of groups.values()) {
    const members = [...g.members].sort((a, b) => cmp(a.metadata.name, b.metadata.name));
    const specs = members.map((m) => m.spec);
    const annotations: Record<string, string> = {};
    let lost: LossCounters | undefined;
    for (const m of members) {
      const l = parseLoss(m.metadata.annotations?.[INCOMPLETE_ANNOTATION]);
      if (l === undefined) continue;
      lost ??= { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 };
      for (const k of LOSS_KEYS) lost[k] = Math.max(lost[k], l[k]);
    }
    if (lost !== undefined) annotations[INCOMPLETE_ANNOTATION] = lossJson(lost);
    annotations[COVERAGE_ANNOTATION] = seccompCoverage(specs);
    const labels: Record<string, string> = { [LABELS.recordingId]: g.rec };
    if (g.ns !== "") labels[LABELS.recordingNamespace] = g.ns;
    out.push(
      seccompProfileCR(
        { name: mergedProfileName(g.rec, g.ctr), labels, annotations: sortedRecord(annotations) },
        mergeSeccompSpecs(specs),
      ),
    );
  }
  return out.sort((a, b) => cmp(a.metadata.name, b.metadata.name) || cmp(ns(a), ns(b)));
}

const ns = (p: SeccompProfile): string => p.metadata.labels?.[LABELS.recordingNamespace] ?? "";

function sortedRecord(r: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(r).sort(cmp)) out[k] = r[k] as string;
  return out;
}

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
