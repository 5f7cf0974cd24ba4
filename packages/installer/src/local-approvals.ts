import { createHash } from "node:crypto";
import path from "node:path";
import {
  APPROVAL_DIGEST,
  type ApprovalDigest,
  ApprovalRecord,
  currentApproval,
  type ProfileRef,
} from "@secprof/core";
import { z } from "zod";
import { readFileNoFollow, withFileLock, writeFileAtomic } from "./local-file.js";

/**
 * Single-host approval store: one JSON file (default `<dir>/.secprof/approvals.json`, mode 0644,
 * in a 0700 directory), written atomically under a lock file.
 *
 * - `approvals`: the append-only log of ApprovalRecords (core/approval), newest last; the latest
 *   record of a profile is its effective approval.
 * - `snapshots`: digest → the canonical rendering that was approved, so `secprof approve` can
 *   show a diff against what was last approved. Each snapshot is checked against its digest on
 *   read, so a tampered snapshot is ignored rather than shown as the approved content.
 *
 * A missing file is an empty store; a corrupt one is an error (fail closed: nothing counts as
 * approved, and nothing overwrites it).
 * Trust: anyone who can write this file can approve. Keep it root-owned. It is created 0644: it
 * holds no secret, and the unprivileged installer (uid 65535 in the privilege split) must read it
 * (make its directory 0755 for that; `.secprof/` is created 0700).
 */

export const ApprovalFile = z.object({
  version: z.literal(1),
  approvals: z.array(ApprovalRecord),
  snapshots: z.record(z.string().regex(APPROVAL_DIGEST), z.string()),
});
export type ApprovalFile = z.infer<typeof ApprovalFile>;

export class ApprovalStoreError extends Error {
  override readonly name = "ApprovalStoreError";
}

const EMPTY: ApprovalFile = { version: 1, approvals: [], snapshots: {} };

export class LocalApprovalStore {
  constructor(readonly file: string) {}

  static defaultPath(dir: string): string {
    return path.join(dir, ".secprof", "approvals.json");
  }

  async load(): Promise<ApprovalFile> {
    const text = await readFileNoFollow(this.file);
    if (text === undefined) return structuredClone(EMPTY);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ApprovalStoreError(`${this.file} is not valid JSON: ${(err as Error).message}`);
    }
    const parsed = ApprovalFile.safeParse(json);
    if (!parsed.success)
      throw new ApprovalStoreError(
        `${this.file} is not an approval store: ${parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join(".")}: ${i.message}`)
          .join("; ")}`,
      );
    return parsed.data;
  }

  async records(): Promise<ApprovalRecord[]> {
    return (await this.load()).approvals;
  }

  /** The approved canonical rendering for `digest`, if stored and intact. */
  async snapshot(digest: string): Promise<string | undefined> {
    const s = (await this.load()).snapshots[digest];
    if (s === undefined) return undefined;
    return `sha256:${createHash("sha256").update(s).digest("hex")}` === digest ? s : undefined;
  }

  private async update(
    fn: (f: ApprovalFile) => ApprovalRecord | undefined,
  ): Promise<ApprovalRecord | undefined> {
    return withFileLock(this.file, async () => {
      const f = await this.load();
      const out = fn(f);
      if (out !== undefined) {
        ApprovalFile.parse(f);
        await writeFileAtomic(this.file, `${JSON.stringify(f, null, 2)}\n`, 0o644);
      }
      return out;
    });
  }

  /** Appends an approval of `digest` for `ref`; `snapshot` is the canonical rendering approved. */
  async approve(
    ref: ProfileRef,
    digest: ApprovalDigest,
    approvedBy: string,
    approvedAt: Date,
    snapshot?: string,
  ): Promise<ApprovalRecord> {
    const record = ApprovalRecord.parse({ ...ref, digest, approvedBy, approvedAt: approvedAt.toISOString() });
    const out = await this.update((f) => {
      f.approvals.push(record);
      if (snapshot !== undefined) f.snapshots[digest] = snapshot;
      return record;
    });
    return out ?? record;
  }

  /** Marks the current approval of `ref` revoked; undefined if there is no unrevoked one. */
  async revoke(ref: ProfileRef, by: string, at: Date): Promise<ApprovalRecord | undefined> {
    return this.update((f) => {
      const cur = currentApproval(f.approvals, ref);
      if (cur === undefined || cur.revoked !== undefined) return undefined;
      cur.revoked = { by, at: at.toISOString() };
      return cur;
    });
  }
}
