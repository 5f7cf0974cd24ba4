import {
  type BundleFormat,
  bundleFileName,
  canonicalJson,
  diffProfilePair,
  mergeProfiles,
  mergeSeccompProfiles,
  ObjectName,
  ociSeccomp,
  type ProfileKind,
  type ProfileObject,
  renderProfile,
  type SeccompLayout,
  SeccompMergeConflict,
  type SeccompProfile,
  summarize,
  validateProfile,
} from "@secprof/core";
import { stringify } from "yaml";
import { renderText } from "./diff.js";
import { InputError, loadProfiles } from "./load-profile.js";
import { writeFilesAtomically } from "./write-files.js";

export interface MergeOptions {
  inputs: string[];
  /** Write NAME.<kind files> here; default: the merged CRs as YAML on stdout. */
  out?: string;
  /** Name of the merged profile; default: the first input's. */
  name?: string;
  /** `per-name`: SPO's one-syscall-per-rule form. */
  layout: SeccompLayout;
  /** CI gate: exit 0 if the first input already allows everything the merge does, else 1. */
  check: boolean;
}

export interface MergeIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export const MERGE_EXIT = { ok: 0, checkFailed: 1, usage: 2, writeFailed: 74 } as const;

/** Why profiles of one kind cannot be merged; exit 2 with the message. */
export class MergeConflict extends Error {
  override readonly name = "MergeConflict";
}

/** What the CLI needs per kind. A kind without a row cannot be merged yet. */
export interface KindMerger {
  /** Merges profiles (all of this kind) into one profile named `name`. Throws MergeConflict. */
  merge(profiles: readonly ProfileObject[], name: string, opts: { layout: SeccompLayout }): ProfileObject;
  /** The files a merged profile is written as, by file name. */
  render(profile: ProfileObject): Map<string, string>;
}

const yaml = (p: ProfileObject) => stringify(p, { lineWidth: 0 });

function only<K extends ProfileKind>(
  kind: K,
  profiles: readonly ProfileObject[],
): Extract<ProfileObject, { kind: K }>[] {
  return profiles.filter((p): p is Extract<ProfileObject, { kind: K }> => p.kind === kind);
}

const seccomp: KindMerger = {
  merge(profiles, name, opts) {
    try {
      return mergeSeccompProfiles(only("SeccompProfile", profiles), name, opts);
    } catch (err) {
      if (err instanceof SeccompMergeConflict) throw new MergeConflict(err.message);
      throw err;
    }
  },
  render(profile) {
    const p = profile as SeccompProfile;
    const name = p.metadata.name;
    return new Map([
      [bundleFileName("SeccompProfile", name, "oci-seccomp-json"), canonicalJson(ociSeccomp(p.spec))],
      [bundleFileName("SeccompProfile", name, "cr-yaml"), yaml(p)],
    ]);
  },
};

/**
 * SELinux and AppArmor: core's per-kind union (`KINDS[kind].merge`: SELinux type → class →
 * permission union, AppArmor the glob-aware join), folded over the inputs, renamed to `name`.
 * Both are associative, commutative and idempotent, so input order does not matter. The result
 * is validated here, so an unrenderable merge (say a name CIL cannot take) is a MergeConflict
 * rather than a crash when the files are written.
 */
function unionMerger(kind: "SelinuxProfile" | "AppArmorProfile", host: BundleFormat): KindMerger {
  return {
    merge(profiles, name) {
      const ofKind = profiles.filter((p) => p.kind === kind);
      const [first, ...rest] = ofKind;
      if (first === undefined) throw new MergeConflict(`no ${kind}s to merge`);
      const union = rest.reduce<ProfileObject>((acc, p) => mergeProfiles(acc, p), first);
      const merged = { ...union, metadata: { ...union.metadata, name } } as ProfileObject;
      const problems = validateProfile(merged);
      if (problems.length > 0)
        throw new MergeConflict(`the merged profile is invalid: ${problems.join("; ")}`);
      return merged;
    },
    render(profile) {
      const name = profile.metadata.name;
      const files = new Map<string, string>([[bundleFileName(kind, name, "cr-yaml"), yaml(profile)]]);
      for (const f of renderProfile(profile).files) files.set(bundleFileName(kind, name, host), f.content);
      return files;
    },
  };
}

export const MERGERS: Partial<Record<ProfileKind, KindMerger>> = {
  SeccompProfile: seccomp,
  SelinuxProfile: unionMerger("SelinuxProfile", "selinux-cil"),
  AppArmorProfile: unionMerger("AppArmorProfile", "apparmor-text"),
};

function fail(io: MergeIo, msg: string, code: number): number {
  io.stderr.write(`secprof merge: ${msg}\n`);
  return code;
}

/**
 * `secprof merge INPUT...`: unions the profiles in the inputs (files or directories), one merged
 * profile per kind, with the kind's union semantics (seccomp: SPO's, see mergeSeccompSpecs).
 */
export async function mergeCommand(opts: MergeOptions, io: MergeIo): Promise<number> {
  if (opts.name !== undefined) {
    const n = ObjectName.safeParse(opts.name);
    if (!n.success)
      return fail(io, `invalid --name ${JSON.stringify(opts.name)}: ${n.error.issues[0]?.message}`, 2);
  }
  const profiles: ProfileObject[] = [];
  try {
    for (const input of opts.inputs)
      for (const p of (await loadProfiles(input)).profiles) profiles.push(p.profile);
  } catch (err) {
    if (err instanceof InputError) return fail(io, err.message, MERGE_EXIT.usage);
    throw err;
  }
  if (profiles.length === 0) return fail(io, `no profiles in ${opts.inputs.join(", ")}`, MERGE_EXIT.usage);

  const kinds = [...new Set(profiles.map((p) => p.kind))];
  const merged: ProfileObject[] = [];
  for (const kind of kinds) {
    const merger = MERGERS[kind];
    if (merger === undefined)
      return fail(
        io,
        `merging ${kind} is not supported yet (supported: ${Object.keys(MERGERS).join(", ")})`,
        MERGE_EXIT.usage,
      );
    const ofKind = profiles.filter((p) => p.kind === kind);
    const name = opts.name ?? ofKind[0]?.metadata.name ?? "merged";
    try {
      merged.push(merger.merge(ofKind, name, { layout: opts.layout }));
    } catch (err) {
      if (err instanceof MergeConflict)
        return fail(io, `cannot merge the ${kind}s: ${err.message}`, MERGE_EXIT.usage);
      throw err;
    }
  }

  if (opts.check) {
    const changes = merged.flatMap((m) => {
      const first = profiles.find((p) => p.kind === m.kind);
      return diffProfilePair(first, m, first?.metadata.name).filter((c) => c.widening);
    });
    if (changes.length === 0) {
      io.stderr.write(
        `secprof merge: ${opts.inputs[0]} is up to date: it allows everything the merge does\n`,
      );
      return MERGE_EXIT.ok;
    }
    io.stderr.write(
      `secprof merge: ${opts.inputs[0]} is not up to date; the merge also allows:\n${renderText(summarize(changes), { old: opts.inputs[0] ?? "", new: "merge" })}`,
    );
    return MERGE_EXIT.checkFailed;
  }

  if (opts.out === undefined) {
    io.stdout.write(merged.map(yaml).join("---\n"));
    return MERGE_EXIT.ok;
  }
  const files = new Map<string, string>();
  for (const m of merged)
    for (const [f, content] of (MERGERS[m.kind] as KindMerger).render(m)) files.set(f, content);
  try {
    await writeFilesAtomically(opts.out, files);
  } catch (err) {
    return fail(io, (err as Error).message, MERGE_EXIT.writeFailed);
  }
  for (const f of files.keys()) io.stderr.write(`secprof merge: wrote ${opts.out}/${f}\n`);
  return MERGE_EXIT.ok;
}
