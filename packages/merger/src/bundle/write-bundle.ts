import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import {
  BUNDLE_LIMITS,
  type BundleFormat,
  BundleManifest,
  canonicalJson,
  encodeUstar,
  MANIFEST_FILE,
  type ProfileKind,
} from "@secprof/core";

/** One rendered profile file to put in a bundle. */
export interface BundleEntry {
  /** Flat file name, e.g. `bundleFileName(kind, profile, format)`. */
  path: string;
  content: string | Uint8Array;
  kind: ProfileKind;
  profile: string;
  format: BundleFormat;
}

/** Everything in manifest.json except the file list, which is computed from the entries. */
export type BundleInfo = Omit<BundleManifest, "files">;

export interface BuiltBundle {
  manifest: BundleManifest;
  /** The gzip'd tar archive. */
  bytes: Buffer;
  /** sha256 of `bytes`, hex. */
  sha256: string;
}

const te = new TextEncoder();
const sha256 = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");

function sortedRecord<V, W>(r: Record<string, V>, map: (v: V) => W): Record<string, W> {
  const out: Record<string, W> = {};
  for (const k of Object.keys(r).sort()) out[k] = map(r[k] as V);
  return out;
}

/**
 * Builds a recording bundle: `manifest.json` (sha256 and size of every file) then the files,
 * sorted by name, as a gzip'd ustar archive with fixed metadata (mtime 0, uid/gid 0, mode 0644,
 * no user names). Equal input gives a byte-identical bundle whatever the order of `entries`,
 * node lists or record keys. Throws if the manifest would be invalid or over BUNDLE_LIMITS.
 */
export function buildBundle(info: BundleInfo, entries: readonly BundleEntry[]): BuiltBundle {
  const files = entries
    .map((e) => ({ ...e, data: typeof e.content === "string" ? te.encode(e.content) : e.content }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parsed = BundleManifest.safeParse({
    ...info,
    files: files.map((f) => ({
      path: f.path,
      sha256: sha256(f.data),
      size: f.data.length,
      kind: f.kind,
      profile: f.profile,
      format: f.format,
    })),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RangeError(
      `invalid bundle manifest: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`,
    );
  }
  const m = parsed.data;
  const manifest: BundleManifest = {
    ...m,
    nodes: [...m.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    loss: sortedRecord(m.loss, (l) => l),
    ...(m.coverage === undefined
      ? {}
      : {
          coverage: sortedRecord(m.coverage, (c) => ({ ...c, syscalls: sortedRecord(c.syscalls, (n) => n) })),
        }),
  };
  const manifestBytes = te.encode(canonicalJson(manifest));
  if (manifestBytes.length > BUNDLE_LIMITS.maxManifestBytes)
    throw new RangeError(`manifest.json would be ${manifestBytes.length} bytes, over the limit`);
  const tar = encodeUstar([
    { path: MANIFEST_FILE, data: manifestBytes },
    ...files.map((f) => ({ path: f.path, data: f.data })),
  ]);
  const bytes = gzipSync(tar, { level: 9 });
  return { manifest, bytes, sha256: sha256(bytes) };
}

/** The bundle's bytes (see buildBundle). */
export function writeBundle(info: BundleInfo, entries: readonly BundleEntry[]): Buffer {
  return buildBundle(info, entries).bytes;
}
