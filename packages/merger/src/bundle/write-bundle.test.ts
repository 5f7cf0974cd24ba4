import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { gunzipSync } from "node:zlib";
import { verifyBundle } from "@secprof/core";
import * as tar from "tar";
import { describe, expect, it } from "vitest";
import { type BundleEntry, type BundleInfo, buildBundle, writeBundle } from "./write-bundle.js";

const sha = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");

const INFO: BundleInfo = {
  v: 1,
  recording: { namespace: "shop", name: "web-rec" },
  recorder: "Bpf",
  nodes: [
    { name: "node-b", arch: "x86_64", kernel: "6.1.0-18-amd64" },
    { name: "node-a", arch: "aarch64", kernel: "6.1.0-18-arm64" },
  ],
  startedAt: "2025-01-02T03:04:05Z",
  endedAt: "2025-01-02T03:09:05Z",
  loss: {
    "node-b": { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 },
    "node-a": { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 },
  },
  coverage: { "web-rec-nginx": { version: "v1", total: 2, syscalls: { write: 2, read: 1 } } },
};

const ENTRIES: BundleEntry[] = [
  {
    path: "web-rec-nginx.seccomp.yaml",
    content: "apiVersion: security-profiles-operator.x-k8s.io/v1\nkind: SeccompProfile\n",
    kind: "SeccompProfile",
    profile: "web-rec-nginx",
    format: "cr-yaml",
  },
  {
    path: "web-rec-nginx.seccomp.json",
    content: '{\n  "defaultAction": "SCMP_ACT_ERRNO"\n}\n',
    kind: "SeccompProfile",
    profile: "web-rec-nginx",
    format: "oci-seccomp-json",
  },
];

describe("writeBundle", () => {
  it("is byte-identical for equal input in any order", () => {
    const a = writeBundle(INFO, ENTRIES);
    const shuffled: BundleInfo = {
      ...INFO,
      nodes: [...INFO.nodes].reverse(),
      loss: Object.fromEntries(Object.entries(INFO.loss).reverse()),
    };
    const b = writeBundle(shuffled, [...ENTRIES].reverse());
    expect(sha(b)).toBe(sha(a));
    expect(buildBundle(INFO, ENTRIES).sha256).toBe(sha(a));
  });

  it("lists every file with its sha256 and size, and verifies", () => {
    const { manifest, bytes } = buildBundle(INFO, ENTRIES);
    expect(manifest.files.map((f) => f.path)).toEqual([
      "web-rec-nginx.seccomp.json",
      "web-rec-nginx.seccomp.yaml",
    ]);
    expect(manifest.nodes.map((n) => n.name)).toEqual(["node-a", "node-b"]);
    const v = verifyBundle(gunzipSync(bytes), sha);
    for (const e of ENTRIES) expect(Buffer.from(v.files.get(e.path) ?? []).toString()).toBe(e.content);
    expect(v.manifest).toEqual(manifest);
  });

  it("is a standard tar.gz: node-tar lists and extracts it with fixed metadata", async () => {
    const bytes = writeBundle(INFO, ENTRIES);
    const seen: {
      path: string;
      type: string;
      mode: number | undefined;
      uid: number | undefined;
      mtime: number | undefined;
    }[] = [];
    await pipeline(
      Readable.from([bytes]),
      tar.list({
        onReadEntry: (e) => {
          seen.push({ path: e.path, type: e.type, mode: e.mode, uid: e.uid, mtime: e.mtime?.getTime() });
        },
      }),
    );
    expect(seen.map((e) => e.path)).toEqual([
      "manifest.json",
      "web-rec-nginx.seccomp.json",
      "web-rec-nginx.seccomp.yaml",
    ]);
    for (const e of seen) expect(e).toMatchObject({ type: "File", mode: 0o644, uid: 0, mtime: 0 });
    const dir = mkdtempSync(path.join(tmpdir(), "secprof-bundle-"));
    await pipeline(Readable.from([bytes]), tar.extract({ cwd: dir }));
    expect(readFileSync(path.join(dir, "web-rec-nginx.seccomp.json"), "utf8")).toBe(ENTRIES[1]?.content);
  });

  it("refuses unsafe names, duplicates and invalid metadata", () => {
    const e = ENTRIES[0] as BundleEntry;
    expect(() => writeBundle(INFO, [{ ...e, path: "../x" }])).toThrow(/files\.0\.path/);
    expect(() => writeBundle(INFO, [e, e])).toThrow(/duplicate file/);
    expect(() => writeBundle(INFO, [])).toThrow(/files/);
    expect(() => writeBundle({ ...INFO, endedAt: "2024-01-01T00:00:00Z" }, ENTRIES)).toThrow(/endedAt/);
  });
});
