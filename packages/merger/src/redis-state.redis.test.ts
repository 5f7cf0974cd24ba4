import { randomUUID } from "node:crypto";
import { missing } from "@secprof/testkit";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileStateContract } from "./profile-state.contract.js";
import { assertNoEviction, RedisProfileState } from "./redis-state.js";

const reason = missing("redis");
const url = process.env.SECPROF_REDIS_URL ?? "";

describe.skipIf(reason)("RedisProfileState", () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(url, { enableAutoPipelining: true });
  });
  afterAll(() => {
    redis.disconnect();
  });

  async function dropPrefix(prefix: string): Promise<void> {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  }

  profileStateContract(
    "redis",
    async () => {
      const prefix = `secprof-test-${randomUUID()}`;
      return { state: new RedisProfileState(redis, { prefix }), cleanup: () => dropPrefix(prefix) };
    },
    { numRuns: 40 },
  );

  it("keeps every key of a recording under one hash tag (runs on a Redis Cluster)", async () => {
    const prefix = `secprof-test-${randomUUID()}`;
    const s = new RedisProfileState(redis, { prefix });
    const { contractObservation, contractTarget } = await import("./profile-state.contract.js");
    await s.apply(
      contractObservation(contractTarget("nginx"), {
        syscalls: { x86_64: ["read"] },
        avc: [{ scontextType: "a", tcontextType: "b", tclass: "file", perms: ["read"] }],
        apparmor: { executables: ["/x"], readPaths: [], writePaths: [], capabilities: [], network: [] },
      }),
    );
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, found] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== "0");
    expect(keys.length).toBe(7);
    for (const k of keys) expect(k.startsWith(`${prefix}:{rec:shop/rec}:`)).toBe(true);
    await dropPrefix(prefix);
  });

  it("survives losing its script cache (SCRIPT FLUSH after a Redis restart)", async () => {
    const prefix = `secprof-test-${randomUUID()}`;
    const s = new RedisProfileState(redis, { prefix });
    const { contractObservation, contractTarget } = await import("./profile-state.contract.js");
    await redis.script("FLUSH");
    await s.apply(contractObservation(contractTarget("nginx"), { syscalls: { x86_64: ["read"] } }));
    expect((await s.get("shop/rec", "rec-nginx-abcde"))?.syscalls).toEqual({ x86_64: ["read"] });
    await dropPrefix(prefix);
  });

  it("applies the observations of one tick in one script call, each as if it came alone", async () => {
    const prefix = `secprof-test-${randomUUID()}`;
    const s = new RedisProfileState(redis, { prefix });
    const { contractObservation, contractTarget } = await import("./profile-state.contract.js");
    const big = Array.from({ length: 100 }, (_, i) => `big${i}`); // above the inline bound: plain SADDs
    const calls: string[] = [];
    const monitor = await redis.monitor();
    monitor.on("monitor", (_time: string, args: string[]) => {
      if (args.some((a) => a.startsWith(prefix))) calls.push(String(args[0]).toLowerCase());
    });
    await Promise.all([
      s.apply(contractObservation(contractTarget("a"), { syscalls: { x86_64: ["read"] } })),
      s.apply(contractObservation(contractTarget("a"), { syscalls: { x86_64: ["write"] } }, { seq: 2 })),
      s.apply(contractObservation(contractTarget("b"), { syscalls: { x86_64: big } })),
      // Lone surrogates (zod lets them through) must not poison the group; U+FFFD as ioredis writes
      // them in plain arguments. A literal backslash-u text is kept as it is.
      s.apply(contractObservation(contractTarget("c"), { syscalls: { x86_64: ["x\\ud800", "y\ud800z"] } })),
    ]);
    monitor.disconnect();
    expect(calls.filter((c) => c === "evalsha" || c === "eval")).toHaveLength(1);
    expect((await s.get("shop/rec", "rec-a-abcde"))?.syscalls).toEqual({ x86_64: ["read", "write"] });
    expect((await s.get("shop/rec", "rec-b-abcde"))?.syscalls).toEqual({ x86_64: [...big].sort() });
    expect((await s.get("shop/rec", "rec-c-abcde"))?.syscalls).toEqual({ x86_64: ["x\\ud800", "y\ufffdz"] });
    await dropPrefix(prefix);
  });

  it("checks the eviction policy", async () => {
    await expect(assertNoEviction(redis)).resolves.toBeUndefined();
  });
});
