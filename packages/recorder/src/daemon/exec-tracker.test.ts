import { describe, expect, it } from "vitest";
import { ExecTracker } from "./exec-tracker.js";

describe("ExecTracker watermark", () => {
  it("turns the program's monotonic tick into wall-clock ms, and never moves back", () => {
    let now = 1_790_000_000_000;
    let mono = 5_000_000_000_000; // ns
    const tracker = new ExecTracker({
      resolver: { learnMntns: () => false },
      now: () => now,
      monotonicNs: () => mono,
    });
    expect(tracker.watermark()).toBeUndefined();
    // A tick taken 250 ms ago (bpftrace printed it late): the watermark is 250 ms behind now.
    tracker.onTick(mono - 250e6);
    expect(tracker.watermark()).toBe(now - 250);
    now += 1000;
    mono += 1000e6;
    tracker.onTick(mono - 2000e6); // an older tick read after a newer one
    expect(tracker.watermark()).toBe(now - 1250);
    tracker.onTick(mono);
    expect(tracker.watermark()).toBe(now);
  });
});
