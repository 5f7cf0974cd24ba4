import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { DNS_LABEL, type ProfileObject, RecordingList, type RecordingSummary } from "@secprof/core";

/** Where the API gets its data (Redis and the profile store in the merger; a fake in tests). */
export interface RecordingSource {
  listRecordings(): Promise<RecordingSummary[]>;
  /** undefined: no such recording. */
  profiles(namespace: string, name: string): Promise<ProfileObject[] | undefined>;
  /** The recording's bundle (gzip'd tar), or undefined if there is none (yet). */
  bundle(namespace: string, name: string): Promise<Uint8Array | undefined>;
}

export interface BundleApiOptions {
  source: RecordingSource;
  /** The bearer token every request must carry; at least 16 characters. */
  token: string;
  /** Called with what went wrong when a request fails with 500 (the client only sees "internal error"). */
  onError?: (err: unknown, request: { method: string; path: string }) => void;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

const MIN_TOKEN_LENGTH = 16;
const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

const ROUTES: readonly [RegExp, "list" | "profiles" | "bundle"][] = [
  [/^\/v1\/recordings\/?$/, "list"],
  [/^\/v1\/recordings\/([^/]+)\/([^/]+)\/profiles$/, "profiles"],
  [/^\/v1\/recordings\/([^/]+)\/([^/]+)\/bundle\.tar\.gz$/, "bundle"],
];

function send(
  res: ServerResponse,
  status: number,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): void {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(bytes.length),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...headers,
  });
  res.end(bytes);
}

const json = (res: ServerResponse, status: number, value: unknown, headers?: Record<string, string>) =>
  send(res, status, `${JSON.stringify(value)}\n`, headers);

/**
 * A `node:http` request handler for CI downloads:
 * - `GET /v1/recordings` → `{ items: RecordingSummary[] }`;
 * - `GET /v1/recordings/<ns>/<name>/profiles` → a Kubernetes `List` of the profile CRs;
 * - `GET /v1/recordings/<ns>/<name>/bundle.tar.gz` → the bundle, with `ETag: "sha256:<hex>"`.
 * Every request needs `Authorization: Bearer <token>`, compared in constant time (over sha256
 * digests, so the length does not leak either); it is checked before routing, so an
 * unauthenticated client learns nothing, not even which paths exist. Only GET and HEAD.
 */
/** A constant-time bearer-token check (over sha256 digests, so the length does not leak). */
export function bearerCheck(token: string): (req: IncomingMessage) => boolean {
  if (token.length < MIN_TOKEN_LENGTH)
    throw new RangeError(`the API token must be at least ${MIN_TOKEN_LENGTH} characters`);
  const want = digest(token);
  return (req) => {
    const m = /^Bearer ([\x21-\x7e]+)$/.exec(req.headers.authorization ?? "");
    // Always compare, so a missing header costs the same as a wrong one.
    const ok = timingSafeEqual(digest(m?.[1] ?? ""), want);
    return m !== null && ok;
  };
}

export function createBundleApiHandler(opts: BundleApiOptions): RequestHandler {
  const authorized = bearerCheck(opts.token);

  const handle = async (req: IncomingMessage, res: ServerResponse, method: string, path: string) => {
    if (!authorized(req)) {
      json(res, 401, { error: "unauthorized" }, { "www-authenticate": 'Bearer realm="secprof"' });
      return;
    }
    if (method !== "GET" && method !== "HEAD") {
      json(res, 405, { error: "method not allowed" }, { allow: "GET, HEAD" });
      return;
    }
    let route: "list" | "profiles" | "bundle" | undefined;
    let ns = "";
    let name = "";
    for (const [re, r] of ROUTES) {
      const m = re.exec(path);
      if (m === null) continue;
      route = r;
      ns = m[1] ?? "";
      name = m[2] ?? "";
      break;
    }
    if (route === undefined || (route !== "list" && !(DNS_LABEL.test(ns) && DNS_LABEL.test(name)))) {
      json(res, 404, { error: "not found" });
      return;
    }
    if (route === "list") {
      const list = RecordingList.parse({ items: await opts.source.listRecordings() });
      json(res, 200, list);
      return;
    }
    if (route === "profiles") {
      const items = await opts.source.profiles(ns, name);
      if (items === undefined) json(res, 404, { error: `no recording ${ns}/${name}` });
      else json(res, 200, { apiVersion: "v1", kind: "List", items });
      return;
    }
    const bundle = await opts.source.bundle(ns, name);
    if (bundle === undefined) {
      json(res, 404, { error: `no bundle for ${ns}/${name}` });
      return;
    }
    send(res, 200, bundle, {
      "content-type": "application/gzip",
      "content-disposition": `attachment; filename="${ns}-${name}.tar.gz"`,
      etag: `"sha256:${createHash("sha256").update(bundle).digest("hex")}"`,
    });
  };

  return (req, res) => {
    const method = req.method ?? "";
    const url = req.url ?? "";
    const path = url.split("?", 1)[0] ?? "";
    req.resume(); // no request bodies; drain whatever was sent
    handle(req, res, method, path).catch((err: unknown) => {
      opts.onError?.(err, { method, path });
      if (!res.headersSent) json(res, 500, { error: "internal error" });
      else res.destroy();
    });
  };
}
