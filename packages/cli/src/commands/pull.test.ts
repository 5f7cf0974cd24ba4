import { createHash } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import {
  BUNDLE_LIMITS,
  type BundleManifest,
  canonicalJson,
  ociSeccomp,
  seccompProfileCR,
} from "@secprof/core";
import { Header } from "tar";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
// The server side lives in the merger; this test drives both ends of the wire.
import { createBundleApiHandler } from "../../../merger/src/bundle/http-api.js";
import { type BundleEntry, type BundleInfo, buildBundle } from "../../../merger/src/bundle/write-bundle.js";
import { diffCommand } from "./diff.js";
import { PULL_EXIT, type PullOptions, pull } from "./pull.js";

const TOKEN = "ci-token-0123456789abcdef";
const sha = (d: Uint8Array | string) => createHash("sha256").update(d).digest("hex");

const spec = {
  defaultAction: "SCMP_ACT_ERRNO" as const,
  architectures: ["SCMP_ARCH_X86_64" as const],
  syscalls: [{ names: ["openat", "read", "write"], action: "SCMP_ACT_ALLOW" as const }],
};
const cr = seccompProfileCR({ name: "web-rec-nginx" }, spec);
const ENTRIES: BundleEntry[] = [
  {
    path: "web-rec-nginx.seccomp.json",
    content: canonicalJson(ociSeccomp(spec)),
    kind: "SeccompProfile",
    profile: "web-rec-nginx",
    format: "oci-seccomp-json",
  },
  {
    path: "web-rec-nginx.seccomp.yaml",
    content: stringify(cr, { lineWidth: 0 }),
    kind: "SeccompProfile",
    profile: "web-rec-nginx",
    format: "cr-yaml",
  },
];
const INFO: BundleInfo = {
  v: 1,
  recording: { namespace: "shop", name: "web-rec" },
  recorder: "Bpf",
  nodes: [{ name: "node-1", arch: "x86_64", kernel: "6.1.0-18-amd64" }],
  startedAt: "2025-01-02T03:04:05Z",
  endedAt: "2025-01-02T03:09:05Z",
  loss: { "node-1": { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 } },
};

/** Bundles the test server hands out, by `<ns>/<name>`. */
const bundles = new Map<string, Uint8Array>();
let server: Server;
let base: string;
beforeAll(async () => {
  const handler = createBundleApiHandler({
    token: TOKEN,
    source: {
      listRecordings: async () => [],
      profiles: async () => undefined,
      bundle: async (ns, name) => bundles.get(`${ns}/${name}`),
    },
  });
  server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

let root: string;
let out: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), "secprof-pull-"));
  mkdirSync(path.join(root, "sub"));
  out = path.join(root, "sub", "out");
});

async function run(opts: Partial<PullOptions> & { source: string }) {
  let stderr = "";
  const code = await pull(
    { out, token: TOKEN, ...opts },
    {
      fetch,
      stderr: {
        write: (s: string) => {
          stderr += s;
        },
      },
    },
  );
  return { code, stderr };
}

/** Every path under `dir` with its content digest (or "dir"/"link"), to prove nothing else was written. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (e.isDirectory()) {
        out[rel] = "dir";
        walk(p);
      } else if (e.isSymbolicLink()) out[rel] = "link";
      else out[rel] = sha(readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

const urlOf = (name: string) => `${base}/v1/recordings/shop/${name}/bundle.tar.gz`;

describe("secprof pull: round trip", () => {
  it("writes exactly the bundled files, byte for byte, plus the manifest", async () => {
    const built = buildBundle(INFO, ENTRIES);
    bundles.set("shop/web-rec", built.bytes);
    const r = await run({ source: urlOf("web-rec") });
    expect(r.stderr).toMatch(/shop\/web-rec \(Bpf, 1 node, .*\): 2 files verified/);
    expect(r.code).toBe(PULL_EXIT.ok);
    expect(readdirSync(out).sort()).toEqual(["manifest.json", ...ENTRIES.map((e) => e.path)].sort());
    for (const e of ENTRIES) expect(readFileSync(path.join(out, e.path), "utf8")).toBe(e.content);
    expect(JSON.parse(readFileSync(path.join(out, "manifest.json"), "utf8"))).toEqual(built.manifest);
    expect(statSync(out).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(out, ENTRIES[0]?.path ?? "")).mode & 0o777).toBe(0o644);
    // Nothing but the target appeared next to it (no temp directories left).
    expect(readdirSync(path.join(root, "sub"))).toEqual(["out"]);

    // The extracted bundle is a valid `secprof diff` input.
    let diffOut = "";
    const io = {
      stdout: {
        write: (s: string) => {
          diffOut += s;
        },
      },
      stderr: { write: () => true },
    };
    expect(await diffCommand({ old: out, new: out, format: "text" }, io)).toBe(0);
    expect(diffOut).toMatch(/No changes/);
  });

  it("resolves NAMESPACE/RECORDING against --server", async () => {
    bundles.set("shop/web-rec", buildBundle(INFO, ENTRIES).bytes);
    const r = await run({ source: "shop/web-rec", server: base });
    expect(r.code).toBe(PULL_EXIT.ok);
    expect(readdirSync(out)).toContain("web-rec-nginx.seccomp.json");
  });

  it("refuses a non-empty DIR unless --force, and then replaces it whole", async () => {
    bundles.set("shop/web-rec", buildBundle(INFO, ENTRIES).bytes);
    mkdirSync(out);
    writeFileSync(path.join(out, "stale.json"), "{}");
    const refused = await run({ source: urlOf("web-rec") });
    expect(refused.code).toBe(PULL_EXIT.usage);
    expect(refused.stderr).toMatch(/is not empty \(use --force/);
    expect(await run({ source: urlOf("web-rec"), force: true })).toMatchObject({ code: 0 });
    expect(readdirSync(out)).not.toContain("stale.json");
    expect(readdirSync(path.join(root, "sub"))).toEqual(["out"]);
  });

  it("reports an incomplete recording", async () => {
    const lossy = {
      ...INFO,
      loss: { "node-1": { kernelLost: 3, parserDropped: 0, attributionMisses: 0, truncated: 0 } },
    };
    bundles.set("shop/lossy", buildBundle(lossy, ENTRIES).bytes);
    const r = await run({ source: urlOf("lossy") });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/INCOMPLETE: .*node-1: .*"kernelLost":3/);
  });
});

// ─── hostile bundles ────────────────────────────────────────────────────────────────────────

interface RawEntry {
  path: string;
  type?: "File" | "SymbolicLink" | "Link" | "Directory";
  data?: string;
  linkpath?: string;
  /** Declared size when it should differ from the data. */
  size?: number;
}

/** A tar.gz written header by header with node-tar's Header (not our encoder), as an attacker would. */
function rawBundle(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? "");
    const h = new Header({
      path: e.path,
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: e.size ?? data.length,
      mtime: new Date(0),
      type: e.type ?? "File",
      ...(e.linkpath === undefined ? {} : { linkpath: e.linkpath }),
    });
    h.encode();
    if (h.block === undefined) throw new Error("header did not encode");
    parts.push(h.block, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts));
}

const GOOD = ENTRIES.map((e) => ({ path: e.path, data: String(e.content) }));
function manifest(files: { path: string; data: string }[]): RawEntry {
  const m: BundleManifest = {
    ...INFO,
    files: files.map((f) => ({
      path: f.path,
      sha256: sha(f.data),
      size: Buffer.byteLength(f.data),
      kind: "SeccompProfile",
      profile: "web-rec-nginx",
      format: f.path.endsWith(".json") ? "oci-seccomp-json" : "cr-yaml",
    })),
  };
  return { path: "manifest.json", data: JSON.stringify(m) };
}

describe("secprof pull: hostile bundles are refused and nothing is written", () => {
  const cases: [string, () => RawEntry[], RegExp][] = [
    [
      "a ../ entry",
      () => [manifest(GOOD), ...GOOD, { path: "../x", data: "pwned" }],
      /"\.\.\/x": '\.\.' path segment/,
    ],
    [
      "a deeper ../ entry",
      () => [manifest(GOOD), ...GOOD, { path: "a/../../../x", data: "pwned" }],
      /'\.\.' path segment/,
    ],
    [
      "an absolute path",
      () => [manifest(GOOD), ...GOOD, { path: path.join(root, "abs-pwned"), data: "x" }],
      /absolute path/,
    ],
    [
      "a symlink",
      () => [
        manifest(GOOD),
        ...GOOD,
        { path: "evil", type: "SymbolicLink", linkpath: path.join(root, "link-target") },
      ],
      /"evil": it is a symbolic link → ".*link-target"/,
    ],
    [
      "a symlink named like a listed file",
      () => [
        manifest(GOOD),
        { path: GOOD[0]?.path ?? "", type: "SymbolicLink", linkpath: "/etc/passwd" },
        GOOD[1] as RawEntry,
      ],
      /it is a symbolic link → "\/etc\/passwd"/,
    ],
    [
      "a hard link",
      () => [manifest(GOOD), ...GOOD, { path: "evil", type: "Link", linkpath: "/etc/shadow" }],
      /"evil": it is a hard link → "\/etc\/shadow"/,
    ],
    [
      "a directory entry",
      () => [manifest(GOOD), { path: "d", type: "Directory" }, ...GOOD],
      /"d": it is a directory/,
    ],
    [
      "a 100 MB entry declared",
      () => [manifest(GOOD), ...GOOD, { path: "big.json", data: "x", size: 100 * 1024 * 1024 }],
      /"big\.json" declares 104857600 bytes, over the limit of 16777216/,
    ],
    [
      "a digest mismatch",
      () => [
        manifest(GOOD),
        { path: GOOD[0]?.path ?? "", data: (GOOD[0]?.data ?? "").replace("ERRNO", "ALLOW") },
        GOOD[1] as RawEntry,
      ],
      /digest mismatch for web-rec-nginx\.seccomp\.json: the manifest says sha256:[0-9a-f]{64}, the content is sha256:/,
    ],
    [
      "an extra file not in the manifest",
      () => [manifest(GOOD), ...GOOD, { path: "extra.json", data: "{}" }],
      /"extra\.json": it is not listed in manifest\.json/,
    ],
    [
      "a listed file missing",
      () => [manifest(GOOD), GOOD[0] as RawEntry],
      /lists web-rec-nginx\.seccomp\.yaml, which the archive does not hold/,
    ],
    ["a duplicate name", () => [manifest(GOOD), ...GOOD, GOOD[0] as RawEntry], /appears more than once/],
    ["no manifest", () => [...GOOD], /has no manifest\.json/],
    [
      "a manifest that is not JSON",
      () => [{ path: "manifest.json", data: "{nope" }, ...GOOD],
      /manifest\.json is not valid JSON/,
    ],
  ];

  it.each(cases)("refuses %s", async (_, entries, message) => {
    bundles.set("shop/evil", rawBundle(entries()));
    const before = snapshot(root);
    const r = await run({ source: urlOf("evil") });
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^secprof pull: refusing the bundle: /);
    expect(r.code).toBe(PULL_EXIT.failed);
    expect(snapshot(root)).toEqual(before);
  });

  it("refuses a bundle that expands past the size limit (gzip bomb)", async () => {
    const limits = { ...BUNDLE_LIMITS, maxTotalBytes: 1024 * 1024, maxFiles: 4 };
    bundles.set(
      "shop/bomb",
      rawBundle([manifest(GOOD), ...GOOD, { path: "zeros.json", data: "\0".repeat(4 * 1024 * 1024) }]),
    );
    const before = snapshot(root);
    const r = await run({ source: urlOf("bomb"), limits });
    expect(r.stderr).toMatch(/refusing the bundle: it expands to more than \d+ bytes/);
    expect(r.code).toBe(PULL_EXIT.failed);
    expect(snapshot(root)).toEqual(before);
  });

  it("stops downloading at the download limit", async () => {
    bundles.set("shop/web-rec", buildBundle(INFO, ENTRIES).bytes);
    const r = await run({ source: urlOf("web-rec"), limits: { ...BUNDLE_LIMITS, maxDownloadBytes: 100 } });
    expect(r.stderr).toMatch(/larger than the 100-byte download limit/);
    expect(r.code).toBe(PULL_EXIT.failed);
  });

  it("refuses data that is not gzip", async () => {
    bundles.set("shop/html", Buffer.from("<html>login</html>"));
    const r = await run({ source: urlOf("html") });
    expect(r.stderr).toMatch(/refusing the bundle: not gzip data/);
    expect(r.code).toBe(PULL_EXIT.failed);
  });
});

describe("secprof pull: errors", () => {
  it("explains a wrong token and a missing recording", async () => {
    bundles.set("shop/web-rec", buildBundle(INFO, ENTRIES).bytes);
    const denied = await run({ source: urlOf("web-rec"), token: "wrong-token-0123456789" });
    expect(denied).toMatchObject({ code: PULL_EXIT.failed });
    expect(denied.stderr).toMatch(/answered 401 Unauthorized \(check --token or SECPROF_TOKEN\)/);
    expect(denied.stderr).not.toContain("wrong-token");
    const missing = await run({ source: urlOf("nope") });
    expect(missing.stderr).toMatch(/answered 404 .*no such recording/);
  });

  it("explains an unreachable server", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const r = await run({ source: `http://127.0.0.1:${port}/v1/recordings/a/b/bundle.tar.gz` });
    expect(r.code).toBe(PULL_EXIT.failed);
    expect(r.stderr).toMatch(/cannot download .*: ECONNREFUSED/);
  });

  it.each([
    ["web-rec", {}, /expected a URL or NAMESPACE\/RECORDING/],
    ["shop/web-rec", {}, /needs --server URL \(or SECPROF_SERVER\)/],
    ["ftp://example.com/x", {}, /unsupported URL scheme ftp:/],
    ["https://user:pw@example.com/x", {}, /not in the URL/],
    ["shop/../etc", { server: "http://127.0.0.1:1" }, /expected a URL or NAMESPACE\/RECORDING/],
  ])("rejects the source %s as a usage error", async (source, extra, message) => {
    const r = await run({ source, ...extra });
    expect(r.code).toBe(PULL_EXIT.usage);
    expect(r.stderr).toMatch(message);
  });

  it("refuses an --out that is a file or a symlink", async () => {
    writeFileSync(out, "x");
    expect((await run({ source: urlOf("web-rec") })).stderr).toMatch(/exists and is not a directory/);
    const link = path.join(root, "sub", "link");
    mkdirSync(path.join(root, "elsewhere"));
    symlinkSync(path.join(root, "elsewhere"), link);
    const r = await run({ source: urlOf("web-rec"), out: link });
    expect(r).toMatchObject({ code: PULL_EXIT.usage });
    expect(r.stderr).toMatch(/is a symbolic link/);
    expect(readdirSync(path.join(root, "elsewhere"))).toEqual([]);
  });
});
