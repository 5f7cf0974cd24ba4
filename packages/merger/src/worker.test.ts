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

  it("applies every observation of a batch job, and rejects a batch with one bad observation whole", async () => {
    const state = new MemoryProfileState();
    const counts: [JobOutcome, number][] = [];
    const run = observationProcessor(state, (o, n) => counts.push([o, n]));
    const other = contractObservation(contractTarget("redis"), { syscalls: { x86_64: ["write"] } });
    await run({ id: "b1", data: { v: 1, batch: [obs, other] } });
    expect(counts).toEqual([["applied", 2]]);
    expect((await state.list("shop/rec")).map((s) => s.syscalls)).toEqual([
      { x86_64: ["read"] },
      { x86_64: ["write"] },
    ]);
    const bad = { v: 1, batch: [obs, { ...other, target: { ...other.target, profileName: "../x" } }] };
    const err = await run({ id: "b2", data: bad }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidObservationError);
    expect(String((err as Error).message)).toContain("profileName");
    expect(counts.at(-1)).toEqual(["invalid", 1]);
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
