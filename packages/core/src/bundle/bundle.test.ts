import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  BUNDLE_LIMITS,
  BundleManifest,
  bundleFileName,
  bundleIncomplete,
  MANIFEST_FILE,
} from "./manifest.js";
import { decodeUstar, encodeUstar, TarFormatError } from "./ustar.js";
import { BundleError, unsafeEntryPath, verifyBundle } from "./verify.js";

const te = new TextEncoder();
const sha = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");
const limits = { maxEntries: 10, maxEntryBytes: 1 << 20, maxTotalBytes: 4 << 20 };

/** Overwrites a header field and fixes the checksum, as a hostile writer would. */
function patchHeader(tar: Uint8Array, headerOffset: number, field: number, value: Uint8Array | string): void {
  const bytes = typeof value === "string" ? te.encode(value) : value;
  tar.set(bytes, headerOffset + field);
  tar.fill(0x20, headerOffset + 148, headerOffset + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[headerOffset + i] ?? 0;
  tar.set(te.encode(`${sum.toString(8).padStart(6, "0")}\0 `), headerOffset + 148);
}

describe("ustar codec", () => {
  it("round-trips files, including names longer than the 100-byte field (pax path)", () => {
    const long = `${"a".repeat(180)}.seccomp.json`;
    const files = [
      { path: "manifest.json", data: te.encode("{}") },
      { path: long, data: te.encode("x".repeat(1000)) },
      { path: "empty", data: new Uint8Array() },
    ];
    const tar = encodeUstar(files);
    expect(tar.length % 512).toBe(0);
    const got = decodeUstar(tar, limits);
    expect(got.map((e) => [e.path, e.type, Buffer.from(e.data).toString()])).toEqual(
      files.map((f) => [f.path, "0", Buffer.from(f.data).toString()]),
    );
  });

  it("is deterministic and writes fixed metadata", () => {
    const a = encodeUstar([{ path: "f", data: te.encode("hi") }]);
    expect(encodeUstar([{ path: "f", data: te.encode("hi") }])).toEqual(a);
    const h = Buffer.from(a.subarray(0, 512));
    expect(h.subarray(100, 107).toString()).toBe("0000644"); // mode
    expect(h.subarray(108, 115).toString()).toBe("0000000"); // uid
    expect(h.subarray(136, 147).toString()).toBe("00000000000"); // mtime
    expect(h.subarray(257, 262).toString()).toBe("ustar");
  });

  it("checks the declared size before reading content", () => {
    const tar = encodeUstar([{ path: "big", data: te.encode("small") }]);
    patchHeader(tar, 0, 124, `${(100 * 1024 * 1024).toString(8).padStart(11, "0")}\0`);
    expect(() => decodeUstar(tar, limits)).toThrow(/declares 104857600 bytes, over the limit/);
  });

  it("refuses corrupt checksums, truncation, trailing data and non-ustar headers", () => {
    const tar = encodeUstar([{ path: "f", data: te.encode("hello") }]);
    const bad = tar.slice();
    bad[0] = 0x67;
    expect(() => decodeUstar(bad, limits)).toThrow(/checksum mismatch/);
    expect(() => decodeUstar(tar.subarray(0, 512), limits)).toThrow(/truncated/);
    expect(() => decodeUstar(tar.subarray(0, 1024), limits)).toThrow(/no end-of-archive marker/);
    const trailing = new Uint8Array(tar.length + 512);
    trailing.set(tar);
    trailing[tar.length + 3] = 1;
    expect(() => decodeUstar(trailing, limits)).toThrow(/data after the end-of-archive marker/);
    const v7 = tar.slice();
    patchHeader(v7, 0, 257, new Uint8Array(8));
    expect(() => decodeUstar(v7, limits)).toThrow(TarFormatError);
    expect(() => decodeUstar(te.encode("not a tar".padEnd(2048, " ")), limits)).toThrow(TarFormatError);
  });

  it("reports links and directories with their type for the caller to refuse", () => {
    const tar = encodeUstar([{ path: "l", data: new Uint8Array() }]);
    patchHeader(tar, 0, 156, "2");
    patchHeader(tar, 0, 157, "/etc/passwd");
    expect(decodeUstar(tar, limits)[0]).toMatchObject({ path: "l", type: "2", linkpath: "/etc/passwd" });
  });
});

function manifestFor(files: Record<string, string>): BundleManifest {
  return {
    v: 1,
    recording: { namespace: "shop", name: "web-rec" },
    recorder: "Bpf",
    nodes: [{ name: "node-1", arch: "x86_64", kernel: "6.1.0-18-amd64" }],
    startedAt: "2025-01-02T03:04:05Z",
    endedAt: "2025-01-02T03:09:05Z",
    loss: { "node-1": { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 } },
    files: Object.entries(files).map(([path, content]) => ({
      path,
      sha256: sha(te.encode(content)),
      size: te.encode(content).length,
      kind: "SeccompProfile" as const,
      profile: "web-rec-nginx",
      format: path.endsWith(".json") ? ("oci-seccomp-json" as const) : ("cr-yaml" as const),
    })),
  };
}

function bundle(
  files: Record<string, string>,
  manifest = manifestFor(files),
  extra: [string, string][] = [],
) {
  return encodeUstar([
    { path: MANIFEST_FILE, data: te.encode(JSON.stringify(manifest)) },
    ...Object.entries(files).map(([path, c]) => ({ path, data: te.encode(c) })),
    ...extra.map(([path, c]) => ({ path, data: te.encode(c) })),
  ]);
}

const FILES = {
  "web-rec-nginx.seccomp.json": '{"defaultAction":"SCMP_ACT_ERRNO"}\n',
  "web-rec-nginx.seccomp.yaml": "kind: x\n",
};

describe("verifyBundle", () => {
  it("returns the manifest and every file once all digests match", () => {
    const v = verifyBundle(bundle(FILES), sha);
    expect([...v.files.keys()]).toEqual(Object.keys(FILES));
    expect(v.manifest.recording.name).toBe("web-rec");
  });

  it.each([
    [
      "a digest mismatch",
      () => bundle({ ...FILES, "web-rec-nginx.seccomp.json": "{}\n" }, manifestFor(FILES)),
      /size mismatch|digest mismatch/,
    ],
    [
      "same size, other content",
      () => bundle({ ...FILES, "web-rec-nginx.seccomp.yaml": "kind: y\n" }, manifestFor(FILES)),
      /digest mismatch for web-rec-nginx.seccomp.yaml/,
    ],
    [
      "an extra file",
      () => bundle(FILES, manifestFor(FILES), [["extra.txt", "hi"]]),
      /"extra.txt": it is not listed/,
    ],
    [
      "a missing file",
      () => bundle({}, manifestFor(FILES)),
      /lists web-rec-nginx.seccomp.json, which the archive does not hold/,
    ],
    [
      "a duplicate entry",
      () => bundle(FILES, manifestFor(FILES), [["web-rec-nginx.seccomp.yaml", "kind: x\n"]]),
      /appears more than once/,
    ],
    [
      "a `..` path",
      () => bundle(FILES, manifestFor(FILES), [["../x", "pwned"]]),
      /"\.\.\/x": '\.\.' path segment/,
    ],
    [
      "an absolute path",
      () => bundle(FILES, manifestFor(FILES), [["/etc/x", "pwned"]]),
      /"\/etc\/x": absolute path/,
    ],
    ["a nested path", () => bundle(FILES, manifestFor(FILES), [["a/b", "x"]]), /not a flat name/],
    ["a hidden file", () => bundle(FILES, manifestFor(FILES), [[".x", "x"]]), /outside the allowed charset/],
    ["no manifest", () => encodeUstar([{ path: "a", data: te.encode("x") }]), /has no manifest.json/],
    [
      "an invalid manifest",
      () => bundle(FILES, { ...manifestFor(FILES), v: 2 } as unknown as BundleManifest),
      /not a v1 bundle manifest: v:/,
    ],
  ])("refuses %s", (_, make, msg) => {
    expect(() => verifyBundle(make(), sha)).toThrow(BundleError);
    expect(() => verifyBundle(make(), sha)).toThrow(msg);
  });

  it("refuses symlinks and hard links, naming the target", () => {
    for (const [type, what] of [
      ["2", "symbolic link"],
      ["1", "hard link"],
      ["5", "directory"],
    ] as const) {
      const tar = bundle(FILES, manifestFor(FILES), [["evil", ""]]);
      const off = tar.length - 1024 - 512; // the last entry's header (empty content)
      patchHeader(tar, off, 156, type);
      patchHeader(tar, off, 157, "/etc/shadow");
      expect(() => verifyBundle(tar, sha)).toThrow(new RegExp(`"evil": it is a ${what}`));
    }
  });

  it("refuses a manifest that lists a file twice or paths that escape", () => {
    const m = manifestFor(FILES);
    const dup = { ...m, files: [...m.files, ...m.files] };
    expect(BundleManifest.safeParse(dup).success).toBe(false);
    const traversal = { ...m, files: [{ ...m.files[0], path: "../x" }] };
    expect(BundleManifest.safeParse(traversal).success).toBe(false);
  });

  it("enforces the entry and total limits", () => {
    const small = { ...BUNDLE_LIMITS, maxFileBytes: 10 };
    expect(() => verifyBundle(bundle(FILES), sha, { ...small, maxManifestBytes: 10 })).toThrow(
      /over the limit of 10/,
    );
    expect(() => verifyBundle(bundle(FILES), sha, { ...BUNDLE_LIMITS, maxFiles: 1 })).toThrow(
      /more than 2 entries/,
    );
  });
});

describe("manifest helpers", () => {
  it("names files the way secprof record does", () => {
    expect(bundleFileName("SeccompProfile", "web", "oci-seccomp-json")).toBe("web.seccomp.json");
    expect(bundleFileName("SeccompProfile", "web", "cr-yaml")).toBe("web.seccomp.yaml");
    expect(bundleFileName("SelinuxProfile", "web", "selinux-cil")).toBe("web.cil");
    expect(() => bundleFileName("SeccompProfile", "web", "selinux-cil")).toThrow(TypeError);
  });

  it("flags any loss as incomplete", () => {
    const m = manifestFor(FILES);
    expect(bundleIncomplete(m)).toBe(false);
    expect(
      bundleIncomplete({
        loss: { n: { kernelLost: 0, parserDropped: 1, attributionMisses: 0, truncated: 0 } },
      }),
    ).toBe(true);
  });

  it("accepts exactly the flat names", () => {
    expect(unsafeEntryPath("web.seccomp.json")).toBeUndefined();
    expect(unsafeEntryPath("manifest.json")).toBeUndefined();
    expect(unsafeEntryPath("a\\b")).toBe("backslash in name");
    expect(unsafeEntryPath("a\0b")).toBe("NUL in name");
    expect(unsafeEntryPath("")).toBe("empty name");
  });
});
