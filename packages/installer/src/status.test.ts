import { describe, expect, it } from "vitest";
import { aggregateState, canTransition, initialState, ProfileState, readyCondition } from "./status.js";

describe("status values", () => {
  it("aggregates to the lowest state in SPO's order", () => {
    expect(aggregateState(["Installed", "Pending", "InProgress"])).toBe("Pending");
    expect(aggregateState(["Installed", "Terminating", "Error"])).toBe("Error");
    expect(aggregateState(["Installed", "Disabled", "Partial"])).toBe("Partial");
    expect(aggregateState([])).toBeUndefined();
  });

  it("maps states to the Ready condition", () => {
    expect(readyCondition("Installed")).toEqual({ status: "True", reason: "Available" });
    expect(readyCondition("InProgress").reason).toBe("Creating");
    expect(readyCondition("Terminating").reason).toBe("Deleting");
    expect(readyCondition("Partial").reason).toBe("Unavailable");
  });

  it("makes deletion one-way", () => {
    for (const s of ProfileState.options) expect(canTransition(s, "Terminating")).toBe(true);
    for (const s of ProfileState.options) expect(canTransition("Terminating", s)).toBe(s === "Terminating");
    expect(canTransition(undefined, "Installed")).toBe(true);
  });

  it("starts Disabled, Partial or Pending like SPO", () => {
    expect(initialState({ disabled: true, partial: true })).toBe("Disabled");
    expect(initialState({ disabled: false, partial: true })).toBe("Partial");
    expect(initialState({ disabled: false, partial: false })).toBe("Pending");
  });
});
