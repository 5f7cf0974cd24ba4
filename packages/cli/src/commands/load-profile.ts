import { lstat, readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import {
  API_VERSION,
  AppArmorProfile,
  BundleManifest,
  diffProfilePair,
  MANIFEST_FILE,
  type ProfileObject,
  SeccompProfile,
  SeccompSpec,
  SelinuxProfile,
  seccompProfileCR,
} from "@secprof/core";
import { parseAllDocuments } from "yaml";

/** A bad input (missing file, unparsable, not a profile): exit 2 with this message. */
export class InputError extends Error {
  override readonly name = "InputError";
}

export interface LoadedProfile {
  profile: ProfileObject;
  /** Where it came from: `file` or `file#N` for the Nth YAML document. */
  source: string;
}

export interface LoadedInput {
  profiles: LoadedProfile[];
  /** The input was a directory (profiles pair by kind and name) rather than one file. */
  directory: boolean;
  /** Files in a directory that hold no profile (CIL, AppArmor text, README…), for a note. */
  skipped: string[];
}

const MAX_FILE_BYTES = 16 * 1024 * 1024;
const MAX_FILES = 10_000;
const MAX_DEPTH = 8;
const PROFILE_EXT = /\.(json|ya?ml)$/i;

interface Issue {
  path: readonly PropertyKey[];
  message: string;
}
/** The part of a zod schema used here (the cli depends on core's schemas, not on zod). */
interface Schema<T> {
  safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: readonly Issue[] } };
}

/** Schemas by kind; a new kind is a new row. */
const SCHEMAS: Readonly<Record<ProfileObject["kind"], Schema<ProfileObject>>> = {
  SeccompProfile,
  SelinuxProfile,
  AppArmorProfile,
};

function issues(err: { issues: readonly Issue[] }): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}

/** `web.seccomp.json` → `web`; `profile.json` → `profile`. */
function nameFromFile(file: string): string {
  return path.basename(file).replace(/(\.seccomp)?\.json$/i, "");
}

function fromObject(value: unknown, source: string, file: string, out: LoadedProfile[]): void {
  if (value === null || value === undefined) return;
  if (typeof value !== "object" || Array.isArray(value))
    throw new InputError(`${source}: not a profile (expected an object)`);
  const obj = value as Record<string, unknown>;
  if (obj.kind === "List" || (typeof obj.kind === "string" && obj.kind.endsWith("List"))) {
    if (!Array.isArray(obj.items)) throw new InputError(`${source}: a List without items`);
    obj.items.forEach((item, i) => {
      fromObject(item, `${source} items[${i}]`, file, out);
    });
    return;
  }
  if (obj.apiVersion === undefined && obj.kind === undefined && "defaultAction" in obj) {
    // An OCI seccomp profile (what runtimes read; `secprof record` writes NAME.seccomp.json).
    const spec = SeccompSpec.safeParse(obj);
    if (!spec.success)
      throw new InputError(`${source}: not a valid OCI seccomp profile: ${issues(spec.error)}`);
    out.push({ profile: seccompProfileCR({ name: nameFromFile(file) }, spec.data), source });
    return;
  }
  const kind = typeof obj.kind === "string" ? obj.kind : undefined;
  const schema = kind === undefined ? undefined : SCHEMAS[kind as ProfileObject["kind"]];
  if (schema === undefined)
    throw new InputError(
      `${source}: ${kind === undefined ? "no kind" : `kind ${JSON.stringify(kind)}`}: expected an OCI seccomp profile or a ${Object.keys(SCHEMAS).join(", ")} (${API_VERSION})`,
    );
  const parsed = schema.safeParse(obj);
  if (!parsed.success) throw new InputError(`${source}: not a valid ${kind}: ${issues(parsed.error)}`);
  out.push({ profile: parsed.data, source });
}

async function readSmall(file: string): Promise<string> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (size > MAX_FILE_BYTES)
    throw new InputError(`${file} is ${size} bytes; profiles are at most ${MAX_FILE_BYTES}`);
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Every profile in one file: OCI seccomp JSON, a CR as JSON, or (multi-document) YAML of CRs or Lists. */
export async function loadFile(file: string): Promise<LoadedProfile[]> {
  const text = await readSmall(file);
  const out: LoadedProfile[] = [];
  if (/\.json$/i.test(file)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new InputError(`${file}: not valid JSON: ${(err as Error).message}`);
    }
    fromObject(value, file, file, out);
    return out;
  }
  const docs = parseAllDocuments(text, { prettyErrors: false });
  if (!Array.isArray(docs)) return out; // an empty stream
  docs.forEach((doc, i) => {
    const source = docs.length > 1 ? `${file}#${i + 1}` : file;
    const err = doc.errors[0];
    if (err !== undefined) throw new InputError(`${source}: not valid YAML: ${err.message}`);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new InputError(`${source}: ${(e as Error).message}`);
    }
    fromObject(value, source, file, out);
  });
  return out;
}

async function walk(dir: string, depth: number, files: string[], skipped: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith(".")) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (depth >= MAX_DEPTH) throw new InputError(`${p}: directories nested deeper than ${MAX_DEPTH}`);
      await walk(p, depth + 1, files, skipped);
    } else if ((e.isFile() || e.isSymbolicLink()) && PROFILE_EXT.test(e.name)) files.push(p);
    else skipped.push(p);
    if (files.length + skipped.length > MAX_FILES)
      throw new InputError(`${dir}: more than ${MAX_FILES} files`);
  }
}

/**
 * Loads a file or a directory (such as an extracted bundle) of profiles. In a directory the same
 * profile may come twice (`NAME.seccomp.json` and `NAME.seccomp.yaml`): that is fine if both say
 * the same thing (the CR is kept), and an InputError if they differ. A bundle's manifest.json is
 * skipped. Throws InputError for anything unreadable or not a profile.
 */
export async function loadProfiles(input: string): Promise<LoadedInput> {
  let isDir: boolean;
  try {
    isDir = (await lstat(input)).isDirectory();
  } catch (err) {
    throw new InputError(`cannot read ${input}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (!isDir) return { profiles: await loadFile(input), directory: false, skipped: [] };
  const files: string[] = [];
  const skipped: string[] = [];
  await walk(input, 0, files, skipped);
  const byKey = new Map<string, LoadedProfile>();
  for (const file of files) {
    if (path.basename(file) === MANIFEST_FILE && path.dirname(file) === input) {
      const text = await readSmall(file);
      let manifest: unknown;
      try {
        manifest = JSON.parse(text);
      } catch {
        manifest = undefined;
      }
      if (BundleManifest.safeParse(manifest).success) continue;
    }
    for (const loaded of await loadFile(file)) {
      const key = `${loaded.profile.kind}/${loaded.profile.metadata.name}`;
      const prev = byKey.get(key);
      if (prev === undefined) {
        byKey.set(key, loaded);
        continue;
      }
      if (diffProfilePair(prev.profile, loaded.profile).length > 0)
        throw new InputError(
          `${key} is defined twice with different content: ${prev.source} and ${loaded.source}`,
        );
      // Same profile twice: keep the one with metadata (the CR) over the bare OCI JSON.
      if (/\.json$/i.test(prev.source) && !/\.json$/i.test(loaded.source)) byKey.set(key, loaded);
    }
  }
  return { profiles: [...byKey.values()], directory: true, skipped };
}
