import type { ProfileObject } from "../ports/profile-store.js";
import { diffProfilePair, type ProfileChange } from "../profiles/diff.js";

/**
 * What `secprof approve` shows: the semantic changes from the installed (or last approved)
 * content to the one being approved, one line each, widening ones marked `+!`.
 */
export function approvalDiff(old: ProfileObject | undefined, neu: ProfileObject): ProfileChange[] {
  return diffProfilePair(old, neu);
}

export function formatApprovalDiff(changes: readonly ProfileChange[]): string[] {
  return changes.map((c) => {
    const mark = c.widening ? "+!" : c.op === "removed" ? "- " : c.op === "added" ? "+ " : "~ ";
    const span =
      c.before !== undefined && c.after !== undefined
        ? `${c.before} -> ${c.after}`
        : (c.after ?? c.before ?? "");
    const note = c.note === undefined ? "" : `  (${c.note})`;
    return `${mark} ${c.aspect} ${c.subject}: ${span}${note}`;
  });
}
