import {
  BUNDLE_LIMITS,
  BundleFileName,
  type BundleLimits,
  BundleManifest,
  MANIFEST_FILE,
} from "./manifest.js";
import { decodeUstar, TarFormatError, tarTypeName } from "./ustar.js";

/** Why a bundle was refused; the message names the entry and the rule it broke. */
export class BundleError extends Error {
  override readonly name = "BundleError";
}

export interface VerifiedBundle {
  manifest: BundleManifest;
  /** manifest.json exactly as it was in the archive. */
  manifestBytes: Uint8Array;
  /** Every file the manifest lists, in manifest order, with content whose digest matched. */
  files: Map<string, Uint8Array>;
}

/** Why an archive path cannot be a bundle file name, or undefined if it can. */
export function unsafeEntryPath(path: string): string | undefined {
  if (path.length === 0) return "empty name";
  if (path.includes("\0")) return "NUL in name";
  if (path.startsWith("/")) return "absolute path";
  if (path.includes("\\")) return "backslash in name";
  if (path.split("/").includes("..")) return "'..' path segment";
  if (path.includes("/")) return "not a flat name (bundles hold no directories)";
  if (path !== MANIFEST_FILE && !BundleFileName.safeParse(path).success)
    return "name outside the allowed charset";
  return undefined;
}

/**
 * Checks an uncompressed bundle archive completely and returns its files, or throws BundleError.
 * Nothing is trusted before everything is checked: every entry must be a regular file with a
 * safe flat name, appear once, be listed in a valid manifest with the same size and sha256, and
 * every listed file must be present. `sha256Hex` is injected because core does no I/O or crypto.
 */
export function verifyBundle(
  tar: Uint8Array,
  sha256Hex: (data: Uint8Array) => string,
  limits: BundleLimits = BUNDLE_LIMITS,
): VerifiedBundle {
  let entries: ReturnType<typeof decodeUstar>;
  try {
    entries = decodeUstar(tar, {
      maxEntries: limits.maxFiles + 1,
      maxEntryBytes: Math.max(limits.maxFileBytes, limits.maxManifestBytes),
      maxTotalBytes: limits.maxTotalBytes,
    });
  } catch (err) {
    if (err instanceof TarFormatError) throw new BundleError(`not a valid bundle archive: ${err.message}`);
    throw err;
  }

  const byPath = new Map<string, Uint8Array>();
  for (const e of entries) {
    const shown = JSON.stringify(e.path);
    const unsafe = unsafeEntryPath(e.path);
    if (unsafe !== undefined) throw new BundleError(`refusing entry ${shown}: ${unsafe}`);
    if (e.type !== "0") {
      const target = e.type === "1" || e.type === "2" ? ` → ${JSON.stringify(e.linkpath)}` : "";
      throw new BundleError(
        `refusing entry ${shown}: it is a ${tarTypeName(e.type)}${target}; bundles hold only regular files`,
      );
    }
    if (byPath.has(e.path)) throw new BundleError(`refusing entry ${shown}: it appears more than once`);
    byPath.set(e.path, e.data);
  }

  const rawManifest = byPath.get(MANIFEST_FILE);
  if (rawManifest === undefined) throw new BundleError(`the archive has no ${MANIFEST_FILE}`);
  if (rawManifest.length > limits.maxManifestBytes)
    throw new BundleError(
      `${MANIFEST_FILE} is ${rawManifest.length} bytes, over the limit of ${limits.maxManifestBytes}`,
    );
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(rawManifest));
  } catch (err) {
    throw new BundleError(`${MANIFEST_FILE} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = BundleManifest.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
      .join("; ");
    throw new BundleError(`${MANIFEST_FILE} is not a v1 bundle manifest: ${issues}`);
  }
  const manifest = parsed.data;
  if (manifest.files.length > limits.maxFiles)
    throw new BundleError(
      `the manifest lists ${manifest.files.length} files, over the limit of ${limits.maxFiles}`,
    );

  const listed = new Set(manifest.files.map((f) => f.path));
  for (const path of byPath.keys())
    if (path !== MANIFEST_FILE && !listed.has(path))
      throw new BundleError(`refusing entry ${JSON.stringify(path)}: it is not listed in ${MANIFEST_FILE}`);

  const files = new Map<string, Uint8Array>();
  for (const f of manifest.files) {
    const data = byPath.get(f.path);
    if (data === undefined)
      throw new BundleError(`${MANIFEST_FILE} lists ${f.path}, which the archive does not hold`);
    if (data.length !== f.size)
      throw new BundleError(
        `size mismatch for ${f.path}: the manifest says ${f.size} bytes, the archive holds ${data.length}`,
      );
    const got = sha256Hex(data);
    if (got !== f.sha256)
      throw new BundleError(
        `digest mismatch for ${f.path}: the manifest says sha256:${f.sha256}, the content is sha256:${got}`,
      );
    if (data.length > limits.maxFileBytes)
      throw new BundleError(`${f.path} is ${data.length} bytes, over the limit of ${limits.maxFileBytes}`);
    files.set(f.path, data);
  }
  return { manifest, manifestBytes: rawManifest, files };
}
