import { constants } from "node:fs";
import { open, readdir } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import type { DesiredProfile } from "./install.js";

/**
 * Reads the profile objects of a local directory (single-host mode): every `*.yaml`, `*.yml` and
 * `*.json` file that is not a dotfile, each possibly holding several YAML documents. Documents
 * whose `kind` is a profile kind become desired profiles (`metadata.deletionTimestamp` marks one
 * deleting); other documents, e.g. the bare OCI `*.seccomp.json` files `secprof record` writes
 * next to the CRs, are skipped. Symlinks and files over 4 MiB are refused.
 */

const KINDS = new Set(["SeccompProfile", "SelinuxProfile", "AppArmorProfile"]);
const MAX_FILE = 4 * 1024 * 1024;

export interface LoadedDir {
  profiles: DesiredProfile[];
  problems: { source: string; error: string }[];
  skipped: string[];
}

async function readSmall(file: string): Promise<string> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error("not a regular file");
    if (st.size > MAX_FILE) throw new Error(`${st.size} bytes is over the ${MAX_FILE}-byte limit`);
    return await fh.readFile("utf8");
  } finally {
    await fh.close();
  }
}

export async function loadProfileDir(dir: string): Promise<LoadedDir> {
  const out: LoadedDir = { profiles: [], problems: [], skipped: [] };
  const entries = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => !e.name.startsWith(".") && /\.(ya?ml|json)$/.test(e.name))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    const file = path.join(dir, e.name);
    let text: string;
    try {
      text = await readSmall(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      out.problems.push({ source: file, error: code === "ELOOP" ? "is a symlink" : (err as Error).message });
      continue;
    }
    const docs = parseAllDocuments(text);
    if (!Array.isArray(docs)) {
      out.problems.push({ source: file, error: "not YAML" });
      continue;
    }
    docs.forEach((doc, i) => {
      const source = docs.length > 1 ? `${file}#${i}` : file;
      if (doc.errors.length > 0) {
        out.problems.push({ source, error: doc.errors[0]?.message ?? "YAML error" });
        return;
      }
      const obj: unknown = doc.toJS({ maxAliasCount: 100 });
      const kind = obj !== null && typeof obj === "object" ? (obj as { kind?: unknown }).kind : undefined;
      if (typeof kind !== "string" || !KINDS.has(kind)) {
        out.skipped.push(source);
        return;
      }
      const meta = (obj as { metadata?: { deletionTimestamp?: unknown } }).metadata;
      const d: DesiredProfile = { object: obj, source };
      if (meta?.deletionTimestamp !== undefined) d.deleting = true;
      out.profiles.push(d);
    });
  }
  return out;
}
