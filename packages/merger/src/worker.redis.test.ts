import { randomUUID } from "node:crypto";
import type { Observation, ProfileState } from "@secprof/core";
import { missing } from "@secprof/testkit";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MemoryProfileState } from "./memory-state.js";
import { contractObservation, contractTarget } from "./profile-state.contract.js";
import { RedisProfileState } from "./redis-state.js";
import { createMergerWorker, type MergerWorker, OBSERVATION_QUEUE_PREFIX } from "./worker.js";

const reason = missing("redis");
const url = process.env.SECPROF_REDIS_URL ?? "";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await sleep(20);
  }
}

const t = contractTarget("nginx");
const o = (seq: number, names: string[], recorder = "node-1"): Observation =>
  contractObservation(t, { syscalls: { x86_64: names } }, { seq, recorder, at: 1_700_000_000_000 + seq });

describe.skipIf(reason)("merger worker on BullMQ (real Redis)", () => {
  let redis: Redis;
  let queueName = "";
  let prefix = "";
  const closers: (() => Promise<unknown>)[] = [];
  beforeAll(() => {
    redis = new Redis(url, { enableAutoPipelining: true });
  });
  afterAll(() => {
    redis.disconnect();
  });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  });

  function setup(
    stateImpl?: (real: RedisProfileState) => ProfileState,
    workerOptions: Parameters<typeof createMergerWorker>[0]["workerOptions"] = {},
  ) {
    queueName = `obs-${randomUUID()}`;
    prefix = `secprof-test-${randomUUID()}`;
    const real = new RedisProfileState(redis, { prefix });
    const state = stateImpl?.(real) ?? real;
    const queue = new Queue(queueName, { connection: { url }, prefix: OBSERVATION_QUEUE_PREFIX });
    closers.push(async () => {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    });
    const start = (): MergerWorker => {
      const w = createMergerWorker({
        connection: { url, maxRetriesPerRequest: null },
        state,
        queueName,
        concurrency: 10,
        workerOptions,
      });
      closers.push(() => w.close());
      return w;
    };
    return { state, queue, start };
  }

  it("folds jobs into Redis; duplicates and re-adds after removal change nothing", async () => {
    const { state, queue, start } = setup();
    const w = start();
    const jobs = [o(1, ["read"]), o(2, ["write", "read"]), o(1, ["read"], "node-2")];
    await queue.addBulk(
      jobs.map((data, i) => ({ name: "obs", data, opts: { jobId: `j-${i}`, removeOnComplete: true } })),
    );
    await until(() => w.stats().applied === 3);
    const before = await state.get("shop/rec", t.profileName);
    expect(before?.syscalls).toEqual({ x86_64: ["read", "write"] });
    expect(before?.recorders).toEqual(["node-1", "node-2"]);
    // The same observations again under new ids (as after removeOnComplete): no change.
    await queue.addBulk(jobs.map((data, i) => ({ name: "obs", data, opts: { jobId: `again-${i}` } })));
    await until(() => w.stats().applied === 6);
    expect(await state.get("shop/rec", t.profileName)).toEqual(before);
  });

  it("fails an invalid payload once, with a clear reason, and never retries it", async () => {
    const { queue, start } = setup();
    const w = start();
    await queue.add(
      "obs",
      { v: 1, target: { profileName: "x" } },
      { jobId: "bad", attempts: 5, backoff: 10 },
    );
    await until(() => w.stats().invalid === 1);
    await until(async () => (await queue.getJobState("bad")) === "failed");
    const job = await queue.getJob("bad");
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toContain("invalid observation payload (job bad)");
    expect(job?.failedReason).toContain("recording");
    await sleep(200);
    expect(w.stats().invalid).toBe(1);
  });

  it("retries a failed apply and converges (crash after apply, before the ack)", async () => {
    const inner = new MemoryProfileState();
    let calls = 0;
    const flaky: ProfileState = {
      apply: async (obs) => {
        calls++;
        await inner.apply(obs);
        if (calls === 1) throw new Error("connection lost after apply");
      },
      get: (rk, n) => inner.get(rk, n),
      list: (rk) => inner.list(rk),
      remove: (rk, n) => inner.remove(rk, n),
    };
    const { queue, start } = setup(() => flaky);
    const w = start();
    await queue.add("obs", o(1, ["read", "write"]), {
      jobId: "j",
      attempts: 3,
      backoff: { type: "fixed", delay: 10 },
    });
    await until(() => w.stats().applied === 1);
    expect(w.stats().failed).toBe(1);
    expect((await inner.get("shop/rec", t.profileName))?.syscalls).toEqual({ x86_64: ["read", "write"] });
  });

  it("a worker killed mid-apply leaves a stalled job that another worker re-runs to the same state", async () => {
    let hang = true;
    const halfThenHang = (real: RedisProfileState): ProfileState => ({
      apply: async (obs) => {
        if (!hang) return real.apply(obs);
        // Apply half of the facts, then never return: the process "dies" here.
        const names = obs.delta.syscalls.x86_64 ?? [];
        await real.apply({ ...obs, delta: { syscalls: { x86_64: names.slice(0, 1) }, avc: [] } });
        await new Promise(() => undefined);
      },
      get: (rk, n) => real.get(rk, n),
      list: (rk) => real.list(rk),
      remove: (rk, n) => real.remove(rk, n),
    });
    const fast = { lockDuration: 500, stalledInterval: 300, maxStalledCount: 2 };
    const { state: real, queue, start } = setup(halfThenHang, fast);
    const a = start();
    await queue.add("obs", o(1, ["read", "write", "openat"]), { jobId: "j" });
    await until(async () => (await real.get("shop/rec", t.profileName)) !== undefined);
    // Kill worker A: stop it without finishing the job and without renewing its lock.
    void a.worker.close(true);
    hang = false;
    const b = start();
    await until(() => b.stats().applied === 1, 20_000);
    expect((await real.get("shop/rec", t.profileName))?.syscalls).toEqual({
      x86_64: ["openat", "read", "write"],
    });
    // Completed jobs are removed at once (removeOnComplete); it must not have failed or be stuck.
    expect(await queue.getJobState("j")).toBe("unknown");
    expect(await queue.getJobCounts("failed", "active", "wait", "delayed")).toEqual({
      failed: 0,
      active: 0,
      wait: 0,
      delayed: 0,
    });
  });
});
