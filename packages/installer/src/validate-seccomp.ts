import {
  type ArchName,
  archFromScmp,
  isKnownSyscall,
  type SeccompAction,
  SeccompSpec,
  scmpArchOf,
} from "@secprof/core";
import { z } from "zod";

/**
 * Host-side seccomp checks, run before anything touches the host. A profile fails when:
 * - it does not match the schema;
 * - its default action lets calls through (it must be KILL*, TRAP or ERRNO: a profile is an
 *   allow list, and an allow-by-default "profile" confines nothing);
 * - it allows no syscall at all (every container using it would fail to start);
 * - a syscall name is unknown on every architecture the filter applies to (the listed ones plus
 *   the node's own): runc drops unknown names silently, so a typo would quietly deny a call;
 * - one syscall has two unconditional rules with different actions (libseccomp refuses that
 *   filter, so containers would fail at start);
 * - it names a `baseProfileName`: the installer does not resolve bases, and an approval of this
 *   profile would not cover the base's syscalls. Resolve (merge) it before approval;
 * - an optional cluster-wide policy (SPO's `allowedSyscalls` / `allowedSeccompActions`) is set
 *   and a syscall under one of the policy's actions is not in the allowed list.
 * Architectures secprof has no table for (MIPS, PA-RISC, 32-bit PPC) cannot be checked; a profile
 * listing only those fails closed.
 */

/** Actions that let a call through, to the task or a tracer/listener (SPO's default allowedSeccompActions). */
export const PERMITTING_ACTIONS: readonly SeccompAction[] = [
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_LOG",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_NOTIFY",
];

export const SeccompPolicy = z.object({
  /** When non-empty, every syscall under one of `allowedActions` must be listed here. */
  allowedSyscalls: z
    .array(z.string().regex(/^[a-z0-9_]{1,64}$/))
    .max(4096)
    .optional(),
  allowedActions: z
    .array(z.enum(["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_NOTIFY"]))
    .optional(),
});
export type SeccompPolicy = z.infer<typeof SeccompPolicy>;

export interface SeccompCheckOptions {
  /** The node's own architecture (default: this process's; null: unknown, no table). */
  nativeArch?: ArchName | null | undefined;
  policy?: SeccompPolicy | undefined;
}

export type SeccompCheck =
  | { ok: true; spec: SeccompSpec; warnings: string[] }
  | { ok: false; errors: string[] };

const NODE_ARCH: Readonly<Record<string, ArchName>> = {
  x64: "x86_64",
  ia32: "x86",
  arm64: "aarch64",
  arm: "arm",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
};

export function nodeArch(): ArchName | undefined {
  return NODE_ARCH[process.arch];
}

const permits = (a: SeccompAction) => PERMITTING_ACTIONS.includes(a);

function list(xs: readonly string[], max = 10): string {
  return xs.length <= max ? xs.join(", ") : `${xs.slice(0, max).join(", ")} and ${xs.length - max} more`;
}

export function validateSeccomp(input: unknown, opts: SeccompCheckOptions = {}): SeccompCheck {
  const parsed = SeccompSpec.safeParse(input);
  if (!parsed.success)
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => `schema: ${i.path.join(".") || "spec"}: ${i.message}`),
    };
  const spec = parsed.data;
  const errors: string[] = [];
  const warnings: string[] = [];

  if (spec.baseProfileName !== undefined)
    errors.push(
      `baseProfileName ${JSON.stringify(spec.baseProfileName)} is not resolved by the installer: merge the base into the profile before approval, so the approval covers its syscalls`,
    );
  if (permits(spec.defaultAction))
    errors.push(
      `defaultAction ${spec.defaultAction} lets calls through: it must deny (KILL*, TRAP or ERRNO)`,
    );

  const rules = spec.syscalls ?? [];
  const allowed = new Set<string>();
  for (const r of rules) if (permits(r.action)) for (const n of r.names) allowed.add(n);
  if (allowed.size === 0) errors.push("allows no syscall: every container using it would fail to start");

  // Names: known on at least one arch the filter applies to.
  const native = opts.nativeArch === null ? undefined : (opts.nativeArch ?? nodeArch());
  const arches = new Set<ArchName>();
  const untabled: string[] = [];
  for (const a of spec.architectures ?? []) {
    if (a === "SCMP_ARCH_NATIVE") continue;
    const name = archFromScmp(a);
    if (name === undefined) untabled.push(a);
    else arches.add(name);
  }
  if (native !== undefined) arches.add(native);
  if (arches.size === 0)
    errors.push(
      `cannot check syscall names: no syscall table for ${list(untabled.length > 0 ? untabled : ["the native architecture"])}`,
    );
  else {
    if (untabled.length > 0) warnings.push(`syscall names not checked for ${list(untabled)}`);
    const unknown = new Set<string>();
    for (const r of rules)
      for (const n of r.names) if (![...arches].some((a) => isKnownSyscall(a, n))) unknown.add(n);
    if (unknown.size > 0)
      errors.push(
        `unknown syscall name(s) on ${[...arches].map(scmpArchOf).join(", ")}: ${list([...unknown].sort())}`,
      );
  }

  // Conflicting unconditional rules for one syscall.
  const unconditional = new Map<string, string>();
  const conflicts = new Set<string>();
  for (const r of rules) {
    if ((r.args ?? []).length > 0) continue;
    const verdict = r.errnoRet === undefined ? r.action : `${r.action}(${r.errnoRet})`;
    for (const n of r.names) {
      const seen = unconditional.get(n);
      if (seen !== undefined && seen !== verdict) conflicts.add(`${n} (${seen} vs ${verdict})`);
      else unconditional.set(n, verdict);
    }
  }
  if (conflicts.size > 0) errors.push(`conflicting rules for ${list([...conflicts].sort(), 5)}`);
  for (const r of rules)
    if (r.action === spec.defaultAction && (r.args ?? []).length === 0 && r.errnoRet === undefined)
      warnings.push(
        `a rule repeats the default action ${r.action} for ${list(r.names, 3)}: it has no effect`,
      );

  const policy = opts.policy;
  if (policy?.allowedSyscalls !== undefined && policy.allowedSyscalls.length > 0) {
    const actions = new Set<SeccompAction>(policy.allowedActions ?? PERMITTING_ACTIONS);
    const ok = new Set(policy.allowedSyscalls);
    if (actions.has(spec.defaultAction))
      errors.push(`policy: defaultAction ${spec.defaultAction} is one of the policy's allowed actions`);
    const outside = new Set<string>();
    for (const r of rules) if (actions.has(r.action)) for (const n of r.names) if (!ok.has(n)) outside.add(n);
    if (outside.size > 0)
      errors.push(`policy: not in the cluster's allowedSyscalls: ${list([...outside].sort())}`);
  }

  return errors.length > 0 ? { ok: false, errors } : { ok: true, spec, warnings };
}
