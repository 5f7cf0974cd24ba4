import {
  type ApprovalRecord,
  approvalVerdict,
  ProfileKind,
  type ProfileObject,
  type ProfileRef,
  profileRefKey,
  type SelinuxPolicyOptions,
} from "@secprof/core";
import { z } from "zod";
import { type HostFile, type HostFiles, type HostRef, HostWriteError } from "./host-writer.js";
import type { KernelPolicy, PolicyKind, Validator } from "./kernel.js";
import {
  guardFor,
  isDisabled,
  isPartial,
  type ParsedProfile,
  parseProfile,
  prepareHostFile,
  profileDigest,
  sha256Hex,
} from "./render.js";
import { NameError } from "./safe-path.js";
import type { NodeProfileStatus, ProfileState, StatusReason } from "./status.js";
import type { WorkloadUsage } from "./usage.js";
import type { SeccompCheckOptions } from "./validate-seccomp.js";

/**
 * Reconcile: desired profiles + approvals → host files + one status per profile, level-based
 * (run it again with the same input and nothing changes on the host).
 *
 * Per desired profile, in this order, and nothing touches the host before step 5:
 * 1. Name and namespace pass the host allow-list (safe-path.ts), else Error/Invalid.
 * 2. Schema, else Error/Invalid. Partial → Partial, `state: Disabled` → Disabled (not installed).
 * 3. Validate and render (render.ts: the installer's seccomp checks, core's validation and
 *    canonical rendering `KINDS[kind].render` plus secprof's mark line, then the real compiler
 *    for AppArmor/SELinux), else Error/Invalid.
 * 4. Approval: the latest approval record must name this content's digest and not be revoked,
 *    else Pending/AwaitingApproval. An invalid profile is reported invalid even if unapproved, so
 *    nobody approves something that cannot be installed.
 * 5. InProgress, atomic write (compare first: unchanged bytes are not rewritten), else
 *    Error/WriteFailed.
 * 6. AppArmor/SELinux: load into the kernel when it can; a failed load rolls the file back to
 *    the previous bytes (or removes a new file) → Error/LoadFailed. When the kernel cannot
 *    (no AppArmor, SELinux disabled) the file is installed and `kernel` says why it is not loaded.
 * 7. Installed.
 * In every failing case the previously installed file stays as it was.
 *
 * Deletion (the object is deleting, or a profile this installer installed is no longer
 * desired): while a workload on the node uses it → Terminating/InUse, file kept; else unload,
 * remove the file (atomic unlink + directory fsync), forget it.
 */

export const InstalledEntry = z.object({
  kind: ProfileKind,
  namespace: z.string().max(63).optional(),
  name: z.string().max(253),
  /** The approved digest of the installed content. */
  digest: z.string(),
  /** sha256 of the installed bytes. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  path: z.string(),
  /** AppArmor/SELinux: loaded into the kernel. */
  loaded: z.boolean().optional(),
  installedAt: z.iso.datetime({ offset: true }),
});
export type InstalledEntry = z.infer<typeof InstalledEntry>;

export interface DesiredProfile {
  /** The object as read from the API or a file; schema-checked here. */
  object: unknown;
  /** Deletion requested (deletionTimestamp set). */
  deleting?: boolean;
  /** Where it came from, for messages. */
  source?: string;
}

export interface ReconcileInput {
  desired: readonly DesiredProfile[];
  approvals: readonly ApprovalRecord[];
  /** What this installer installed before (its manifest). */
  installed: readonly InstalledEntry[];
}

export interface ReconcileDeps {
  writer: HostFiles;
  node: string;
  kernel: Record<PolicyKind, KernelPolicy>;
  usage: WorkloadUsage;
  validator?: Validator | undefined;
  seccomp?: SeccompCheckOptions;
  /** Extra SELinux restrictions on top of core's (see `PrepareOptions.selinux`). */
  selinux?: SelinuxPolicyOptions;
  now?: () => Date;
  /** Every status as it is set, InProgress and Terminating steps included. */
  onStatus?: (s: NodeProfileStatus) => void;
  /**
   * Awaited before content that differs from the manifest's is written (the InProgress status),
   * so a status store can show InProgress before the write, not after it.
   */
  beforeInstall?: (s: NodeProfileStatus) => Promise<void>;
}

export interface RemovedProfile extends ProfileRef {
  path: string;
  /** The file was there and is gone now (false: it was already gone). */
  removed: boolean;
}

export interface ReconcileResult {
  statuses: NodeProfileStatus[];
  /** The new manifest. */
  installed: InstalledEntry[];
  removed: RemovedProfile[];
  /** Objects without a readable kind and name (no status can be attached). */
  unreadable: { source: string; errors: string[] }[];
}

const short = (d: string) => `${d.slice(0, 19)}…`;

function refOf(r: { kind: ProfileKind; name: string; namespace?: string | undefined }): ProfileRef {
  const ref: ProfileRef = { kind: r.kind, name: r.name };
  if (r.namespace !== undefined) ref.namespace = r.namespace;
  return ref;
}

export async function reconcile(input: ReconcileInput, deps: ReconcileDeps): Promise<ReconcileResult> {
  const now = deps.now ?? (() => new Date());
  const manifest = new Map(input.installed.map((e) => [profileRefKey(refOf(e)), e]));
  const statuses = new Map<string, NodeProfileStatus>();
  const removed: RemovedProfile[] = [];
  const unreadable: ReconcileResult["unreadable"] = [];

  const emit = (
    ref: ProfileRef,
    state: ProfileState,
    reason: StatusReason,
    message: string,
    extra: Partial<NodeProfileStatus> = {},
  ): NodeProfileStatus => {
    const s: NodeProfileStatus = {
      kind: ref.kind,
      name: ref.name,
      node: deps.node,
      state,
      reason,
      message,
      updatedAt: now().toISOString(),
    };
    if (ref.namespace !== undefined) s.namespace = ref.namespace;
    const inst = manifest.get(profileRefKey(ref));
    if (inst !== undefined) {
      s.installedDigest = inst.digest;
      s.path = inst.path;
    }
    Object.assign(s, extra);
    statuses.set(profileRefKey(ref), s);
    deps.onStatus?.(s);
    return s;
  };

  // Parse everything first: duplicates must be seen before any host change.
  const parsed: { d: DesiredProfile; p: ParsedProfile; key: string | undefined }[] = input.desired.map(
    (d) => {
      const p = parseProfile(d.object);
      return { d, p, key: p.ref === undefined ? undefined : profileRefKey(refOf(p.ref)) };
    },
  );
  const counts = new Map<string, number>();
  for (const { key } of parsed) if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1);

  const seen = new Set<string>();
  for (const { d, p, key } of parsed) {
    const source = d.source ?? "input";
    if (p.ref === undefined || key === undefined) {
      unreadable.push({ source, errors: p.ok ? [] : p.errors });
      continue;
    }
    seen.add(key);
    const ref = refOf(p.ref);
    const keep = () => {
      const inst = manifest.get(key);
      return inst === undefined ? "" : `; the installed version (${short(inst.digest)}) stays in place`;
    };
    if ((counts.get(key) ?? 0) > 1) {
      emit(ref, "Error", "Invalid", `defined more than once (${source} and others)${keep()}`);
      continue;
    }
    let file: HostFile;
    try {
      file = deps.writer.fileFor(ref);
    } catch (err) {
      if (!(err instanceof NameError)) throw err;
      emit(ref, "Error", "Invalid", `${err.message}${keep()}`);
      continue;
    }
    if (d.deleting === true) {
      await remove(ref, file, key);
      continue;
    }
    if (!p.ok) {
      emit(ref, "Error", "Invalid", `invalid: ${p.errors.join("; ")}${keep()}`);
      continue;
    }
    await install(p.profile, ref, file, key, keep);
  }

  // Installed before, no longer desired: the deletion flow.
  for (const [key, e] of [...manifest]) {
    if (seen.has(key)) continue;
    const ref = refOf(e);
    let file: HostFile;
    try {
      file = deps.writer.fileFor(ref);
    } catch (err) {
      if (!(err instanceof NameError)) throw err;
      manifest.delete(key); // cannot be ours: the name never passed the checks
      continue;
    }
    await remove(ref, file, key);
  }

  return {
    statuses: [...statuses.values()],
    installed: [...manifest.values()],
    removed,
    unreadable,
  };

  async function install(
    profile: ProfileObject,
    ref: ProfileRef,
    file: HostFile,
    key: string,
    keep: () => string,
  ): Promise<void> {
    const digest = profileDigest(profile);
    const base: Partial<NodeProfileStatus> = { digest, path: file.path };
    if (file.localhostProfile !== undefined) base.localhostProfile = file.localhostProfile;
    if (isPartial(profile)) {
      emit(ref, "Partial", "Partial", `a partial profile is not installed${keep()}`, base);
      return;
    }
    if (isDisabled(profile)) {
      emit(ref, "Disabled", "Disabled", `disabled${keep()}`, base);
      return;
    }
    const prepared = await prepareHostFile(profile, {
      validator: deps.validator,
      ...(deps.seccomp === undefined ? {} : { seccomp: deps.seccomp }),
      ...(deps.selinux === undefined ? {} : { selinux: deps.selinux }),
    });
    if (!prepared.ok) {
      emit(ref, "Error", "Invalid", `invalid: ${prepared.errors.join("; ")}${keep()}`, base);
      return;
    }
    const verdict = approvalVerdict(input.approvals, ref, digest);
    if (!verdict.approved) {
      emit(ref, "Pending", "AwaitingApproval", `${verdict.message}${keep()}`, base);
      return;
    }
    const progress = emit(ref, "InProgress", "Reconciling", `installing ${short(digest)}`, base);
    if (manifest.get(key)?.digest !== digest) await deps.beforeInstall?.(progress);
    const guard = guardFor(ref.kind);
    let written: Awaited<ReturnType<HostFiles["write"]>>;
    try {
      written = await deps.writer.write(ref, prepared.text, guard);
    } catch (err) {
      if (!(err instanceof HostWriteError)) throw err;
      emit(ref, "Error", "WriteFailed", `${err.message}${keep()}`, base);
      return;
    }
    const previous = manifest.get(key);
    const entry: InstalledEntry = {
      kind: ref.kind,
      name: ref.name,
      digest,
      sha256: sha256Hex(prepared.text),
      path: written.path,
      installedAt: written.changed || previous === undefined ? now().toISOString() : previous.installedAt,
    };
    if (ref.namespace !== undefined) entry.namespace = ref.namespace;
    const extra: Partial<NodeProfileStatus> = { ...base };
    if (ref.kind !== "SeccompProfile") {
      const kernel = deps.kernel[ref.kind];
      const why = await kernel.unavailable();
      if (why !== undefined) {
        entry.loaded = false;
        extra.kernel = { loaded: false, reason: why };
      } else if (written.changed || previous?.loaded !== true || previous.sha256 !== entry.sha256) {
        try {
          await kernel.load(ref.name, prepared.text);
          entry.loaded = true;
          extra.kernel = { loaded: true };
        } catch (err) {
          const rollback = await rollBack(ref, written.previous, guard);
          emit(ref, "Error", "LoadFailed", `load failed: ${(err as Error).message}; ${rollback}${keep()}`, {
            ...base,
            kernel: { loaded: false, reason: (err as Error).message },
          });
          return;
        }
      } else {
        entry.loaded = true;
        extra.kernel = { loaded: true };
      }
    }
    manifest.set(key, entry);
    extra.installedDigest = digest;
    const loadNote =
      extra.kernel?.loaded === false ? `; not loaded: ${extra.kernel.reason ?? "unknown"}` : "";
    emit(
      ref,
      "Installed",
      "Installed",
      `${written.changed ? "installed" : "up to date"} ${short(digest)} at ${written.path}${loadNote}` +
        (prepared.warnings.length > 0 ? `; warnings: ${prepared.warnings.join("; ")}` : ""),
      extra,
    );
  }

  async function rollBack(
    ref: ProfileRef,
    previous: Buffer | undefined,
    guard: ReturnType<typeof guardFor>,
  ): Promise<string> {
    try {
      if (previous === undefined) {
        await deps.writer.remove(ref, guard);
        return "the new file was removed";
      }
      await deps.writer.write(ref, previous);
      return "the previous file was restored";
    } catch (err) {
      return `ROLLBACK FAILED: ${(err as Error).message}`;
    }
  }

  async function remove(ref: ProfileRef, file: HostFile, key: string): Promise<void> {
    const users = await deps.usage.usersOf(ref as HostRef, file);
    if (users.length > 0) {
      emit(ref, "Terminating", "InUse", `deletion waits: still used by ${users.join(", ")}`, {
        path: file.path,
        activeWorkloads: users,
      });
      return;
    }
    emit(ref, "Terminating", "Removing", `removing ${file.path}`, { path: file.path });
    const inst = manifest.get(key);
    const guard = guardFor(ref.kind);
    try {
      if (ref.kind !== "SeccompProfile") {
        const kernel = deps.kernel[ref.kind];
        if ((await kernel.unavailable()) === undefined && inst?.loaded !== false) {
          const current = await deps.writer.read(ref);
          if (current.type === "file" && guard?.(current.bytes) === undefined)
            await kernel.unload(ref.name, current.bytes.toString("utf8"));
        }
      }
      const r = await deps.writer.remove(ref, guard);
      manifest.delete(key);
      statuses.delete(key);
      removed.push({ ...ref, path: r.path, removed: r.removed });
    } catch (err) {
      emit(ref, "Terminating", "RemoveFailed", `cannot remove: ${(err as Error).message}`, {
        path: file.path,
      });
    }
  }
}
