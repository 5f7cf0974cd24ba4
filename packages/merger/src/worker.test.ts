import type { Observation, ProfileState } from "@secprof/core";
import { UnrecoverableError } from "bullmq";
import { describe, expect, it } from "vitest";
import { MemoryProfileState } from "./memory-state.js";
import { contractObservation, contractTarget } from "./profile-state.contract.js";
import { InvalidObservationError, type JobOutcome, observationProcessor } from "./worker.js";

const obs = contractObservation(contractTarget("nginx"), { syscalls: { x86_64: ["read"] } });

describe("observationProcessor", () => {
  it("applies a valid payload", async () => {
    const state = new MemoryProfileState();
    const outcomes: JobOutcome[] = [];
    const run = observationProcessor(state, (o) => outcomes.push(o));
    await run({ id: "j1", data: JSON.parse(JSON.stringify(obs)) });
    await run({ id: "j1", data: JSON.parse(JSON.stringify(obs)) }); // redelivery
    expect(outcomes).toEqual(["applied", "applied"]);
    expect((await state.get("shop/rec", "rec-nginx-abcde"))?.syscalls).toEqual({ x86_64: ["read"] });
  });

  it.each([
    ["not an object", "hello", "expected object"],
    ["wrong version", { ...obs, v: 2 }, "v"],
    ["path-like profile name", { ...obs, target: { ...obs.target, profileName: "../etc" } }, "profileName"],
    ["negative loss", { ...obs, loss: { ...obs.loss, kernelLost: -1 } }, "kernelLost"],
    [
      "syscall list too long",
      { ...obs, delta: { syscalls: { x86_64: Array(1025).fill("x") }, avc: [] } },
      "syscalls",
    ],
    ["unknown arch", { ...obs, delta: { syscalls: { vax: ["read"] }, avc: [] } }, "syscalls"],
  ])("fails an invalid payload (%s) unrecoverably with a clear reason", async (_n, data, mention) => {
    const state = new MemoryProfileState();
    const outcomes: JobOutcome[] = [];
    const run = observationProcessor(state, (o) => outcomes.push(o));
    const err = await run({ id: "bad-1", data }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidObservationError);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect(String((err as Error).message)).toContain("invalid observation payload (job bad-1)");
    expect(String((err as Error).message)).toContain(mention);
    expect(outcomes).toEqual(["invalid"]);
    expect(await state.list("shop/rec")).toEqual([]);
  });

  it("counts a failing apply and rethrows it (BullMQ retries it)", async () => {
    const broken: ProfileState = {
      apply: async (_o: Observation) => {
        throw new Error("ECONNREFUSED");
      },
      get: async () => undefined,
      list: async () => [],
      remove: async () => undefined,
    };
    const outcomes: JobOutcome[] = [];
    const run = observationProcessor(broken, (o) => outcomes.push(o));
    await expect(run({ id: "j", data: obs })).rejects.toThrow("ECONNREFUSED");
    expect(outcomes).toEqual(["failed"]);
  });
});
