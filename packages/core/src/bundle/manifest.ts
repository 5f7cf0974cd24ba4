import { z } from "zod";
import { DNS_LABEL, LabelName, ObjectName } from "../schemas/names.js";
import { LossCounters } from "../schemas/observation.js";
import { ProfileKind } from "../schemas/target.js";

/**
 * A recording bundle is a gzip'd ustar archive with a flat layout: `manifest.json` plus one file
 * per rendering of every profile. No directories, links or other entry types ever appear, so a
 * reader can allow-list regular files whose names the manifest lists and reject everything else.
 */
export const MANIFEST_FILE = "manifest.json";

/** Limits a bundle writer must stay under and a reader enforces before trusting anything. */
export const BUNDLE_LIMITS = Object.freeze({
  /** Files besides manifest.json. */
  maxFiles: 1000,
  maxFileBytes: 16 * 1024 * 1024,
  /** Sum of all file sizes, manifest included. */
  maxTotalBytes: 64 * 1024 * 1024,
  maxManifestBytes: 4 * 1024 * 1024,
  /** What a client downloads before it gives up (compressed bytes). */
  maxDownloadBytes: 64 * 1024 * 1024,
});
export type BundleLimits = { readonly [K in keyof typeof BUNDLE_LIMITS]: number };

/**
 * Flat file names: an allow-list charset, no leading dot, no `/`, so neither `..`, an absolute
 * path nor a hidden file can be expressed at all (reliability.md §2.1).
 */
export const BundleFileName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be a flat file name: letters, digits, '.', '_', '-'")
  .refine((s) => s !== MANIFEST_FILE, "manifest.json is reserved");

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be a lowercase hex sha256");

/** How a file renders its profile. */
export const BundleFormat = z.enum(["oci-seccomp-json", "cr-yaml", "selinux-cil", "apparmor-text"]);
export type BundleFormat = z.infer<typeof BundleFormat>;

export const BundleFile = z.object({
  path: BundleFileName,
  sha256: Sha256Hex,
  size: z.number().int().nonnegative().max(BUNDLE_LIMITS.maxFileBytes),
  kind: ProfileKind,
  profile: ObjectName,
  format: BundleFormat,
});
export type BundleFile = z.infer<typeof BundleFile>;

/** SPO's coverage annotation payload (spo.md §1.7): in how many of `total` partials each syscall occurred. */
export const SyscallCoverage = z.object({
  version: z.literal("v1"),
  total: z.number().int().nonnegative(),
  syscalls: z.record(z.string().max(64), z.number().int().nonnegative()),
});
export type SyscallCoverage = z.infer<typeof SyscallCoverage>;

export const BundleNode = z.object({
  name: z.string().min(1).max(253),
  /** `uname -m` style (`x86_64`, `aarch64`). */
  arch: z.string().min(1).max(32),
  /** `uname -r`. */
  kernel: z.string().min(1).max(128),
});

const isoTime = z.iso.datetime({ offset: true });

export const BundleManifest = z
  .object({
    v: z.literal(1),
    recording: z.object({ namespace: z.string().max(63).regex(DNS_LABEL), name: LabelName }),
    /** `Bpf`, `Logs`, or a local recorder's name. */
    recorder: z.string().min(1).max(64),
    nodes: z.array(BundleNode).max(10_000),
    startedAt: isoTime,
    endedAt: isoTime,
    /** Per recorder (node) name, the loss counters it reported; any non-zero value means incomplete. */
    loss: z.record(z.string().max(253), LossCounters),
    /** Per profile name (seccomp only, like SPO). */
    coverage: z.record(ObjectName, SyscallCoverage).optional(),
    files: z.array(BundleFile).min(1).max(BUNDLE_LIMITS.maxFiles),
  })
  .superRefine((m, ctx) => {
    const seen = new Set<string>();
    for (const [i, f] of m.files.entries()) {
      if (seen.has(f.path))
        ctx.addIssue({ code: "custom", path: ["files", i, "path"], message: `duplicate file ${f.path}` });
      seen.add(f.path);
    }
    const total = m.files.reduce((n, f) => n + f.size, 0);
    if (total > BUNDLE_LIMITS.maxTotalBytes)
      ctx.addIssue({
        code: "custom",
        path: ["files"],
        message: `files total ${total} bytes, over the limit`,
      });
    if (Date.parse(m.endedAt) < Date.parse(m.startedAt))
      ctx.addIssue({ code: "custom", path: ["endedAt"], message: "endedAt is before startedAt" });
  });
export type BundleManifest = z.infer<typeof BundleManifest>;

/** True when any recorder reported a loss: the profiles may miss something. */
export function bundleIncomplete(m: Pick<BundleManifest, "loss">): boolean {
  return Object.values(m.loss).some(
    (l) => l.kernelLost + l.parserDropped + l.attributionMisses + l.truncated > 0,
  );
}

const SUFFIX: Readonly<Record<ProfileKind, Partial<Record<BundleFormat, string>>>> = {
  SeccompProfile: { "oci-seccomp-json": ".seccomp.json", "cr-yaml": ".seccomp.yaml" },
  SelinuxProfile: { "selinux-cil": ".cil", "cr-yaml": ".selinux.yaml" },
  AppArmorProfile: { "apparmor-text": ".apparmor", "cr-yaml": ".apparmor.yaml" },
};

/** The file name a rendering gets in a bundle (and in `secprof record --out`): `web-rec-nginx.seccomp.json`. */
export function bundleFileName(kind: ProfileKind, profile: string, format: BundleFormat): string {
  const suffix = SUFFIX[kind][format];
  if (suffix === undefined) throw new TypeError(`${kind} has no ${format} rendering`);
  return `${profile}${suffix}`;
}

/** `GET /v1/recordings`: one item per recording the server knows. */
export const RecordingStatus = z.enum(["Recording", "Finalizing", "Complete", "Failed"]);
export type RecordingStatus = z.infer<typeof RecordingStatus>;

export const RecordingSummary = z.object({
  namespace: z.string().max(63).regex(DNS_LABEL),
  name: LabelName,
  kind: ProfileKind,
  status: RecordingStatus,
  /** Profile names produced so far. */
  profiles: z.array(ObjectName).max(10_000),
  /** True once a bundle can be downloaded. */
  bundle: z.boolean(),
});
export type RecordingSummary = z.infer<typeof RecordingSummary>;

export const RecordingList = z.object({ items: z.array(RecordingSummary) });
export type RecordingList = z.infer<typeof RecordingList>;
