import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ProfileObject, RecordingSummary } from "@secprof/core";
import { seccompProfileCR } from "@secprof/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBundleApiHandler, type RecordingSource } from "./http-api.js";

const TOKEN = "s3cret-token-0123456789";
const RECORDINGS: RecordingSummary[] = [
  {
    namespace: "shop",
    name: "web-rec",
    kind: "SeccompProfile",
    status: "Complete",
    profiles: ["web-rec-nginx"],
    bundle: true,
  },
  {
    namespace: "shop",
    name: "api-rec",
    kind: "SeccompProfile",
    status: "Recording",
    profiles: [],
    bundle: false,
  },
];
const PROFILE: ProfileObject = seccompProfileCR(
  { name: "web-rec-nginx" },
  { defaultAction: "SCMP_ACT_ERRNO" },
);
const BUNDLE = new Uint8Array([0x1f, 0x8b, 1, 2, 3]);

const errors: unknown[] = [];
let broken = false;
const source: RecordingSource = {
  listRecordings: async () => {
    if (broken) throw new Error("redis is down at 10.0.0.3:6379");
    return RECORDINGS;
  },
  profiles: async (ns, name) => (ns === "shop" && name === "web-rec" ? [PROFILE] : undefined),
  bundle: async (ns, name) => (ns === "shop" && name === "web-rec" ? BUNDLE : undefined),
};

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer(createBundleApiHandler({ source, token: TOKEN, onError: (e) => errors.push(e) }));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

/** `token` null: no Authorization header at all. */
const get = (p: string, init: RequestInit = {}, token: string | null = TOKEN) =>
  fetch(`${base}${p}`, {
    ...init,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });

describe("bundle HTTP API", () => {
  it("lists recordings with their status", async () => {
    const res = await get("/v1/recordings");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ items: RECORDINGS });
  });

  it("serves a recording's profiles as a List and its bundle with a digest", async () => {
    const p = await get("/v1/recordings/shop/web-rec/profiles");
    expect(await p.json()).toEqual({ apiVersion: "v1", kind: "List", items: [PROFILE] });
    const b = await get("/v1/recordings/shop/web-rec/bundle.tar.gz");
    expect(b.status).toBe(200);
    expect(b.headers.get("content-type")).toBe("application/gzip");
    expect(b.headers.get("content-disposition")).toBe('attachment; filename="shop-web-rec.tar.gz"');
    expect(b.headers.get("etag")).toMatch(/^"sha256:[0-9a-f]{64}"$/);
    expect(new Uint8Array(await b.arrayBuffer())).toEqual(BUNDLE);
  });

  it.each([
    ["no token", null],
    ["a wrong token", "s3cret-token-0123456780"],
    ["a prefix of the token", "s3cret"],
    ["an empty token", ""],
  ])("answers 401 to %s on every path, before routing", async (_, token) => {
    for (const p of ["/v1/recordings", "/v1/recordings/shop/web-rec/bundle.tar.gz", "/nope"]) {
      const res = await get(p, {}, token);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="secprof"');
      expect(await res.json()).toEqual({ error: "unauthorized" });
    }
  });

  it("answers 404 for unknown recordings, unknown paths and names outside the DNS charset", async () => {
    for (const p of [
      "/v1/recordings/shop/nope/bundle.tar.gz",
      "/v1/recordings/shop/nope/profiles",
      "/v1/recordings/shop/..%2f..%2fetc/bundle.tar.gz",
      "/v1/recordings/Shop/web-rec/profiles",
      "/v1/recordings/shop/web-rec",
      "/",
    ]) {
      expect((await get(p)).status, p).toBe(404);
    }
  });

  it("allows only GET and HEAD", async () => {
    const res = await get("/v1/recordings", { method: "DELETE" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
    const head = await get("/v1/recordings/shop/web-rec/bundle.tar.gz", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(BUNDLE.length));
  });

  it("hides internal errors from the client and reports them to onError", async () => {
    broken = true;
    try {
      const res = await get("/v1/recordings");
      expect(res.status).toBe(500);
      expect(await res.text()).not.toMatch(/redis|10\.0\.0\.3/);
      expect(String(errors.at(-1))).toMatch(/redis is down/);
    } finally {
      broken = false;
    }
  });

  it("refuses a short token at construction", () => {
    expect(() => createBundleApiHandler({ source, token: "short" })).toThrow(/at least 16/);
  });
});
