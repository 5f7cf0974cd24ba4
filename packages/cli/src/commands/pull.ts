import { createHash, randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, open, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import {
  BUNDLE_LIMITS,
  BundleError,
  type BundleLimits,
  bundleIncomplete,
  DNS_LABEL,
  MANIFEST_FILE,
  type VerifiedBundle,
  verifyBundle,
} from "@secprof/core";

export interface PullOptions {
  /** `https://host/v1/recordings/<ns>/<name>/bundle.tar.gz`, or `<ns>/<name>` with `server`. */
  source: string;
  out: string;
  /** Bearer token (`--token`, else SECPROF_TOKEN). */
  token?: string;
  /** Base URL of the merger's API, for `<ns>/<name>` sources (`--server`, else SECPROF_SERVER). */
  server?: string;
  /** Replace a non-empty `out`. */
  force?: boolean;
  limits?: BundleLimits;
  timeoutMs?: number;
}

export interface PullDeps {
  fetch: typeof fetch;
  stderr: { write(s: string): unknown };
}

export const PULL_EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A download, verification or write failure (exit 1); the message says which and why. */
export class PullError extends Error {
  override readonly name = "PullError";
}
class UsageError extends Error {}

const sha256 = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");

export function bundleUrl(source: string, server: string | undefined): URL {
  let url: URL;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    try {
      url = new URL(source);
    } catch {
      throw new UsageError(`not a URL: ${source}`);
    }
  } else {
    const m = /^([^/]+)\/([^/]+)$/.exec(source);
    if (m === null || !DNS_LABEL.test(m[1] ?? "") || !DNS_LABEL.test(m[2] ?? ""))
      throw new UsageError(`expected a URL or NAMESPACE/RECORDING, got ${JSON.stringify(source)}`);
    if (server === undefined || server === "")
      throw new UsageError(`${source}: a recording name needs --server URL (or SECPROF_SERVER)`);
    let base: URL;
    try {
      base = new URL(server.endsWith("/") ? server : `${server}/`);
    } catch {
      throw new UsageError(`not a URL: --server ${server}`);
    }
    url = new URL(`v1/recordings/${m[1]}/${m[2]}/bundle.tar.gz`, base);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new UsageError(`unsupported URL scheme ${url.protocol} (http or https)`);
  if (url.username !== "" || url.password !== "")
    throw new UsageError("put the token in --token or SECPROF_TOKEN, not in the URL");
  return url;
}

const isLoopback = (host: string) => host === "localhost" || /^127\./.test(host) || host === "[::1]";

/** Control characters from a server never reach the terminal raw. */
const clean = (s: string) => s.replace(/[\x00-\x1f\x7f-\x9f]/g, "?");

async function download(
  url: URL,
  token: string | undefined,
  deps: PullDeps,
  maxBytes: number,
  timeoutMs: number,
) {
  const headers: Record<string, string> = { accept: "application/gzip" };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    // No redirects: one could carry the token to another host, or swap the artifact.
    res = await deps.fetch(url, { headers, redirect: "error", signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new PullError(`cannot download ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    const hint =
      res.status === 401 || res.status === 403
        ? " (check --token or SECPROF_TOKEN)"
        : res.status === 404
          ? " (no such recording, or no bundle yet)"
          : "";
    throw new PullError(`${url}: the server answered ${res.status} ${clean(res.statusText)}${hint}`);
  }
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  const tooBig = () => new PullError(`${url}: the bundle is larger than the ${maxBytes}-byte download limit`);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw tooBig();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body?.getReader();
  try {
    for (;;) {
      const r = await reader?.read();
      if (r === undefined || r.done) break;
      total += r.value.length;
      if (total > maxBytes) {
        await reader?.cancel();
        throw tooBig();
      }
      chunks.push(r.value);
    }
  } catch (err) {
    if (err instanceof PullError) throw err;
    throw new PullError(`${url}: download failed: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks, total);
}

function unpack(gz: Uint8Array, limits: BundleLimits): VerifiedBundle {
  // Room for the content plus tar headers (and a pax header for long names) per entry.
  const maxTar = limits.maxTotalBytes + (limits.maxFiles + 2) * 2048;
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: maxTar });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PullError(
      code === "ERR_BUFFER_TOO_LARGE"
        ? `refusing the bundle: it expands to more than ${maxTar} bytes`
        : `refusing the bundle: not gzip data (${(err as Error).message})`,
    );
  }
  try {
    return verifyBundle(tar, sha256, limits);
  } catch (err) {
    if (err instanceof BundleError) throw new PullError(`refusing the bundle: ${err.message}`);
    throw err;
  }
}

type TargetState = "absent" | "empty" | "full";

async function targetState(target: string): Promise<TargetState> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "absent";
    throw new PullError(`cannot use ${target}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (st.isSymbolicLink()) throw new UsageError(`${target} is a symbolic link; give the real directory`);
  if (!st.isDirectory()) throw new UsageError(`${target} exists and is not a directory`);
  return (await readdir(target)).length === 0 ? "empty" : "full";
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes the files into a fresh private directory next to `target`, then renames it into place:
 * readers see the old directory or the complete new one, and a failure leaves nothing behind.
 * Names are flat and were checked against the manifest; files are created with O_EXCL.
 */
async function extractAtomically(target: string, files: ReadonlyMap<string, Uint8Array>, force: boolean) {
  const parent = path.dirname(target);
  await mkdir(parent, { recursive: true });
  const state = await targetState(target);
  if (state === "full" && !force) throw new UsageError(`${target} is not empty (use --force to replace it)`);
  const tmp = await mkdtemp(path.join(parent, `.${path.basename(target)}.pull-`));
  try {
    for (const [name, data] of files) {
      const fh = await open(path.join(tmp, name), "wx", 0o644);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await chmod(tmp, 0o755);
    await fsyncDir(tmp);
    if (state === "full") {
      const old = path.join(parent, `.${path.basename(target)}.old-${randomBytes(6).toString("hex")}`);
      await rename(target, old);
      try {
        await rename(tmp, target);
      } catch (err) {
        await rename(old, target);
        throw err;
      }
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, target);
    }
    await fsyncDir(parent);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new PullError(
      `cannot write ${target}: ${code === "ENOSPC" ? "no space left on device" : (err as Error).message}`,
    );
  }
}

/**
 * `secprof pull URL|NS/NAME --out DIR`: downloads a recording bundle, verifies the manifest and
 * every file's sha256 before writing anything, refuses anything but flat regular files the
 * manifest lists (no `..`, absolute paths, links, devices, duplicates, extras, oversize
 * entries), and extracts into DIR atomically (temp dir + rename). DIR ends up holding
 * manifest.json and the profile files, ready for `secprof diff`.
 */
export async function pull(opts: PullOptions, deps: PullDeps): Promise<number> {
  const limits = opts.limits ?? BUNDLE_LIMITS;
  try {
    const url = bundleUrl(opts.source, opts.server);
    const target = path.resolve(opts.out);
    // Fail before downloading if the target cannot be used.
    const state = await targetState(target);
    if (state === "full" && opts.force !== true)
      throw new UsageError(`${opts.out} is not empty (use --force to replace it)`);
    if (opts.token !== undefined && url.protocol === "http:" && !isLoopback(url.hostname))
      deps.stderr.write(`secprof pull: warning: sending the token over plain http to ${url.host}\n`);

    const gz = await download(url, opts.token, deps, limits.maxDownloadBytes, opts.timeoutMs ?? 120_000);
    const bundle = unpack(gz, limits);
    const files = new Map<string, Uint8Array>([[MANIFEST_FILE, bundle.manifestBytes], ...bundle.files]);
    await extractAtomically(target, files, opts.force === true);

    const m = bundle.manifest;
    const lines = [
      `secprof pull: ${m.recording.namespace}/${m.recording.name} (${m.recorder}, ${m.nodes.length} node${m.nodes.length === 1 ? "" : "s"}, ${m.startedAt} → ${m.endedAt}): ${m.files.length} files verified`,
      ...m.files.map((f) => `  ${opts.out}/${f.path}  sha256:${f.sha256.slice(0, 16)}…  ${f.size} bytes`),
    ];
    if (bundleIncomplete(m)) {
      const lossy = Object.entries(m.loss)
        .filter(([, l]) => l.kernelLost + l.parserDropped + l.attributionMisses + l.truncated > 0)
        .map(([node, l]) => `${node}: ${JSON.stringify(l)}`);
      lines.push(
        `  INCOMPLETE: recorders reported losses; the profiles may miss something (${lossy.join("; ")})`,
      );
    }
    deps.stderr.write(`${lines.join("\n")}\n`);
    return PULL_EXIT.ok;
  } catch (err) {
    if (err instanceof UsageError) {
      deps.stderr.write(`secprof pull: ${err.message}\n`);
      return PULL_EXIT.usage;
    }
    if (err instanceof PullError) {
      deps.stderr.write(`secprof pull: ${err.message}\n`);
      return PULL_EXIT.failed;
    }
    throw err;
  }
}
