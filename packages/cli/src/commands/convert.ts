import { type ProfileObject, renderProfile, validateProfile } from "@secprof/core";
import { InputError, type LoadedProfile, loadProfiles } from "./load-profile.js";
import { writeFilesAtomically } from "./write-files.js";

export interface ConvertOptions {
  /** Files (or directories) of SPO CRs, OCI seccomp JSON, YAML multi-doc or Lists. */
  inputs: string[];
  /** Write every rendering here; default: stdout, which takes exactly one profile. */
  out?: string;
}

export interface ConvertIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export const CONVERT_EXIT = { ok: 0, usage: 2, writeFailed: 74 } as const;

function fail(io: ConvertIo, msg: string, code: number): number {
  io.stderr.write(`secprof convert: ${msg}\n`);
  return code;
}

const label = (p: ProfileObject) => `${p.kind} ${JSON.stringify(p.metadata.name)}`;

/**
 * `secprof convert FILE...`: each profile's host rendering (`renderProfile`: OCI seccomp JSON,
 * SELinux CIL, AppArmor text). Every profile is loaded and validated before anything is
 * rendered or written, so invalid input (exit 2) leaves nothing behind; with `--out` the files
 * are written atomically, else the single profile's rendering goes to stdout.
 */
export async function convertCommand(opts: ConvertOptions, io: ConvertIo): Promise<number> {
  if (opts.inputs.length === 0) return fail(io, "no input files", CONVERT_EXIT.usage);
  const loaded: LoadedProfile[] = [];
  try {
    for (const input of opts.inputs) loaded.push(...(await loadProfiles(input)).profiles);
  } catch (err) {
    if (err instanceof InputError) return fail(io, err.message, CONVERT_EXIT.usage);
    throw err;
  }
  if (loaded.length === 0) return fail(io, `no profiles in ${opts.inputs.join(", ")}`, CONVERT_EXIT.usage);

  const invalid: string[] = [];
  for (const { profile, source } of loaded) {
    const problems = validateProfile(profile);
    if (problems.length > 0)
      invalid.push(`${source}: ${label(profile)} is invalid:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
  if (invalid.length > 0) return fail(io, invalid.join("\n"), CONVERT_EXIT.usage);

  // file name → content and where it came from (the same profile twice is fine, differing is not).
  const files = new Map<string, { content: string; source: string }>();
  for (const { profile, source } of loaded) {
    let rendered: ReturnType<typeof renderProfile>;
    try {
      rendered = renderProfile(profile);
    } catch (err) {
      // Validation passed, so this is a renderer's own refusal; still the input's fault.
      return fail(io, `${source}: ${label(profile)} cannot be rendered: ${(err as Error).message}`, 2);
    }
    for (const f of rendered.files) {
      const name = `${profile.metadata.name}${f.suffix}`;
      const prev = files.get(name);
      if (prev !== undefined && prev.content !== f.content)
        return fail(
          io,
          `${label(profile)} is defined twice with different content: ${prev.source} and ${source}`,
          CONVERT_EXIT.usage,
        );
      if (prev === undefined) files.set(name, { content: f.content, source });
    }
  }

  if (opts.out === undefined) {
    const only = [...files.values()];
    if (only.length !== 1 || only[0] === undefined)
      return fail(
        io,
        `${only.length} profiles (${[...files.keys()].join(", ")}): use --out DIR to write them`,
        CONVERT_EXIT.usage,
      );
    io.stdout.write(only[0].content);
    return CONVERT_EXIT.ok;
  }
  const out = new Map([...files].map(([name, f]) => [name, f.content]));
  try {
    await writeFilesAtomically(opts.out, out);
  } catch (err) {
    return fail(io, (err as Error).message, CONVERT_EXIT.writeFailed);
  }
  for (const f of out.keys()) io.stderr.write(`secprof convert: wrote ${opts.out}/${f}\n`);
  return CONVERT_EXIT.ok;
}
