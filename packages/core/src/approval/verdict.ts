import { type ApprovalRecord, type ProfileRef, sameProfile } from "./schema.js";

/** The effective approval of a profile: its latest record (revoked or not), if any. */
export function currentApproval(
  records: readonly ApprovalRecord[],
  ref: ProfileRef,
): ApprovalRecord | undefined {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    if (r !== undefined && sameProfile(r, ref)) return r;
  }
  return undefined;
}

export type ApprovalVerdict =
  | { approved: true; record: ApprovalRecord }
  | {
      approved: false;
      /** never: no record; changed: the latest approval names another digest; revoked. */
      why: "never" | "changed" | "revoked";
      record?: ApprovalRecord;
      message: string;
    };

/** Is `digest` the approved content of `ref`? Only the latest, unrevoked record counts. */
export function approvalVerdict(
  records: readonly ApprovalRecord[],
  ref: ProfileRef,
  digest: string,
): ApprovalVerdict {
  const record = currentApproval(records, ref);
  const short = (d: string) => d.slice(0, 19);
  if (record === undefined)
    return { approved: false, why: "never", message: `awaits approval of ${short(digest)}…: never approved` };
  if (record.digest !== digest)
    return {
      approved: false,
      why: "changed",
      record,
      message: `awaits approval of ${short(digest)}…: changed since ${record.approvedBy} approved ${short(record.digest)}… at ${record.approvedAt}`,
    };
  if (record.revoked !== undefined)
    return {
      approved: false,
      why: "revoked",
      record,
      message: `awaits approval of ${short(digest)}…: approval revoked by ${record.revoked.by} at ${record.revoked.at}`,
    };
  return { approved: true, record };
}
