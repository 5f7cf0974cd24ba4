import type { LossCounters } from "@secprof/core";
import type { AttributionMisses } from "../attribution/resolver.js";
import type { FollowEvent, FollowerStats } from "../sources/audit-log-follower.js";

/**
 * What the recorder knows it lost, as the cumulative loss counters it reports on every target's
 * observations (the merger marks their profiles incomplete). Only losses that may have hit a
 * recorded container count:
 * - `truncated`: audit-log data never read — a truncation not recovered from a copy, a line too
 *   long to keep, or a checkpoint it could not resume from at start (the log was truncated,
 *   replaced or rotated away while the recorder was down: what was logged meanwhile is gone);
 * - `attributionMisses`: events dropped while waiting for the pod index (full backlog, or the pod
 *   never showed up in time), which may well be a recorded pod's. Host processes and processes
 *   that exited unseen are not counted: they are counted in metrics, and on a busy node they
 *   would mark every profile.
 */
export class RecorderLoss {
  private unusedCheckpoints = 0;

  /** Feed of the audit-log follower's events. */
  onFollowEvent = (e: FollowEvent): void => {
    if (e.kind === "checkpoint-not-used") this.unusedCheckpoints++;
  };

  counters(follower: FollowerStats | undefined, misses: AttributionMisses): Partial<LossCounters> {
    const unread =
      follower === undefined
        ? 0
        : follower.truncations - follower.truncationsRecovered + follower.droppedLongLines;
    return {
      truncated: this.unusedCheckpoints + unread,
      attributionMisses: misses.backlogFull + misses.podUnknown,
    };
  }
}
