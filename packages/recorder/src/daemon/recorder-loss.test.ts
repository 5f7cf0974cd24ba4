import { describe, expect, it } from "vitest";
import { RecorderLoss } from "./recorder-loss.js";

const follower = { rotations: 9, truncations: 0, truncationsRecovered: 0, droppedLongLines: 0, bytesRead: 1 };
const misses = { exited: 7, notContainer: 50, podUnknown: 0, backlogFull: 0, unreadable: 1 };

describe("RecorderLoss", () => {
  it("reports nothing for rotations, resumed checkpoints, host processes and unseen exits", () => {
    const loss = new RecorderLoss();
    loss.onFollowEvent({ kind: "resumed", file: "audit.log", offset: 10 });
    loss.onFollowEvent({ kind: "switched", from: "audit.log", to: "audit.log", reason: "rotated" });
    expect(loss.counters(follower, misses)).toEqual({ truncated: 0, attributionMisses: 0 });
  });

  it("counts unread audit-log data and events dropped while waiting for the pod index", () => {
    const loss = new RecorderLoss();
    loss.onFollowEvent({
      kind: "checkpoint-not-used",
      reason: "audit.log no longer matches the checkpoint (truncated or replaced)",
      startingAt: { file: "audit.log", offset: 0 },
    });
    const f = { ...follower, truncations: 3, truncationsRecovered: 2, droppedLongLines: 1 };
    expect(loss.counters(f, { ...misses, podUnknown: 4, backlogFull: 5 })).toEqual({
      truncated: 3,
      attributionMisses: 9,
    });
    expect(loss.counters(undefined, misses)).toEqual({ truncated: 1, attributionMisses: 0 });
  });
});
