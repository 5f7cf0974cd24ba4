import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Observation, ObservationBatch, type Target } from "@secprof/core";
import { missing } from "@secprof/testkit";
import { Queue } from "bullmq";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BATCH_JOB_NAME,
  BullmqObservationQueue,
  bullmqBatchJobId,
  bullmqJobId,
  QUEUE_PREFIX,
} from "./bullmq-queue.js";

const reason = missing("redis");
const url = process.env.SECPROF_REDIS_URL ?? "";
const hasRedisServer = spawnSync("sh", ["-c", "command -v redis-server"]).status === 0;

const target: Target = {
  recording: "rec",
  namespace: "shop",
  pod: "web-abcde",
  podUid: "uid",
  container: "nginx",
  containerId: "cid",
  node: "node-1",
  kind: "SeccompProfile",
  replica: "abcde",
  profileName: "rec-nginx-abcde",
};

const obs = (seq: number, names: string[] = [`sys${seq}`]): Observation => ({
  v: 1,
  target,
  recorder: "node-1",
  seq,
  at: 1_700_000_000_000 + seq,
  delta: { syscalls: { x86_64: names }, avc: [] },
  loss: { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 },
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const addr = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  if (addr === null || typeof addr === "string") throw new Error("no port");
  return addr.port;
}

/** A redis-server of our own that the test can kill and restart (a real outage, not a simulated one). */
class OwnRedis {
  private proc: ChildProcess | undefined;
  constructor(readonly port: number) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    const p = spawn(
      "redis-server",
      ["--port", String(this.port), "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"],
      { stdio: "ignore" },
    );
    this.proc = p;
    const probe = (await import("ioredis")).Redis;
    for (let i = 0; i < 100; i++) {
      const c = new probe(this.url, {
        lazyConnect: true,
        retryStrategy: () => null,
        enableOfflineQueue: false,
      });
      c.on("error", () => undefined);
      try {
        await c.connect();
        await c.ping();
        c.disconnect();
        return;
      } catch {
        c.disconnect();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error("redis-server did not start");
  }
  async kill(): Promise<void> {
    const p = this.proc;
    if (p === undefined || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once("exit", () => r());
      p.kill("SIGKILL");
    });
  }
}

/** The part of a key Redis Cluster hashes (the first non-empty `{…}`), as in CLUSTER KEYSLOT. */
function hashTag(key: string): string {
  const open = key.indexOf("{");
  const close = open < 0 ? -1 : key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

async function jobsIn(redisUrl: string, name: string) {
  const q = new Queue(name, { connection: { url: redisUrl }, prefix: QUEUE_PREFIX });
  try {
    const jobs = await q.getJobs(["waiting", "active", "completed", "failed", "delayed"]);
    return jobs.map((j) => ({
      id: j.id,
      observations:
        j.name === BATCH_JOB_NAME ? ObservationBatch.parse(j.data).batch : [Observation.parse(j.data)],
    }));
  } finally {
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  }
}

async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(reason)("BullmqObservationQueue (real Redis)", () => {
  let queueName = "";
  let dir = "";
  const open: BullmqObservationQueue[] = [];
  const servers: OwnRedis[] = [];

  beforeEach(async () => {
    queueName = `obs-test-${randomUUID()}`;
    dir = await mkdtemp(join(tmpdir(), "secprof-spool-"));
  });
  afterEach(async () => {
    for (const q of open.splice(0)) await q.close();
    for (const s of servers.splice(0)) await s.kill();
    await rm(dir, { recursive: true, force: true });
    const q = new Queue(queueName, { connection: { url }, prefix: QUEUE_PREFIX });
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  });
  afterAll(async () => {
    for (const s of servers) await s.kill();
  });

  it("sends a flush's observations in batch jobs of batchSize, each batch once under its digest id", async () => {
    const q = await BullmqObservationQueue.open({ connection: url, queueName, batchSize: 2 });
    open.push(q);
    await q.waitUntilReady();
    const list = [obs(1), obs(2), obs(3)];
    expect(await q.sendMany(list)).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    expect(await q.sendMany(list.slice(0, 2))).toEqual([{ ok: true }, { ok: true }]); // redelivery
    const bq = new Queue(queueName, { connection: { url }, prefix: QUEUE_PREFIX });
    try {
      const jobs = await bq.getJobs(["waiting"]);
      const byId = new Map(jobs.map((j) => [j.id, j.data as unknown]));
      expect([...byId.keys()].sort()).toEqual(
        [bullmqBatchJobId([obs(1), obs(2)]), bullmqJobId(obs(3))].sort(),
      );
      expect(ObservationBatch.parse(byId.get(bullmqBatchJobId([obs(1), obs(2)]))).batch).toEqual([
        obs(1),
        obs(2),
      ]);
    } finally {
      await bq.close();
    }
    expect(q.stats().sent).toBe(5);
  });

  it("adds each observation once under its job id, with the {secprof} hash-tag prefix", async () => {
    const q = await BullmqObservationQueue.open({ connection: url, queueName });
    open.push(q);
    await q.waitUntilReady();
    expect(await q.send(obs(1))).toEqual({ ok: true });
    expect(await q.send(obs(1))).toEqual({ ok: true }); // redelivery: same id, deduplicated
    expect(await q.send(obs(2))).toEqual({ ok: true });
    const { Redis } = await import("ioredis");
    const r = new Redis(url);
    try {
      const keys = await r.keys(`${QUEUE_PREFIX}:${queueName}:*`);
      expect(keys.length).toBeGreaterThan(0);
      // One hash slot for every key of the queue: it runs unchanged on a Redis Cluster.
      expect(new Set(keys.map(hashTag))).toEqual(new Set(["secprof"]));
    } finally {
      r.disconnect();
    }
    const jobs = await jobsIn(url, queueName);
    expect(jobs.map((j) => j.id).sort()).toEqual([bullmqJobId(obs(1)), bullmqJobId(obs(2))].sort());
    expect(jobs.find((j) => j.id === bullmqJobId(obs(2)))?.observations).toEqual([obs(2)]);
  });

  it("escapes ':' so BullMQ accepts the id, injectively", () => {
    const id = bullmqJobId({ ...obs(3), recorder: "node:1%" });
    expect(id).not.toContain(":");
    expect(id).toBe("node%3A1%25%3Ashop%3Arec-nginx-abcde%3A3");
  });

  it("rejects an invalid observation before it reaches Redis", async () => {
    const q = await BullmqObservationQueue.open({ connection: url, queueName });
    open.push(q);
    const bad = { ...obs(1), target: { ...target, profileName: "Not/A/Name" } };
    await expect(q.send(bad)).rejects.toThrow();
  });

  it("applies backpressure: never more than maxInFlight adds outstanding", async () => {
    const q = await BullmqObservationQueue.open({ connection: url, queueName, maxInFlight: 2 });
    open.push(q);
    await q.waitUntilReady();
    let maxSeen = 0;
    const sends = Array.from({ length: 20 }, (_, i) => {
      const p = q.send(obs(i + 1));
      maxSeen = Math.max(maxSeen, q.stats().inFlight);
      return p;
    });
    const timer = setInterval(() => {
      maxSeen = Math.max(maxSeen, q.stats().inFlight);
    }, 0);
    const results = await Promise.all(sends);
    clearInterval(timer);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(maxSeen).toBeLessThanOrEqual(2);
    expect((await jobsIn(url, queueName)).length).toBe(20);
  });

  it.skipIf(!hasRedisServer)(
    "spools while Redis is down (kill -9), replays in order, in batch jobs, when it is back",
    async () => {
      const server = new OwnRedis(await freePort());
      servers.push(server);
      await server.start();
      const q = await BullmqObservationQueue.open({
        connection: server.url,
        queueName,
        retryMinMs: 50,
        retryMaxMs: 200,
        batchSize: 2,
      });
      open.push(q);
      await q.waitUntilReady();
      expect(await q.send(obs(1))).toEqual({ ok: true });
      await server.kill();
      await until(() => q.stats().inFlight === 0);
      const during = [];
      for (let i = 2; i <= 6; i++) during.push(await q.send(obs(i)));
      expect(during.every((r) => !r.ok && r.reason === "spooled")).toBe(true);
      expect(q.pending()).toBe(5);
      await server.start();
      await until(() => q.pending() === 0, 20_000);
      await q.drained();
      // Redis restarted empty (no persistence): exactly the spooled ones, and in spool order: BullMQ
      // LPUSHes to `wait` and workers take from the right, so the reversed list is the processing order.
      // Batch jobs of batchSize; a lone observation at the end keeps its own job.
      const { Redis } = await import("ioredis");
      const r = new Redis(server.url);
      try {
        const wait = await r.lrange(`${QUEUE_PREFIX}:${queueName}:wait`, 0, -1);
        expect(wait.reverse()).toEqual([
          bullmqBatchJobId([obs(2), obs(3)]),
          bullmqBatchJobId([obs(4), obs(5)]),
          bullmqJobId(obs(6)),
        ]);
      } finally {
        r.disconnect();
      }
      const jobs = await jobsIn(server.url, queueName);
      expect(jobs.flatMap((j) => j.observations.map((o) => o.seq)).sort()).toEqual([2, 3, 4, 5, 6]);
      expect(q.stats()).toMatchObject({ sent: 1, spooled: 5, replayed: 5, spoolFull: 0 });
    },
  );

  it.skipIf(!hasRedisServer)("reports spool_full beyond the bound and keeps what it holds", async () => {
    const port = await freePort(); // nothing listens here
    const q = await BullmqObservationQueue.open({
      connection: `redis://127.0.0.1:${port}`,
      queueName,
      spool: { maxEntries: 3 },
    });
    open.push(q);
    const results = [];
    for (let i = 1; i <= 5; i++) results.push(await q.send(obs(i)));
    expect(results.map((r) => (r.ok ? "ok" : r.reason))).toEqual([
      "spooled",
      "spooled",
      "spooled",
      "spool_full",
      "spool_full",
    ]);
    expect(q.pending()).toBe(3);
    expect(q.stats().spoolFull).toBe(2);
  });

  it.skipIf(!hasRedisServer)(
    "keeps the spool in an fsync'd file across a recorder restart and replays it",
    async () => {
      const server = new OwnRedis(await freePort());
      servers.push(server);
      const file = join(dir, "spool.ndjson");
      const q1 = await BullmqObservationQueue.open({ connection: server.url, queueName, spool: { file } });
      for (let i = 1; i <= 4; i++) expect(await q1.send(obs(i))).toEqual({ ok: false, reason: "spooled" });
      // What a kill -9 leaves behind: the file, plus a torn last line.
      const text = await readFile(file, "utf8");
      expect(text.trim().split("\n")).toHaveLength(4);
      await q1.close();
      const { appendFile } = await import("node:fs/promises");
      await appendFile(file, JSON.stringify(obs(5)).slice(0, 40));

      await server.start();
      const q2 = await BullmqObservationQueue.open({ connection: server.url, queueName, spool: { file } });
      open.push(q2);
      expect(q2.stats().corruptSpoolLines).toBe(1);
      await until(() => q2.pending() === 0, 20_000);
      await q2.drained();
      const jobs = await jobsIn(server.url, queueName);
      expect(jobs.flatMap((j) => j.observations.map((o) => o.seq)).sort()).toEqual([1, 2, 3, 4]);
      await until(async () => (await readFile(file, "utf8")).length === 0);
    },
  );
});
